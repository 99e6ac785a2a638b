"""Typed custom headers of every request and response that carries one (spec §2).

Mirrors the ``CommandCustomHeader`` classes of Apache RocketMQ 5.3
(``org.apache.rocketmq.remoting.protocol.header`` and its ``namesrv`` and
``controller`` subpackages, plus ``org.apache.rocketmq.remoting.rpc.RpcRequestHeader``
and ``TopicRequestHeader``). Each class keeps Java's name; each field is the
snake_case of the Java field and travels in ``extFields`` under the Java name
(spec §1.6), every value a string::

    extFields = {"topic": "TopicTest", "queueId": "3", "committed": "true", ...}

How Java's declarations map onto fields (see :mod:`rmq_protocol.codec.header`):

* ``@CFNotNull`` (boxed or primitive): no default, required. Java only logs a
  missing one and usually fails later; we reject it at decode time.
* A primitive (``int``/``long``/``boolean``) without ``@CFNotNull``, or a boxed
  field that Java initialises (``Boolean order = false``): a plain type with
  Java's initial value as default. Always encoded, the default when absent.
* Any other object: ``X | None = None``, omitted when ``None``.

Since 5.0 most request headers inherit :class:`RpcRequestHeader` (``ns``,
``nsd``, ``bname``, ``oway``) and topic-scoped ones :class:`TopicRequestHeader`
(``lo``); so do ours. Peers older than 5.0 never send those keys.

SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE / SEND_REPLY_MESSAGE_V2 use the one-letter
keys ``a``..``n`` of spec §2.2 (:class:`SendMessageRequestHeaderV2`); the broker
treats them like SEND_MESSAGE after :meth:`SendMessageRequestHeaderV2.to_v1`.

:data:`REQUEST_HEADERS` maps a request code to its request header class and
:data:`RESPONSE_HEADERS` maps a request code to the class of the header in the
*response* to it. A code that carries no header is absent from the maps.
Response headers are only meaningful on the success codes of their request
(Java leaves them empty on errors), so decode them only then.
"""

from __future__ import annotations

import enum
import types
from collections.abc import Mapping
from typing import Final, Self, final

from rmq_protocol.codec.codes import RequestCode
from rmq_protocol.codec.header import CommandHeader, command_header, wire

__all__ = [
    "REQUEST_HEADERS",
    "RESPONSE_HEADERS",
    "AckMessageRequestHeader",
    "AddBrokerRequestHeader",
    "AddWritePermOfBrokerRequestHeader",
    "AddWritePermOfBrokerResponseHeader",
    "AlterSyncStateSetRequestHeader",
    "AlterSyncStateSetResponseHeader",
    "ApplyBrokerIdRequestHeader",
    "ApplyBrokerIdResponseHeader",
    "BoundaryType",
    "BrokerHeartbeatRequestHeader",
    "ChangeInvisibleTimeRequestHeader",
    "ChangeInvisibleTimeResponseHeader",
    "CheckRocksdbCqWriteProgressRequestHeader",
    "CheckTransactionStateRequestHeader",
    "CleanControllerBrokerDataRequestHeader",
    "CloneGroupOffsetRequestHeader",
    "ConsumeMessageDirectlyResultRequestHeader",
    "ConsumerSendMsgBackRequestHeader",
    "CreateAclRequestHeader",
    "CreateTopicListRequestHeader",
    "CreateTopicRequestHeader",
    "CreateUserRequestHeader",
    "DeleteAclRequestHeader",
    "DeleteKVConfigRequestHeader",
    "DeleteSubscriptionGroupRequestHeader",
    "DeleteTopicFromNamesrvRequestHeader",
    "DeleteTopicRequestHeader",
    "DeleteUserRequestHeader",
    "ElectMasterRequestHeader",
    "ElectMasterResponseHeader",
    "EndTransactionRequestHeader",
    "ExchangeHAInfoRequestHeader",
    "ExchangeHAInfoResponseHeader",
    "ExportRocksDBConfigToJsonRequestHeader",
    "GetAclRequestHeader",
    "GetAllProducerInfoRequestHeader",
    "GetAllSubscriptionGroupRequestHeader",
    "GetAllSubscriptionGroupResponseHeader",
    "GetAllTopicConfigRequestHeader",
    "GetAllTopicConfigResponseHeader",
    "GetBrokerConfigResponseHeader",
    "GetBrokerMemberGroupRequestHeader",
    "GetConsumeStatsInBrokerHeader",
    "GetConsumeStatsRequestHeader",
    "GetConsumerConnectionListRequestHeader",
    "GetConsumerListByGroupRequestHeader",
    "GetConsumerListByGroupResponseHeader",
    "GetConsumerRunningInfoRequestHeader",
    "GetConsumerStatusRequestHeader",
    "GetEarliestMsgStoretimeRequestHeader",
    "GetEarliestMsgStoretimeResponseHeader",
    "GetKVConfigRequestHeader",
    "GetKVConfigResponseHeader",
    "GetKVListByNamespaceRequestHeader",
    "GetMaxOffsetRequestHeader",
    "GetMaxOffsetResponseHeader",
    "GetMetaDataResponseHeader",
    "GetMinOffsetRequestHeader",
    "GetMinOffsetResponseHeader",
    "GetNextBrokerIdRequestHeader",
    "GetNextBrokerIdResponseHeader",
    "GetProducerConnectionListRequestHeader",
    "GetReplicaInfoRequestHeader",
    "GetReplicaInfoResponseHeader",
    "GetRouteInfoRequestHeader",
    "GetSubscriptionGroupConfigRequestHeader",
    "GetTopicConfigRequestHeader",
    "GetTopicStatsInfoRequestHeader",
    "GetTopicsByClusterRequestHeader",
    "GetUserRequestHeader",
    "HeartbeatRequestHeader",
    "HeartbeatResponseHeader",
    "ListAclsRequestHeader",
    "ListUsersRequestHeader",
    "LockBatchMqRequestHeader",
    "NotificationRequestHeader",
    "NotificationResponseHeader",
    "NotifyBrokerRoleChangedRequestHeader",
    "NotifyConsumerIdsChangedRequestHeader",
    "NotifyMinBrokerIdChangeRequestHeader",
    "PeekMessageRequestHeader",
    "PollingInfoRequestHeader",
    "PollingInfoResponseHeader",
    "PopMessageRequestHeader",
    "PopMessageResponseHeader",
    "PullMessageRequestHeader",
    "PullMessageResponseHeader",
    "PutKVConfigRequestHeader",
    "QueryConsumeQueueRequestHeader",
    "QueryConsumeTimeSpanRequestHeader",
    "QueryConsumerOffsetRequestHeader",
    "QueryConsumerOffsetResponseHeader",
    "QueryCorrectionOffsetHeader",
    "QueryDataVersionRequestHeader",
    "QueryDataVersionResponseHeader",
    "QueryMessageRequestHeader",
    "QueryMessageResponseHeader",
    "QuerySubscriptionByConsumerRequestHeader",
    "QueryTopicConsumeByWhoRequestHeader",
    "QueryTopicsByConsumerRequestHeader",
    "RecallMessageRequestHeader",
    "RecallMessageResponseHeader",
    "RegisterBrokerRequestHeader",
    "RegisterBrokerResponseHeader",
    "RegisterBrokerToControllerRequestHeader",
    "RegisterBrokerToControllerResponseHeader",
    "RegisterTopicRequestHeader",
    "RemoveBrokerRequestHeader",
    "ReplyMessageRequestHeader",
    "ResetMasterFlushOffsetHeader",
    "ResetOffsetRequestHeader",
    "ResumeCheckHalfMessageRequestHeader",
    "RpcRequestHeader",
    "SearchOffsetRequestHeader",
    "SearchOffsetResponseHeader",
    "SendMessageRequestHeader",
    "SendMessageRequestHeaderV2",
    "SendMessageResponseHeader",
    "TopicRequestHeader",
    "UnRegisterBrokerRequestHeader",
    "UnlockBatchMqRequestHeader",
    "UnregisterClientRequestHeader",
    "UnregisterClientResponseHeader",
    "UpdateAclRequestHeader",
    "UpdateConsumerOffsetRequestHeader",
    "UpdateConsumerOffsetResponseHeader",
    "UpdateGroupForbiddenRequestHeader",
    "UpdateUserRequestHeader",
    "ViewBrokerStatsDataRequestHeader",
    "ViewMessageRequestHeader",
    "WipeWritePermOfBrokerRequestHeader",
    "WipeWritePermOfBrokerResponseHeader",
]


class BoundaryType(enum.StrEnum):
    """Which offset SEARCH_OFFSET_BY_TIMESTAMP returns when several messages match.

    Encoded as the name (``"LOWER"``/``"UPPER"``). Parsed as Java's
    ``BoundaryType.getType``: ``"upper"`` in any case is UPPER, anything else LOWER.
    """

    LOWER = "LOWER"
    UPPER = "UPPER"

    @classmethod
    def _missing_(cls, value: object) -> BoundaryType:
        if isinstance(value, str) and value.lower() == "upper":
            return cls.UPPER
        return cls.LOWER


# --------------------------------------------------------------------------------------
# Base classes (5.x)


@command_header
class RpcRequestHeader(CommandHeader):
    """Fields every 5.x request header inherits (Java ``RpcRequestHeader``)."""

    ns: str | None = None  # namespace
    nsd: bool | None = None  # resources already carry the namespace prefix
    bname: str | None = None  # target broker name (proxy / static topics)
    oway: bool | None = None  # sent oneway


@command_header
class TopicRequestHeader(RpcRequestHeader):
    """Base of topic-scoped 5.x request headers (Java ``TopicRequestHeader``)."""

    lo: bool | None = None  # "logical": the queue id is a static-topic logical queue


# --------------------------------------------------------------------------------------
# Sending (10, 310, 320, 324, 325, 326, 370)


@final
@command_header
class SendMessageRequestHeader(TopicRequestHeader):
    """SEND_MESSAGE (10), SEND_REPLY_MESSAGE (324). The V1 form of a send (spec §2.1)."""

    producer_group: str
    topic: str
    default_topic: str  # template for auto-created topics, "TBW102"
    default_topic_queue_nums: int
    queue_id: int  # < 0: the broker picks a writable queue
    sys_flag: int
    born_timestamp: int  # milliseconds since the epoch
    flag: int
    properties: str | None = None  # spec §3.3 encoding
    reconsume_times: int | None = None
    unit_mode: bool | None = None
    batch: bool | None = None
    max_reconsume_times: int | None = None


@final
@command_header
class SendMessageRequestHeaderV2(TopicRequestHeader):
    """SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320), SEND_REPLY_MESSAGE_V2 (325).

    The fields of :class:`SendMessageRequestHeader` under one-letter keys (spec §2.2);
    ``n`` carries the broker name that V1 sends as ``bname``. Java decodes only
    ``a``..``n`` for this header; the inherited ``ns``/``nsd``/``bname``/``oway``/``lo``
    are accepted here too but Java peers never send them.
    """

    producer_group: str = wire("a")
    topic: str = wire("b")
    default_topic: str = wire("c")
    default_topic_queue_nums: int = wire("d")
    queue_id: int = wire("e")
    sys_flag: int = wire("f")
    born_timestamp: int = wire("g")
    flag: int = wire("h")
    properties: str | None = wire("i", default=None)
    reconsume_times: int | None = wire("j", default=None)
    unit_mode: bool | None = wire("k", default=None)
    max_reconsume_times: int | None = wire("l", default=None)
    batch: bool | None = wire("m", default=None)
    broker_name: str | None = wire("n", default=None)

    @classmethod
    def from_v1(cls, v1: SendMessageRequestHeader) -> Self:
        """The V2 form of ``v1`` (Java ``createSendMessageRequestHeaderV2``).

        ``v1.bname`` becomes ``n``; ``ns``/``nsd``/``oway``/``lo`` are copied as is.
        Unlike Java, absent ``reconsume_times``/``unit_mode``/``batch`` stay ``None``
        (Java's getters turn them into 0/false), so the conversion is lossless.
        """
        return cls(
            ns=v1.ns,
            nsd=v1.nsd,
            oway=v1.oway,
            lo=v1.lo,
            producer_group=v1.producer_group,
            topic=v1.topic,
            default_topic=v1.default_topic,
            default_topic_queue_nums=v1.default_topic_queue_nums,
            queue_id=v1.queue_id,
            sys_flag=v1.sys_flag,
            born_timestamp=v1.born_timestamp,
            flag=v1.flag,
            properties=v1.properties,
            reconsume_times=v1.reconsume_times,
            unit_mode=v1.unit_mode,
            max_reconsume_times=v1.max_reconsume_times,
            batch=v1.batch,
            broker_name=v1.bname,
        )

    def to_v1(self) -> SendMessageRequestHeader:
        """The V1 form (Java ``createSendMessageRequestHeaderV1``): ``n`` becomes ``bname``.

        ``ns``/``nsd``/``oway``/``lo`` are copied; this header's own ``bname`` is
        dropped, as in Java (V2 carries the broker name in ``n``).
        """
        return SendMessageRequestHeader(
            ns=self.ns,
            nsd=self.nsd,
            bname=self.broker_name,
            oway=self.oway,
            lo=self.lo,
            producer_group=self.producer_group,
            topic=self.topic,
            default_topic=self.default_topic,
            default_topic_queue_nums=self.default_topic_queue_nums,
            queue_id=self.queue_id,
            sys_flag=self.sys_flag,
            born_timestamp=self.born_timestamp,
            flag=self.flag,
            properties=self.properties,
            reconsume_times=self.reconsume_times,
            unit_mode=self.unit_mode,
            batch=self.batch,
            max_reconsume_times=self.max_reconsume_times,
        )


@final
@command_header
class SendMessageResponseHeader(CommandHeader):
    """Response to every send code. The broker adds ``MSG_REGION``/``TRACE_ON`` (spec §2.5)."""

    msg_id: str  # offset message id(s), comma-joined for a batch
    queue_id: int
    queue_offset: int
    transaction_id: str | None = None  # the message's UNIQ_KEY
    batch_uniq_id: str | None = None
    recall_handle: str | None = None


@final
@command_header
class ReplyMessageRequestHeader(TopicRequestHeader):
    """PUSH_REPLY_MESSAGE_TO_CLIENT (326): broker → requesting client."""

    producer_group: str
    topic: str
    default_topic: str
    default_topic_queue_nums: int
    queue_id: int
    sys_flag: int
    born_timestamp: int
    flag: int
    properties: str | None = None
    reconsume_times: int | None = None
    unit_mode: bool = False
    born_host: str
    store_host: str
    store_timestamp: int


@final
@command_header
class RecallMessageRequestHeader(TopicRequestHeader):
    """RECALL_MESSAGE (370, 5.x)."""

    producer_group: str | None = None
    topic: str
    recall_handle: str


@final
@command_header
class RecallMessageResponseHeader(CommandHeader):
    """Response to RECALL_MESSAGE (370)."""

    msg_id: str


# --------------------------------------------------------------------------------------
# Pulling and querying (11, 361, 12, 33)


@final
@command_header
class PullMessageRequestHeader(TopicRequestHeader):
    """PULL_MESSAGE (11), LITE_PULL_MESSAGE (361). ``sys_flag`` bits: spec §6.2."""

    consumer_group: str
    topic: str
    queue_id: int
    queue_offset: int
    max_msg_nums: int
    sys_flag: int
    commit_offset: int
    suspend_timeout_millis: int  # milliseconds
    subscription: str | None = None
    sub_version: int
    expression_type: str | None = None  # "TAG" or "SQL92"
    max_msg_bytes: int | None = None
    request_source: int | None = None
    proxy_froward_client_id: str | None = None  # sic: Java's spelling is the key


@final
@command_header
class PullMessageResponseHeader(CommandHeader):
    """Response to PULL_MESSAGE / LITE_PULL_MESSAGE; the remark is the store status."""

    suggest_which_broker_id: int
    next_begin_offset: int
    min_offset: int
    max_offset: int
    offset_delta: int | None = None
    topic_sys_flag: int | None = None
    group_sys_flag: int | None = None
    forbidden_type: int | None = None


@final
@command_header
class QueryMessageRequestHeader(TopicRequestHeader):
    """QUERY_MESSAGE (12): by key, or by UNIQ_KEY when ``_UNIQUE_KEY_QUERY`` is true."""

    topic: str
    key: str
    max_num: int
    begin_timestamp: int  # milliseconds
    end_timestamp: int  # milliseconds
    # Not a Java field: an extra extFields key the Java client always adds.
    unique_key_query: bool = wire("_UNIQUE_KEY_QUERY", default=False)


@final
@command_header
class QueryMessageResponseHeader(CommandHeader):
    """Response to QUERY_MESSAGE (12)."""

    index_last_update_timestamp: int
    index_last_update_phyoffset: int


@final
@command_header
class ViewMessageRequestHeader(CommandHeader):
    """VIEW_MESSAGE_BY_ID (33): ``offset`` is the commit-log offset."""

    topic: str | None = None
    offset: int


# --------------------------------------------------------------------------------------
# Client management (34, 35, 38, 40, 41, 42)


@final
@command_header
class HeartbeatRequestHeader(RpcRequestHeader):
    """HEART_BEAT (34): no fields of its own; the body is HeartbeatData."""


@final
@command_header
class HeartbeatResponseHeader(CommandHeader):
    """Response to HEART_BEAT (34). No Java class: two ext keys the 5.x broker adds.

    Brokers before 5.0 send neither; absent keys read as false, as in Java.
    """

    is_support_heart_beat_v2: bool = wire("IS_SUPPORT_HEART_BEAT_V2", default=False)
    is_sub_change: bool = wire("IS_SUB_CHANGE", default=False)


@final
@command_header
class UnregisterClientRequestHeader(RpcRequestHeader):
    """UNREGISTER_CLIENT (35)."""

    client_id: str = wire("clientID")
    producer_group: str | None = None
    consumer_group: str | None = None


@final
@command_header
class UnregisterClientResponseHeader(CommandHeader):
    """Response to UNREGISTER_CLIENT (35): no fields."""


@final
@command_header
class GetConsumerListByGroupRequestHeader(RpcRequestHeader):
    """GET_CONSUMER_LIST_BY_GROUP (38)."""

    consumer_group: str


@final
@command_header
class GetConsumerListByGroupResponseHeader(CommandHeader):
    """Response to GET_CONSUMER_LIST_BY_GROUP (38): no fields; the body lists ids."""


@final
@command_header
class NotifyConsumerIdsChangedRequestHeader(RpcRequestHeader):
    """NOTIFY_CONSUMER_IDS_CHANGED (40): broker → client, oneway."""

    consumer_group: str


@final
@command_header
class LockBatchMqRequestHeader(RpcRequestHeader):
    """LOCK_BATCH_MQ (41): no fields of its own; the body names the queues."""


@final
@command_header
class UnlockBatchMqRequestHeader(RpcRequestHeader):
    """UNLOCK_BATCH_MQ (42): no fields of its own; the body names the queues."""


# --------------------------------------------------------------------------------------
# Retry and transactions (36, 37, 39, 323)


@final
@command_header
class ConsumerSendMsgBackRequestHeader(RpcRequestHeader):
    """CONSUMER_SEND_MSG_BACK (36): ``offset`` is the failed message's commit-log offset."""

    offset: int
    group: str
    delay_level: int
    origin_msg_id: str | None = None
    origin_topic: str | None = None
    unit_mode: bool = False
    max_reconsume_times: int | None = None


@final
@command_header
class EndTransactionRequestHeader(RpcRequestHeader):
    """END_TRANSACTION (37), oneway. ``commit_or_rollback``: 0 unknown, 8 commit, 12 rollback."""

    topic: str | None = None
    producer_group: str
    tran_state_table_offset: int  # consume-queue offset of the half message
    commit_log_offset: int
    commit_or_rollback: int
    from_transaction_check: bool = False
    msg_id: str
    transaction_id: str | None = None


@final
@command_header
class CheckTransactionStateRequestHeader(RpcRequestHeader):
    """CHECK_TRANSACTION_STATE (39): broker → producer, oneway."""

    topic: str | None = None
    tran_state_table_offset: int
    commit_log_offset: int
    msg_id: str | None = None  # UNIQ_KEY
    transaction_id: str | None = None
    offset_msg_id: str | None = None


@final
@command_header
class ResumeCheckHalfMessageRequestHeader(CommandHeader):
    """RESUME_CHECK_HALF_MESSAGE (323)."""

    topic: str | None = None
    msg_id: str | None = None


# --------------------------------------------------------------------------------------
# Offsets (14, 15, 29, 30, 31, 32, 211/220/222, 221/223, 321)


@final
@command_header
class QueryConsumerOffsetRequestHeader(TopicRequestHeader):
    """QUERY_CONSUMER_OFFSET (14)."""

    consumer_group: str
    topic: str
    queue_id: int
    set_zero_if_not_found: bool | None = None


@final
@command_header
class QueryConsumerOffsetResponseHeader(CommandHeader):
    """Response to QUERY_CONSUMER_OFFSET (14)."""

    offset: int


@final
@command_header
class UpdateConsumerOffsetRequestHeader(TopicRequestHeader):
    """UPDATE_CONSUMER_OFFSET (15), usually oneway."""

    consumer_group: str
    topic: str
    queue_id: int
    commit_offset: int


@final
@command_header
class UpdateConsumerOffsetResponseHeader(CommandHeader):
    """Response to UPDATE_CONSUMER_OFFSET (15): no fields."""


@final
@command_header
class SearchOffsetRequestHeader(TopicRequestHeader):
    """SEARCH_OFFSET_BY_TIMESTAMP (29)."""

    topic: str
    queue_id: int
    timestamp: int  # milliseconds
    boundary_type: BoundaryType | None = None  # 5.x; absent means LOWER


@final
@command_header
class SearchOffsetResponseHeader(CommandHeader):
    """Response to SEARCH_OFFSET_BY_TIMESTAMP (29)."""

    offset: int


@final
@command_header
class GetMaxOffsetRequestHeader(TopicRequestHeader):
    """GET_MAX_OFFSET (30)."""

    topic: str
    queue_id: int
    committed: bool = True  # 5.x


@final
@command_header
class GetMaxOffsetResponseHeader(CommandHeader):
    """Response to GET_MAX_OFFSET (30): the next offset to be written."""

    offset: int


@final
@command_header
class GetMinOffsetRequestHeader(TopicRequestHeader):
    """GET_MIN_OFFSET (31)."""

    topic: str
    queue_id: int


@final
@command_header
class GetMinOffsetResponseHeader(CommandHeader):
    """Response to GET_MIN_OFFSET (31)."""

    offset: int


@final
@command_header
class GetEarliestMsgStoretimeRequestHeader(TopicRequestHeader):
    """GET_EARLIEST_MSG_STORETIME (32)."""

    topic: str
    queue_id: int


@final
@command_header
class GetEarliestMsgStoretimeResponseHeader(CommandHeader):
    """Response to GET_EARLIEST_MSG_STORETIME (32)."""

    timestamp: int  # milliseconds


@final
@command_header
class ResetOffsetRequestHeader(TopicRequestHeader):
    """INVOKE_BROKER_TO_RESET_OFFSET (222) and RESET_CONSUMER_CLIENT_OFFSET (220)."""

    group: str
    topic: str
    queue_id: int = -1  # -1: every queue
    offset: int | None = None
    timestamp: int  # milliseconds
    is_force: bool


@final
@command_header
class GetConsumerStatusRequestHeader(TopicRequestHeader):
    """INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223), GET_CONSUMER_STATUS_FROM_CLIENT (221)."""

    topic: str
    group: str
    client_addr: str | None = None


@final
@command_header
class QueryConsumeQueueRequestHeader(TopicRequestHeader):
    """QUERY_CONSUME_QUEUE (321)."""

    topic: str | None = None
    queue_id: int = 0
    # Java's ``index``/``count``; renamed because tuple-backed headers own those names.
    start_index: int = wire("index", default=0)
    unit_count: int = wire("count", default=0)
    consumer_group: str | None = None


# --------------------------------------------------------------------------------------
# POP consumption (200050..200055, 5.x)


@final
@command_header
class PopMessageRequestHeader(TopicRequestHeader):
    """POP_MESSAGE (200050). ``queue_id`` -1 means any queue."""

    consumer_group: str
    topic: str
    queue_id: int
    max_msg_nums: int
    invisible_time: int  # milliseconds
    poll_time: int  # milliseconds
    born_time: int  # milliseconds since the epoch
    init_mode: int
    exp_type: str | None = None
    exp: str | None = None
    order: bool = False
    attempt_id: str | None = None


@final
@command_header
class PopMessageResponseHeader(CommandHeader):
    """Response to POP_MESSAGE (200050) and PEEK_MESSAGE (200052)."""

    pop_time: int
    invisible_time: int
    revive_qid: int
    rest_num: int
    start_offset_info: str | None = None
    msg_offset_info: str | None = None
    order_count_info: str | None = None


@final
@command_header
class AckMessageRequestHeader(TopicRequestHeader):
    """ACK_MESSAGE (200051). ``extra_info`` is the POP checkpoint string (spec §2.1)."""

    consumer_group: str
    topic: str
    queue_id: int
    extra_info: str
    offset: int


@final
@command_header
class PeekMessageRequestHeader(TopicRequestHeader):
    """PEEK_MESSAGE (200052)."""

    topic: str
    queue_id: int
    max_msg_nums: int
    consumer_group: str


@final
@command_header
class ChangeInvisibleTimeRequestHeader(TopicRequestHeader):
    """CHANGE_MESSAGE_INVISIBLETIME (200053)."""

    consumer_group: str
    topic: str
    queue_id: int
    extra_info: str
    offset: int
    invisible_time: int  # milliseconds


@final
@command_header
class ChangeInvisibleTimeResponseHeader(CommandHeader):
    """Response to CHANGE_MESSAGE_INVISIBLETIME (200053)."""

    pop_time: int
    invisible_time: int
    revive_qid: int


@final
@command_header
class NotificationRequestHeader(TopicRequestHeader):
    """NOTIFICATION (200054): long-poll until the queue has messages."""

    consumer_group: str
    topic: str
    queue_id: int
    poll_time: int  # milliseconds
    born_time: int  # milliseconds since the epoch
    order: bool = False
    attempt_id: str | None = None


@final
@command_header
class NotificationResponseHeader(CommandHeader):
    """Response to NOTIFICATION (200054)."""

    has_msg: bool
    polling_full: bool = False


@final
@command_header
class PollingInfoRequestHeader(TopicRequestHeader):
    """POLLING_INFO (200055)."""

    consumer_group: str
    topic: str
    queue_id: int


@final
@command_header
class PollingInfoResponseHeader(CommandHeader):
    """Response to POLLING_INFO (200055)."""

    polling_num: int


# --------------------------------------------------------------------------------------
# NameServer (100..106, 205, 216, 217, 219, 224, 322, 327, 904)


@final
@command_header
class PutKVConfigRequestHeader(CommandHeader):
    """PUT_KV_CONFIG (100)."""

    namespace: str
    key: str
    value: str


@final
@command_header
class GetKVConfigRequestHeader(CommandHeader):
    """GET_KV_CONFIG (101)."""

    namespace: str
    key: str


@final
@command_header
class GetKVConfigResponseHeader(CommandHeader):
    """Response to GET_KV_CONFIG (101)."""

    value: str | None = None


@final
@command_header
class DeleteKVConfigRequestHeader(CommandHeader):
    """DELETE_KV_CONFIG (102)."""

    namespace: str
    key: str


@final
@command_header
class RegisterBrokerRequestHeader(CommandHeader):
    """REGISTER_BROKER (103). ``body_crc32`` 0 means "not checked"."""

    broker_name: str
    broker_addr: str
    cluster_name: str
    ha_server_addr: str
    broker_id: int
    heartbeat_timeout_millis: int | None = None  # milliseconds
    enable_acting_master: bool | None = None
    compressed: bool = False
    body_crc32: int = 0
    # Not a Java field: the zone an RPC hook adds when zone routing is configured.
    zone_name: str | None = wire("__ZONE_NAME", default=None)


@final
@command_header
class RegisterBrokerResponseHeader(CommandHeader):
    """Response to REGISTER_BROKER (103)."""

    ha_server_addr: str | None = None
    master_addr: str | None = None


@final
@command_header
class UnRegisterBrokerRequestHeader(CommandHeader):
    """UNREGISTER_BROKER (104)."""

    broker_name: str
    broker_addr: str
    cluster_name: str
    broker_id: int


@final
@command_header
class GetRouteInfoRequestHeader(TopicRequestHeader):
    """GET_ROUTEINFO_BY_TOPIC (105)."""

    topic: str
    accept_standard_json_only: bool | None = None  # 5.x


@final
@command_header
class WipeWritePermOfBrokerRequestHeader(CommandHeader):
    """WIPE_WRITE_PERM_OF_BROKER (205)."""

    broker_name: str


@final
@command_header
class WipeWritePermOfBrokerResponseHeader(CommandHeader):
    """Response to WIPE_WRITE_PERM_OF_BROKER (205)."""

    wipe_topic_count: int


@final
@command_header
class AddWritePermOfBrokerRequestHeader(CommandHeader):
    """ADD_WRITE_PERM_OF_BROKER (327)."""

    broker_name: str


@final
@command_header
class AddWritePermOfBrokerResponseHeader(CommandHeader):
    """Response to ADD_WRITE_PERM_OF_BROKER (327)."""

    add_topic_count: int


@final
@command_header
class DeleteTopicFromNamesrvRequestHeader(TopicRequestHeader):
    """DELETE_TOPIC_IN_NAMESRV (216)."""

    topic: str
    cluster_name: str | None = None


@final
@command_header
class RegisterTopicRequestHeader(TopicRequestHeader):
    """REGISTER_TOPIC_IN_NAMESRV (217)."""

    topic: str


@final
@command_header
class GetKVListByNamespaceRequestHeader(CommandHeader):
    """GET_KVLIST_BY_NAMESPACE (219)."""

    namespace: str


@final
@command_header
class GetTopicsByClusterRequestHeader(CommandHeader):
    """GET_TOPICS_BY_CLUSTER (224)."""

    cluster: str


@final
@command_header
class QueryDataVersionRequestHeader(CommandHeader):
    """QUERY_DATA_VERSION (322): the body is the broker's DataVersion."""

    broker_name: str
    broker_addr: str
    cluster_name: str
    broker_id: int


@final
@command_header
class QueryDataVersionResponseHeader(CommandHeader):
    """Response to QUERY_DATA_VERSION (322)."""

    changed: bool


@final
@command_header
class BrokerHeartbeatRequestHeader(CommandHeader):
    """BROKER_HEARTBEAT (904, 5.x): broker → namesrv or controller."""

    cluster_name: str
    broker_addr: str
    broker_name: str
    broker_id: int | None = None
    epoch: int | None = None
    max_offset: int | None = None
    confirm_offset: int | None = None
    heartbeat_timeout_mills: int | None = None  # milliseconds (Java's spelling)
    election_priority: int | None = None


# --------------------------------------------------------------------------------------
# Broker administration: topics, groups, configuration, statistics


@final
@command_header
class CreateTopicRequestHeader(TopicRequestHeader):
    """UPDATE_AND_CREATE_TOPIC (17), UPDATE_AND_CREATE_STATIC_TOPIC (513)."""

    topic: str
    default_topic: str
    read_queue_nums: int
    write_queue_nums: int
    perm: int
    topic_filter_type: str  # "SINGLE_TAG" or "MULTI_TAG"
    topic_sys_flag: int | None = None
    order: bool
    attributes: str | None = None  # 5.x: "+key=value,..."
    force: bool = False  # 5.x


@final
@command_header
class CreateTopicListRequestHeader(RpcRequestHeader):
    """UPDATE_AND_CREATE_TOPIC_LIST (18, 5.x): no fields of its own; the body lists topics."""


@final
@command_header
class GetAllTopicConfigRequestHeader(CommandHeader):
    """GET_ALL_TOPIC_CONFIG (21). All absent (every 4.x peer) = the whole table.

    Java marks ``topicSeq`` not-null, but the broker handles it absent and peers
    before 5.x send no header at all, so it is optional here.
    """

    topic_seq: int | None = None
    data_version: str | None = None
    max_topic_num: int | None = None


@final
@command_header
class GetAllTopicConfigResponseHeader(CommandHeader):
    """Response to GET_ALL_TOPIC_CONFIG (21). Optional: brokers before 5.x omit it."""

    total_topic_num: int | None = None


@final
@command_header
class GetBrokerConfigResponseHeader(CommandHeader):
    """Response to GET_BROKER_CONFIG (26): ``version`` is the DataVersion JSON."""

    version: str


@final
@command_header
class GetAllSubscriptionGroupRequestHeader(CommandHeader):
    """GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201). All absent = the whole table.

    Java marks ``groupSeq`` not-null, but the broker handles it absent and peers
    before 5.x send no header at all, so it is optional here.
    """

    group_seq: int | None = None
    data_version: str | None = None
    max_group_num: int | None = None


@final
@command_header
class GetAllSubscriptionGroupResponseHeader(CommandHeader):
    """Response to GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201). Optional: 4.x omits it."""

    total_group_num: int | None = None


@final
@command_header
class GetTopicStatsInfoRequestHeader(TopicRequestHeader):
    """GET_TOPIC_STATS_INFO (202)."""

    topic: str


@final
@command_header
class GetConsumerConnectionListRequestHeader(RpcRequestHeader):
    """GET_CONSUMER_CONNECTION_LIST (203)."""

    consumer_group: str


@final
@command_header
class GetProducerConnectionListRequestHeader(RpcRequestHeader):
    """GET_PRODUCER_CONNECTION_LIST (204)."""

    producer_group: str


@final
@command_header
class DeleteSubscriptionGroupRequestHeader(RpcRequestHeader):
    """DELETE_SUBSCRIPTIONGROUP (207)."""

    group_name: str
    clean_offset: bool = False


@final
@command_header
class GetConsumeStatsRequestHeader(TopicRequestHeader):
    """GET_CONSUME_STATS (208). ``topic_list`` (5.x) is ";"-separated."""

    consumer_group: str
    topic: str | None = None
    topic_list: str | None = None


@final
@command_header
class DeleteTopicRequestHeader(TopicRequestHeader):
    """DELETE_TOPIC_IN_BROKER (215)."""

    topic: str


@final
@command_header
class QueryTopicConsumeByWhoRequestHeader(TopicRequestHeader):
    """QUERY_TOPIC_CONSUME_BY_WHO (300)."""

    topic: str


@final
@command_header
class QueryConsumeTimeSpanRequestHeader(TopicRequestHeader):
    """QUERY_CONSUME_TIME_SPAN (303)."""

    topic: str
    group: str


@final
@command_header
class GetConsumerRunningInfoRequestHeader(RpcRequestHeader):
    """GET_CONSUMER_RUNNING_INFO (307): broker/admin → client."""

    consumer_group: str
    client_id: str
    jstack_enable: bool = False


@final
@command_header
class QueryCorrectionOffsetHeader(TopicRequestHeader):
    """QUERY_CORRECTION_OFFSET (308). ``filter_groups`` is ","-separated."""

    filter_groups: str | None = None
    compare_group: str
    topic: str


@final
@command_header
class ConsumeMessageDirectlyResultRequestHeader(TopicRequestHeader):
    """CONSUME_MESSAGE_DIRECTLY (309): broker/admin → client; the body is one message."""

    consumer_group: str
    client_id: str | None = None
    msg_id: str | None = None
    broker_name: str | None = None
    topic: str | None = None
    topic_sys_flag: int | None = None
    group_sys_flag: int | None = None


@final
@command_header
class CloneGroupOffsetRequestHeader(RpcRequestHeader):
    """CLONE_GROUP_OFFSET (314)."""

    src_group: str
    dest_group: str
    topic: str | None = None
    offline: bool = False


@final
@command_header
class ViewBrokerStatsDataRequestHeader(CommandHeader):
    """VIEW_BROKER_STATS_DATA (315)."""

    stats_name: str
    stats_key: str


@final
@command_header
class GetConsumeStatsInBrokerHeader(CommandHeader):
    """GET_BROKER_CONSUME_STATS (317)."""

    is_order: bool


@final
@command_header
class GetAllProducerInfoRequestHeader(CommandHeader):
    """GET_ALL_PRODUCER_INFO (328): no fields."""


@final
@command_header
class QueryTopicsByConsumerRequestHeader(RpcRequestHeader):
    """QUERY_TOPICS_BY_CONSUMER (343)."""

    group: str


@final
@command_header
class QuerySubscriptionByConsumerRequestHeader(TopicRequestHeader):
    """QUERY_SUBSCRIPTION_BY_CONSUMER (345)."""

    group: str
    topic: str | None = None


@final
@command_header
class GetTopicConfigRequestHeader(TopicRequestHeader):
    """GET_TOPIC_CONFIG (351)."""

    topic: str


@final
@command_header
class GetSubscriptionGroupConfigRequestHeader(RpcRequestHeader):
    """GET_SUBSCRIPTIONGROUP_CONFIG (352)."""

    group: str


@final
@command_header
class UpdateGroupForbiddenRequestHeader(TopicRequestHeader):
    """UPDATE_AND_GET_GROUP_FORBIDDEN (353). ``readable`` absent = only query."""

    group: str
    topic: str
    readable: bool | None = None


@final
@command_header
class CheckRocksdbCqWriteProgressRequestHeader(CommandHeader):
    """CHECK_ROCKSDB_CQ_WRITE_PROGRESS (354)."""

    topic: str
    check_store_time: int = 0  # milliseconds since the epoch


@final
@command_header
class ExportRocksDBConfigToJsonRequestHeader(CommandHeader):
    """EXPORT_ROCKSDB_CONFIG_TO_JSON (355).

    ``config_type`` is ";"-joined names: topics, subscriptionGroups, consumerOffsets.
    """

    config_type: str


# --------------------------------------------------------------------------------------
# Broker replication (901..908, 5.x)


@final
@command_header
class GetBrokerMemberGroupRequestHeader(CommandHeader):
    """GET_BROKER_MEMBER_GROUP (901)."""

    cluster_name: str
    broker_name: str


@final
@command_header
class AddBrokerRequestHeader(CommandHeader):
    """ADD_BROKER (902): to a broker container."""

    config_path: str | None = None


@final
@command_header
class RemoveBrokerRequestHeader(CommandHeader):
    """REMOVE_BROKER (903): to a broker container."""

    broker_name: str
    broker_cluster_name: str
    broker_id: int


@final
@command_header
class NotifyMinBrokerIdChangeRequestHeader(CommandHeader):
    """NOTIFY_MIN_BROKER_ID_CHANGE (905)."""

    min_broker_id: int | None = None
    broker_name: str | None = None
    min_broker_addr: str | None = None
    offline_broker_addr: str | None = None
    ha_broker_addr: str | None = None


@final
@command_header
class ExchangeHAInfoRequestHeader(CommandHeader):
    """EXCHANGE_BROKER_HA_INFO (906)."""

    master_ha_address: str | None = None
    master_flush_offset: int | None = None
    master_address: str | None = None


@final
@command_header
class ExchangeHAInfoResponseHeader(CommandHeader):
    """Response to EXCHANGE_BROKER_HA_INFO (906)."""

    master_ha_address: str | None = None
    master_flush_offset: int | None = None
    master_address: str | None = None


@final
@command_header
class ResetMasterFlushOffsetHeader(CommandHeader):
    """RESET_MASTER_FLUSH_OFFSET (908)."""

    master_flush_offset: int


# --------------------------------------------------------------------------------------
# Controller mode (1001..1013, 5.x; spec §7.4)


@final
@command_header
class AlterSyncStateSetRequestHeader(CommandHeader):
    """CONTROLLER_ALTER_SYNC_STATE_SET (1001): the body is the new SyncStateSet."""

    broker_name: str | None = None
    master_broker_id: int | None = None
    master_epoch: int | None = None
    invoke_time: int = 0  # milliseconds since the epoch; Java sets the creation time


@final
@command_header
class AlterSyncStateSetResponseHeader(CommandHeader):
    """Response to CONTROLLER_ALTER_SYNC_STATE_SET (1001)."""

    new_sync_state_set_epoch: int = 0


@final
@command_header
class ElectMasterRequestHeader(CommandHeader):
    """CONTROLLER_ELECT_MASTER (1002)."""

    cluster_name: str
    broker_name: str
    broker_id: int  # -1: no preferred broker
    designate_elect: bool
    invoke_time: int = 0  # milliseconds since the epoch; Java sets the creation time


@final
@command_header
class ElectMasterResponseHeader(CommandHeader):
    """Response to CONTROLLER_ELECT_MASTER (1002)."""

    master_broker_id: int | None = None
    master_address: str | None = None
    master_epoch: int | None = None
    sync_state_set_epoch: int | None = None


@final
@command_header
class RegisterBrokerToControllerRequestHeader(CommandHeader):
    """CONTROLLER_REGISTER_BROKER (1003)."""

    cluster_name: str | None = None
    broker_name: str | None = None
    broker_id: int | None = None
    broker_address: str | None = None
    invoke_time: int = 0  # milliseconds since the epoch; Java sets the creation time


@final
@command_header
class RegisterBrokerToControllerResponseHeader(CommandHeader):
    """Response to CONTROLLER_REGISTER_BROKER (1003)."""

    cluster_name: str | None = None
    broker_name: str | None = None
    master_broker_id: int | None = None
    master_address: str | None = None
    master_epoch: int | None = None
    sync_state_set_epoch: int | None = None


@final
@command_header
class GetReplicaInfoRequestHeader(CommandHeader):
    """CONTROLLER_GET_REPLICA_INFO (1004)."""

    broker_name: str | None = None


@final
@command_header
class GetReplicaInfoResponseHeader(CommandHeader):
    """Response to CONTROLLER_GET_REPLICA_INFO (1004); the body is the SyncStateSet."""

    master_broker_id: int | None = None
    master_address: str | None = None
    master_epoch: int | None = None


@final
@command_header
class GetMetaDataResponseHeader(CommandHeader):
    """Response to CONTROLLER_GET_METADATA_INFO (1005), which has no request header."""

    group: str | None = None
    controller_leader_id: str | None = None
    controller_leader_address: str | None = None
    is_leader: bool = False
    peers: str | None = None


@final
@command_header
class NotifyBrokerRoleChangedRequestHeader(CommandHeader):
    """NOTIFY_BROKER_ROLE_CHANGED (1008): controller → broker."""

    master_address: str | None = None
    master_epoch: int | None = None
    sync_state_set_epoch: int | None = None
    master_broker_id: int | None = None


@final
@command_header
class CleanControllerBrokerDataRequestHeader(CommandHeader):
    """CLEAN_BROKER_DATA (1011). ``broker_controller_ids_to_clean`` is ";"-separated."""

    cluster_name: str | None = None
    broker_name: str
    broker_controller_ids_to_clean: str | None = None
    is_clean_living_broker: bool = False
    invoke_time: int = 0  # milliseconds since the epoch; Java sets the creation time


@final
@command_header
class GetNextBrokerIdRequestHeader(CommandHeader):
    """CONTROLLER_GET_NEXT_BROKER_ID (1012)."""

    cluster_name: str | None = None
    broker_name: str | None = None


@final
@command_header
class GetNextBrokerIdResponseHeader(CommandHeader):
    """Response to CONTROLLER_GET_NEXT_BROKER_ID (1012)."""

    cluster_name: str | None = None
    broker_name: str | None = None
    next_broker_id: int | None = None


@final
@command_header
class ApplyBrokerIdRequestHeader(CommandHeader):
    """CONTROLLER_APPLY_BROKER_ID (1013)."""

    cluster_name: str | None = None
    broker_name: str | None = None
    applied_broker_id: int | None = None
    register_check_code: str | None = None


@final
@command_header
class ApplyBrokerIdResponseHeader(CommandHeader):
    """Response to CONTROLLER_APPLY_BROKER_ID (1013)."""

    cluster_name: str | None = None
    broker_name: str | None = None


# --------------------------------------------------------------------------------------
# ACL 2.0 administration (3001..3010, 5.3); bodies carry the user / ACL JSON


@final
@command_header
class CreateUserRequestHeader(CommandHeader):
    """AUTH_CREATE_USER (3001)."""

    username: str | None = None


@final
@command_header
class UpdateUserRequestHeader(CommandHeader):
    """AUTH_UPDATE_USER (3002)."""

    username: str | None = None


@final
@command_header
class DeleteUserRequestHeader(CommandHeader):
    """AUTH_DELETE_USER (3003)."""

    username: str | None = None


@final
@command_header
class GetUserRequestHeader(CommandHeader):
    """AUTH_GET_USER (3004)."""

    username: str | None = None


@final
@command_header
class ListUsersRequestHeader(CommandHeader):
    """AUTH_LIST_USER (3005)."""

    filter: str | None = None


@final
@command_header
class CreateAclRequestHeader(CommandHeader):
    """AUTH_CREATE_ACL (3006)."""

    subject: str | None = None


@final
@command_header
class UpdateAclRequestHeader(CommandHeader):
    """AUTH_UPDATE_ACL (3007)."""

    subject: str | None = None


@final
@command_header
class DeleteAclRequestHeader(CommandHeader):
    """AUTH_DELETE_ACL (3008)."""

    subject: str | None = None
    policy_type: str | None = None
    resource: str | None = None


@final
@command_header
class GetAclRequestHeader(CommandHeader):
    """AUTH_GET_ACL (3009)."""

    subject: str | None = None


@final
@command_header
class ListAclsRequestHeader(CommandHeader):
    """AUTH_LIST_ACL (3010)."""

    subject_filter: str | None = None
    resource_filter: str | None = None


# --------------------------------------------------------------------------------------
# Registries

_C = RequestCode

REQUEST_HEADERS: Final[Mapping[RequestCode, type[CommandHeader]]] = types.MappingProxyType(
    {
        # messaging
        _C.SEND_MESSAGE: SendMessageRequestHeader,
        _C.SEND_MESSAGE_V2: SendMessageRequestHeaderV2,
        _C.SEND_BATCH_MESSAGE: SendMessageRequestHeaderV2,
        _C.SEND_REPLY_MESSAGE: SendMessageRequestHeader,
        _C.SEND_REPLY_MESSAGE_V2: SendMessageRequestHeaderV2,
        _C.PUSH_REPLY_MESSAGE_TO_CLIENT: ReplyMessageRequestHeader,
        _C.RECALL_MESSAGE: RecallMessageRequestHeader,
        _C.PULL_MESSAGE: PullMessageRequestHeader,
        _C.LITE_PULL_MESSAGE: PullMessageRequestHeader,
        _C.QUERY_MESSAGE: QueryMessageRequestHeader,
        _C.VIEW_MESSAGE_BY_ID: ViewMessageRequestHeader,
        _C.HEART_BEAT: HeartbeatRequestHeader,
        _C.UNREGISTER_CLIENT: UnregisterClientRequestHeader,
        _C.CONSUMER_SEND_MSG_BACK: ConsumerSendMsgBackRequestHeader,
        _C.END_TRANSACTION: EndTransactionRequestHeader,
        _C.CHECK_TRANSACTION_STATE: CheckTransactionStateRequestHeader,
        _C.RESUME_CHECK_HALF_MESSAGE: ResumeCheckHalfMessageRequestHeader,
        _C.GET_CONSUMER_LIST_BY_GROUP: GetConsumerListByGroupRequestHeader,
        _C.NOTIFY_CONSUMER_IDS_CHANGED: NotifyConsumerIdsChangedRequestHeader,
        _C.LOCK_BATCH_MQ: LockBatchMqRequestHeader,
        _C.UNLOCK_BATCH_MQ: UnlockBatchMqRequestHeader,
        _C.QUERY_CONSUMER_OFFSET: QueryConsumerOffsetRequestHeader,
        _C.UPDATE_CONSUMER_OFFSET: UpdateConsumerOffsetRequestHeader,
        _C.SEARCH_OFFSET_BY_TIMESTAMP: SearchOffsetRequestHeader,
        _C.GET_MAX_OFFSET: GetMaxOffsetRequestHeader,
        _C.GET_MIN_OFFSET: GetMinOffsetRequestHeader,
        _C.GET_EARLIEST_MSG_STORETIME: GetEarliestMsgStoretimeRequestHeader,
        _C.RESET_CONSUMER_CLIENT_OFFSET: ResetOffsetRequestHeader,
        _C.INVOKE_BROKER_TO_RESET_OFFSET: ResetOffsetRequestHeader,
        _C.GET_CONSUMER_STATUS_FROM_CLIENT: GetConsumerStatusRequestHeader,
        _C.INVOKE_BROKER_TO_GET_CONSUMER_STATUS: GetConsumerStatusRequestHeader,
        _C.QUERY_CONSUME_QUEUE: QueryConsumeQueueRequestHeader,
        _C.POP_MESSAGE: PopMessageRequestHeader,
        _C.ACK_MESSAGE: AckMessageRequestHeader,
        _C.PEEK_MESSAGE: PeekMessageRequestHeader,
        _C.CHANGE_MESSAGE_INVISIBLETIME: ChangeInvisibleTimeRequestHeader,
        _C.NOTIFICATION: NotificationRequestHeader,
        _C.POLLING_INFO: PollingInfoRequestHeader,
        # namesrv
        _C.PUT_KV_CONFIG: PutKVConfigRequestHeader,
        _C.GET_KV_CONFIG: GetKVConfigRequestHeader,
        _C.DELETE_KV_CONFIG: DeleteKVConfigRequestHeader,
        _C.REGISTER_BROKER: RegisterBrokerRequestHeader,
        _C.UNREGISTER_BROKER: UnRegisterBrokerRequestHeader,
        _C.GET_ROUTEINFO_BY_TOPIC: GetRouteInfoRequestHeader,
        _C.WIPE_WRITE_PERM_OF_BROKER: WipeWritePermOfBrokerRequestHeader,
        _C.ADD_WRITE_PERM_OF_BROKER: AddWritePermOfBrokerRequestHeader,
        _C.DELETE_TOPIC_IN_NAMESRV: DeleteTopicFromNamesrvRequestHeader,
        _C.REGISTER_TOPIC_IN_NAMESRV: RegisterTopicRequestHeader,
        _C.GET_KVLIST_BY_NAMESPACE: GetKVListByNamespaceRequestHeader,
        _C.GET_TOPICS_BY_CLUSTER: GetTopicsByClusterRequestHeader,
        _C.QUERY_DATA_VERSION: QueryDataVersionRequestHeader,
        _C.BROKER_HEARTBEAT: BrokerHeartbeatRequestHeader,
        # broker administration
        _C.UPDATE_AND_CREATE_TOPIC: CreateTopicRequestHeader,
        _C.UPDATE_AND_CREATE_STATIC_TOPIC: CreateTopicRequestHeader,
        _C.UPDATE_AND_CREATE_TOPIC_LIST: CreateTopicListRequestHeader,
        _C.GET_ALL_TOPIC_CONFIG: GetAllTopicConfigRequestHeader,
        _C.GET_ALL_SUBSCRIPTIONGROUP_CONFIG: GetAllSubscriptionGroupRequestHeader,
        _C.GET_TOPIC_STATS_INFO: GetTopicStatsInfoRequestHeader,
        _C.GET_CONSUMER_CONNECTION_LIST: GetConsumerConnectionListRequestHeader,
        _C.GET_PRODUCER_CONNECTION_LIST: GetProducerConnectionListRequestHeader,
        _C.DELETE_SUBSCRIPTIONGROUP: DeleteSubscriptionGroupRequestHeader,
        _C.GET_CONSUME_STATS: GetConsumeStatsRequestHeader,
        _C.DELETE_TOPIC_IN_BROKER: DeleteTopicRequestHeader,
        _C.QUERY_TOPIC_CONSUME_BY_WHO: QueryTopicConsumeByWhoRequestHeader,
        _C.QUERY_CONSUME_TIME_SPAN: QueryConsumeTimeSpanRequestHeader,
        _C.GET_CONSUMER_RUNNING_INFO: GetConsumerRunningInfoRequestHeader,
        _C.QUERY_CORRECTION_OFFSET: QueryCorrectionOffsetHeader,
        _C.CONSUME_MESSAGE_DIRECTLY: ConsumeMessageDirectlyResultRequestHeader,
        _C.CLONE_GROUP_OFFSET: CloneGroupOffsetRequestHeader,
        _C.VIEW_BROKER_STATS_DATA: ViewBrokerStatsDataRequestHeader,
        _C.GET_BROKER_CONSUME_STATS: GetConsumeStatsInBrokerHeader,
        _C.GET_ALL_PRODUCER_INFO: GetAllProducerInfoRequestHeader,
        _C.QUERY_TOPICS_BY_CONSUMER: QueryTopicsByConsumerRequestHeader,
        _C.QUERY_SUBSCRIPTION_BY_CONSUMER: QuerySubscriptionByConsumerRequestHeader,
        _C.GET_TOPIC_CONFIG: GetTopicConfigRequestHeader,
        _C.GET_SUBSCRIPTIONGROUP_CONFIG: GetSubscriptionGroupConfigRequestHeader,
        _C.UPDATE_AND_GET_GROUP_FORBIDDEN: UpdateGroupForbiddenRequestHeader,
        _C.CHECK_ROCKSDB_CQ_WRITE_PROGRESS: CheckRocksdbCqWriteProgressRequestHeader,
        _C.EXPORT_ROCKSDB_CONFIG_TO_JSON: ExportRocksDBConfigToJsonRequestHeader,
        # replication
        _C.GET_BROKER_MEMBER_GROUP: GetBrokerMemberGroupRequestHeader,
        _C.ADD_BROKER: AddBrokerRequestHeader,
        _C.REMOVE_BROKER: RemoveBrokerRequestHeader,
        _C.NOTIFY_MIN_BROKER_ID_CHANGE: NotifyMinBrokerIdChangeRequestHeader,
        _C.EXCHANGE_BROKER_HA_INFO: ExchangeHAInfoRequestHeader,
        _C.RESET_MASTER_FLUSH_OFFSET: ResetMasterFlushOffsetHeader,
        # controller
        _C.CONTROLLER_ALTER_SYNC_STATE_SET: AlterSyncStateSetRequestHeader,
        _C.CONTROLLER_ELECT_MASTER: ElectMasterRequestHeader,
        _C.CONTROLLER_REGISTER_BROKER: RegisterBrokerToControllerRequestHeader,
        _C.CONTROLLER_GET_REPLICA_INFO: GetReplicaInfoRequestHeader,
        _C.NOTIFY_BROKER_ROLE_CHANGED: NotifyBrokerRoleChangedRequestHeader,
        _C.CLEAN_BROKER_DATA: CleanControllerBrokerDataRequestHeader,
        _C.CONTROLLER_GET_NEXT_BROKER_ID: GetNextBrokerIdRequestHeader,
        _C.CONTROLLER_APPLY_BROKER_ID: ApplyBrokerIdRequestHeader,
        # ACL 2.0
        _C.AUTH_CREATE_USER: CreateUserRequestHeader,
        _C.AUTH_UPDATE_USER: UpdateUserRequestHeader,
        _C.AUTH_DELETE_USER: DeleteUserRequestHeader,
        _C.AUTH_GET_USER: GetUserRequestHeader,
        _C.AUTH_LIST_USER: ListUsersRequestHeader,
        _C.AUTH_CREATE_ACL: CreateAclRequestHeader,
        _C.AUTH_UPDATE_ACL: UpdateAclRequestHeader,
        _C.AUTH_DELETE_ACL: DeleteAclRequestHeader,
        _C.AUTH_GET_ACL: GetAclRequestHeader,
        _C.AUTH_LIST_ACL: ListAclsRequestHeader,
    }
)
"""Request code → class of the custom header of that request."""

RESPONSE_HEADERS: Final[Mapping[RequestCode, type[CommandHeader]]] = types.MappingProxyType(
    {
        _C.SEND_MESSAGE: SendMessageResponseHeader,
        _C.SEND_MESSAGE_V2: SendMessageResponseHeader,
        _C.SEND_BATCH_MESSAGE: SendMessageResponseHeader,
        _C.SEND_REPLY_MESSAGE: SendMessageResponseHeader,
        _C.SEND_REPLY_MESSAGE_V2: SendMessageResponseHeader,
        _C.RECALL_MESSAGE: RecallMessageResponseHeader,
        _C.PULL_MESSAGE: PullMessageResponseHeader,
        _C.LITE_PULL_MESSAGE: PullMessageResponseHeader,
        _C.QUERY_MESSAGE: QueryMessageResponseHeader,
        _C.HEART_BEAT: HeartbeatResponseHeader,
        _C.UNREGISTER_CLIENT: UnregisterClientResponseHeader,
        _C.GET_CONSUMER_LIST_BY_GROUP: GetConsumerListByGroupResponseHeader,
        _C.QUERY_CONSUMER_OFFSET: QueryConsumerOffsetResponseHeader,
        _C.UPDATE_CONSUMER_OFFSET: UpdateConsumerOffsetResponseHeader,
        _C.SEARCH_OFFSET_BY_TIMESTAMP: SearchOffsetResponseHeader,
        _C.GET_MAX_OFFSET: GetMaxOffsetResponseHeader,
        _C.GET_MIN_OFFSET: GetMinOffsetResponseHeader,
        _C.GET_EARLIEST_MSG_STORETIME: GetEarliestMsgStoretimeResponseHeader,
        _C.POP_MESSAGE: PopMessageResponseHeader,
        _C.PEEK_MESSAGE: PopMessageResponseHeader,
        _C.CHANGE_MESSAGE_INVISIBLETIME: ChangeInvisibleTimeResponseHeader,
        _C.NOTIFICATION: NotificationResponseHeader,
        _C.POLLING_INFO: PollingInfoResponseHeader,
        _C.GET_KV_CONFIG: GetKVConfigResponseHeader,
        _C.REGISTER_BROKER: RegisterBrokerResponseHeader,
        _C.WIPE_WRITE_PERM_OF_BROKER: WipeWritePermOfBrokerResponseHeader,
        _C.ADD_WRITE_PERM_OF_BROKER: AddWritePermOfBrokerResponseHeader,
        _C.QUERY_DATA_VERSION: QueryDataVersionResponseHeader,
        _C.GET_ALL_TOPIC_CONFIG: GetAllTopicConfigResponseHeader,
        _C.GET_ALL_SUBSCRIPTIONGROUP_CONFIG: GetAllSubscriptionGroupResponseHeader,
        _C.GET_BROKER_CONFIG: GetBrokerConfigResponseHeader,
        _C.EXCHANGE_BROKER_HA_INFO: ExchangeHAInfoResponseHeader,
        _C.CONTROLLER_ALTER_SYNC_STATE_SET: AlterSyncStateSetResponseHeader,
        _C.CONTROLLER_ELECT_MASTER: ElectMasterResponseHeader,
        _C.CONTROLLER_REGISTER_BROKER: RegisterBrokerToControllerResponseHeader,
        _C.CONTROLLER_GET_REPLICA_INFO: GetReplicaInfoResponseHeader,
        _C.CONTROLLER_GET_METADATA_INFO: GetMetaDataResponseHeader,
        _C.CONTROLLER_GET_NEXT_BROKER_ID: GetNextBrokerIdResponseHeader,
        _C.CONTROLLER_APPLY_BROKER_ID: ApplyBrokerIdResponseHeader,
    }
)
"""Request code → class of the custom header in the response to that request."""
