"""INVOKE_BROKER_TO_RESET_OFFSET (222) and CLONE_GROUP_OFFSET (314).

Offset backtracking mirrors ``AdminBrokerProcessor.resetOffset`` →
``Broker2Client.resetOffset``: for each writable queue of the topic the broker finds
the offset of the first message stored at or after ``timestamp`` (-1: the queue's max
offset); ``isForce`` false keeps a committed offset that is already smaller. It tells
every online consumer of the group (RESET_CONSUMER_CLIENT_OFFSET, oneway, body
``ResetOffsetBody``), stores the new offsets, and answers with the offset table. Errors
as Java's: no such topic, or a group with no offset on it → SYSTEM_ERROR; no consumer
online → CONSUMER_NOT_ONLINE (the offsets are stored all the same, so a group that
starts later begins there; Java's admin then writes them itself, harmlessly).

CLONE_GROUP_OFFSET copies ``srcGroup``'s offsets to ``destGroup`` for one topic, or for
every topic the source has offsets on; unless ``offline``, a topic the running source
group does not subscribe to is skipped (Java's checks; Java copies the request's topic
even when it was blank, a bug rmq does not repeat).
"""

from __future__ import annotations

import logging
from typing import Final, final

from rmq_broker.controller import BrokerController
from rmq_broker.processors._common import respond
from rmq_protocol.codec.body import MessageQueue, ResetOffsetBody
from rmq_protocol.codec.codes import LanguageCode, RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import CloneGroupOffsetRequestHeader, ResetOffsetRequestHeader
from rmq_protocol.errors import ProtocolError
from rmq_protocol.transport import Connection, ProcessorRegistry

__all__ = ["ResetOffsetProcessor"]

logger = logging.getLogger(__name__)

_NOTIFY_TIMEOUT: Final = 3.0  # seconds a RESET_CONSUMER_CLIENT_OFFSET write may wait


@final
class ResetOffsetProcessor:
    """Offset backtracking and group offset cloning; one instance per broker."""

    def __init__(self, controller: BrokerController) -> None:
        self._c = controller

    def register(self, registry: ProcessorRegistry) -> None:
        registry.register(RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, self.reset_offset)
        registry.register(RequestCode.CLONE_GROUP_OFFSET, self.clone_group_offset)

    def reset_offset(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        c = self._c
        header = ResetOffsetRequestHeader.from_ext_fields(request.ext_fields)
        topic, group = header.topic, header.group
        logger.info(
            "%s resets offsets of group %s on topic %s to timestamp %d (force %s)",
            conn.peer, group, topic, header.timestamp, header.is_force,
        )  # fmt: skip
        topic_config = c.topics.select(topic)
        if topic_config is None:
            return respond(
                request,
                ResponseCode.SYSTEM_ERROR,
                f"[reset-offset] reset offset failed, no topic in this broker. topic={topic}",
            )
        table: dict[MessageQueue, int] = {}
        for queue_id in range(topic_config.write_queue_nums):
            committed = c.offsets.query_offset(group, topic, queue_id)
            if committed == -1:
                return respond(
                    request,
                    ResponseCode.SYSTEM_ERROR,
                    f"THe consumer group <{group}> not exist",  # Java's remark, typo included
                )
            if header.timestamp == -1:
                target = c.store.get_max_offset_in_queue(topic, queue_id)
            else:
                target = c.store.get_offset_in_queue_by_time(topic, queue_id, header.timestamp)
            if not header.is_force and committed < target:
                target = committed
            table[
                MessageQueue(topic=topic, broker_name=c.config.broker_name, queue_id=queue_id)
            ] = target
        for mq, offset in table.items():
            c.offsets.commit_offset(group, topic, mq.queue_id, offset)
        c.metadata_dirty.set()
        body = ResetOffsetBody(offset_table=table).to_json()
        group_info = c.clients.consumer_group(group)
        connections = [] if group_info is None else list(group_info.channels)
        if not connections:
            return respond(
                request,
                ResponseCode.CONSUMER_NOT_ONLINE,
                f"Consumer not online, so can not reset offset, Group: {group} Topic: {topic} "
                f"Timestamp: {header.timestamp}",
            )
        notify = RemotingCommand.request(
            RequestCode.RESET_CONSUMER_CLIENT_OFFSET,
            ResetOffsetRequestHeader(
                group=group, topic=topic, timestamp=header.timestamp, is_force=header.is_force
            ),
            oneway=True,
            body=body,
            language=LanguageCode.JAVA,
        )
        for member in connections:
            if not member.is_closing:
                c.spawn(self._notify(member, notify, group))
        return respond(request, body=body)

    async def _notify(self, conn: Connection, command: RemotingCommand, group: str) -> None:
        try:
            await conn.send_oneway(command, timeout=_NOTIFY_TIMEOUT)
        except ProtocolError as exc:
            logger.info("reset-offset notice to %s (group %s) failed: %s", conn.peer, group, exc)

    def clone_group_offset(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        c = self._c
        header = CloneGroupOffsetRequestHeader.from_ext_fields(request.ext_fields)
        src, dest = header.src_group, header.dest_group
        if header.topic and header.topic.strip():
            topics = {header.topic}
        else:
            topics = c.offsets.which_topic_by_consumer(src)
        group_info = c.clients.consumer_group(src)
        cloned = 0
        for topic in sorted(topics):
            if c.topics.select(topic) is None:
                logger.warning("[cloneGroupOffset], topic config not exist, %s", topic)
                continue
            if (
                not header.offline
                and group_info is not None
                and group_info.subscriptions
                and group_info.find_subscription(topic) is None
            ):
                logger.warning(
                    "cloneGroupOffset: topic %s is not in the subscription of group %s", topic, src
                )
                continue
            for queue_id, offset in c.offsets.query_offsets(src, topic).items():
                c.offsets.commit_offset(dest, topic, queue_id, offset)
                cloned += 1
        if cloned:
            c.metadata_dirty.set()
        logger.info("%s cloned %d queue offsets of group %s to %s", conn.peer, cloned, src, dest)
        return respond(request)
