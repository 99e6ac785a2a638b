"""Message properties: the well-known keys and the properties string.

Mirrors ``org.apache.rocketmq.common.message.MessageConst`` (the keys) and
``MessageDecoder.messageProperties2String`` / ``string2messageProperties`` (the
text form), spec §3.3 and §3.4. Key constants drop Java's ``PROPERTY_`` prefix
(``PROPERTY_KEYS`` → :data:`KEYS`); ``UNIQ_KEY`` also keeps its wire name.

Layout of the properties string (UTF-8 on the wire, at most 32767 bytes)::

    name 0x01 value 0x02  name 0x01 value 0x02  ...

Every pair ends with ``0x02``. Pair order is insignificant (Java writes HashMap
order). Decoding is tolerant, as Java's is: the text is split on ``0x02``; a
segment is kept only if its first ``0x01`` is neither its first nor its last
character, and splits it into name and value (so a value may contain ``0x01``);
other segments are skipped; a repeated name keeps the last value.

Optional CRC property (5.x, broker ``enabledAppendPropCRC``): the last 20 bytes of
the properties are reserved for::

    "__CRC32#"  0x01  10 ASCII digits  0x02

The digits are CRC32 & 0x7FFFFFFF of the whole record before these 20 bytes,
least significant digit first, padded on the right with ``'0'``
(1234567 → ``"7654321000"``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from rmq_protocol.codec.speedups import load
from rmq_protocol.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "ARRIVE_TIME",
    "BORN_HOST",
    "BORN_TIMESTAMP",
    "BUYER_ID",
    "CHECK_IMMUNITY_TIME_IN_SECONDS",
    "CLUSTER",
    "CONSUME_START_TIMESTAMP",
    "CORRECTION_FLAG",
    "CORRELATION_ID",
    "CRC32",
    "CRC32_RESERVED_LEN",
    "DELAY_TIME_LEVEL",
    "DLQ_ORIGIN_MESSAGE_ID",
    "DLQ_ORIGIN_TOPIC",
    "DUP_INFO",
    "EXTEND_UNIQ_INFO",
    "FIRST_POP_TIME",
    "FORWARD_QUEUE_ID",
    "INNER_BASE",
    "INNER_MULTI_DISPATCH",
    "INNER_MULTI_QUEUE_OFFSET",
    "INNER_NUM",
    "INSTANCE_ID",
    "KEYS",
    "KEY_SEPARATOR",
    "MAX_OFFSET",
    "MAX_PROPERTIES_LENGTH",
    "MAX_RECONSUME_TIMES",
    "MESSAGE_REPLY_TO_CLIENT",
    "MESSAGE_TTL",
    "MESSAGE_TYPE",
    "MIN_OFFSET",
    "MQ2_FLAG",
    "MSG_REGION",
    "NAME_VALUE_SEPARATOR",
    "ORIGIN_MESSAGE_ID",
    "POP_CK",
    "POP_CK_OFFSET",
    "PRODUCER_GROUP",
    "PROPERTY_SEPARATOR",
    "PUSH_REPLY_TIME",
    "REAL_QUEUE_ID",
    "REAL_TOPIC",
    "RECONSUME_TIME",
    "RECORDS_ABI",
    "REDIRECT",
    "REPLY_MESSAGE_ARRIVE_TIME",
    "REPLY_MESSAGE_FLAG",
    "RETRY_TOPIC",
    "SHARDING_KEY",
    "START_DELIVER_TIME",
    "SYSTEM_PROPERTY_KEYS",
    "TAGS",
    "TIMER_DELAY_LEVEL",
    "TIMER_DELAY_MS",
    "TIMER_DELAY_SEC",
    "TIMER_DELIVER_MS",
    "TIMER_DEL_UNIQKEY",
    "TIMER_DEQUEUE_MS",
    "TIMER_ENQUEUE_MS",
    "TIMER_OUT_MS",
    "TIMER_ROLL_TIMES",
    "TRACE_CONTEXT",
    "TRACE_SWITCH",
    "TRANSACTION_CHECK_TIMES",
    "TRANSACTION_ID",
    "TRANSACTION_PREPARED",
    "TRANSACTION_PREPARED_QUEUE_OFFSET",
    "TRANSFER_FLAG",
    "TRANSIENT_GROUP_CONFIG",
    "TRANSIENT_PREFIX",
    "TRANSIENT_TOPIC_CONFIG",
    "UNIQ_CLIENT_MESSAGE_ID_KEYIDX",
    "UNIQ_KEY",
    "WAIT_STORE_MSG_OK",
    "decode_properties",
    "decode_properties_py",
    "encode_properties",
    "encode_properties_py",
    "format_crc32_property",
    "parse_crc32_digits",
    "parse_crc32_property",
    "scan_properties",
    "scan_properties_py",
]

# --- separators -------------------------------------------------------------------

NAME_VALUE_SEPARATOR: Final = "\x01"
"""Between a name and its value (Java ``char 1``)."""
PROPERTY_SEPARATOR: Final = "\x02"
"""After every name/value pair (Java ``char 2``)."""
KEY_SEPARATOR: Final = " "
"""Between business keys in the :data:`KEYS` value."""
MAX_PROPERTIES_LENGTH: Final = 32767
"""PROPERTIESLENGTH is a signed int16: the UTF-8 text may not be longer."""

# --- well-known keys (MessageConst) ------------------------------------------------

KEYS: Final = "KEYS"
"""Business keys, separated by :data:`KEY_SEPARATOR`; each one is indexed."""
TAGS: Final = "TAGS"
"""The tag; source of the consume-queue tags code."""
WAIT_STORE_MSG_OK: Final = "WAIT"
"""``"true"``/``"false"``: wait for flush/replication before answering (Java default true)."""
DELAY_TIME_LEVEL: Final = "DELAY"
"""Delay level, 1-based."""
RETRY_TOPIC: Final = "RETRY_TOPIC"
"""Original topic of a retried message."""
REAL_TOPIC: Final = "REAL_TOPIC"
"""Original topic of a scheduled, half (transaction) or timer message."""
REAL_QUEUE_ID: Final = "REAL_QID"
"""Original queue id of a scheduled, half or timer message."""
TRANSACTION_PREPARED: Final = "TRAN_MSG"
"""``"true"`` for a transactional half message."""
PRODUCER_GROUP: Final = "PGROUP"
"""Producer group (used by the transaction check)."""
MIN_OFFSET: Final = "MIN_OFFSET"
"""Added client-side from the pull response."""
MAX_OFFSET: Final = "MAX_OFFSET"
"""Added client-side from the pull response."""
BUYER_ID: Final = "BUYER_ID"
ORIGIN_MESSAGE_ID: Final = "ORIGIN_MESSAGE_ID"
"""msgId of the first delivery, for retries."""
TRANSFER_FLAG: Final = "TRANSFER_FLAG"
CORRECTION_FLAG: Final = "CORRECTION_FLAG"
MQ2_FLAG: Final = "MQ2_FLAG"
RECONSUME_TIME: Final = "RECONSUME_TIME"
"""Reconsume count of a message sent back to a %RETRY% topic."""
MSG_REGION: Final = "MSG_REGION"
"""Region id, added by the broker."""
TRACE_SWITCH: Final = "TRACE_ON"
"""Trace switch, added by the broker."""
UNIQ_KEY: Final = "UNIQ_KEY"
"""Client-generated unique message id (see :mod:`rmq_protocol.codec.msgid`); indexed."""
UNIQ_CLIENT_MESSAGE_ID_KEYIDX: Final = UNIQ_KEY
"""Java's name for :data:`UNIQ_KEY`."""
EXTEND_UNIQ_INFO: Final = "EXTEND_UNIQ_INFO"
MAX_RECONSUME_TIMES: Final = "MAX_RECONSUME_TIMES"
CONSUME_START_TIMESTAMP: Final = "CONSUME_START_TIME"
"""Client-side consume start timestamp (ms)."""
INNER_NUM: Final = "INNER_NUM"
INNER_BASE: Final = "INNER_BASE"
DUP_INFO: Final = "DUP_INFO"
CHECK_IMMUNITY_TIME_IN_SECONDS: Final = "CHECK_IMMUNITY_TIME_IN_SECONDS"
TRANSACTION_PREPARED_QUEUE_OFFSET: Final = "TRAN_PREPARED_QUEUE_OFFSET"
TRANSACTION_ID: Final = "__transactionId__"
TRANSACTION_CHECK_TIMES: Final = "TRANSACTION_CHECK_TIMES"
INSTANCE_ID: Final = "INSTANCE_ID"
CORRELATION_ID: Final = "CORRELATION_ID"
MESSAGE_REPLY_TO_CLIENT: Final = "REPLY_TO_CLIENT"
MESSAGE_TTL: Final = "TTL"
REPLY_MESSAGE_ARRIVE_TIME: Final = "ARRIVE_TIME"
ARRIVE_TIME: Final = REPLY_MESSAGE_ARRIVE_TIME
PUSH_REPLY_TIME: Final = "PUSH_REPLY_TIME"
CLUSTER: Final = "CLUSTER"
MESSAGE_TYPE: Final = "MSG_TYPE"
REPLY_MESSAGE_FLAG: Final = "reply"
"""Value of :data:`MESSAGE_TYPE` on a reply message (Java ``MixAll.REPLY_MESSAGE_FLAG``)."""
POP_CK: Final = "POP_CK"
POP_CK_OFFSET: Final = "POP_CK_OFFSET"
FIRST_POP_TIME: Final = "1ST_POP_TIME"
SHARDING_KEY: Final = "__SHARDINGKEY"
"""Ordering key (FIFO classification)."""
FORWARD_QUEUE_ID: Final = "PROPERTY_FORWARD_QUEUE_ID"
REDIRECT: Final = "REDIRECT"
INNER_MULTI_DISPATCH: Final = "INNER_MULTI_DISPATCH"
INNER_MULTI_QUEUE_OFFSET: Final = "INNER_MULTI_QUEUE_OFFSET"
TRACE_CONTEXT: Final = "TRACE_CONTEXT"
TIMER_DELAY_SEC: Final = "TIMER_DELAY_SEC"
TIMER_DELIVER_MS: Final = "TIMER_DELIVER_MS"
"""Absolute delivery time (ms) of a 5.x timer message."""
TIMER_DELAY_MS: Final = "TIMER_DELAY_MS"
TIMER_ENQUEUE_MS: Final = "TIMER_ENQUEUE_MS"
TIMER_DEQUEUE_MS: Final = "TIMER_DEQUEUE_MS"
TIMER_ROLL_TIMES: Final = "TIMER_ROLL_TIMES"
TIMER_OUT_MS: Final = "TIMER_OUT_MS"
TIMER_DEL_UNIQKEY: Final = "TIMER_DEL_UNIQKEY"
TIMER_DELAY_LEVEL: Final = "TIMER_DELAY_LEVEL"
BORN_HOST: Final = "__BORNHOST"
BORN_TIMESTAMP: Final = "BORN_TIMESTAMP"
CRC32: Final = "__CRC32#"
"""The optional record-CRC property (module docstring)."""
DLQ_ORIGIN_TOPIC: Final = "DLQ_ORIGIN_TOPIC"
DLQ_ORIGIN_MESSAGE_ID: Final = "DLQ_ORIGIN_MESSAGE_ID"
START_DELIVER_TIME: Final = "__STARTDELIVERTIME"
"""Aliyun ONS absolute delivery time; Apache only uses it to classify a message as delayed."""
TRANSIENT_PREFIX: Final = "__RMQ.TRANSIENT."
"""Properties whose name starts with this are client-local and never stored."""
TRANSIENT_TOPIC_CONFIG: Final = TRANSIENT_PREFIX + "TOPIC_SYS_FLAG"
TRANSIENT_GROUP_CONFIG: Final = TRANSIENT_PREFIX + "GROUP_SYS_FLAG"

SYSTEM_PROPERTY_KEYS: Final[frozenset[str]] = frozenset(
    {
        TRACE_SWITCH, MSG_REGION, KEYS, TAGS, WAIT_STORE_MSG_OK, DELAY_TIME_LEVEL,
        RETRY_TOPIC, REAL_TOPIC, REAL_QUEUE_ID, TRANSACTION_PREPARED, PRODUCER_GROUP,
        MIN_OFFSET, MAX_OFFSET, BUYER_ID, ORIGIN_MESSAGE_ID, TRANSFER_FLAG,
        CORRECTION_FLAG, MQ2_FLAG, RECONSUME_TIME, UNIQ_KEY, MAX_RECONSUME_TIMES,
        CONSUME_START_TIMESTAMP, POP_CK, POP_CK_OFFSET, FIRST_POP_TIME,
        TRANSACTION_PREPARED_QUEUE_OFFSET, DUP_INFO, EXTEND_UNIQ_INFO, INSTANCE_ID,
        CORRELATION_ID, MESSAGE_REPLY_TO_CLIENT, MESSAGE_TTL, REPLY_MESSAGE_ARRIVE_TIME,
        PUSH_REPLY_TIME, CLUSTER, MESSAGE_TYPE, INNER_MULTI_QUEUE_OFFSET, TIMER_DELAY_MS,
        TIMER_DELAY_SEC, TIMER_DELIVER_MS, TIMER_ENQUEUE_MS, TIMER_DEQUEUE_MS,
        TIMER_ROLL_TIMES, TIMER_OUT_MS, TIMER_DEL_UNIQKEY, TIMER_DELAY_LEVEL, BORN_HOST,
        BORN_TIMESTAMP, DLQ_ORIGIN_TOPIC, DLQ_ORIGIN_MESSAGE_ID, CRC32,
    }
)  # fmt: skip
"""Names a user may not set as user properties (Java ``MessageConst.STRING_HASH_SET``)."""

# --- the optional C module of the record codecs ---------------------------------------

RECORDS_ABI: Final = 4
"""The contract version the codec expects of ``rmq_protocol._records`` (its ``ABI``)."""

records: Final = load("rmq_protocol._records", RECORDS_ABI)
"""``rmq_protocol._records`` (C versions of the properties, record, batch and unique-id
codecs, each mirroring a Python function here, in :mod:`.message` or in :mod:`.msgid`),
or None when the pure-Python codec is in use."""

# --- the properties string -----------------------------------------------------------


def _encode_properties_py(props: Mapping[str, str]) -> str:
    """The properties string of ``props``: ``name 0x01 value 0x02`` per pair.

    Encode the result as UTF-8 for the wire; it must then fit
    :data:`MAX_PROPERTIES_LENGTH` bytes (the record encoders check this).

    Raises:
        LocalProtocolError: a name or value contains ``0x01`` or ``0x02``, or is
            empty (the peer's decoder would split it wrongly or drop it).
    """
    text = "".join([f"{name}\x01{value}\x02" for name, value in props.items()])
    count = len(props)
    if (
        text.count("\x01") != count
        or text.count("\x02") != count
        or "\x01\x02" in text
        or "\x02\x01" in text
        or text.startswith("\x01")
    ):
        raise _invalid(props)
    return text


def _invalid(props: Mapping[str, str]) -> LocalProtocolError:
    for name, value in props.items():
        for what, item in (("name", name), ("value", value)):
            if not item:
                return LocalProtocolError(
                    f"property {name!r}: empty {what}; RocketMQ drops such pairs when "
                    "decoding, so they cannot be sent (leave the property out)"
                )
            if "\x01" in item or "\x02" in item:
                return LocalProtocolError(
                    f"property {name!r}: {what} {item!r} contains a separator character "
                    "(\\x01 or \\x02), which the properties string cannot carry"
                )
    return LocalProtocolError("properties cannot be encoded")  # not reached


def _decode_properties_py(text: str) -> dict[str, str]:
    """Parse a properties string with RocketMQ's tolerant rules (module docstring).

    Never raises: malformed segments are skipped, as Java skips them.
    """
    props: dict[str, str] = {}
    for segment in text.split("\x02"):
        name, _, value = segment.partition("\x01")
        if name and value:
            props[name] = value
    return props


def _scan_properties_py(text: str, names: tuple[str, ...]) -> tuple[str | None, ...] | None:
    """The values of ``names`` in a canonical properties string, or None if it is not one.

    Canonical: every segment is ``name 0x01 value 0x02`` with both parts non-empty, no
    other ``0x01``, and no name twice; exactly the strings that
    ``encode_properties(decode_properties(text))`` gives back unchanged, so a caller may
    keep such a text as it is (and append pairs) instead of decoding and re-encoding it.
    Java clients send canonical strings. A value is None where its name is absent.
    """
    if not text.endswith("\x02"):
        return None
    found: dict[str, str] = {}
    for segment in text[:-1].split("\x02"):
        name, _, value = segment.partition("\x01")
        if not name or not value or "\x01" in value or name in found:
            return None
        found[name] = value
    return tuple([found.get(name) for name in names])


encode_properties: Callable[[Mapping[str, str]], str] = _encode_properties_py
"""The properties string of a mapping: :func:`_encode_properties_py` (whose docstring tells
what it does and raises), or the same function in C from :data:`records`."""
decode_properties: Callable[[str], dict[str, str]] = _decode_properties_py
"""Parse a properties string: :func:`_decode_properties_py` (never raises), or the same
function in C from :data:`records`."""
encode_properties_py: Final = _encode_properties_py
"""The pure-Python :func:`encode_properties`, whichever one is in use (differential tests)."""
decode_properties_py: Final = _decode_properties_py
"""The pure-Python :func:`decode_properties`, whichever one is in use (differential tests)."""
scan_properties: Callable[[str, tuple[str, ...]], tuple[str | None, ...] | None] = (
    _scan_properties_py
)
""":func:`_scan_properties_py` (whose docstring tells what it does), or the same function in
C from :data:`records`."""
scan_properties_py: Final = _scan_properties_py
"""The pure-Python :func:`scan_properties` (differential tests)."""
if records is not None:
    records.init(
        encode_properties=_encode_properties_py,
        decode_properties=_decode_properties_py,
        scan_properties=_scan_properties_py,
    )
    encode_properties = records.encode_properties
    decode_properties = records.decode_properties
    scan_properties = records.scan_properties


# --- CRC32 property ----------------------------------------------------------------------

CRC32_RESERVED_LEN: Final = 20
"""Bytes reserved at the end of the properties for the CRC property (Java ``CommitLog``)."""
_CRC32_PREFIX: Final = b"__CRC32#\x01"
_DIGITS: Final = frozenset(b"0123456789")


def format_crc32_property(crc: int) -> bytes:
    """The 20-byte CRC property for ``crc`` (``__CRC32#`` 0x01 digits 0x02).

    Raises:
        LocalProtocolError: ``crc`` is not in 0..0x7FFFFFFF (mask it first).
    """
    if not 0 <= crc <= 0x7FFFFFFF:
        raise LocalProtocolError(f"CRC {crc} not in 0..0x7FFFFFFF: mask it with & 0x7FFFFFFF")
    digits = str(crc)[::-1].ljust(10, "0").encode("ascii")
    return _CRC32_PREFIX + digits + b"\x02"


def parse_crc32_digits(value: str) -> int:
    """The CRC in the value of a :data:`CRC32` property (``"7654321000"`` → 1234567).

    Raises:
        RemoteProtocolError: ``value`` is not 10 ASCII digits.
    """
    if len(value) != 10 or not value.isascii() or not value.isdigit():
        raise RemoteProtocolError(f"{CRC32} property value {value!r} is not 10 ASCII digits")
    crc = int(value[::-1])
    if crc > 0x7FFFFFFF:
        raise RemoteProtocolError(f"{CRC32} property value {value!r} exceeds 0x7FFFFFFF")
    return crc


def parse_crc32_property(data: bytes | bytearray | memoryview) -> int:
    """The CRC held by a 20-byte CRC property (the last 20 bytes of the properties).

    Raises:
        RemoteProtocolError: ``data`` is not a CRC property; ``offset`` is the
            position of the problem within ``data``.
    """
    raw = bytes(data)
    if len(raw) != CRC32_RESERVED_LEN:
        raise RemoteProtocolError(
            f"CRC property is {len(raw)} bytes, expected {CRC32_RESERVED_LEN}", offset=0
        )
    if not raw.startswith(_CRC32_PREFIX):
        raise RemoteProtocolError(
            f"CRC property does not start with {_CRC32_PREFIX!r}: {raw!r}", offset=0
        )
    if raw[19] != 2:
        raise RemoteProtocolError(f"CRC property does not end with 0x02: {raw!r}", offset=19)
    digits = raw[9:19]
    if not _DIGITS.issuperset(digits):
        raise RemoteProtocolError(f"CRC property digits {digits!r} are not ASCII digits", offset=9)
    return parse_crc32_digits(digits.decode("ascii"))
