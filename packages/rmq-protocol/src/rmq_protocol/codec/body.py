"""JSON bodies of remoting commands, as frozen dataclasses.

Mirrors the ``RemotingSerializable`` bodies of Apache RocketMQ 4.9/5.3 (spec §4.4,
§5, §6.1, §10). Every class has ``from_json`` / ``to_json`` (bytes) and
``from_value`` / ``to_value`` (decoded :data:`~rmq_protocol.codec.fastjson.JSONValue`,
for bodies nested in files or other bodies).

Reading is lenient, the way fastjson reads: unknown members are ignored; missing
or ``null`` members take Java's defaults; numbers sent as strings (``"subVersion":
"1700000000000"``, C++) and booleans as ``"true"`` are accepted; enums are read
from the Java NAME or from the ordinal (C++ sends ``"consumeType":1``); integer map
keys may be quoted or not; a trailing newline is fine. An unknown enum NAME reads
as None (fastjson reads it as null). Anything we cannot read at all raises
:class:`~rmq_protocol.errors.RemoteProtocolError` naming the member
(``TopicRouteData.brokerDatas[0].brokerAddrs``).

Writing is what Java writes: Java member names, members in alphabetical order
(fastjson's bean order), compact, ``null`` members omitted, enums as their NAME.
Maps are written in the mapping's order, except ``brokerAddrs``, which is sorted
by broker id and written with quoted keys (standard JSON; Java reads both).

Defaults: reference members that Java leaves ``null`` by design are ``None`` here
and omitted when None (``zoneName``, ``orderTopicConf``, enum members). Identifier
strings every real sender sets (``brokerName``, ``topic``, ``groupName`` …) read
as ``""`` when absent. Java sets/lists are tuples in wire order; Java maps are
dicts. ``DataVersion.timestamp`` and ``SubscriptionData.subVersion`` default to 0,
not "now": the codec reads no clock, callers pass the time.

Java classes and shapes (keys as written):

* ``DataVersion``: ``{"counter":N,"stateVersion":N,"timestamp":ms}``
* ``TopicConfig``: ``{"attributes":{},"order":false,"perm":6,"readQueueNums":16,
  "topicFilterType":"SINGLE_TAG","topicName":"T","topicSysFlag":0,"writeQueueNums":16}``,
  or the line ``T 16 16 6 SINGLE_TAG {}`` of a compressed registration
* ``TopicConfigSerializeWrapper`` (+ 5.x ``TopicConfigAndMappingSerializeWrapper``):
  ``{"dataVersion":…,"mappingDataVersion":…,"topicConfigTable":{T:TopicConfig},
  "topicQueueMappingDetailMap":{},"topicQueueMappingInfoMap":{}}``
* ``RegisterBrokerBody``: ``{"filterServerList":[],"topicConfigSerializeWrapper":…}`` or
  the zlib form of spec §5.2
* ``QueueData``, ``BrokerData``, ``TopicRouteData``: spec §5.1
* ``ClusterInfo``: ``{"brokerAddrTable":{name:BrokerData},"clusterAddrTable":{c:[name]}}``
* ``TopicList``: ``{"brokerAddr":…,"topicList":[…]}``; ``KVTable``: ``{"table":{k:v}}``
* ``HeartbeatData``, ``ProducerData``, ``ConsumerData``, ``SubscriptionData``: spec §6.1
* ``MessageQueue``: ``{"brokerName":"b","queueId":0,"topic":"t"}``
* ``LockBatchRequestBody`` / ``UnlockBatchRequestBody``: ``{"clientId","consumerGroup",
  "mqSet":[MessageQueue],"onlyThisBroker"}``; ``LockBatchResponseBody``: ``{"lockOKMQSet":[…]}``
* ``GetConsumerListByGroupResponseBody``: ``{"consumerIdList":[…]}``
* ``Connection``: ``{"clientAddr","clientId","language":"JAVA","version":N}``;
  ``ConsumerConnection``, ``ProducerConnection``: spec §5.3
* ``SubscriptionGroupConfig`` (+ ``SimpleSubscriptionData``): spec §4.4
* ``ResetOffsetBody``: ``{"offsetTable":{MessageQueue:offset}}``; ``ConsumeStats`` /
  ``OffsetWrapper``; ``TopicStatsTable`` / ``TopicOffset``: spec §10. These maps are keyed
  by JSON objects; ``to_json`` writes fastjson's ``{{…}:…}`` form, which Java requires.

Java properties text (UPDATE_NAMESRV_CONFIG, GET_NAMESRV_CONFIG, GET_BROKER_CONFIG,
``MixAll.properties2String`` / ``string2Properties``): ``key=value`` lines, see
:func:`encode_properties_text` and :func:`decode_properties_text`.
"""

from __future__ import annotations

import enum
import math
import re
import struct
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Final, Self, TypeAlias, TypeVar, final

from rmq_protocol.codec.codes import LanguageCode
from rmq_protocol.codec.fastjson import JSONKey, JSONValue, ObjectKey, dumps, loads
from rmq_protocol.errors import RemoteProtocolError

__all__ = [
    "DEFAULT_MAX_DECOMPRESSED_SIZE",
    "BrokerData",
    "ClusterInfo",
    "Connection",
    "ConsumeFromWhere",
    "ConsumeStats",
    "ConsumeType",
    "ConsumerConnection",
    "ConsumerData",
    "DataVersion",
    "GetConsumerListByGroupResponseBody",
    "HeartbeatData",
    "KVTable",
    "LockBatchRequestBody",
    "LockBatchResponseBody",
    "MessageModel",
    "MessageQueue",
    "OffsetWrapper",
    "ProducerConnection",
    "ProducerData",
    "QueueData",
    "RegisterBrokerBody",
    "ResetOffsetBody",
    "SimpleSubscriptionData",
    "SubscriptionData",
    "SubscriptionGroupConfig",
    "TopicConfig",
    "TopicConfigSerializeWrapper",
    "TopicFilterType",
    "TopicList",
    "TopicOffset",
    "TopicRouteData",
    "TopicStatsTable",
    "UnlockBatchRequestBody",
    "decode_properties_text",
    "encode_properties_text",
]

DEFAULT_MAX_DECOMPRESSED_SIZE: Final = 64 * 1024 * 1024
"""Largest inflated compressed REGISTER_BROKER body accepted by default (bytes)."""

_JSONObject: TypeAlias = dict[JSONKey, JSONValue]
_Data: TypeAlias = bytes | bytearray | str | memoryview
_E = TypeVar("_E", bound=enum.Enum)
_T = TypeVar("_T")
_DECIMAL: Final = re.compile(r"\s*([-+]?[0-9]+)(?:\.[0-9]*)?\s*", re.ASCII)
_FLOAT: Final = re.compile(r"\s*[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*", re.ASCII)
_INT32: Final = struct.Struct(">i")
_LINE_INT: Final = re.compile(r"[-+]?[0-9]{1,10}", re.ASCII)

# --------------------------------------------------------------------------- enums


class _JavaEnum(enum.StrEnum):
    """A Java enum: the value is the Java NAME, the ordinal is the declaration order."""

    @property
    def ordinal(self) -> int:
        """Java ``ordinal()``: the position in the Java declaration."""
        return list(type(self)).index(self)

    @classmethod
    def from_ordinal(cls, ordinal: int) -> Self:
        """The member at Java ordinal ``ordinal``.

        Raises:
            ValueError: no member has that ordinal.
        """
        members = list(cls)
        if not 0 <= ordinal < len(members):
            raise ValueError(f"{cls.__name__} has no ordinal {ordinal}")
        return members[ordinal]


@final
class ConsumeType(_JavaEnum):
    """``ConsumeType``: how a consumer gets messages (ordinals as in Java)."""

    CONSUME_ACTIVELY = "CONSUME_ACTIVELY"  # 0, pull
    CONSUME_PASSIVELY = "CONSUME_PASSIVELY"  # 1, push
    CONSUME_POP = "CONSUME_POP"  # 2, 5.x pop


@final
class MessageModel(_JavaEnum):
    """``MessageModel``: BROADCASTING (ordinal 0) or CLUSTERING (ordinal 1)."""

    BROADCASTING = "BROADCASTING"
    CLUSTERING = "CLUSTERING"


@final
class ConsumeFromWhere(_JavaEnum):
    """``ConsumeFromWhere``: where a new consumer group starts (ordinals as in Java)."""

    CONSUME_FROM_LAST_OFFSET = "CONSUME_FROM_LAST_OFFSET"
    CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST = (
        "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST"  # deprecated
    )
    CONSUME_FROM_MIN_OFFSET = "CONSUME_FROM_MIN_OFFSET"  # deprecated
    CONSUME_FROM_MAX_OFFSET = "CONSUME_FROM_MAX_OFFSET"  # deprecated
    CONSUME_FROM_FIRST_OFFSET = "CONSUME_FROM_FIRST_OFFSET"
    CONSUME_FROM_TIMESTAMP = "CONSUME_FROM_TIMESTAMP"


@final
class TopicFilterType(_JavaEnum):
    """``TopicFilterType`` of a TopicConfig."""

    SINGLE_TAG = "SINGLE_TAG"
    MULTI_TAG = "MULTI_TAG"


# --------------------------------------------------------------------------- reading helpers


def _kind(value: JSONValue | ObjectKey) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return f"number {value!r}"
    if isinstance(value, str):
        return f"string {value[:40]!r}"
    if isinstance(value, list):
        return "array"
    return "object"


def _bad(path: str, expected: str, value: JSONValue | ObjectKey) -> RemoteProtocolError:
    return RemoteProtocolError(f"{path}: expected {expected}, got {_kind(value)}")


def _object(value: JSONValue, path: str) -> _JSONObject:
    if not isinstance(value, dict):
        raise _bad(path, "a JSON object", value)
    return value


def _to_int(value: JSONValue, path: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _bad(path, "an integer", value)
        return int(value)
    if isinstance(value, str):
        m = _DECIMAL.fullmatch(value)
        if m is not None:
            try:
                return int(m.group(1))
            except ValueError:  # more digits than int() accepts
                raise _bad(path, "an integer", value) from None
    raise _bad(path, "an integer", value)


def _int(o: _JSONObject, key: str, path: str, default: int = 0) -> int:
    value = o.get(key)
    if value is None or value == "":
        return default
    return _to_int(value, f"{path}.{key}")


def _float(o: _JSONObject, key: str, path: str, default: float = 0.0) -> float:
    value = o.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise _bad(f"{path}.{key}", "a number", value) from None
    if isinstance(value, str) and _FLOAT.fullmatch(value):
        result = float(value)
        if math.isfinite(result):
            return result
    raise _bad(f"{path}.{key}", "a number", value)


def _bool(o: _JSONObject, key: str, path: str, default: bool) -> bool:
    value = o.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == 1
    if isinstance(value, str):
        s = value.strip().lower()
        if s in ("true", "1", "y", "t"):
            return True
        if s in ("false", "0", "n", "f"):
            return False
    raise _bad(f"{path}.{key}", "a boolean", value)


def _to_str(value: JSONValue, path: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    raise _bad(path, "a string", value)


def _str(o: _JSONObject, key: str, path: str, default: str = "") -> str:
    value = o.get(key)
    if value is None:
        return default
    return _to_str(value, f"{path}.{key}")


def _opt_str(o: _JSONObject, key: str, path: str) -> str | None:
    value = o.get(key)
    if value is None:
        return None
    return _to_str(value, f"{path}.{key}")


def _enum(o: _JSONObject, key: str, path: str, cls: type[_E]) -> _E | None:
    value = o.get(key)
    if value is None:
        return None
    where = f"{path}.{key}"
    ordinal: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        ordinal = value
    elif isinstance(value, str):
        name = value.strip()
        if name.isascii() and name.isdigit():
            ordinal = int(name)
        else:
            member = cls.__members__.get(name)
            return member  # fastjson reads an unknown NAME as null
    if ordinal is None:
        raise _bad(where, f"a {cls.__name__} name or ordinal", value)
    members = list(cls)
    if not 0 <= ordinal < len(members):
        raise RemoteProtocolError(
            f"{where}: {cls.__name__} has no ordinal {ordinal} (0..{len(members) - 1})"
        )
    return members[ordinal]


def _list(o: _JSONObject, key: str, path: str) -> list[JSONValue]:
    value = o.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(f"{path}.{key}", "a JSON array", value)
    return value


def _map(o: _JSONObject, key: str, path: str) -> _JSONObject:
    value = o.get(key)
    if value is None:
        return {}
    return _object(value, f"{path}.{key}")


def _opt_raw_map(o: _JSONObject, key: str, path: str) -> dict[str, JSONValue] | None:
    if o.get(key) is None:
        return None
    return {_key_str(k): v for k, v in _map(o, key, path).items()}


def _key_str(key: JSONKey) -> str:
    if isinstance(key, str):
        return key
    return dumps(key.to_dict(), object_keys=True).decode()


def _strs(o: _JSONObject, key: str, path: str) -> tuple[str, ...]:
    where = f"{path}.{key}"
    return tuple(
        _to_str(v, f"{where}[{i}]") for i, v in enumerate(_list(o, key, path)) if v is not None
    )


def _str_map(o: _JSONObject, key: str, path: str) -> dict[str, str]:
    where = f"{path}.{key}"
    return {
        _key_str(k): _to_str(v, f"{where}.{_key_str(k)}")
        for k, v in _map(o, key, path).items()
        if v is not None
    }


def _objects(
    o: _JSONObject, key: str, path: str, read: Callable[[JSONValue, str], _T]
) -> tuple[_T, ...]:
    where = f"{path}.{key}"
    return tuple(
        read(v, f"{where}[{i}]") for i, v in enumerate(_list(o, key, path)) if v is not None
    )


def _object_map(
    o: _JSONObject, key: str, path: str, read: Callable[[JSONValue, str], _T]
) -> dict[str, _T]:
    where = f"{path}.{key}"
    result: dict[str, _T] = {}
    for k, v in _map(o, key, path).items():
        if v is not None:
            name = _key_str(k)
            result[name] = read(v, f"{where}.{name}")
    return result


def _raw(mapping: Mapping[str, JSONValue] | None) -> _JSONObject | None:
    """A fresh JSON object from a str-keyed mapping of JSON values (None stays None)."""
    if mapping is None:
        return None
    result: _JSONObject = dict(mapping.items())
    return result


def _members(**members: JSONValue) -> _JSONObject:
    """A JSON object with the non-None members in alphabetical (fastjson bean) order."""
    return {k: members[k] for k in sorted(members) if members[k] is not None}


# --------------------------------------------------------------------------- base


class _Body:
    """Shared ``from_json`` / ``to_json`` of the body classes."""

    __slots__ = ()

    _OBJECT_KEYS: ClassVar[bool] = False

    @classmethod
    def from_json(cls, data: _Data) -> Self:
        """Decode the JSON body a peer sent.

        Args:
            data: the body: UTF-8 JSON as Java's fastjson, the Go, C++ or Node clients
                write it.

        Raises:
            RemoteProtocolError: the body is not JSON, or a member has a type we
                cannot read as the Java member's type.
        """
        return cls._read(loads(data), cls.__name__)

    @classmethod
    def from_value(cls, value: JSONValue) -> Self:
        """Build from an already-decoded JSON value (a member of a larger document).

        Raises:
            RemoteProtocolError: ``value`` is not an object of this shape.
        """
        return cls._read(value, cls.__name__)

    def to_json(self) -> bytes:
        """Encode as compact JSON, as Java would write this body."""
        return dumps(self.to_value(), object_keys=self._OBJECT_KEYS)

    def to_value(self) -> _JSONObject:
        """The JSON object (members in the order written)."""
        raise NotImplementedError

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        raise NotImplementedError


# --------------------------------------------------------------------------- metadata


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class DataVersion(_Body):
    """``DataVersion``: version stamp of broker metadata.

    Attributes:
        state_version: 5.x ``stateVersion`` (absent in 4.x).
        timestamp: milliseconds since the epoch of the last change.
        counter: changes so far (Java ``AtomicLong``, written as a number).
    """

    state_version: int = 0
    timestamp: int = 0
    counter: int = 0

    def to_value(self) -> _JSONObject:
        return _members(
            counter=self.counter, stateVersion=self.state_version, timestamp=self.timestamp
        )

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        counter = o.get("counter")
        if isinstance(counter, dict):  # an AtomicLong written as a bean
            counter = counter.get("value")
        return cls(
            state_version=_int(o, "stateVersion", path),
            timestamp=_int(o, "timestamp", path),
            counter=0 if counter is None else _to_int(counter, f"{path}.counter"),
        )


def _attributes_value(attributes: Mapping[str, str]) -> _JSONObject:
    return {k: attributes[k] for k in sorted(attributes)}


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class TopicConfig(_Body):
    """``TopicConfig``: one topic of a broker (``topics.json``, registration).

    Attributes:
        topic_name: the topic.
        read_queue_nums: queues consumers read (default 16).
        write_queue_nums: queues producers write (default 16).
        perm: PermName bits: READ 4 | WRITE 2 (default 6), INHERIT 1, PRIORITY 8.
        topic_filter_type: SINGLE_TAG or MULTI_TAG.
        topic_sys_flag: bit 0 unit, bit 1 unit-sub.
        order: ordered topic.
        attributes: 5.x topic attributes (``{"+message.type": "NORMAL"}``).
    """

    topic_name: str = ""
    read_queue_nums: int = 16
    write_queue_nums: int = 16
    perm: int = 6
    topic_filter_type: TopicFilterType = TopicFilterType.SINGLE_TAG
    topic_sys_flag: int = 0
    order: bool = False
    attributes: Mapping[str, str] = field(default_factory=dict)

    def to_value(self) -> _JSONObject:
        return _members(
            attributes=_attributes_value(self.attributes),
            order=self.order,
            perm=self.perm,
            readQueueNums=self.read_queue_nums,
            topicFilterType=self.topic_filter_type.name,
            topicName=self.topic_name,
            topicSysFlag=self.topic_sys_flag,
            writeQueueNums=self.write_queue_nums,
        )

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        return cls(
            topic_name=_str(o, "topicName", path),
            read_queue_nums=_int(o, "readQueueNums", path, 16),
            write_queue_nums=_int(o, "writeQueueNums", path, 16),
            perm=_int(o, "perm", path, 6),
            topic_filter_type=_enum(o, "topicFilterType", path, TopicFilterType)
            or TopicFilterType.SINGLE_TAG,
            topic_sys_flag=_int(o, "topicSysFlag", path),
            order=_bool(o, "order", path, False),
            attributes=_str_map(o, "attributes", path),
        )

    def encode_line(self, *, with_attributes: bool = True) -> str:
        """The space-separated line of a compressed REGISTER_BROKER body (spec §5.2).

        Args:
            with_attributes: append the attributes JSON as a sixth field, as 5.x
                brokers do (``TopicTest 4 4 6 SINGLE_TAG {}``). False gives the 4.x
                five-field line, which a 4.x namesrv requires (it rejects six fields).
        """
        line = (
            f"{self.topic_name} {self.read_queue_nums} {self.write_queue_nums} "
            f"{self.perm} {self.topic_filter_type.name}"
        )
        if with_attributes:
            line += " " + dumps(_attributes_value(self.attributes)).decode()
        return line

    @classmethod
    def decode_line(cls, line: str) -> Self:
        """Parse a topic config line, 4.x (five fields) or 5.x (six fields).

        An attributes field that is not a JSON object of strings is ignored (the
        attributes read as empty), as Java ignores it.

        Raises:
            RemoteProtocolError: fewer than five fields, a count that is not an
                integer or an unknown topic filter type.
        """
        parts = line.split(" ")
        while parts and not parts[-1]:
            parts.pop()
        if len(parts) < 5:
            raise RemoteProtocolError(
                f"topic config line {line[:80]!r}: expected 5 or 6 space-separated fields "
                "(topic read write perm filterType [attributes])"
            )
        numbers = []
        for name, text in zip(("readQueueNums", "writeQueueNums", "perm"), parts[1:4], strict=True):
            if _LINE_INT.fullmatch(text) is None:
                raise RemoteProtocolError(
                    f"topic config line {line[:80]!r}: {name} {text!r} is not an integer"
                )
            numbers.append(int(text))
        filter_type = TopicFilterType.__members__.get(parts[4])
        if filter_type is None:
            raise RemoteProtocolError(
                f"topic config line {line[:80]!r}: unknown topicFilterType {parts[4]!r}"
            )
        attributes: dict[str, str] = {}
        if len(parts) > 5:
            try:
                attributes = _str_map({"a": loads(" ".join(parts[5:]))}, "a", "attributes")
            except RemoteProtocolError:
                attributes = {}
        return cls(
            topic_name=parts[0],
            read_queue_nums=numbers[0],
            write_queue_nums=numbers[1],
            perm=numbers[2],
            topic_filter_type=filter_type,
            attributes=attributes,
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class TopicConfigSerializeWrapper(_Body):
    """``TopicConfigSerializeWrapper`` and 5.x ``TopicConfigAndMappingSerializeWrapper``.

    The content of ``topics.json`` and of a REGISTER_BROKER body. The three
    static-topic members are 5.x; None means the 4.x form (omitted when written).
    ``TopicQueueMappingInfo`` / ``TopicQueueMappingDetail`` values are kept as
    decoded JSON.

    Attributes:
        topic_config_table: topic name → config.
        data_version: version of the topic table.
        mapping_data_version: 5.x version of the static-topic mappings.
        topic_queue_mapping_info_map: 5.x topic → TopicQueueMappingInfo JSON.
        topic_queue_mapping_detail_map: 5.x topic → TopicQueueMappingDetail JSON.
    """

    topic_config_table: Mapping[str, TopicConfig] = field(default_factory=dict)
    data_version: DataVersion = field(default_factory=DataVersion)
    mapping_data_version: DataVersion | None = None
    topic_queue_mapping_info_map: Mapping[str, JSONValue] | None = None
    topic_queue_mapping_detail_map: Mapping[str, JSONValue] | None = None

    def to_value(self) -> _JSONObject:
        info = self.topic_queue_mapping_info_map
        detail = self.topic_queue_mapping_detail_map
        return _members(
            dataVersion=self.data_version.to_value(),
            mappingDataVersion=None
            if self.mapping_data_version is None
            else self.mapping_data_version.to_value(),
            topicConfigTable={k: v.to_value() for k, v in self.topic_config_table.items()},
            topicQueueMappingDetailMap=_raw(detail),
            topicQueueMappingInfoMap=_raw(info),
        )

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        mapping_version = o.get("mappingDataVersion")
        data_version = o.get("dataVersion")
        return cls(
            topic_config_table=_object_map(o, "topicConfigTable", path, TopicConfig._read),
            data_version=DataVersion()
            if data_version is None
            else DataVersion._read(data_version, f"{path}.dataVersion"),
            mapping_data_version=None
            if mapping_version is None
            else DataVersion._read(mapping_version, f"{path}.mappingDataVersion"),
            topic_queue_mapping_info_map=_opt_raw_map(o, "topicQueueMappingInfoMap", path),
            topic_queue_mapping_detail_map=_opt_raw_map(o, "topicQueueMappingDetailMap", path),
        )


class _Cursor:
    """Reads the length-prefixed sections of an inflated registration body."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def int32(self, what: str) -> int:
        if self.pos + 4 > len(self.data):
            raise RemoteProtocolError(
                f"compressed RegisterBrokerBody: truncated before {what} "
                f"({len(self.data)} bytes inflated)",
                offset=self.pos,
            )
        (n,) = _INT32.unpack_from(self.data, self.pos)
        self.pos += 4
        return int(n)

    def chunk(self, what: str) -> bytes:
        start = self.pos
        n = self.int32(f"the length of {what}")
        if n < 0 or self.pos + n > len(self.data):
            raise RemoteProtocolError(
                f"compressed RegisterBrokerBody: {what} of {n} bytes does not fit in the "
                f"{len(self.data) - self.pos} bytes left",
                offset=start,
            )
        self.pos += n
        return self.data[self.pos - n : self.pos]


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterBrokerBody(_Body):
    """``RegisterBrokerBody``: REGISTER_BROKER body, plain JSON or compressed (spec §5.2).

    Compressed layout, inside one zlib stream: int32 length + DataVersion JSON;
    int32 topic count, then per topic int32 length + :meth:`TopicConfig.encode_line`;
    int32 length + filterServerList JSON; 5.x only: int32 mapping count, then per
    mapping int32 length + TopicQueueMappingInfo JSON. All int32 big-endian.

    Attributes:
        topic_config_serialize_wrapper: the broker's topics.
        filter_server_list: filter server addresses (legacy, usually empty).
    """

    topic_config_serialize_wrapper: TopicConfigSerializeWrapper = field(
        default_factory=TopicConfigSerializeWrapper
    )
    filter_server_list: tuple[str, ...] = ()

    def to_value(self) -> _JSONObject:
        return _members(
            filterServerList=list(self.filter_server_list),
            topicConfigSerializeWrapper=self.topic_config_serialize_wrapper.to_value(),
        )

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        wrapper = o.get("topicConfigSerializeWrapper")
        return cls(
            topic_config_serialize_wrapper=TopicConfigSerializeWrapper()
            if wrapper is None
            else TopicConfigSerializeWrapper._read(wrapper, f"{path}.topicConfigSerializeWrapper"),
            filter_server_list=_strs(o, "filterServerList", path),
        )

    def encode(self, *, compressed: bool = False) -> bytes:
        """Encode as plain JSON or in the compressed form.

        The compressed form follows the wrapper: when
        ``topic_queue_mapping_info_map`` is None it is 4.x's (five-field topic
        lines, no mapping section), else 5.x's (six-field lines with attributes,
        then the mapping section). As in Java, the compressed form does not carry
        ``mapping_data_version``, ``topic_queue_mapping_detail_map``, nor a topic's
        ``order`` and ``topic_sys_flag`` (and 4.x lines drop ``attributes``).

        Args:
            compressed: write the zlib form (Deflater BEST_COMPRESSION, level 9).

        Raises:
            LocalProtocolError: a mapping info value cannot be written as JSON.
        """
        if not compressed:
            return self.to_json()
        wrapper = self.topic_config_serialize_wrapper
        infos = wrapper.topic_queue_mapping_info_map
        v5 = infos is not None
        sections: list[bytes] = []

        def put(chunk: bytes) -> None:
            sections.append(_INT32.pack(len(chunk)))
            sections.append(chunk)

        put(wrapper.data_version.to_json())
        sections.append(_INT32.pack(len(wrapper.topic_config_table)))
        for config in wrapper.topic_config_table.values():
            put(config.encode_line(with_attributes=v5).encode("utf-8"))
        put(dumps(list(self.filter_server_list)))
        if infos is not None:
            sections.append(_INT32.pack(len(infos)))
            for info in infos.values():
                put(dumps(info))
        return zlib.compress(b"".join(sections), 9)

    @classmethod
    def decode(
        cls,
        data: bytes | bytearray | memoryview,
        *,
        max_decompressed_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE,
    ) -> Self:
        """Decode a REGISTER_BROKER body in either form.

        The form is sniffed from the first byte (0x78 starts a zlib stream, never
        JSON), not taken from the ``compressed`` header: 5.x brokers send
        ``compressed=false`` even when they compress. A compressed body without
        the mapping section (4.x) leaves ``topic_queue_mapping_info_map`` None.

        Args:
            data: the body.
            max_decompressed_size: refuse compressed bodies inflating to more bytes.

        Raises:
            RemoteProtocolError: not JSON and not a valid compressed body, or larger
                than ``max_decompressed_size`` when inflated.
        """
        if not data or bytes(data[:1]) != b"\x78":
            return cls.from_json(data)
        inflater = zlib.decompressobj()
        try:
            raw = inflater.decompress(bytes(data), max_decompressed_size + 1)
        except zlib.error as e:
            raise RemoteProtocolError(f"compressed RegisterBrokerBody: zlib: {e}") from e
        if len(raw) > max_decompressed_size:
            raise RemoteProtocolError(
                f"compressed RegisterBrokerBody inflates to more than {max_decompressed_size} "
                "bytes; raise max_decompressed_size if the broker really has that many topics"
            )
        return cls._read_compressed(raw)

    @classmethod
    def _read_compressed(cls, raw: bytes) -> Self:
        cur = _Cursor(raw)
        data_version = DataVersion.from_json(cur.chunk("the DataVersion JSON"))
        count = cur.int32("the topic count")
        table: dict[str, TopicConfig] = {}
        for i in range(max(count, 0)):
            line = cur.chunk(f"topic config line {i}").decode("utf-8", "replace")
            config = TopicConfig.decode_line(line)
            table[config.topic_name] = config
        filter_json = cur.chunk("the filterServerList JSON")
        try:
            filter_servers = _strs({"f": loads(filter_json)}, "f", "filterServerList")
        except RemoteProtocolError:
            filter_servers = ()  # Java logs and keeps an empty list
        infos: dict[str, JSONValue] | None = None
        if cur.pos < len(raw):
            infos = {}
            for i in range(max(cur.int32("the topic queue mapping count"), 0)):
                info = loads(cur.chunk(f"topic queue mapping {i}"))
                path = f"TopicQueueMappingInfo[{i}]"
                topic = _str(_object(info, path), "topic", path)
                infos[topic] = info
        return cls(
            topic_config_serialize_wrapper=TopicConfigSerializeWrapper(
                topic_config_table=table,
                data_version=data_version,
                topic_queue_mapping_info_map=infos,
            ),
            filter_server_list=filter_servers,
        )


# --------------------------------------------------------------------------- routes


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class QueueData(_Body):
    """``QueueData``: a topic's queues on one broker (in TopicRouteData)."""

    broker_name: str = ""
    read_queue_nums: int = 0
    write_queue_nums: int = 0
    perm: int = 0
    topic_sys_flag: int = 0

    def to_value(self) -> _JSONObject:
        return _members(
            brokerName=self.broker_name,
            perm=self.perm,
            readQueueNums=self.read_queue_nums,
            topicSysFlag=self.topic_sys_flag,
            writeQueueNums=self.write_queue_nums,
        )

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        return cls(
            broker_name=_str(o, "brokerName", path),
            read_queue_nums=_int(o, "readQueueNums", path),
            write_queue_nums=_int(o, "writeQueueNums", path),
            perm=_int(o, "perm", path),
            topic_sys_flag=_int(o, "topicSysFlag", path),
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerData(_Body):
    """``BrokerData``: one broker group (master id 0 plus slaves).

    Attributes:
        cluster: cluster name.
        broker_name: broker group name.
        broker_addrs: broker id → ``"ip:port"``; written with quoted keys, sorted by id.
        zone_name: 5.x zone, omitted when None.
        enable_acting_master: 5.x acting-master mode.
    """

    cluster: str = ""
    broker_name: str = ""
    broker_addrs: Mapping[int, str] = field(default_factory=dict)
    zone_name: str | None = None
    enable_acting_master: bool = False

    def to_value(self) -> _JSONObject:
        addrs: _JSONObject = {str(k): self.broker_addrs[k] for k in sorted(self.broker_addrs)}
        return _members(
            brokerAddrs=addrs,
            brokerName=self.broker_name,
            cluster=self.cluster,
            enableActingMaster=self.enable_acting_master,
            zoneName=self.zone_name,
        )

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        where = f"{path}.brokerAddrs"
        addrs: dict[int, str] = {}
        for k, v in _map(o, "brokerAddrs", path).items():
            if v is not None:
                broker_id = _to_int(_key_str(k), f"{where} key")
                addrs[broker_id] = _to_str(v, f"{where}.{broker_id}")
        return cls(
            cluster=_str(o, "cluster", path),
            broker_name=_str(o, "brokerName", path),
            broker_addrs=addrs,
            zone_name=_opt_str(o, "zoneName", path),
            enable_acting_master=_bool(o, "enableActingMaster", path, False),
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class TopicRouteData(_Body):
    """``TopicRouteData``: GET_ROUTEINFO_BY_TOPIC response body (spec §5.1).

    Attributes:
        order_topic_conf: ``brokerName:queueNum;…`` for ordered topics, else None.
        queue_datas: per-broker queue counts and permissions.
        broker_datas: the brokers serving the topic.
        filter_server_table: broker address → filter servers (written even if empty).
        topic_queue_mapping_by_broker: 5.x static topics (TopicQueueMappingInfo JSON
            by broker name), omitted when None.
    """

    order_topic_conf: str | None = None
    queue_datas: tuple[QueueData, ...] = ()
    broker_datas: tuple[BrokerData, ...] = ()
    filter_server_table: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    topic_queue_mapping_by_broker: Mapping[str, JSONValue] | None = None

    def to_value(self) -> _JSONObject:
        mapping = self.topic_queue_mapping_by_broker
        filters: _JSONObject = {k: list(v) for k, v in self.filter_server_table.items()}
        return _members(
            brokerDatas=[b.to_value() for b in self.broker_datas],
            filterServerTable=filters,
            orderTopicConf=self.order_topic_conf,
            queueDatas=[q.to_value() for q in self.queue_datas],
            topicQueueMappingByBroker=_raw(mapping),
        )

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        where = f"{path}.filterServerTable"
        filters = {
            _key_str(k): _strs({"v": v}, "v", f"{where}.{_key_str(k)}")
            for k, v in _map(o, "filterServerTable", path).items()
        }
        return cls(
            order_topic_conf=_opt_str(o, "orderTopicConf", path),
            queue_datas=_objects(o, "queueDatas", path, QueueData._read),
            broker_datas=_objects(o, "brokerDatas", path, BrokerData._read),
            filter_server_table=filters,
            topic_queue_mapping_by_broker=_opt_raw_map(o, "topicQueueMappingByBroker", path),
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterInfo(_Body):
    """``ClusterInfo``: GET_BROKER_CLUSTER_INFO response body.

    Attributes:
        broker_addr_table: broker name → BrokerData.
        cluster_addr_table: cluster name → broker names.
    """

    broker_addr_table: Mapping[str, BrokerData] = field(default_factory=dict)
    cluster_addr_table: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_value(self) -> _JSONObject:
        brokers: _JSONObject = {k: v.to_value() for k, v in self.broker_addr_table.items()}
        clusters: _JSONObject = {k: list(v) for k, v in self.cluster_addr_table.items()}
        return _members(brokerAddrTable=brokers, clusterAddrTable=clusters)

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        where = f"{path}.clusterAddrTable"
        clusters = {
            _key_str(k): _strs({"v": v}, "v", f"{where}.{_key_str(k)}")
            for k, v in _map(o, "clusterAddrTable", path).items()
        }
        return cls(
            broker_addr_table=_object_map(o, "brokerAddrTable", path, BrokerData._read),
            cluster_addr_table=clusters,
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class TopicList(_Body):
    """``TopicList``: GET_ALL_TOPIC_LIST_FROM_NAMESERVER and similar responses."""

    topic_list: tuple[str, ...] = ()
    broker_addr: str | None = None

    def to_value(self) -> _JSONObject:
        return _members(brokerAddr=self.broker_addr, topicList=list(self.topic_list))

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        return cls(
            topic_list=_strs(o, "topicList", path), broker_addr=_opt_str(o, "brokerAddr", path)
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class KVTable(_Body):
    """``KVTable``: a string map (GET_KVLIST_BY_NAMESPACE, broker runtime info)."""

    table: Mapping[str, str] = field(default_factory=dict)

    def to_value(self) -> _JSONObject:
        return _members(table=_raw(self.table))

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        return cls(table=_str_map(_object(value, path), "table", path))


# --------------------------------------------------------------------------- heartbeat


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionData(_Body):
    """``SubscriptionData``: one topic subscription of a consumer group.

    Attributes:
        class_filter_mode: legacy, always false.
        topic: subscribed topic.
        sub_string: ``*``, ``TagA || TagB`` or an SQL92 expression.
        tags_set: the tags of a TAG expression (C++ clients send none).
        code_set: Java ``String.hashCode`` of each tag (C++ clients send none).
        sub_version: version (ms timestamp); newer wins. C++ sends it as a string.
        expression_type: ``TAG`` or ``SQL92``.
    """

    class_filter_mode: bool = False
    topic: str = ""
    sub_string: str = ""
    tags_set: tuple[str, ...] = ()
    code_set: tuple[int, ...] = ()
    sub_version: int = 0
    expression_type: str = "TAG"

    def to_value(self) -> _JSONObject:
        return _members(
            classFilterMode=self.class_filter_mode,
            codeSet=list(self.code_set),
            expressionType=self.expression_type,
            subString=self.sub_string,
            subVersion=self.sub_version,
            tagsSet=list(self.tags_set),
            topic=self.topic,
        )

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        where = f"{path}.codeSet"
        codes = tuple(
            _to_int(v, f"{where}[{i}]")
            for i, v in enumerate(_list(o, "codeSet", path))
            if v is not None
        )
        return cls(
            class_filter_mode=_bool(o, "classFilterMode", path, False),
            topic=_str(o, "topic", path),
            sub_string=_str(o, "subString", path),
            tags_set=_strs(o, "tagsSet", path),
            code_set=codes,
            sub_version=_int(o, "subVersion", path),
            expression_type=_str(o, "expressionType", path, "TAG"),
        )


@final
@dataclass(frozen=True, slots=True)
class ProducerData(_Body):
    """``ProducerData``: a producer group in a heartbeat."""

    group_name: str = ""

    def to_value(self) -> _JSONObject:
        return _members(groupName=self.group_name)

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        return cls(group_name=_str(_object(value, path), "groupName", path))


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ConsumerData(_Body):
    """``ConsumerData``: a consumer group in a heartbeat.

    The enum members read Java NAMEs or C++ ordinals; None when absent or an
    unknown NAME (Java reads null).
    """

    group_name: str = ""
    consume_type: ConsumeType | None = None
    message_model: MessageModel | None = None
    consume_from_where: ConsumeFromWhere | None = None
    subscription_data_set: tuple[SubscriptionData, ...] = ()
    unit_mode: bool = False

    def to_value(self) -> _JSONObject:
        return _members(
            consumeFromWhere=_name(self.consume_from_where),
            consumeType=_name(self.consume_type),
            groupName=self.group_name,
            messageModel=_name(self.message_model),
            subscriptionDataSet=[s.to_value() for s in self.subscription_data_set],
            unitMode=self.unit_mode,
        )

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        return cls(
            group_name=_str(o, "groupName", path),
            consume_type=_enum(o, "consumeType", path, ConsumeType),
            message_model=_enum(o, "messageModel", path, MessageModel),
            consume_from_where=_enum(o, "consumeFromWhere", path, ConsumeFromWhere),
            subscription_data_set=_objects(o, "subscriptionDataSet", path, SubscriptionData._read),
            unit_mode=_bool(o, "unitMode", path, False),
        )


def _name(member: enum.Enum | None) -> str | None:
    return None if member is None else member.name


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class HeartbeatData(_Body):
    """``HeartbeatData``: HEART_BEAT request body (spec §6.1).

    Attributes:
        client_id: ``clientID`` on the wire (``ip@instance``).
        producer_data_set: producer groups of the client.
        consumer_data_set: consumer groups of the client.
        heartbeat_fingerprint: 5.x heartbeat V2 fingerprint (0 = V1).
        without_sub: 5.x: keep the subscriptions registered before.
    """

    client_id: str = ""
    producer_data_set: tuple[ProducerData, ...] = ()
    consumer_data_set: tuple[ConsumerData, ...] = ()
    heartbeat_fingerprint: int = 0
    without_sub: bool = False

    def to_value(self) -> _JSONObject:
        return _members(
            clientID=self.client_id,
            consumerDataSet=[c.to_value() for c in self.consumer_data_set],
            heartbeatFingerprint=self.heartbeat_fingerprint,
            producerDataSet=[p.to_value() for p in self.producer_data_set],
            withoutSub=self.without_sub,
        )

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        return cls(
            client_id=_str(o, "clientID", path),
            producer_data_set=_objects(o, "producerDataSet", path, ProducerData._read),
            consumer_data_set=_objects(o, "consumerDataSet", path, ConsumerData._read),
            heartbeat_fingerprint=_int(o, "heartbeatFingerprint", path),
            without_sub=_bool(o, "withoutSub", path, False),
        )


# --------------------------------------------------------------------------- queues and locks


@final
@dataclass(frozen=True, slots=True, order=True)
class MessageQueue(_Body):
    """``MessageQueue``: one queue of a topic on a broker.

    Ordered by (topic, broker_name, queue_id) as Java's ``compareTo`` (spec §6.7);
    hashable, so usable as a dict key.
    """

    topic: str = ""
    broker_name: str = ""
    queue_id: int = 0

    def to_value(self) -> _JSONObject:
        return _members(brokerName=self.broker_name, queueId=self.queue_id, topic=self.topic)

    def to_key(self) -> ObjectKey:
        """This queue as a JSON map key (fastjson's ``Map<MessageQueue, …>`` form)."""
        return ObjectKey.of(self.to_value())

    def java_string(self) -> str:
        """Java ``toString()``: ``MessageQueue [topic=T, brokerName=B, queueId=Q]``."""
        return (
            f"MessageQueue [topic={self.topic}, brokerName={self.broker_name}, "
            f"queueId={self.queue_id}]"
        )

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        return cls(
            topic=_str(o, "topic", path),
            broker_name=_str(o, "brokerName", path),
            queue_id=_int(o, "queueId", path),
        )

    @classmethod
    def _read_key(cls, key: JSONKey, path: str) -> Self:
        if isinstance(key, ObjectKey):
            return cls._read(key.to_dict(), path)
        if key.lstrip().startswith("{"):  # an object key some writers put in a string
            return cls._read(loads(key), path)
        raise _bad(path, "a MessageQueue object as map key", key)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class LockBatchRequestBody(_Body):
    """``LockBatchRequestBody``: LOCK_BATCH_MQ request body."""

    consumer_group: str = ""
    client_id: str = ""
    only_this_broker: bool = False
    mq_set: tuple[MessageQueue, ...] = ()

    def to_value(self) -> _JSONObject:
        return _members(
            clientId=self.client_id,
            consumerGroup=self.consumer_group,
            mqSet=[m.to_value() for m in self.mq_set],
            onlyThisBroker=self.only_this_broker,
        )

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        return cls(
            consumer_group=_str(o, "consumerGroup", path),
            client_id=_str(o, "clientId", path),
            only_this_broker=_bool(o, "onlyThisBroker", path, False),
            mq_set=_objects(o, "mqSet", path, MessageQueue._read),
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class UnlockBatchRequestBody(_Body):
    """``UnlockBatchRequestBody``: UNLOCK_BATCH_MQ request body."""

    consumer_group: str = ""
    client_id: str = ""
    only_this_broker: bool = False
    mq_set: tuple[MessageQueue, ...] = ()

    def to_value(self) -> _JSONObject:
        return _members(
            clientId=self.client_id,
            consumerGroup=self.consumer_group,
            mqSet=[m.to_value() for m in self.mq_set],
            onlyThisBroker=self.only_this_broker,
        )

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        return cls(
            consumer_group=_str(o, "consumerGroup", path),
            client_id=_str(o, "clientId", path),
            only_this_broker=_bool(o, "onlyThisBroker", path, False),
            mq_set=_objects(o, "mqSet", path, MessageQueue._read),
        )


@final
@dataclass(frozen=True, slots=True)
class LockBatchResponseBody(_Body):
    """``LockBatchResponseBody``: the queues LOCK_BATCH_MQ locked (``lockOKMQSet``)."""

    lock_ok_mq_set: tuple[MessageQueue, ...] = ()

    def to_value(self) -> _JSONObject:
        return _members(lockOKMQSet=[m.to_value() for m in self.lock_ok_mq_set])

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        return cls(lock_ok_mq_set=_objects(o, "lockOKMQSet", path, MessageQueue._read))


@final
@dataclass(frozen=True, slots=True)
class GetConsumerListByGroupResponseBody(_Body):
    """``GetConsumerListByGroupResponseBody``: client ids of a consumer group."""

    consumer_id_list: tuple[str, ...] = ()

    def to_value(self) -> _JSONObject:
        return _members(consumerIdList=list(self.consumer_id_list))

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        return cls(consumer_id_list=_strs(_object(value, path), "consumerIdList", path))


# --------------------------------------------------------------------------- connections


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Connection(_Body):
    """``Connection``: one client connection (admin connection queries).

    Attributes:
        client_id: the client's id.
        client_addr: ``ip:port`` of the client.
        language: the client's LanguageCode (NAME on the wire); None if unknown.
        version: the client's MQVersion ordinal.
    """

    client_id: str = ""
    client_addr: str = ""
    language: LanguageCode | None = None
    version: int = 0

    def to_value(self) -> _JSONObject:
        return _members(
            clientAddr=self.client_addr,
            clientId=self.client_id,
            language=_name(self.language),
            version=self.version,
        )

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        return cls(
            client_id=_str(o, "clientId", path),
            client_addr=_str(o, "clientAddr", path),
            language=_enum(o, "language", path, LanguageCode),
            version=_int(o, "version", path),
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ConsumerConnection(_Body):
    """``ConsumerConnection``: GET_CONSUMER_CONNECTION_LIST response body."""

    connection_set: tuple[Connection, ...] = ()
    subscription_table: Mapping[str, SubscriptionData] = field(default_factory=dict)
    consume_type: ConsumeType | None = None
    message_model: MessageModel | None = None
    consume_from_where: ConsumeFromWhere | None = None

    def to_value(self) -> _JSONObject:
        table: _JSONObject = {k: v.to_value() for k, v in self.subscription_table.items()}
        return _members(
            connectionSet=[c.to_value() for c in self.connection_set],
            consumeFromWhere=_name(self.consume_from_where),
            consumeType=_name(self.consume_type),
            messageModel=_name(self.message_model),
            subscriptionTable=table,
        )

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        return cls(
            connection_set=_objects(o, "connectionSet", path, Connection._read),
            subscription_table=_object_map(o, "subscriptionTable", path, SubscriptionData._read),
            consume_type=_enum(o, "consumeType", path, ConsumeType),
            message_model=_enum(o, "messageModel", path, MessageModel),
            consume_from_where=_enum(o, "consumeFromWhere", path, ConsumeFromWhere),
        )


@final
@dataclass(frozen=True, slots=True)
class ProducerConnection(_Body):
    """``ProducerConnection``: GET_PRODUCER_CONNECTION_LIST response body."""

    connection_set: tuple[Connection, ...] = ()

    def to_value(self) -> _JSONObject:
        return _members(connectionSet=[c.to_value() for c in self.connection_set])

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        return cls(connection_set=_objects(o, "connectionSet", path, Connection._read))


# --------------------------------------------------------------------------- subscription groups


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class SimpleSubscriptionData(_Body):
    """``SimpleSubscriptionData``: a subscription declared on a 5.x group config."""

    topic: str = ""
    expression_type: str = "TAG"
    expression: str = ""
    version: int = 0

    def to_value(self) -> _JSONObject:
        return _members(
            expression=self.expression,
            expressionType=self.expression_type,
            topic=self.topic,
            version=self.version,
        )

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        return cls(
            topic=_str(o, "topic", path),
            expression_type=_str(o, "expressionType", path, "TAG"),
            expression=_str(o, "expression", path),
            version=_int(o, "version", path),
        )


def _default_retry_policy() -> dict[str, JSONValue]:
    return {"type": "CUSTOMIZED"}


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionGroupConfig(_Body):
    """``SubscriptionGroupConfig``: a consumer group's settings (``subscriptionGroup.json``).

    Defaults are Java's (spec §4.4). ``group_retry_policy`` (5.x ``GroupRetryPolicy``)
    is kept as decoded JSON; its default is ``{"type": "CUSTOMIZED"}``.
    """

    group_name: str = ""
    consume_enable: bool = True
    consume_from_min_enable: bool = True
    consume_broadcast_enable: bool = True
    consume_message_orderly: bool = False
    retry_queue_nums: int = 1
    retry_max_times: int = 16
    group_retry_policy: Mapping[str, JSONValue] = field(default_factory=_default_retry_policy)
    broker_id: int = 0
    which_broker_when_consume_slowly: int = 1
    notify_consumer_ids_changed_enable: bool = True
    group_sys_flag: int = 0
    consume_timeout_minute: int = 15
    subscription_data_set: tuple[SimpleSubscriptionData, ...] | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)

    def to_value(self) -> _JSONObject:
        subs = self.subscription_data_set
        return _members(
            attributes=_attributes_value(self.attributes),
            brokerId=self.broker_id,
            consumeBroadcastEnable=self.consume_broadcast_enable,
            consumeEnable=self.consume_enable,
            consumeFromMinEnable=self.consume_from_min_enable,
            consumeMessageOrderly=self.consume_message_orderly,
            consumeTimeoutMinute=self.consume_timeout_minute,
            groupName=self.group_name,
            groupRetryPolicy=_raw(self.group_retry_policy),
            groupSysFlag=self.group_sys_flag,
            notifyConsumerIdsChangedEnable=self.notify_consumer_ids_changed_enable,
            retryMaxTimes=self.retry_max_times,
            retryQueueNums=self.retry_queue_nums,
            subscriptionDataSet=None if subs is None else [s.to_value() for s in subs],
            whichBrokerWhenConsumeSlowly=self.which_broker_when_consume_slowly,
        )

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        policy = o.get("groupRetryPolicy")
        subs = None
        if o.get("subscriptionDataSet") is not None:
            subs = _objects(o, "subscriptionDataSet", path, SimpleSubscriptionData._read)
        return cls(
            group_name=_str(o, "groupName", path),
            consume_enable=_bool(o, "consumeEnable", path, True),
            consume_from_min_enable=_bool(o, "consumeFromMinEnable", path, True),
            consume_broadcast_enable=_bool(o, "consumeBroadcastEnable", path, True),
            consume_message_orderly=_bool(o, "consumeMessageOrderly", path, False),
            retry_queue_nums=_int(o, "retryQueueNums", path, 1),
            retry_max_times=_int(o, "retryMaxTimes", path, 16),
            group_retry_policy=_default_retry_policy()
            if policy is None
            else {_key_str(k): v for k, v in _object(policy, f"{path}.groupRetryPolicy").items()},
            broker_id=_int(o, "brokerId", path, 0),
            which_broker_when_consume_slowly=_int(o, "whichBrokerWhenConsumeSlowly", path, 1),
            notify_consumer_ids_changed_enable=_bool(
                o, "notifyConsumerIdsChangedEnable", path, True
            ),
            group_sys_flag=_int(o, "groupSysFlag", path, 0),
            consume_timeout_minute=_int(o, "consumeTimeoutMinute", path, 15),
            subscription_data_set=subs,
            attributes=_str_map(o, "attributes", path),
        )


# --------------------------------------------------------------------------- queue-keyed maps


def _queue_map(
    o: _JSONObject, key: str, path: str, read: Callable[[JSONValue, str], _T]
) -> dict[MessageQueue, _T]:
    where = f"{path}.{key}"
    result: dict[MessageQueue, _T] = {}
    for i, (k, v) in enumerate(_map(o, key, path).items()):
        if v is not None:
            result[MessageQueue._read_key(k, f"{where} key {i}")] = read(v, f"{where}[{i}]")
    return result


def _read_long(value: JSONValue, path: str) -> int:
    return _to_int(value, path)


@final
@dataclass(frozen=True, slots=True)
class ResetOffsetBody(_Body):
    """``ResetOffsetBody``: RESET_CONSUMER_CLIENT_OFFSET body, queue → new offset.

    Written in fastjson's object-key form ``{"offsetTable":{{MessageQueue}:offset}}``;
    read from that form or from keys holding the MessageQueue JSON as a string.
    """

    _OBJECT_KEYS: ClassVar[bool] = True

    offset_table: Mapping[MessageQueue, int] = field(default_factory=dict)

    def to_value(self) -> _JSONObject:
        table: _JSONObject = {mq.to_key(): n for mq, n in self.offset_table.items()}
        return _members(offsetTable=table)

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        return cls(offset_table=_queue_map(o, "offsetTable", path, _read_long))


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetWrapper(_Body):
    """``OffsetWrapper``: a queue's offsets in ConsumeStats."""

    broker_offset: int = 0
    consumer_offset: int = 0
    pull_offset: int = 0
    last_timestamp: int = 0

    def to_value(self) -> _JSONObject:
        return _members(
            brokerOffset=self.broker_offset,
            consumerOffset=self.consumer_offset,
            lastTimestamp=self.last_timestamp,
            pullOffset=self.pull_offset,
        )

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        return cls(
            broker_offset=_int(o, "brokerOffset", path),
            consumer_offset=_int(o, "consumerOffset", path),
            pull_offset=_int(o, "pullOffset", path),
            last_timestamp=_int(o, "lastTimestamp", path),
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ConsumeStats(_Body):
    """``ConsumeStats``: GET_CONSUME_STATS response body (object-keyed, spec §10)."""

    _OBJECT_KEYS: ClassVar[bool] = True

    offset_table: Mapping[MessageQueue, OffsetWrapper] = field(default_factory=dict)
    consume_tps: float = 0.0

    def to_value(self) -> _JSONObject:
        table: _JSONObject = {mq.to_key(): w.to_value() for mq, w in self.offset_table.items()}
        return _members(consumeTps=float(self.consume_tps), offsetTable=table)

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        return cls(
            offset_table=_queue_map(o, "offsetTable", path, OffsetWrapper._read),
            consume_tps=_float(o, "consumeTps", path),
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class TopicOffset(_Body):
    """``TopicOffset``: a queue's offset range in TopicStatsTable."""

    min_offset: int = 0
    max_offset: int = 0
    last_update_timestamp: int = 0

    def to_value(self) -> _JSONObject:
        return _members(
            lastUpdateTimestamp=self.last_update_timestamp,
            maxOffset=self.max_offset,
            minOffset=self.min_offset,
        )

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        return cls(
            min_offset=_int(o, "minOffset", path),
            max_offset=_int(o, "maxOffset", path),
            last_update_timestamp=_int(o, "lastUpdateTimestamp", path),
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class TopicStatsTable(_Body):
    """``TopicStatsTable``: GET_TOPIC_STATS_INFO response body (object-keyed, spec §10)."""

    _OBJECT_KEYS: ClassVar[bool] = True

    offset_table: Mapping[MessageQueue, TopicOffset] = field(default_factory=dict)
    topic_put_tps: float = 0.0

    def to_value(self) -> _JSONObject:
        table: _JSONObject = {mq.to_key(): t.to_value() for mq, t in self.offset_table.items()}
        return _members(offsetTable=table, topicPutTps=float(self.topic_put_tps))

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        return cls(
            offset_table=_queue_map(o, "offsetTable", path, TopicOffset._read),
            topic_put_tps=_float(o, "topicPutTps", path),
        )


# --------------------------------------------------------------------------- properties text

_PROPS_ESCAPES: Final = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
_LINE_BREAK: Final = re.compile(r"\r\n|\r|\n")


def encode_properties_text(properties: Mapping[str, str]) -> bytes:
    """Encode ``key=value`` lines, as ``MixAll.properties2String`` writes them.

    UTF-8, one ``key=value\\n`` per entry in mapping order. Backslashes, line
    breaks, and in keys the separators ``=``, ``:`` and whitespace, are
    backslash-escaped as ``java.util.Properties.store`` does, so that Java's
    ``Properties.load`` reads the same strings back (``properties2String`` itself
    does not escape; for ordinary config values the output is identical).
    """
    lines = [
        f"{_escape_property(k, key=True)}={_escape_property(v, key=False)}\n"
        for k, v in properties.items()
    ]
    return "".join(lines).encode("utf-8")


def _escape_property(text: str, *, key: bool) -> str:
    out: list[str] = []
    for i, c in enumerate(text):
        if c == "\\":
            out.append("\\\\")
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif c == "\f":
            out.append("\\f")
        elif (key and c in "=: #!") or (c == " " and i == 0):
            out.append("\\" + c)
        else:
            out.append(c)
    return "".join(out)


def _logical_lines(text: str) -> list[str]:
    """Join continuation lines and drop comments and blank lines (Properties.load)."""
    result: list[str] = []
    pending: str | None = None
    for raw in _LINE_BREAK.split(text):
        line = raw.lstrip(" \t\f")
        if pending is None and (not line or line[0] in "#!"):
            continue
        trailing = len(line) - len(line.rstrip("\\"))
        continued = trailing % 2 == 1
        if continued:
            line = line[:-1]
        pending = line if pending is None else pending + line
        if not continued:
            result.append(pending)
            pending = None
    if pending is not None:
        result.append(pending)
    return result


def _unescape_property(text: str, line_no: int) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c != "\\" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        e = text[i + 1]
        if e == "u":
            digits = text[i + 2 : i + 6]
            if len(digits) != 4 or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise RemoteProtocolError(
                    f"properties line {line_no}: malformed \\uxxxx escape {text[i : i + 6]!r}"
                )
            out.append(chr(int(digits, 16)))
            i += 6
        else:
            out.append(_PROPS_ESCAPES.get(e, e))
            i += 2
    return "".join(out)


def _split_property(line: str) -> tuple[str, str]:
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c == "\\":
            i += 2
            continue
        if c in "=: \t\f":
            break
        i += 1
    key = line[:i]
    j = i
    while j < n and line[j] in " \t\f":
        j += 1
    if j < n and line[j] in "=:":
        j += 1
        while j < n and line[j] in " \t\f":
            j += 1
    return key, line[j:]


def decode_properties_text(data: bytes | bytearray | memoryview | str) -> dict[str, str]:
    """Decode ``key=value`` lines as ``java.util.Properties.load`` reads them.

    Blank lines and lines starting with ``#`` or ``!`` are skipped; the key ends
    at the first unescaped ``=``, ``:`` or whitespace; a line ending in an odd
    number of backslashes continues on the next one; ``\\t \\n \\r \\f \\uXXXX`` and
    ``\\<char>`` escapes are decoded. Bytes are read as UTF-8 (what Java writes),
    or as ISO-8859-1 if they are not valid UTF-8. Later keys win.

    Raises:
        RemoteProtocolError: a malformed ``\\uXXXX`` escape (Java fails on it too).
    """
    if isinstance(data, str):
        text = data
    else:
        raw = bytes(data)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    result: dict[str, str] = {}
    for no, line in enumerate(_logical_lines(text), 1):
        key, value = _split_property(line)
        result[_unescape_property(key, no)] = _unescape_property(value, no)
    return result
