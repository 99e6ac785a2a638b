"""SEND_MESSAGE, SEND_MESSAGE_V2, SEND_BATCH_MESSAGE.

Mirrors ``org.apache.rocketmq.broker.processor.SendMessageProcessor`` and
``AbstractSendMessageProcessor.msgCheck``:

* every response carries ``MSG_REGION`` (``regionId``) and ``TRACE_ON`` (spec §2.5);
* checks in Java's order and with Java's codes and remarks: topic name
  (INVALID_PARAMETER), topics producers may not send to (NO_PERMISSION), a missing topic
  created from the request's ``defaultTopic`` template (TBW102) or, for ``%RETRY%``
  topics, with one queue, else TOPIC_NOT_EXIST; a queue id past the topic's queues
  (INVALID_PARAMETER); ``queueId`` < 0 picks a random writable queue;
* ``%RETRY%<group>`` sends: SUBSCRIPTION_GROUP_NOT_EXIST for an unknown group, and
  past ``maxReconsumeTimes`` (or while the group holds queue locks) the message goes to
  ``%DLQ%<group>``;
* the message is stored with the properties the client sent plus ``CLUSTER``;
  SEND_BATCH_MESSAGE stores each inner message as its own record, consecutively;
* SYNC_FLUSH (and the message's ``WAIT`` not ``false``): the answer waits for the group
  commit without blocking the loop, FLUSH_DISK_TIMEOUT after ``syncFlushTimeout``;
* store errors map as Java's PutMessageStatus does: too large → MESSAGE_ILLEGAL with
  Java's remark, disk full / store closed → SERVICE_NOT_AVAILABLE;
* overload (``sendThreadPoolQueueCapacity`` sends already waiting for a flush) →
  SYSTEM_BUSY before anything is stored.

Where rmq is stricter than Java: a broker without write permission refuses every
send (Java only refuses ordered topics, relying on the NameServer routes for the rest)
and a topic without write permission refuses sends (Java stores them).
Transactional half messages go to RMQ_SYS_TRANS_HALF_TOPIC (:mod:`rmq_broker.transaction`);
a message with a delay level goes to SCHEDULE_TOPIC_XXXX until it is due
(:mod:`rmq_broker.schedule`), a 5.x timer message (``TIMER_DELIVER_MS``,
``TIMER_DELAY_SEC``, ``TIMER_DELAY_MS``) to ``rmq_sys_wheel_timer``
(:mod:`rmq_broker.timer`; too far ahead or unparsable: MESSAGE_ILLEGAL with Java's
remark). A SEND_BATCH_MESSAGE that is transactional or carries a delay level (in its own
properties, as Java checks, or, stricter than Java, in one of its messages) is
MESSAGE_ILLEGAL.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable
from typing import Final, final

from rmq_broker.config import PERM_READ, PERM_WRITE
from rmq_broker.controller import BrokerController, suggest_todo
from rmq_broker.flush_waiter import FlushWaiter
from rmq_broker.processors._common import new_message, respond
from rmq_broker.schedule import route_scheduled
from rmq_broker.timer import TimerRefusal
from rmq_broker.topic_config import (
    DLQ_GROUP_TOPIC_PREFIX,
    RETRY_GROUP_TOPIC_PREFIX,
    is_not_allowed_send_topic,
    topic_config_string,
    validate_topic,
)
from rmq_broker.transaction import prepare_half_message
from rmq_protocol.codec import properties as props
from rmq_protocol.codec.body import TopicConfig, TopicFilterType
from rmq_protocol.codec.codes import LanguageCode, RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand, encode_response
from rmq_protocol.codec.headers import SendMessageRequestHeader, SendMessageRequestHeaderV2
from rmq_protocol.codec.message import (
    MessageExt,
    TransactionType,
    decode_batch_messages,
    transaction_type,
)
from rmq_protocol.errors import LocalProtocolError, RemoteProtocolError
from rmq_protocol.transport import Connection, ProcessorRegistry
from rmq_store import DiskFullError, MessageTooLargeError, PutResult, StoreClosedError, StoreError

__all__ = ["SendMessageProcessor"]

logger = logging.getLogger(__name__)

_MULTI_TAGS_FLAG: Final = 0x2
_DLQ_NUMS_PER_GROUP: Final = 1
_V3_4_9: Final = 106  # MQVersion ordinal: from it on, maxReconsumeTimes comes from the header
_TOPIC_SYS_FLAG_UNIT: Final = 0x1
_TOPIC_SYS_FLAG_UNIT_SUB: Final = 0x2
_CHECKED_TOPICS_MAX: Final = 4096  # topic names remembered as valid and allowed
# Enum attribute access is slow on 3.11 (see rmq_protocol.codec.command): plain ints here.
_SEND_MESSAGE: Final = int(RequestCode.SEND_MESSAGE)
_SEND_BATCH_MESSAGE: Final = int(RequestCode.SEND_BATCH_MESSAGE)
# The headers' decoders, bound once (a classmethod binds per call)
_decode_v1: Final = SendMessageRequestHeader.from_ext_fields
_decode_v2: Final = SendMessageRequestHeaderV2.from_ext_fields
_MULTI_TAG: Final = TopicFilterType.MULTI_TAG
_TRANSACTION_PREPARED: Final = props.TRANSACTION_PREPARED
_UNIQ_KEY: Final = props.UNIQ_KEY
_WAIT_STORE_MSG_OK: Final = props.WAIT_STORE_MSG_OK
_MSG_REGION: Final = props.MSG_REGION
_TRACE_ON: Final = props.TRACE_SWITCH
_SUCCESS: Final = int(ResponseCode.SUCCESS)
_FLUSH_DISK_TIMEOUT: Final = int(ResponseCode.FLUSH_DISK_TIMEOUT)
_JAVA: Final = LanguageCode.JAVA
_CLUSTER: Final = props.CLUSTER
_DELAY: Final = props.DELAY_TIME_LEVEL
_TIMER_DELIVER_MS: Final = props.TIMER_DELIVER_MS
_TIMER_DELAY_SEC: Final = props.TIMER_DELAY_SEC
_TIMER_DELAY_MS: Final = props.TIMER_DELAY_MS
_decode_properties: Final = props.decode_properties
_scan_properties: Final = props.scan_properties
# What a send's properties are looked up for; any of the first six present means the
# full path (decoded properties), so a plain message keeps its text as sent.
_SEND_SCAN: Final = (
    _TRANSACTION_PREPARED,
    _DELAY,
    _TIMER_DELIVER_MS,
    _TIMER_DELAY_SEC,
    _TIMER_DELAY_MS,
    _CLUSTER,
    _UNIQ_KEY,
    _WAIT_STORE_MSG_OK,
)
_NOT_ROUTED: Final = (None, None, None, None, None, None)  # _SEND_SCAN's first six absent
# str(queue_id) of the usual queue ids, looked up instead of formatted per answer
_QUEUE_ID_TEXT: Final = tuple(str(i) for i in range(256))

SendHeader = SendMessageRequestHeader | SendMessageRequestHeaderV2
# A refusal is a command; a stored message is answered with its encoded frame.
_Result = RemotingCommand | bytes | Awaitable[bytes]


@final
class SendMessageProcessor:
    """Stores sent messages; one instance per broker."""

    def __init__(self, controller: BrokerController) -> None:
        self._c = controller
        config = controller.config
        self._region = config.region_id
        self._trace_on = "true" if config.trace_on else "false"
        self._ext = {_MSG_REGION: self._region, _TRACE_ON: self._trace_on}
        self._random = random.Random()  # noqa: S311 - queue choice, not security
        # Topic names that passed validate_topic and is_not_allowed_send_topic (both
        # depend on the name only).
        self._checked_topics: set[str] = set()
        # Those of them that are not %RETRY% topics: process's plain path may take them.
        self._plain_topics: set[str] = set()
        self._topic_table = controller.topics.table  # updated in place, never replaced
        self._born_hosts = controller.born_hosts  # updated in place, never replaced
        self._cluster_name: str | None = None
        self._cluster_pair: str | None = None  # "CLUSTER 0x01 <name> 0x02", if encodable
        self._pair_name: str | None = None  # _cluster_name if _cluster_pair is not None
        self._plain_pair = ""  # _cluster_pair when _pair_name is set

    def register(self, registry: ProcessorRegistry) -> None:
        registry.register(RequestCode.SEND_MESSAGE, self.process)
        registry.register(RequestCode.SEND_MESSAGE_V2, self.process)
        registry.register(RequestCode.SEND_BATCH_MESSAGE, self.process)

    # ------------------------------------------------------------------ entry

    def process(self, request: RemotingCommand, conn: Connection) -> _Result:
        code = request.code
        header: SendHeader
        if code == _SEND_MESSAGE:
            header = _decode_v1(request.ext_fields)
        else:
            header = _decode_v2(request.ext_fields)
        if code != _SEND_BATCH_MESSAGE and not header.batch:
            # The plain send in one call: a topic that passed the name checks before, exists,
            # is writable and not %RETRY%, a queue id it has, a writable broker accepting
            # sends, no flush overload, a canonical properties text without transaction,
            # delay, timer or CLUSTER of its own. Exactly what _pre_send, _send_one and
            # _store do for it (any other send takes them, in Java's order of checks).
            c = self._c
            config = c.config
            topic = header.topic
            queue_id = header.queue_id
            text = header.properties
            topic_config = self._topic_table.get(topic)
            start_accept = config.start_accept_send_request_time_stamp
            waiter = c.flush_waiter
            if (
                topic_config is not None
                and topic in self._plain_topics
                and 0 <= queue_id < topic_config.write_queue_nums
                and topic_config.perm & PERM_WRITE
                and config.broker_permission & PERM_WRITE
                and (start_accept <= 0 or start_accept <= c.clock_ms())
                and (waiter is None or len(waiter) < config.send_thread_pool_queue_capacity)
                and text
                and config.broker_cluster_name is self._pair_name
            ):
                found = _scan_properties(text, _SEND_SCAN)
                if found is not None and found[:6] == _NOT_ROUTED:
                    sys_flag = header.sys_flag
                    if topic_config.topic_filter_type is _MULTI_TAG:
                        sys_flag |= _MULTI_TAGS_FLAG
                    born_host = self._born_hosts.get(conn)
                    if born_host is None:
                        born_host = c.born_host(conn)
                    body = request.body
                    messages = [
                        new_message(
                            topic,
                            queue_id,
                            header.flag,
                            sys_flag,
                            header.born_timestamp,
                            born_host,
                            c.store_host,
                            header.reconsume_times or 0,
                            body if type(body) is bytes else bytes(body),
                            text + self._plain_pair,
                        )
                    ]
                    return self._store(request, messages, queue_id, found[6], found[7])
        checked = self._pre_send(request, header, conn)
        if isinstance(checked, RemotingCommand):
            return checked
        if code == _SEND_BATCH_MESSAGE or header.batch:
            return self._send_batch(request, header, conn, checked)
        return self._send_one(request, header, conn, checked)

    def _fail(self, request: RemotingCommand, code: int, remark: str) -> RemotingCommand:
        return respond(request, code, remark, ext_fields=self._ext)

    def _pre_send(
        self, request: RemotingCommand, header: SendHeader, conn: Connection
    ) -> RemotingCommand | TopicConfig:
        """Java's ``preSend`` + ``msgCheck``: the topic's config when the send may go
        on, else the error response."""
        c = self._c
        config = c.config
        topic = header.topic
        start_accept = config.start_accept_send_request_time_stamp
        if start_accept > 0 and start_accept > c.clock_ms():  # no clock read when unset
            return self._fail(
                request,
                ResponseCode.SYSTEM_ERROR,
                f"broker unable to service, until {config.start_accept_send_request_time_stamp}",
            )
        if not config.broker_permission & PERM_WRITE:
            return self._fail(
                request,
                ResponseCode.NO_PERMISSION,
                f"the broker[{c.broker_ip}] sending message is forbidden",
            )
        if topic not in self._checked_topics:
            invalid = validate_topic(topic)
            if invalid is not None:
                return self._fail(request, ResponseCode.INVALID_PARAMETER, invalid)
            if is_not_allowed_send_topic(topic):
                return self._fail(
                    request,
                    ResponseCode.NO_PERMISSION,
                    f"Sending message to topic[{topic}] is forbidden.",
                )
            if len(self._checked_topics) >= _CHECKED_TOPICS_MAX:
                self._checked_topics.clear()
                self._plain_topics.clear()
            self._checked_topics.add(topic)
            if not topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
                self._plain_topics.add(topic)
        topic_config = self._topic_table.get(topic)
        if topic_config is None:
            sys_flag = 0
            if header.unit_mode:
                sys_flag = (
                    _TOPIC_SYS_FLAG_UNIT_SUB
                    if topic.startswith(RETRY_GROUP_TOPIC_PREFIX)
                    else _TOPIC_SYS_FLAG_UNIT
                )
            logger.warning("the topic %s does not exist, producer %s", topic, conn.peer)
            topic_config = c.topics.create_in_send_message(
                topic, header.default_topic, header.default_topic_queue_nums, sys_flag, conn.peer
            )
            if topic_config is None and topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
                topic_config = c.topics.create_in_send_message_back(
                    topic, 1, PERM_WRITE | PERM_READ, sys_flag
                )
            if topic_config is None:
                return self._fail(
                    request,
                    ResponseCode.TOPIC_NOT_EXIST,
                    f"topic[{topic}] not exist, apply first please!{suggest_todo()}",
                )
        queue_id = header.queue_id
        write_queues = topic_config.write_queue_nums
        if queue_id >= write_queues and queue_id >= topic_config.read_queue_nums:
            info = (
                f"request queueId[{queue_id}] is illegal, {topic_config_string(topic_config)} "
                f"Producer: {conn.peer}"
            )
            logger.warning("%s", info)
            return self._fail(request, ResponseCode.INVALID_PARAMETER, info)
        if not topic_config.perm & PERM_WRITE or write_queues <= 0:
            return self._fail(
                request,
                ResponseCode.NO_PERMISSION,
                f"the topic[{topic}] sending message is forbidden",
            )
        waiter = c.flush_waiter
        if waiter is not None and len(waiter) >= config.send_thread_pool_queue_capacity:
            return self._fail(
                request,
                ResponseCode.SYSTEM_BUSY,
                f"[REJECTREQUEST]system busy, {len(waiter)} sends wait for the disk flush, "
                "start flow control for a while",
            )
        return topic_config

    # ------------------------------------------------------------------ one message

    def _send_one(
        self,
        request: RemotingCommand,
        header: SendHeader,
        conn: Connection,
        topic_config: TopicConfig,
    ) -> _Result:
        c = self._c
        topic = header.topic
        queue_id = header.queue_id
        if queue_id < 0:
            queue_id = self._random.randrange(topic_config.write_queue_nums)
        text = header.properties
        sys_flag = header.sys_flag
        reconsume_times = header.reconsume_times or 0
        stored: str | dict[str, str] | None = None
        if text and not topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            # The common message (no transaction, delay, timer or CLUSTER of its own) in
            # a canonical properties text: stored as sent plus the CLUSTER pair, which is
            # what decoding, adding CLUSTER and encoding would give (scan_properties).
            found = _scan_properties(text, _SEND_SCAN)
            if found is not None and found[:6] == (None, None, None, None, None, None):
                pair = self._cluster_property(c.config.broker_cluster_name)
                if pair is not None:
                    stored, uniq_key, wait = text + pair, found[6], found[7]
                    store_topic, store_queue = topic, queue_id
                    if topic_config.topic_filter_type is _MULTI_TAG:
                        sys_flag |= _MULTI_TAGS_FLAG
        if stored is None:
            routed = self._route_decoded(
                request, header, topic, queue_id, topic_config, sys_flag, reconsume_times
            )
            if isinstance(routed, RemotingCommand):
                return routed
            store_topic, store_queue, queue_id, sys_flag, stored = routed
            uniq_key, wait = stored.get(_UNIQ_KEY), stored.get(_WAIT_STORE_MSG_OK)
        body = request.body
        message = new_message(
            store_topic,
            store_queue,
            header.flag,
            sys_flag,
            header.born_timestamp,
            c.born_host(conn),
            c.store_host,
            reconsume_times,
            body if type(body) is bytes else bytes(body),
            stored,  # the slot takes a dict or the text
        )
        return self._store(request, [message], queue_id, uniq_key, wait)

    def _route_decoded(
        self,
        request: RemotingCommand,
        header: SendHeader,
        topic: str,
        queue_id: int,
        topic_config: TopicConfig,
        sys_flag: int,
        reconsume_times: int,
    ) -> RemotingCommand | tuple[str, int, int, int, dict[str, str]]:
        """The decoded properties' path: retry/DLQ, transaction half, CLUSTER, delay
        levels and timers. ``(store topic, store queue, the queue answered, sys flag,
        properties)``, or the refusal."""
        c = self._c
        text = header.properties
        properties = _decode_properties(text) if text else {}
        if topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            routed = self._retry_or_dlq(request, header, properties, reconsume_times)
            if isinstance(routed, RemotingCommand):
                return routed
            if routed is not None:
                topic, queue_id, topic_config = routed
        if topic_config.topic_filter_type is _MULTI_TAG:
            sys_flag |= _MULTI_TAGS_FLAG
        prepared = properties.get(_TRANSACTION_PREPARED)
        if (
            prepared is not None
            and prepared.lower() == "true"
            and not (reconsume_times > 0 and _delay_level(properties) > 0)
        ):
            # Transactional half message (rmq_broker.transaction): stored in the half topic.
            half = prepare_half_message(
                c.config.reject_transaction_message, topic, queue_id, sys_flag, properties
            )
            if half is None:
                return self._fail(
                    request,
                    ResponseCode.NO_PERMISSION,
                    f"the broker[{c.broker_ip}] sending transaction message is forbidden",
                )
            topic, queue_id, sys_flag = half
        properties[_CLUSTER] = c.config.broker_cluster_name
        # Delay levels and 5.x timers (rmq_broker.schedule.route_scheduled, shared with
        # END_TRANSACTION's commit): held in SCHEDULE_TOPIC_XXXX / rmq_sys_wheel_timer.
        # Its own first test, inlined: most messages have none of these properties.
        store_topic, store_queue = topic, queue_id
        if (
            _DELAY in properties
            or _TIMER_DELIVER_MS in properties
            or _TIMER_DELAY_SEC in properties
            or _TIMER_DELAY_MS in properties
        ):
            routed_to = route_scheduled(
                properties, topic, queue_id, sys_flag, settings=c.settings, clock_ms=c.clock_ms
            )
            if isinstance(routed_to, TimerRefusal):
                return self._fail(request, routed_to.code, routed_to.remark)
            store_topic, store_queue = routed_to
        return store_topic, store_queue, queue_id, sys_flag, properties

    def _cluster_property(self, name: str) -> str | None:
        """The CLUSTER pair appended to a plain message's text (None if the name cannot
        be carried: then the full path reports it as it does today)."""
        if name is not self._cluster_name:
            valid = bool(name) and "\x01" not in name and "\x02" not in name
            self._cluster_pair = f"{_CLUSTER}\x01{name}\x02" if valid else None
            self._cluster_name = name
            self._pair_name = name if valid else None
            self._plain_pair = self._cluster_pair or ""
        return self._cluster_pair

    def _retry_or_dlq(
        self,
        request: RemotingCommand,
        header: SendHeader,
        properties: dict[str, str],
        reconsume_times: int,
    ) -> RemotingCommand | tuple[str, int, TopicConfig] | None:
        """Java's ``handleRetryAndDLQ``: an error response, a new (topic, queue, config)
        for the dead-letter queue, or None to send to the retry topic as asked."""
        c = self._c
        group = header.topic[len(RETRY_GROUP_TOPIC_PREFIX) :]
        group_config = c.groups.find(group)
        if group_config is None:
            return self._fail(
                request,
                ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
                f"subscription group not exist, {group} {suggest_todo()}",
            )
        max_reconsume = group_config.retry_max_times
        if request.version >= _V3_4_9 and header.max_reconsume_times is not None:
            max_reconsume = header.max_reconsume_times
        if reconsume_times <= max_reconsume and c.locks.is_lock_all_expired(group):
            return None
        properties[props.DELAY_TIME_LEVEL] = "-1"
        dlq = DLQ_GROUP_TOPIC_PREFIX + group
        config = c.topics.create_in_send_message_back(
            dlq, _DLQ_NUMS_PER_GROUP, PERM_WRITE | PERM_READ, 0
        )
        logger.info(
            "message of %s reconsumed %d times (max %d): to %s",
            header.topic, reconsume_times, max_reconsume, dlq,
        )  # fmt: skip
        return dlq, self._random.randrange(_DLQ_NUMS_PER_GROUP), config

    # ------------------------------------------------------------------ batches

    def _send_batch(
        self,
        request: RemotingCommand,
        header: SendHeader,
        conn: Connection,
        topic_config: TopicConfig,
    ) -> _Result:
        c = self._c
        topic = header.topic
        queue_id = header.queue_id
        if queue_id < 0:
            queue_id = self._random.randrange(topic_config.write_queue_nums)
        if len(topic) > 127:
            return self._fail(
                request, ResponseCode.MESSAGE_ILLEGAL, f"message topic length too long {len(topic)}"
            )
        if topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            return self._fail(
                request,
                ResponseCode.MESSAGE_ILLEGAL,
                f"batch request does not support retry group {topic}",
            )
        if len(request.body) > c.settings.store.max_message_size:
            return self._fail(request, ResponseCode.MESSAGE_ILLEGAL, self._illegal_remark())
        sys_flag = header.sys_flag
        stored_flag = (
            sys_flag | _MULTI_TAGS_FLAG
            if topic_config.topic_filter_type is _MULTI_TAG
            else sys_flag
        )
        # The messages to store straight from the body (rmq_protocol's C decoder where it
        # is built: no BatchEntry, no new_message per entry), and which entries carry a
        # delay level for _batch_refusal. Each message's properties stay the entry's
        # undecoded text: the store copies it into the record as it is (as Java's batch
        # encoder copies the entry's bytes) and its C append reads TAGS, KEYS and
        # UNIQ_KEY from the text; only a delayed entry is decoded, by _batch_refusal.
        try:
            messages, delayed = decode_batch_messages(
                request.body,
                topic,
                queue_id,
                stored_flag,
                header.born_timestamp,
                c.born_host(conn),
                c.store_host,
                header.reconsume_times or 0,
                props.DELAY_TIME_LEVEL,
                True,  # properties as the entries' undecoded text
            )
        except RemoteProtocolError as exc:
            return self._fail(
                request, ResponseCode.MESSAGE_ILLEGAL, f"the batch body is malformed: {exc}"
            )
        if not messages:
            return self._fail(
                request, ResponseCode.MESSAGE_ILLEGAL, "the batch body holds no message"
            )
        batch_properties = props.decode_properties(header.properties) if header.properties else {}
        refused = self._batch_refusal(batch_properties, sys_flag, messages, delayed)
        if refused is not None:
            return self._fail(request, ResponseCode.MESSAGE_ILLEGAL, refused)
        return self._store(
            request,
            messages,
            queue_id,
            batch_properties.get(props.UNIQ_KEY),
            batch_properties.get(_WAIT_STORE_MSG_OK),
        )

    def _batch_refusal(
        self,
        batch_properties: dict[str, str],
        sys_flag: int,
        messages: list[MessageExt],
        delayed: list[int],
    ) -> str | None:
        """Java's ``CommitLog.asyncPutMessages`` checks: a batch that is transactional or
        whose own properties carry a delay level is MESSAGE_ILLEGAL with the generic
        illegal-message remark. rmq also refuses an inner message with a delay level
        (Java stores it at once, without the delay; its clients never send one).
        ``delayed``: the indexes of the messages that have a DELAY property."""
        if transaction_type(sys_flag) is not TransactionType.NOT_TYPE:
            return self._illegal_remark()
        if _delay_level(batch_properties) > 0:
            return self._illegal_remark()
        for index in delayed:
            level = _delay_level(messages[index].properties)
            if level > 0:
                return (
                    f"{self._illegal_remark()} Message {index} of {len(messages)} in the batch "
                    f"has delay level {level} ({props.DELAY_TIME_LEVEL}): delay levels are "
                    "not supported for batching; send delayed messages one by one."
                )
        return None

    # ------------------------------------------------------------------ storing

    def _illegal_remark(self) -> str:
        return (
            "the message is illegal, maybe msg body or properties length not matched. msg body "
            f"length limit {self._c.settings.store.max_message_size}B, msg properties length "
            "limit 32KB."
        )

    def _store(
        self,
        request: RemotingCommand,
        messages: list[MessageExt],
        queue_id: int,
        uniq_key: str | None,
        wait: str | None,  # the WAIT property: "false" answers before the flush
    ) -> _Result:
        c = self._c
        try:
            result = c.store.append_messages(messages)
        except (StoreError, LocalProtocolError) as exc:
            return self._store_refusal(request, messages, exc)
        msg_ids = result.msg_ids
        # SendMessageResponseHeader's extFields (msgId, queueId, queueOffset,
        # transactionId), then MSG_REGION and TRACE_ON, encoded straight into the answer's
        # frame (encode_response): a header object, a dict and a command cost more than
        # the rest of the answer.
        msg_id = msg_ids[0] if len(msg_ids) == 1 else ",".join(msg_ids)
        queue_text = _QUEUE_ID_TEXT[queue_id] if 0 <= queue_id < 256 else str(queue_id)
        if uniq_key is None:
            pairs: tuple[str, ...] = (
                "msgId", msg_id,
                "queueId", queue_text,
                "queueOffset", str(result.queue_offset),
                _MSG_REGION, self._region,
                _TRACE_ON, self._trace_on,
            )  # fmt: skip
        else:
            pairs = (
                "msgId", msg_id,
                "queueId", queue_text,
                "queueOffset", str(result.queue_offset),
                "transactionId", uniq_key,
                _MSG_REGION, self._region,
                _TRACE_ON, self._trace_on,
            )  # fmt: skip
        waiter = c.flush_waiter
        if waiter is None:
            return encode_response(request, _SUCCESS, _JAVA, pairs)
        return self._answer_flushed(request, waiter, wait, pairs, result)

    def _store_refusal(
        self,
        request: RemotingCommand,
        messages: list[MessageExt],
        exc: StoreError | LocalProtocolError,
    ) -> RemotingCommand:
        """The answer to a send the store refused with ``exc``."""
        if isinstance(exc, MessageTooLargeError):
            return self._fail(request, ResponseCode.MESSAGE_ILLEGAL, self._illegal_remark())
        if isinstance(exc, LocalProtocolError):  # properties too long, a field out of range
            logger.info("message to %s refused: %s", messages[0].topic, exc)
            return self._fail(request, ResponseCode.MESSAGE_ILLEGAL, self._illegal_remark())
        if isinstance(exc, (DiskFullError, StoreClosedError)):
            return self._fail(
                request,
                ResponseCode.SERVICE_NOT_AVAILABLE,
                "service not available now. It may be caused by one of the following reasons: "
                f"the broker's disk is full, messages are put to the slave, message store has "
                f"been shut down, etc. ({exc})",
            )
        logger.error("storing a message to %s failed: %s", messages[0].topic, exc)
        return self._fail(request, ResponseCode.SYSTEM_ERROR, f"store putMessage failed: {exc}")

    def _answer_flushed(
        self,
        request: RemotingCommand,
        waiter: FlushWaiter,
        wait: str | None,  # the WAIT property: "false" answers before the flush
        pairs: tuple[str, ...],
        result: PutResult,
    ) -> _Result:
        """SYNC_FLUSH: the answer once the commit log is flushed past the message."""
        if wait is not None and wait.lower() == "false":
            return encode_response(request, _SUCCESS, _JAVA, pairs)
        flushed = waiter.wait(result.end_offset)
        if flushed.done() and flushed.result():
            return encode_response(request, _SUCCESS, _JAVA, pairs)
        return self._await_flush(request, flushed, pairs, result)

    async def _await_flush(
        self,
        request: RemotingCommand,
        flushed: asyncio.Future[bool],
        pairs: tuple[str, ...],
        result: PutResult,
    ) -> bytes:
        ok = await flushed
        if ok:
            return encode_response(request, _SUCCESS, _JAVA, pairs)
        logger.warning(
            "commit log not flushed to offset %d within syncFlushTimeout: FLUSH_DISK_TIMEOUT",
            result.end_offset,
        )
        return encode_response(request, _FLUSH_DISK_TIMEOUT, _JAVA, pairs)


def _delay_level(properties: dict[str, str]) -> int:
    text = properties.get(props.DELAY_TIME_LEVEL)
    if not text:
        return 0
    try:
        return int(text)
    except ValueError:
        return 0
