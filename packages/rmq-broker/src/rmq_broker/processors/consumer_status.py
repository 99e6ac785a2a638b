"""INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223): ask a group's clients for their offsets.

Mirrors ``AdminBrokerProcessor.getConsumerStatus`` → ``Broker2Client.getConsumeStatus``.
The request header is ``GetConsumerStatusRequestHeader`` (topic, group, optional
``clientAddr``: a client id, not an address, despite the name). The broker sends
GET_CONSUMER_STATUS_FROM_CLIENT (221, same header without ``clientAddr``) to every
connected client of the group, or only to the one whose client id is ``clientAddr``,
and waits up to 5 s for each (Java's ``invokeSync(channel, request, 5000)``). Each
client answers ``GetConsumerStatusBody`` with its ``messageQueueTable`` (its offset
store's offsets of the topic); the broker answers SUCCESS with
``{"consumerTable":{clientId:{{MessageQueue}:offset}},"messageQueueTable":{}}``.

A client that fails, times out or answers a non-SUCCESS code is left out of the table
(Java logs and skips it). Refusals, with Java's remarks:

* no client of the group is connected → SYSTEM_ERROR ``No Any Consumer online in the
  consumer group: [G]`` (Java throws a NullPointerException when the group was never
  seen; rmq answers the same refusal);
* a client older than V3_0_7_SNAPSHOT → SYSTEM_ERROR ``the client does not support this
  feature. version=…``.

Differences from Java, on purpose: the clients are asked concurrently (Java asks them
one after the other, so a group of n silent clients held the admin for 5·n s), and a
client whose body cannot be decoded is skipped with a log line instead of failing the
whole request.

Bodies are :class:`rmq_protocol.codec.consumer_status.GetConsumerStatusBody` (fastjson
MessageQueue object keys); the broker's table lists the clients in the order asked and
each client's queues sorted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Final, final

from rmq_broker.client_manager import ClientChannelInfo
from rmq_broker.controller import BrokerController
from rmq_broker.processors._common import respond
from rmq_protocol.codec.body import MessageQueue
from rmq_protocol.codec.codes import LanguageCode, RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.consumer_status import GetConsumerStatusBody
from rmq_protocol.codec.headers import GetConsumerStatusRequestHeader
from rmq_protocol.codec.version import version_name
from rmq_protocol.errors import ProtocolError
from rmq_protocol.transport import Connection, ProcessorRegistry

__all__ = ["ConsumerStatusProcessor"]

logger = logging.getLogger(__name__)

CLIENT_TIMEOUT: Final = 5.0  # seconds per client (Java: invokeSync(..., 5000))
V3_0_7_SNAPSHOT: Final = 28  # MQVersion.Version ordinal: first client that answers 221


@final
class ConsumerStatusProcessor:
    """INVOKE_BROKER_TO_GET_CONSUMER_STATUS; one instance per broker."""

    def __init__(self, controller: BrokerController) -> None:
        self._c = controller

    def register(self, registry: ProcessorRegistry) -> None:
        registry.register(RequestCode.INVOKE_BROKER_TO_GET_CONSUMER_STATUS, self.consumer_status)

    async def consumer_status(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        header = GetConsumerStatusRequestHeader.from_ext_fields(request.ext_fields)
        topic, group = header.topic, header.group
        wanted = (header.client_addr or "").strip()
        logger.info(
            "[get-consumer-status] get consumer status by %s. topic=%s, group=%s",
            conn.peer, topic, group,
        )  # fmt: skip
        group_info = self._c.clients.consumer_group(group)
        members = [] if group_info is None else list(group_info.channels.values())
        if not members:
            return respond(
                request,
                ResponseCode.SYSTEM_ERROR,
                f"No Any Consumer online in the consumer group: [{group}]",
            )
        for info in members:
            if info.version < V3_0_7_SNAPSHOT:
                logger.warning(
                    "[get-consumer-status] the client does not support this feature. "
                    "channel=%s, version=%s",
                    info.connection.peer,
                    version_name(info.version),
                )
                return respond(
                    request,
                    ResponseCode.SYSTEM_ERROR,
                    "the client does not support this feature. "
                    f"version={version_name(info.version)}",
                )
        asked = [m for m in members if not wanted or m.client_id == wanted]
        if wanted:
            asked = asked[:1]  # Java stops after the named client
        ask = RemotingCommand.request(
            RequestCode.GET_CONSUMER_STATUS_FROM_CLIENT,
            GetConsumerStatusRequestHeader(topic=topic, group=group),
            language=LanguageCode.JAVA,
        )
        answers = await asyncio.gather(*(self._ask(m, ask, topic, group) for m in asked))
        table = {
            m.client_id: dict(sorted(a.items()))
            for m, a in zip(asked, answers, strict=True)
            if a is not None
        }
        return respond(request, body=GetConsumerStatusBody(consumer_table=table).to_json())

    async def _ask(
        self, member: ClientChannelInfo, ask: RemotingCommand, topic: str, group: str
    ) -> Mapping[MessageQueue, int] | None:
        conn = member.connection
        if conn.is_closing:
            return None
        try:
            response = await conn.request(ask, timeout=CLIENT_TIMEOUT)
            if response.code != ResponseCode.SUCCESS or not response.body:
                logger.info(
                    "[get-consumer-status] client %s (group %s) answered code %d: %s",
                    member.client_id, group, response.code, response.remark,
                )  # fmt: skip
                return None
            offsets = GetConsumerStatusBody.from_json(response.body).message_queue_table
        except ProtocolError as exc:
            logger.warning(
                "[get-consumer-status] get consumer status exception. topic=%s, group=%s, "
                "client=%s, error=%s",
                topic, group, member.client_id, exc,
            )  # fmt: skip
            return None
        logger.info(
            "[get-consumer-status] get consumer status success. topic=%s, group=%s, client=%s",
            topic, group, member.client_id,
        )  # fmt: skip
        return offsets
