"""Sans-IO codec of RocketMQ message-trace records (spec §6.9; Java ``TraceDataEncoder``).

A trace message's body is UTF-8 text: records back to back, each record's fields
separated by ``CONTENT_SEPARATOR`` (0x01) and the record ended by ``FIELD_SEPARATOR``
(0x02). The field layout depends on the record type (its first field):

========================  =====================================================================
``Pub``                   type, timestamp, regionId, producerGroup, topic, msgId, tags, keys,
                          storeHost, bodyLength, costTime, msgType, offsetMsgId, success
                          (readers also accept 12/13 fields and a 15th, clientHost)
``SubBefore``             type, timestamp, regionId, consumerGroup, requestId, msgId,
                          retryTimes, keys
``SubAfter``              type, requestId, msgId, costTime, success, keys, contextCode,
                          timestamp, consumerGroup (the last two are absent for the CLOUD
                          access channel, and contextCode in old writers)
``EndTransaction``        type, timestamp, regionId, producerGroup, topic, msgId, tags, keys,
                          storeHost, msgType, transactionId, transactionState,
                          fromTransactionCheck
``Recall``                type, timestamp, regionId, group, topic, msgId, success
========================  =====================================================================

Java writes absent strings (a message without tags or keys) as the text ``null``;
:func:`encode_record` does the same for ``None`` and ``""``, and :func:`decode_records` turns
``null`` back into ``None`` for the optional fields (tags, keys, storeHost, offsetMsgId,
transactionId). Booleans are ``true``/``false``; timestamps are epoch milliseconds.
Splitting follows Java's ``String.split``: trailing empty fields vanish, so a record
ending in empty fields has fewer fields, which the reader tolerates where Java does.
Records of unknown types are skipped, as Java does.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

__all__ = [
    "CONTENT_SEPARATOR",
    "DEFAULT_REGION",
    "FIELD_SEPARATOR",
    "TRACE_TOPIC",
    "ConsumeReturnType",
    "EndTransactionTrace",
    "PubTrace",
    "RecallTrace",
    "SubAfterTrace",
    "SubBeforeTrace",
    "TraceFormatError",
    "TraceMessageType",
    "TraceRecord",
    "TraceType",
    "decode_records",
    "encode_record",
    "encode_records",
    "trace_keys",
]

CONTENT_SEPARATOR: Final = "\x01"  # Java TraceConstants.CONTENT_SPLITOR, between fields
FIELD_SEPARATOR: Final = "\x02"  # Java TraceConstants.FIELD_SPLITOR, after each record
TRACE_TOPIC: Final = "RMQ_SYS_TRACE_TOPIC"  # TopicValidator.RMQ_SYS_TRACE_TOPIC
DEFAULT_REGION: Final = "DefaultRegion"  # MixAll.DEFAULT_TRACE_REGION_ID
KEY_SEPARATOR: Final = " "  # MessageConst.KEY_SEPARATOR
_NULL: Final = "null"


class TraceFormatError(ValueError):
    """A trace record that cannot be decoded (too few fields, a bad number)."""

    def __init__(self, message: str, *, record: str) -> None:
        super().__init__(message)
        self.record = record


class TraceType(enum.StrEnum):
    """Java ``TraceType`` (the first field of a record)."""

    PUB = "Pub"
    RECALL = "Recall"
    SUB_BEFORE = "SubBefore"
    SUB_AFTER = "SubAfter"
    END_TRANSACTION = "EndTransaction"


class TraceMessageType(enum.IntEnum):
    """Java ``MessageType``; written as its ordinal."""

    NORMAL = 0  # Normal_Msg
    TRANS_HALF = 1  # Trans_Msg_Half
    TRANS_COMMIT = 2  # Trans_msg_Commit
    DELAY = 3  # Delay_Msg
    ORDER = 4  # Order_Msg


class ConsumeReturnType(enum.IntEnum):
    """Java ``ConsumeReturnType``: a SubAfter record's contextCode is its ordinal."""

    SUCCESS = 0
    TIME_OUT = 1
    EXCEPTION = 2
    RETURNNULL = 3
    FAILED = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class PubTrace:
    """A send (``Pub``): written by the producer after the broker answered."""

    timestamp: int  # ms, when the send began
    region_id: str
    group: str
    topic: str
    msg_id: str  # UNIQ_KEY
    tags: str | None
    keys: str | None
    store_host: str | None  # broker address
    body_length: int
    cost_ms: int
    msg_type: TraceMessageType
    offset_msg_id: str | None
    success: bool
    client_host: str | None = None  # only written by old Java clients (15th field)


@dataclass(frozen=True, slots=True, kw_only=True)
class SubBeforeTrace:
    """A consumption attempt begins (``SubBefore``)."""

    timestamp: int  # ms
    region_id: str
    group: str
    request_id: str  # pairs it with its SubAfter
    msg_id: str
    retry_times: int  # reconsume times of the delivered message
    keys: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SubAfterTrace:
    """A consumption attempt ended (``SubAfter``)."""

    request_id: str
    msg_id: str
    cost_ms: int
    success: bool
    keys: str | None
    context_code: int | None = None  # ConsumeReturnType ordinal; None from old writers
    timestamp: int | None = None  # ms, when the attempt began; None for CLOUD/old writers
    group: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EndTransactionTrace:
    """A transaction's end (``EndTransaction``): commit, rollback or unknown."""

    timestamp: int
    region_id: str
    group: str
    topic: str
    msg_id: str
    tags: str | None
    keys: str | None
    store_host: str | None
    msg_type: TraceMessageType
    transaction_id: str | None
    transaction_state: str  # COMMIT_MESSAGE, ROLLBACK_MESSAGE or UNKNOW
    from_transaction_check: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RecallTrace:
    """A recalled message (``Recall``, RocketMQ 5.x)."""

    timestamp: int
    region_id: str
    group: str
    topic: str
    msg_id: str
    success: bool


TraceRecord: TypeAlias = (
    PubTrace | SubBeforeTrace | SubAfterTrace | EndTransactionTrace | RecallTrace
)


# --------------------------------------------------------------------------- encoding


def _s(value: str | None) -> str:
    # "" too: an empty last field would vanish in Java's split and break its reader.
    return value or _NULL


def _b(value: bool) -> str:
    return "true" if value else "false"


def encode_record(record: TraceRecord, *, cloud: bool = False) -> str:
    """One record as Java's encoder writes it, separator included.

    ``cloud`` is Java's CLOUD access channel: a SubAfter record then ends after the
    contextCode (no timestamp and group).
    """
    sep = CONTENT_SEPARATOR
    fields: list[str]
    match record:
        case PubTrace():
            fields = [
                TraceType.PUB, str(record.timestamp), record.region_id, record.group,
                record.topic, record.msg_id, _s(record.tags), _s(record.keys),
                _s(record.store_host), str(record.body_length), str(record.cost_ms),
                str(int(record.msg_type)), _s(record.offset_msg_id), _b(record.success),
            ]  # fmt: skip
        case SubBeforeTrace():
            fields = [
                TraceType.SUB_BEFORE, str(record.timestamp), record.region_id, record.group,
                record.request_id, record.msg_id, str(record.retry_times), _s(record.keys),
            ]  # fmt: skip
        case SubAfterTrace():
            code = 0 if record.context_code is None else record.context_code
            head = [
                TraceType.SUB_AFTER, record.request_id, record.msg_id, str(record.cost_ms),
                _b(record.success), _s(record.keys), str(code),
            ]  # fmt: skip
            if cloud:
                return sep.join(head) + sep + FIELD_SEPARATOR
            timestamp = 0 if record.timestamp is None else record.timestamp
            fields = [*head, str(timestamp), _s(record.group)]
        case EndTransactionTrace():
            fields = [
                TraceType.END_TRANSACTION, str(record.timestamp), record.region_id,
                record.group, record.topic, record.msg_id, _s(record.tags), _s(record.keys),
                _s(record.store_host), str(int(record.msg_type)), _s(record.transaction_id),
                record.transaction_state, _b(record.from_transaction_check),
            ]  # fmt: skip
        case RecallTrace():
            fields = [
                TraceType.RECALL, str(record.timestamp), record.region_id, record.group,
                record.topic, record.msg_id, _b(record.success),
            ]  # fmt: skip
    return sep.join(fields) + FIELD_SEPARATOR


def encode_records(records: Iterable[TraceRecord], *, cloud: bool = False) -> bytes:
    """A trace message body holding ``records``."""
    return "".join(encode_record(r, cloud=cloud) for r in records).encode()


def trace_keys(record: TraceRecord) -> list[str]:
    """The KEYS a trace message carrying ``record`` is indexed by: the traced message's
    id, then its own keys (Java ``TraceTransferBean.transKey``)."""
    out = [record.msg_id]
    keys = getattr(record, "keys", None)
    if keys:
        out.extend(keys.split(KEY_SEPARATOR))
    return out


# --------------------------------------------------------------------------- decoding


def _java_split(text: str, sep: str) -> list[str]:
    """``String.split`` of Java (limit 0): trailing empty strings are removed."""
    parts = text.split(sep)
    if len(parts) == 1:
        return parts
    while parts and not parts[-1]:
        parts.pop()
    return parts


def _opt(value: str) -> str | None:
    return None if value == _NULL else value


def _bool(value: str) -> bool:
    return value.lower() == "true"  # Boolean.parseBoolean


class _Fields:
    __slots__ = ("line", "record")

    def __init__(self, record: str, line: Sequence[str]) -> None:
        self.record = record
        self.line = line

    def need(self, count: int) -> None:
        if len(self.line) < count:
            raise TraceFormatError(
                f"{self.line[0]} trace record has {len(self.line)} fields, needs {count}: "
                f"{self.record!r}",
                record=self.record,
            )

    def num(self, index: int, name: str) -> int:
        text = self.line[index]
        try:
            return int(text)
        except ValueError:
            raise TraceFormatError(
                f"{self.line[0]} trace record: {name} (field {index}) is {text!r}, not an integer",
                record=self.record,
            ) from None

    def msg_type(self, index: int) -> TraceMessageType:
        value = self.num(index, "msgType")
        try:
            return TraceMessageType(value)
        except ValueError:
            raise TraceFormatError(
                f"{self.line[0]} trace record: msgType {value} is not 0..4", record=self.record
            ) from None


def _decode_one(record: str) -> TraceRecord | None:
    line = _java_split(record, CONTENT_SEPARATOR)
    f = _Fields(record, line)
    kind = line[0]
    if kind == TraceType.PUB:
        f.need(12)
        offset_msg_id: str | None = ""
        success = True  # Java TraceContext's default
        client_host = None
        if len(line) == 13:
            success = _bool(line[12])
        elif len(line) >= 14:
            offset_msg_id, success = _opt(line[12]), _bool(line[13])
            if len(line) >= 15:
                client_host = line[14]
        return PubTrace(
            timestamp=f.num(1, "timestamp"), region_id=line[2], group=line[3], topic=line[4],
            msg_id=line[5], tags=_opt(line[6]), keys=_opt(line[7]), store_host=_opt(line[8]),
            body_length=f.num(9, "bodyLength"), cost_ms=f.num(10, "costTime"),
            msg_type=f.msg_type(11), offset_msg_id=offset_msg_id, success=success,
            client_host=client_host,
        )  # fmt: skip
    if kind == TraceType.SUB_BEFORE:
        f.need(8)
        return SubBeforeTrace(
            timestamp=f.num(1, "timestamp"), region_id=line[2], group=line[3],
            request_id=line[4], msg_id=line[5], retry_times=f.num(6, "retryTimes"),
            keys=_opt(line[7]),
        )  # fmt: skip
    if kind == TraceType.SUB_AFTER:
        f.need(6)
        return SubAfterTrace(
            request_id=line[1], msg_id=line[2], cost_ms=f.num(3, "costTime"),
            success=_bool(line[4]), keys=_opt(line[5]),
            context_code=f.num(6, "contextCode") if len(line) >= 7 else None,
            timestamp=f.num(7, "timestamp") if len(line) >= 9 else None,
            group=line[8] if len(line) >= 9 else None,
        )  # fmt: skip
    if kind == TraceType.END_TRANSACTION:
        f.need(13)
        return EndTransactionTrace(
            timestamp=f.num(1, "timestamp"), region_id=line[2], group=line[3], topic=line[4],
            msg_id=line[5], tags=_opt(line[6]), keys=_opt(line[7]), store_host=_opt(line[8]),
            msg_type=f.msg_type(9), transaction_id=_opt(line[10]),
            transaction_state=line[11], from_transaction_check=_bool(line[12]),
        )  # fmt: skip
    if kind == TraceType.RECALL:
        f.need(7)
        return RecallTrace(
            timestamp=f.num(1, "timestamp"), region_id=line[2], group=line[3], topic=line[4],
            msg_id=line[5], success=_bool(line[6]),
        )  # fmt: skip
    return None


def decode_records(data: bytes | str) -> list[TraceRecord]:
    """The records of a trace message body (Java ``decoderFromTraceDataString``).

    Raises:
        TraceFormatError: a record of a known type is malformed.
        UnicodeDecodeError: ``data`` is not UTF-8.
    """
    text = data.decode() if isinstance(data, bytes) else data
    if not text:
        return []
    out: list[TraceRecord] = []
    for record in _java_split(text, FIELD_SEPARATOR):
        decoded = _decode_one(record)
        if decoded is not None:
            out.append(decoded)
    return out
