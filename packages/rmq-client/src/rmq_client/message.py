"""Messages sent and received, and the result of a send.

* :class:`Message` — what a producer sends (Java ``Message``): topic, body, tags,
  keys, user properties, delay level, flag.
* :data:`ReceivedMessage` — what a consumer receives: rmq-protocol's decoded
  :class:`~rmq_protocol.codec.message.MessageExt` (msg_id, queue_id, queue_offset,
  born/store timestamps and hosts, reconsume_times, commit_log_offset, sys_flag,
  properties, body already inflated). :func:`decode_received` decodes a pull body.
* :class:`SendResult` / :class:`SendStatus` — Java's ``SendResult``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, TypeAlias, cast

from rmq_protocol.codec import properties as props
from rmq_protocol.codec.body import MessageQueue
from rmq_protocol.codec.message import MessageExt, decode_messages

__all__ = [
    "Message",
    "MessageQueue",
    "ReceivedMessage",
    "SendResult",
    "SendStatus",
    "decode_received",
]

ReceivedMessage: TypeAlias = MessageExt
"""A consumed message (rmq-protocol's MessageExt; properties parse on first access)."""

_RESERVED: Final = frozenset(
    {
        props.KEYS,
        props.TAGS,
        props.WAIT_STORE_MSG_OK,
        props.DELAY_TIME_LEVEL,
        props.UNIQ_KEY,
        props.TRANSACTION_PREPARED,
        props.PRODUCER_GROUP,
    }
)


_NEW_DICT: Final[Mapping[str, str]] = MappingProxyType({})  # "not given": a new dict
_set_class: Final = object.__setattr__


@dataclass(frozen=True, slots=True)
class Message:
    """A message to send.

    Args:
        topic: destination topic.
        body: payload bytes (compressed by the producer above its threshold).
        tags: one tag (consumers filter on it).
        keys: business key(s), indexed by the broker for queries; a list is joined
            with spaces.
        properties: user properties (names must not hold ``\\x01``/``\\x02``).
        delay_level: 1..18 for the broker's delay levels (1 s … 2 h), 0 for none.
        flag: the user flag (int32) stored with the message.
        wait_store_msg_ok: the WAIT property (wait for flush/replication if the
            broker is configured so).
        sharding_key: ordering key (``__SHARDINGKEY``); also what the producer's
            hash selector uses when ``send(..., sharding_key=...)`` is not given.
    """

    topic: str
    body: bytes
    tags: str | None = field(default=None, kw_only=True)
    keys: str | Sequence[str] | None = field(default=None, kw_only=True)
    properties: Mapping[str, str] = field(default_factory=dict, kw_only=True)
    delay_level: int = field(default=0, kw_only=True)
    flag: int = field(default=0, kw_only=True)
    wait_store_msg_ok: bool = field(default=True, kw_only=True)
    sharding_key: str | None = field(default=None, kw_only=True)

    def __init__(
        self,
        topic: str,
        body: bytes,
        *,
        tags: str | None = None,
        keys: str | Sequence[str] | None = None,
        properties: Mapping[str, str] = _NEW_DICT,  # a new dict when not given
        delay_level: int = 0,
        flag: int = 0,
        wait_store_msg_ok: bool = True,
        sharding_key: str | None = None,
    ) -> None:
        # The dataclass's own __init__ (same signature) stores each field through
        # object.__setattr__ because the class is frozen, ~1 µs per message on the
        # send path; here the fields are stored as a _MessageBuilder (same slots, not
        # frozen), then the object becomes a Message again.
        _set_class(self, "__class__", _MessageBuilder)
        this = cast("_MessageBuilder", self)
        this.topic = topic
        this.body = body
        this.tags = tags
        this.keys = keys
        this.properties = {} if properties is _NEW_DICT else properties
        this.delay_level = delay_level
        this.flag = flag
        this.wait_store_msg_ok = wait_store_msg_ok
        this.sharding_key = sharding_key
        this.__class__ = Message  # type: ignore[assignment]

    def wire_properties(self) -> dict[str, str]:
        """The properties map sent on the wire (user properties + TAGS, KEYS, WAIT …).

        Raises:
            ValueError: a user property uses a name the client sets itself.
        """
        out: dict[str, str] = {}
        for name, value in self.properties.items():
            if name in _RESERVED:
                raise ValueError(
                    f"property {name!r} is set by the client; use the Message field instead"
                )
            out[name] = value
        if self.tags:
            out[props.TAGS] = self.tags
        if self.keys:
            out[props.KEYS] = (
                self.keys if isinstance(self.keys, str) else props.KEY_SEPARATOR.join(self.keys)
            )
        if self.delay_level > 0:
            out[props.DELAY_TIME_LEVEL] = str(self.delay_level)
        if self.sharding_key is not None:
            out[props.SHARDING_KEY] = self.sharding_key
        out[props.WAIT_STORE_MSG_OK] = "true" if self.wait_store_msg_ok else "false"
        return out


class _MessageBuilder:
    """Message's slots without the frozen ``__setattr__`` (see ``Message.__init__``)."""

    __slots__ = Message.__slots__
    topic: str
    body: bytes
    tags: str | None
    keys: str | Sequence[str] | None
    properties: Mapping[str, str]
    delay_level: int
    flag: int
    wait_store_msg_ok: bool
    sharding_key: str | None


class SendStatus(enum.StrEnum):
    """Outcome of a send the broker stored (Java ``SendStatus``)."""

    SEND_OK = "SEND_OK"
    FLUSH_DISK_TIMEOUT = "FLUSH_DISK_TIMEOUT"
    FLUSH_SLAVE_TIMEOUT = "FLUSH_SLAVE_TIMEOUT"
    SLAVE_NOT_AVAILABLE = "SLAVE_NOT_AVAILABLE"


@dataclass(frozen=True, slots=True, kw_only=True)
class SendResult:
    """What the broker answered to a send (Java ``SendResult``).

    Attributes:
        status: SEND_OK, or the flush/replication condition the broker reported.
        msg_id: the client-made unique id (UNIQ_KEY); comma-joined for a batch.
        offset_msg_id: the broker's offset id(s) (store host + commit-log offset).
        queue: the queue the message went to.
        queue_offset: its offset in that queue (the first one for a batch).
        transaction_id: the transaction id (transactional sends).
        region_id: the broker's region (MSG_REGION).
        trace_on: the broker's trace switch (TRACE_ON).
    """

    status: SendStatus
    msg_id: str
    offset_msg_id: str
    queue: MessageQueue
    queue_offset: int
    transaction_id: str | None = None
    region_id: str = "DefaultRegion"
    trace_on: bool = True


class _SendResultBuilder:
    """SendResult's slots without the frozen ``__setattr__`` (see ``_new_send_result``)."""

    __slots__ = SendResult.__slots__
    status: SendStatus
    msg_id: str
    offset_msg_id: str
    queue: MessageQueue
    queue_offset: int
    transaction_id: str | None
    region_id: str
    trace_on: bool


def _new_send_result(
    status: SendStatus,
    msg_id: str,
    offset_msg_id: str,
    queue: MessageQueue,
    queue_offset: int,
    transaction_id: str | None,
    region_id: str,
    trace_on: bool,
) -> SendResult:
    """``SendResult(...)`` from positional values at a fraction of the frozen
    dataclass's keyword ``__init__`` (one per send: the producer's hot path): the fields
    are stored as a same-slots builder, then the object becomes a SendResult."""
    result = _SendResultBuilder()
    result.status = status
    result.msg_id = msg_id
    result.offset_msg_id = offset_msg_id
    result.queue = queue
    result.queue_offset = queue_offset
    result.transaction_id = transaction_id
    result.region_id = region_id
    result.trace_on = trace_on
    result.__class__ = SendResult  # type: ignore[assignment]
    return cast(SendResult, result)


def decode_received(body: bytes | bytearray | memoryview) -> list[ReceivedMessage]:
    """The messages of a pull / query body (bodies inflated).

    Raises:
        rmq_protocol.errors.RemoteProtocolError: the body is not valid records.
    """
    return decode_messages(body)
