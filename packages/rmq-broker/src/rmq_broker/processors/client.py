"""HEART_BEAT, UNREGISTER_CLIENT, GET_CONSUMER_LIST_BY_GROUP, LOCK_BATCH_MQ, UNLOCK_BATCH_MQ.

Mirrors ``ClientManageProcessor``, ``ConsumerManageProcessor.getConsumerListByGroup``
and ``AdminBrokerProcessor.lockBatchMQ`` / ``unlockBatchMQ``:

* HEART_BEAT accepts every client's body dialect (Java and ali-ons enum names, C++
  ordinals and string ``subVersion``, a trailing newline, ``"extFields":null``); a
  consumer group is found or auto-created, gets its ``%RETRY%<group>`` topic
  (``retryQueueNums`` queues, ordered if it subscribes an ordered topic) and registers
  the connection; the answer carries ``IS_SUPPORT_HEART_BEAT_V2``/``IS_SUB_CHANGE``
  (5.x);
* GET_CONSUMER_LIST_BY_GROUP with no member → SYSTEM_ERROR ``no consumer for this
  group, <group>`` as Java answers.
"""

from __future__ import annotations

import logging
from typing import Final, final

from rmq_broker.config import PERM_READ, PERM_WRITE
from rmq_broker.controller import BrokerController
from rmq_broker.filtering import check_client_config_body, check_subscription
from rmq_broker.processors._common import respond
from rmq_broker.topic_config import RETRY_GROUP_TOPIC_PREFIX
from rmq_protocol.codec.body import (
    GetConsumerListByGroupResponseBody,
    HeartbeatData,
    LockBatchRequestBody,
    LockBatchResponseBody,
    UnlockBatchRequestBody,
)
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import (
    GetConsumerListByGroupRequestHeader,
    UnregisterClientRequestHeader,
)
from rmq_protocol.errors import RemoteProtocolError
from rmq_protocol.transport import Connection, ProcessorRegistry

__all__ = ["ClientManageProcessor"]

logger = logging.getLogger(__name__)

_HEARTBEAT_EXT: Final = {"IS_SUPPORT_HEART_BEAT_V2": "true", "IS_SUB_CHANGE": "true"}
_TOPIC_SYS_FLAG_UNIT_SUB: Final = 0x2


@final
class ClientManageProcessor:
    """Client registration and queue locks."""

    def __init__(self, controller: BrokerController) -> None:
        self._c = controller

    def register(self, registry: ProcessorRegistry) -> None:
        registry.register(RequestCode.HEART_BEAT, self.heartbeat)
        registry.register(RequestCode.UNREGISTER_CLIENT, self.unregister_client)
        registry.register(RequestCode.GET_CONSUMER_LIST_BY_GROUP, self.get_consumer_list_by_group)
        registry.register(RequestCode.LOCK_BATCH_MQ, self.lock_batch_mq)
        registry.register(RequestCode.UNLOCK_BATCH_MQ, self.unlock_batch_mq)
        registry.register(RequestCode.CHECK_CLIENT_CONFIG, self.check_client_config)

    def heartbeat(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        c = self._c
        try:
            data = HeartbeatData.from_json(request.body)
        except RemoteProtocolError as exc:
            return respond(request, ResponseCode.SYSTEM_ERROR, f"bad heartbeat body: {exc}")

        def prepare_group(group: str) -> bool | None:
            group_config = c.groups.find(group)
            if group_config is None:
                return None
            consumer = next(d for d in data.consumer_data_set if d.group_name == group)
            ordered = any(c.topics.is_order_topic(s.topic) for s in consumer.subscription_data_set)
            c.topics.create_in_send_message_back(
                RETRY_GROUP_TOPIC_PREFIX + group,
                group_config.retry_queue_nums,
                PERM_WRITE | PERM_READ,
                _TOPIC_SYS_FLAG_UNIT_SUB if consumer.unit_mode else 0,
                order=ordered,
            )
            return c.notify_enabled(group)

        c.clients.register_heartbeat(
            data, conn, request.language, request.version, notify_enabled=prepare_group
        )
        for consumer in data.consumer_data_set:  # registered as Java does, then refused
            for sub in consumer.subscription_data_set:
                refusal = check_subscription(sub, c.config)
                if refusal is not None:
                    return respond(request, refusal.code, refusal.remark)
        return respond(request, ext_fields=_HEARTBEAT_EXT)

    def check_client_config(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        """CHECK_CLIENT_CONFIG: can this broker filter for the subscription? (filtering.py)"""
        refusal = check_client_config_body(request.body, self._c.config)
        if refusal is not None:
            return respond(request, refusal.code, refusal.remark)
        return respond(request)

    def unregister_client(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        c = self._c
        header = request.decode_header(UnregisterClientRequestHeader)
        if header.producer_group is not None:
            c.clients.unregister_producer(header.producer_group, conn)
        if header.consumer_group is not None:
            c.clients.unregister_consumer(
                header.consumer_group, conn, notify_enabled=c.notify_enabled(header.consumer_group)
            )
        return respond(request)

    def get_consumer_list_by_group(
        self, request: RemotingCommand, conn: Connection
    ) -> RemotingCommand:
        group = request.decode_header(GetConsumerListByGroupRequestHeader).consumer_group
        group_info = self._c.clients.consumer_group(group)
        if group_info is not None:
            ids = group_info.client_ids()
            if ids:
                body = GetConsumerListByGroupResponseBody(consumer_id_list=tuple(ids))
                return respond(request, body=body.to_json())
            logger.warning("consumer group %s has no client id (%s)", group, conn.peer)
        else:
            logger.warning("consumer group %s is not registered (%s)", group, conn.peer)
        return respond(request, ResponseCode.SYSTEM_ERROR, f"no consumer for this group, {group}")

    def lock_batch_mq(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        body = LockBatchRequestBody.from_json(request.body)
        locked = self._c.locks.try_lock_batch(body.consumer_group, body.mq_set, body.client_id)
        response = LockBatchResponseBody(lock_ok_mq_set=tuple(locked))
        return respond(request, body=response.to_json())

    def unlock_batch_mq(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        body = UnlockBatchRequestBody.from_json(request.body)
        self._c.locks.unlock_batch(body.consumer_group, body.mq_set, body.client_id)
        return respond(request)
