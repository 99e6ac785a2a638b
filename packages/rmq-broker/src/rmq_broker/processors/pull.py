"""PULL_MESSAGE and LITE_PULL_MESSAGE, with long polling.

Mirrors ``org.apache.rocketmq.broker.processor.PullMessageProcessor`` and
``DefaultPullMessageResultHandler`` (spec §6.2):

* checks in Java's order, codes and remarks: broker read permission, subscription group
  (SUBSCRIPTION_GROUP_NOT_EXIST, created when ``autoCreateSubscriptionGroup``), group
  consume permission, topic (TOPIC_NOT_EXIST), topic read permission, queue id
  (INVALID_PARAMETER), the subscription: from the request when sysFlag has 0x4 (a
  malformed one is SUBSCRIPTION_PARSE_FAILED), else the group's heartbeat registration
  (SUBSCRIPTION_NOT_EXIST, SUBSCRIPTION_NOT_LATEST); SQL92 needs ``enablePropertyFilter``
  (else SYSTEM_ERROR as Java) and an expression that compiles (else
  SUBSCRIPTION_PARSE_FAILED), see :mod:`rmq_broker.filtering`;
* TAG subscriptions filter on the consume queue's tag hash (``codeSet``); the client
  re-checks the tag string; SQL92 ones on the message's properties (filtering.py);
* store status → code as Java: FOUND 0; NO_MATCHED_MESSAGE, MESSAGE_WAS_REMOVING 20;
  NO_MESSAGE_IN_QUEUE / NO_MATCHED_LOGIC_QUEUE 21 if the request offset ≠ 0 else 19;
  OFFSET_FOUND_NULL, OFFSET_OVERFLOW_ONE 19; OFFSET_OVERFLOW_BADLY, OFFSET_TOO_SMALL 21;
  remark = the status name; header ``nextBeginOffset``, ``minOffset``, ``maxOffset``,
  ``suggestWhichBrokerId`` (0, or the group's choice with ``slaveReadEnable``),
  ``topicSysFlag``, ``groupSysFlag``;
* commit-offset piggyback (sysFlag 0x1) stores ``commitOffset`` on the first run only;
* PULL_NOT_FOUND with the suspend flag (0x2) parks the pull in the
  :class:`~rmq_broker.long_polling.PullHoldService` for ``suspendTimeoutMillis``
  (``shortPollingTimeMills`` with long polling off); it is answered when a matching
  message arrives or at the deadline, by running it again without suspension;
* a FOUND body is the stored records themselves: the store's memoryviews go to the
  socket through ``Connection.send_response(response, body_parts)``, no per-message copy;
  the messages are counted once per response (:meth:`BrokerStats.count_get
  <rmq_broker.stats.BrokerStats.count_get>`: ``msgGetTotalTodayNow``, ``getTransferredTps``);
* on a slave (``brokerRole=SLAVE``) pulls are served from its own store, as Java's are,
  except that a piggybacked commit offset is not stored and, unless
  ``offsetCheckInSlave``, an offset the queue does not hold is not corrected:
  ``nextBeginOffset`` stays the requested offset (Java ``nextOffsetCorrection``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final, final

from rmq_broker.client_manager import SUB_ALL, build_subscription, is_tag_type
from rmq_broker.config import PERM_READ, BrokerRole
from rmq_broker.controller import BrokerController, suggest_todo
from rmq_broker.filtering import MessageFilter, check_subscription, message_filter
from rmq_broker.long_polling import HeldPull
from rmq_broker.processors._common import respond
from rmq_broker.stats import BrokerStats
from rmq_protocol.codec.body import MessageModel, SubscriptionData
from rmq_protocol.codec.codes import LanguageCode, RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand, response_with_ext
from rmq_protocol.codec.headers import PullMessageRequestHeader, PullMessageResponseHeader
from rmq_protocol.transport import Connection, ProcessorRegistry
from rmq_store import GetMessageStatus

__all__ = ["PullMessageProcessor"]

logger = logging.getLogger(__name__)

FLAG_COMMIT_OFFSET: Final = 0x1
FLAG_SUSPEND: Final = 0x2
FLAG_SUBSCRIPTION: Final = 0x4

_FOUND: Final = GetMessageStatus.FOUND
_FOUND_REMARK: Final = GetMessageStatus.FOUND.name
_SUCCESS: Final = int(ResponseCode.SUCCESS)
_JAVA: Final = LanguageCode.JAVA
_CODES: Final = {
    GetMessageStatus.FOUND: ResponseCode.SUCCESS,
    GetMessageStatus.MESSAGE_WAS_REMOVING: ResponseCode.PULL_RETRY_IMMEDIATELY,
    GetMessageStatus.NO_MATCHED_MESSAGE: ResponseCode.PULL_RETRY_IMMEDIATELY,
    GetMessageStatus.OFFSET_FOUND_NULL: ResponseCode.PULL_NOT_FOUND,
    GetMessageStatus.OFFSET_OVERFLOW_ONE: ResponseCode.PULL_NOT_FOUND,
    GetMessageStatus.OFFSET_OVERFLOW_BADLY: ResponseCode.PULL_OFFSET_MOVED,
    GetMessageStatus.OFFSET_TOO_SMALL: ResponseCode.PULL_OFFSET_MOVED,
}
_EMPTY_QUEUE: Final = frozenset(
    {GetMessageStatus.NO_MESSAGE_IN_QUEUE, GetMessageStatus.NO_MATCHED_LOGIC_QUEUE}
)
# Enum attribute access is slow on 3.11 (see rmq_protocol.codec.command): plain ints here.
_LITE_PULL_MESSAGE: Final = int(RequestCode.LITE_PULL_MESSAGE)
_PULL_NOT_FOUND: Final = int(ResponseCode.PULL_NOT_FOUND)
_PULL_OFFSET_MOVED: Final = int(ResponseCode.PULL_OFFSET_MOVED)
_SUBSCRIPTIONS_MAX: Final = 1024  # subscriptions carried by pulls, remembered parsed
# Statuses whose nextBeginOffset Java's store corrects only on a master
# (DefaultMessageStore.nextOffsetCorrection): the requested offset is not in the queue.
_CORRECTED: Final = frozenset(
    {
        GetMessageStatus.NO_MESSAGE_IN_QUEUE,
        GetMessageStatus.NO_MATCHED_LOGIC_QUEUE,
        GetMessageStatus.OFFSET_TOO_SMALL,
        GetMessageStatus.OFFSET_OVERFLOW_ONE,
        GetMessageStatus.OFFSET_OVERFLOW_BADLY,
        GetMessageStatus.OFFSET_FOUND_NULL,
    }
)


@final
class PullMessageProcessor:
    """Answers pulls from the store; parks empty ones for long polling."""

    def __init__(self, controller: BrokerController, stats: BrokerStats) -> None:
        self._c = controller
        self._stats = stats
        slave = controller.config.broker_role is BrokerRole.SLAVE
        self._store_commit_offset = not slave  # Java: never on a slave
        self._topic_table = controller.topics.table  # updated in place, never replaced
        self._correct_offsets = not slave or controller.config.offset_check_in_slave
        controller.resume_pulls = self._resume
        # (topic, subString, expressionType, subVersion) of pulls carrying their
        # subscription (sysFlag 0x4) -> (the parsed subscription, its tag codes): a
        # consumer sends the same one with every pull.
        self._subscriptions: dict[
            tuple[str, str | None, str | None, int],
            tuple[SubscriptionData, frozenset[int] | None],
        ] = {}

    def register(self, registry: ProcessorRegistry) -> None:
        registry.register(RequestCode.PULL_MESSAGE, self.process)
        registry.register(RequestCode.LITE_PULL_MESSAGE, self.process)

    def process(self, request: RemotingCommand, conn: Connection) -> RemotingCommand | None:
        return self._process(request, conn, allow_suspend=True)

    def _resume(self, pulls: list[HeldPull]) -> None:
        """Answer parked pulls (woken or timed out): run them again, without suspension."""
        for pull in pulls:
            conn = pull.connection
            if conn.is_closing:
                continue
            try:
                response = self._process(pull.request, conn, allow_suspend=False)
            except Exception as exc:  # answered as the transport answers a failed processor
                logger.exception("pull from %s failed when woken", conn.peer)
                response = respond(
                    pull.request, ResponseCode.SYSTEM_ERROR, f"{type(exc).__name__}: {exc}"
                )
            if response is not None:
                conn.send_response(response)

    def _process(
        self, request: RemotingCommand, conn: Connection, *, allow_suspend: bool
    ) -> RemotingCommand | None:
        c = self._c
        config = c.config
        header = PullMessageRequestHeader.from_ext_fields(request.ext_fields)
        if not config.broker_permission & PERM_READ:
            return respond(
                request,
                ResponseCode.NO_PERMISSION,
                f"the broker[{c.broker_ip}] pulling message is forbidden",
            )
        if request.code == _LITE_PULL_MESSAGE and not config.lite_pull_message_enable:
            return respond(
                request,
                ResponseCode.NO_PERMISSION,
                f"the broker[{c.broker_ip}] for lite pull consumer is forbidden",
            )
        group = header.consumer_group
        group_config = c.groups.find(group)
        if group_config is None:
            return respond(
                request,
                ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
                f"subscription group [{group}] does not exist, {suggest_todo()}",
            )
        if not group_config.consume_enable:
            return respond(
                request, ResponseCode.NO_PERMISSION, f"subscription group no permission, {group}"
            )
        topic = header.topic
        topic_config = self._topic_table.get(topic)
        if topic_config is None:
            logger.error("the topic %s does not exist, consumer %s", topic, conn.peer)
            return respond(
                request,
                ResponseCode.TOPIC_NOT_EXIST,
                f"topic[{topic}] not exist, apply first please! {suggest_todo()}",
            )
        if not topic_config.perm & PERM_READ:
            return respond(
                request,
                ResponseCode.NO_PERMISSION,
                f"the topic[{topic}] pulling message is forbidden",
            )
        queue_id = header.queue_id
        if queue_id < 0 or queue_id >= topic_config.read_queue_nums:
            info = (
                f"queueId[{queue_id}] is illegal, topic:[{topic}] topicConfig.readQueueNums:"
                f"[{topic_config.read_queue_nums}] consumer:[/{conn.peer}]"
            )
            logger.warning("%s", info)
            return respond(request, ResponseCode.INVALID_PARAMETER, info)

        subscription: SubscriptionData | None
        codes: frozenset[int] | None
        if header.sys_flag & FLAG_SUBSCRIPTION:
            key = (topic, header.subscription, header.expression_type, header.sub_version)
            parsed = self._subscriptions.get(key)
            if parsed is None:
                if header.subscription is None and is_tag_type(header.expression_type):
                    subscription = build_subscription(topic, SUB_ALL)
                elif header.subscription is None:
                    return respond(
                        request,
                        ResponseCode.SUBSCRIPTION_PARSE_FAILED,
                        "parse the consumer's subscription failed",
                    )
                else:
                    subscription = build_subscription(
                        topic, header.subscription, header.expression_type, header.sub_version
                    )
                parsed = (subscription, _tag_codes(subscription))
                if len(self._subscriptions) >= _SUBSCRIPTIONS_MAX:
                    self._subscriptions.clear()
                self._subscriptions[key] = parsed
            subscription, codes = parsed
            c.clients.compensate_subscription(group, subscription)
        else:
            group_info = c.clients.consumer_group(group)
            if group_info is None:
                logger.warning("the consumer's group info does not exist, group %s", group)
                return respond(
                    request,
                    ResponseCode.SUBSCRIPTION_NOT_EXIST,
                    f"the consumer's group info not exist{suggest_todo()}",
                )
            if (
                not group_config.consume_broadcast_enable
                and group_info.message_model is MessageModel.BROADCASTING
            ):
                return respond(
                    request,
                    ResponseCode.NO_PERMISSION,
                    f"the consumer group[{group}] can not consume by broadcast way",
                )
            subscription = group_info.find_subscription(topic)
            if subscription is None:
                logger.warning(
                    "the consumer's subscription does not exist, group %s topic %s", group, topic
                )
                return respond(
                    request,
                    ResponseCode.SUBSCRIPTION_NOT_EXIST,
                    f"the consumer's subscription not exist{suggest_todo()}",
                )
            if subscription.sub_version < header.sub_version:
                logger.warning(
                    "the broker's subscription is not the latest, group %s %s",
                    group,
                    subscription.sub_string,
                )
                return respond(
                    request,
                    ResponseCode.SUBSCRIPTION_NOT_LATEST,
                    "the consumer's subscription not latest",
                )
            codes = _tag_codes(subscription)
        keep: MessageFilter | None = None  # rmq_broker.filtering: SQL92 on properties
        if not is_tag_type(subscription.expression_type):
            refusal = check_subscription(subscription, config)
            if refusal is not None:
                return respond(request, refusal.code, refusal.remark)
            keep = message_filter(
                subscription, group=group, config=config, lookup=c.clients.find_subscription
            )
            codes = None  # SQL92: no tag-hash pre-filter (nor wake-up filter)

        store = c.store
        offset = header.queue_offset
        if header.max_msg_bytes is not None and header.max_msg_bytes > 0:
            result = store.get_messages(
                topic, queue_id, offset, max_count=header.max_msg_nums,
                max_bytes=header.max_msg_bytes, tags_codes=codes, message_filter=keep,
            )  # fmt: skip
        else:
            result = store.get_messages(
                topic, queue_id, offset, max_count=header.max_msg_nums, tags_codes=codes,
                message_filter=keep,
            )  # fmt: skip
        status = result.status
        next_begin_offset = result.next_begin_offset
        # FOUND first, by identity: hashing a plain Enum member is a Python-level call.
        if status is _FOUND:
            code = _SUCCESS
        else:
            if not self._correct_offsets and status in _CORRECTED:
                next_begin_offset = offset
            if status in _EMPTY_QUEUE:
                code = _PULL_OFFSET_MOVED if offset != 0 else _PULL_NOT_FOUND
            else:
                code = _CODES[status]
        suggest = 0
        if config.slave_read_enable:
            suggest = (
                group_config.which_broker_when_consume_slowly
                if result.suggest_pulling_from_slave
                else group_config.broker_id
            )
        if code == _PULL_OFFSET_MOVED:
            logger.info(
                "pull offset moved: group %s topic %s queue %d requested %d, next %d (%s)",
                group, topic, queue_id, offset, next_begin_offset, status.name,
            )  # fmt: skip
        if allow_suspend and header.sys_flag & FLAG_COMMIT_OFFSET and self._store_commit_offset:
            c.offsets.commit_offset(group, topic, queue_id, header.commit_offset)

        if code == _PULL_NOT_FOUND and allow_suspend and header.sys_flag & FLAG_SUSPEND:
            if self._hold(
                request, conn, topic, queue_id, offset, codes, header.suspend_timeout_millis
            ):
                return None
            return respond(
                request,
                ResponseCode.SYSTEM_BUSY,
                f"[OVERLOAD]system busy, {len(c.holds)} pulls are held, start flow control "
                "for a while",
            )
        if status is _FOUND:
            # PullMessageResponseHeader's extFields, built directly (as its to_ext_fields
            # builds them: tests/test_pull_fast.py compares the two).
            ext = {
                "suggestWhichBrokerId": str(suggest),
                "nextBeginOffset": str(next_begin_offset),
                "minOffset": str(result.min_offset),
                "maxOffset": str(result.max_offset),
                "topicSysFlag": str(topic_config.topic_sys_flag),
                "groupSysFlag": str(group_config.group_sys_flag),
            }
            messages = result.messages
            self._stats.count_get(topic, len(messages))
            # The records are the body: one header, then the store's views, no copy.
            conn.send_response(
                response_with_ext(request, _SUCCESS, _FOUND_REMARK, ext, _JAVA), messages
            )
            return None
        return respond(
            request,
            code,
            status.name,
            PullMessageResponseHeader(
                suggest_which_broker_id=suggest,
                next_begin_offset=next_begin_offset,
                min_offset=result.min_offset,
                max_offset=result.max_offset,
                topic_sys_flag=topic_config.topic_sys_flag,
                group_sys_flag=group_config.group_sys_flag,
            ),
        )

    def _hold(
        self,
        request: RemotingCommand,
        conn: Connection,
        topic: str,
        queue_id: int,
        offset: int,
        codes: frozenset[int] | None,
        suspend_timeout_ms: int,
    ) -> bool:
        c = self._c
        timeout_ms = (
            suspend_timeout_ms
            if c.config.long_polling_enable
            else c.config.short_polling_time_mills
        )
        now = asyncio.get_running_loop().time()
        return c.holds.hold(
            HeldPull(
                request=request,
                connection=conn,
                topic=topic,
                queue_id=queue_id,
                offset=offset,
                tags_codes=codes,
                held_at=now,
                deadline=now + max(timeout_ms, 0) / 1000,
            )
        )


def _tag_codes(subscription: SubscriptionData) -> frozenset[int] | None:
    """The tag hashes a TAG subscription matches; None for ``*`` (everything)."""
    return None if subscription.sub_string == SUB_ALL else frozenset(subscription.code_set)
