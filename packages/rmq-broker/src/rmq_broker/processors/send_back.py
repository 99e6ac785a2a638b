"""CONSUMER_SEND_MSG_BACK (36): a consumer returns a message it failed to consume.

Mirrors ``SendMessageProcessor.asyncConsumerSendMsgBack`` (4.9) /
``AbstractSendMessageProcessor.consumerSendMsgBack`` (5.x), checks in Java's order, with
Java's codes and remarks:

* unknown group → SUBSCRIPTION_GROUP_NOT_EXIST; broker not writable → NO_PERMISSION;
  a group with ``retryQueueNums`` ≤ 0 → SUCCESS and nothing stored;
* ``%RETRY%<group>`` is created if missing (``retryQueueNums`` queues, perm 6, unit-sub
  flag with ``unitMode``); a retry topic without write permission → NO_PERMISSION;
* the message is looked up by its commit-log ``offset`` (none → SYSTEM_ERROR
  ``look message by offset failed, <offset>``);
* past ``maxReconsumeTimes`` (the group's ``retryMaxTimes``, 16, or the header's value
  from clients of version 3.4.9 on) or with ``delayLevel`` < 0 it goes to
  ``%DLQ%<group>`` (created with 1 queue and perm 6 — READ|WRITE as Java has since
  4.9.4; 4.9.0–4.9.3 made it write-only), without delay;
* otherwise to a random queue of the retry topic with delay level ``delayLevel``, or
  ``3 + reconsumeTimes`` when it is 0 — so it passes through ``SCHEDULE_TOPIC_XXXX``
  (:func:`rmq_broker.schedule.route_delayed`);
* the copy keeps body, flag, sysFlag, born timestamp and host, properties, adds
  ``RETRY_TOPIC`` (the original topic, kept from an earlier retry) and
  ``ORIGIN_MESSAGE_ID`` (kept, else the looked-up message's offset id), sets ``WAIT``
  false and reconsumeTimes + 1; store errors → SYSTEM_ERROR with the reason.
"""

from __future__ import annotations

import logging
import random
from typing import Final, final

from rmq_broker.config import PERM_READ, PERM_WRITE
from rmq_broker.controller import BrokerController, suggest_todo
from rmq_broker.processors._common import respond
from rmq_broker.schedule import route_delayed
from rmq_broker.topic_config import DLQ_GROUP_TOPIC_PREFIX, RETRY_GROUP_TOPIC_PREFIX
from rmq_protocol.codec import properties as props
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import ConsumerSendMsgBackRequestHeader
from rmq_protocol.codec.message import MessageExt, decode_message
from rmq_protocol.errors import LocalProtocolError, RemoteProtocolError
from rmq_protocol.transport import Connection, ProcessorRegistry
from rmq_store import StoreError

__all__ = ["SendBackProcessor"]

logger = logging.getLogger(__name__)

DLQ_NUMS_PER_GROUP: Final = 1
_V3_4_9: Final = 106  # MQVersion ordinal: from it on, maxReconsumeTimes comes from the header
_TOPIC_SYS_FLAG_UNIT_SUB: Final = 0x2


@final
class SendBackProcessor:
    """Answers CONSUMER_SEND_MSG_BACK; one instance per broker."""

    def __init__(self, controller: BrokerController) -> None:
        self._c = controller
        self._random = random.Random()  # noqa: S311 - queue choice, not security
        self.sent_back = 0  # messages stored in a retry topic (through the schedule)
        self.dead_lettered = 0  # messages stored in a DLQ topic

    def register(self, registry: ProcessorRegistry) -> None:
        registry.register(RequestCode.CONSUMER_SEND_MSG_BACK, self.process)

    def process(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        c = self._c
        header = ConsumerSendMsgBackRequestHeader.from_ext_fields(request.ext_fields)
        group = header.group
        group_config = c.groups.find(group)
        if group_config is None:
            return respond(
                request,
                ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
                f"subscription group not exist, {group} {suggest_todo()}",
            )
        if not c.config.broker_permission & PERM_WRITE:
            return respond(
                request,
                ResponseCode.NO_PERMISSION,
                f"the broker[{c.broker_ip}] sending message is forbidden",
            )
        if group_config.retry_queue_nums <= 0:
            return respond(request)
        new_topic = RETRY_GROUP_TOPIC_PREFIX + group
        queue_id = self._random.randrange(group_config.retry_queue_nums)
        topic_sys_flag = _TOPIC_SYS_FLAG_UNIT_SUB if header.unit_mode else 0
        topic_config = c.topics.create_in_send_message_back(
            new_topic, group_config.retry_queue_nums, PERM_WRITE | PERM_READ, topic_sys_flag
        )
        if not topic_config.perm & PERM_WRITE:
            return respond(
                request,
                ResponseCode.NO_PERMISSION,
                f"the topic[{new_topic}] sending message is forbidden",
            )
        view = c.store.read_message(header.offset) if header.offset >= 0 else None
        original: MessageExt | None = None
        if view is not None:
            try:
                original, _ = decode_message(view, decompress=False)
            except RemoteProtocolError as exc:
                logger.info("send back: no message at commit-log offset %d: %s", header.offset, exc)
            finally:
                view.release()
        if original is None:
            return respond(
                request,
                ResponseCode.SYSTEM_ERROR,
                f"look message by offset failed, {header.offset}",
            )
        properties = dict(original.properties)
        properties.setdefault(props.RETRY_TOPIC, original.topic)
        properties[props.WAIT_STORE_MSG_OK] = "false"
        delay_level = header.delay_level
        max_reconsume = group_config.retry_max_times
        if request.version >= _V3_4_9 and header.max_reconsume_times is not None:
            max_reconsume = header.max_reconsume_times
        dead = original.reconsume_times >= max_reconsume or delay_level < 0
        if dead:
            new_topic = DLQ_GROUP_TOPIC_PREFIX + group
            queue_id = self._random.randrange(DLQ_NUMS_PER_GROUP)
            c.topics.create_in_send_message_back(
                new_topic, DLQ_NUMS_PER_GROUP, PERM_WRITE | PERM_READ, 0
            )
            properties[props.DELAY_TIME_LEVEL] = "0"
        else:
            if delay_level == 0:
                delay_level = 3 + original.reconsume_times
            properties[props.DELAY_TIME_LEVEL] = str(delay_level)
        if not properties.get(props.ORIGIN_MESSAGE_ID, "").strip():
            properties[props.ORIGIN_MESSAGE_ID] = original.offset_msg_id
        store_topic, store_queue = route_delayed(
            properties, new_topic, queue_id, original.sys_flag, c.settings.store
        )
        message = MessageExt(
            topic=store_topic,
            queue_id=store_queue,
            flag=original.flag,
            sys_flag=original.sys_flag,
            born_timestamp=original.born_timestamp,
            born_host=original.born_host,
            store_host=c.store_host,
            reconsume_times=original.reconsume_times + 1,
            body=original.body,
            properties=properties,
        )
        try:
            c.store.append_messages([message])
        except (StoreError, LocalProtocolError) as exc:
            logger.warning("send back of offset %d to %s failed: %s", header.offset, new_topic, exc)
            return respond(request, ResponseCode.SYSTEM_ERROR, f"{type(exc).__name__}: {exc}")
        if dead:
            self.dead_lettered += 1
            logger.info(
                "message %s of group %s reconsumed %d times (max %d, delay level %d): to %s",
                properties.get(props.UNIQ_KEY) or properties[props.ORIGIN_MESSAGE_ID], group,
                original.reconsume_times, max_reconsume, header.delay_level, new_topic,
            )  # fmt: skip
        else:
            self.sent_back += 1
        return respond(request)
