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
by broker id and written with quoted keys (standard JSON; Java reads both), and
topic and group ``attributes``, sorted by name.

Defaults: reference members that Java leaves ``null`` by design are ``None`` here
and omitted when None (``zoneName``, ``orderTopicConf``, enum members). Identifier
strings every real sender sets (``brokerName``, ``topic``, ``groupName`` …) read
as ``""`` when absent. Java sets/lists are tuples in wire order; Java maps are
dicts. ``DataVersion.timestamp`` and ``SubscriptionData.subVersion`` default to 0,
not "now": the codec reads no clock, callers pass the time.

Declaring a body: a class lists its members as dataclass fields and
:func:`_json_body` derives ``to_value`` / ``from_value`` from them, once, as
:func:`~rmq_protocol.codec.header.command_header` derives extFields codecs::

    @final
    @_json_body
    @dataclass(frozen=True, slots=True, kw_only=True)
    class HeartbeatData(_Body):
        client_id: str = field(default="", metadata={"key": "clientID"})
        consumer_data_set: tuple[ConsumerData, ...] = ()
        heartbeat_fingerprint: int = 0

* member name: the field name in camelCase (``consumerDataSet``), or the
  ``"key"`` in the field's metadata;
* default: the value of an absent or ``null`` member (and of ``""`` for numbers
  and booleans, of an unknown enum NAME);
* type: ``str``, ``int``, ``float``, ``bool``; an ``Enum`` (NAME or ordinal in,
  NAME out); another body; ``tuple[X, ...]`` (array; ``null`` elements dropped);
  ``Mapping[K, X]`` (object; a ``null`` value drops the entry, but reads as
  ``()`` for arrays and stays None for JSONValue) keyed by ``str``, ``int``
  (written quoted) or a body (fastjson object keys: ``to_json`` writes that
  form); ``JSONValue`` (kept as decoded); ``X | None = None`` (omitted when None);
* metadata ``"sort_keys"``: write the map sorted by key (``brokerAddrs``,
  ``attributes``); ``"codec"``: a hand-made :class:`_Codec` (``DataVersion.counter``).

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
* ``SubscriptionGroupWrapper`` (GET_ALL_SUBSCRIPTIONGROUP_CONFIG):
  ``{"dataVersion":…,"forbiddenTable":{group:{topic:N}},"subscriptionGroupTable":{g:…}}``;
  ``GroupList`` (QUERY_TOPIC_CONSUME_BY_WHO): ``{"groupList":[…]}``

Java properties text (UPDATE_NAMESRV_CONFIG, GET_NAMESRV_CONFIG, GET_BROKER_CONFIG,
``MixAll.properties2String`` / ``string2Properties``): ``key=value`` lines, see
:func:`encode_properties_text` and :func:`decode_properties_text`.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import operator
import re
import struct
import types
import typing
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Self, TypeAlias, TypeVar, final

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
    "GroupList",
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
    "SubscriptionGroupWrapper",
    "TopicConfig",
    "TopicConfigSerializeWrapper",
    "TopicFilterType",
    "TopicList",
    "TopicOffset",
    "TopicRouteData",
    "TopicStatsTable",
    "UnlockBatchRequestBody",
    "decode_properties_entries",
    "decode_properties_text",
    "encode_properties_text",
]

DEFAULT_MAX_DECOMPRESSED_SIZE: Final = 64 * 1024 * 1024
"""Largest inflated compressed REGISTER_BROKER body accepted by default (bytes)."""

_JSONObject: TypeAlias = dict[JSONKey, JSONValue]
_Data: TypeAlias = bytes | bytearray | str | memoryview
_DECIMAL: Final = re.compile(r"\s*([-+]?[0-9]+)(?:\.[0-9]*)?\s*", re.ASCII)
_FLOAT_TEXT: Final = re.compile(
    r"\s*[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*", re.ASCII
)
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


# --------------------------------------------------------------------------- reading values
# Each reader takes a non-null JSON value and the path naming it in errors.


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


def _to_float(value: JSONValue, path: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise _bad(path, "a number", value) from None
    if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value):
        result = float(value)
        if math.isfinite(result):
            return result
    raise _bad(path, "a number", value)


def _to_bool(value: JSONValue, path: str) -> bool:
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
    raise _bad(path, "a boolean", value)


def _to_str(value: JSONValue, path: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    raise _bad(path, "a string", value)


def _to_enum(cls: type[enum.Enum], value: JSONValue, path: str) -> enum.Enum | None:
    ordinal: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        ordinal = value
    elif isinstance(value, str):
        name = value.strip()
        if name.isascii() and name.isdigit():
            ordinal = int(name)
        else:
            return cls.__members__.get(name)  # fastjson reads an unknown NAME as null
    if ordinal is None:
        raise _bad(path, f"a {cls.__name__} name or ordinal", value)
    members = list(cls)
    if not 0 <= ordinal < len(members):
        raise RemoteProtocolError(
            f"{path}: {cls.__name__} has no ordinal {ordinal} (0..{len(members) - 1})"
        )
    return members[ordinal]


def _to_atomic_long(value: JSONValue, path: str) -> int:
    """A Java ``AtomicLong``: a number, or fastjson's bean form ``{"value":N}``."""
    if isinstance(value, dict):
        inner = value.get("value")
        return 0 if inner is None else _to_int(inner, path)
    return _to_int(value, path)


def _key_str(key: JSONKey) -> str:
    if isinstance(key, str):
        return key
    return dumps(key.to_dict(), object_keys=True).decode()


def _same(value: Any) -> Any:
    return value


# --------------------------------------------------------------------------- codecs

_SKIP: Final = object()  # a _Codec.null_item: drop the map entry


@final
@dataclass(frozen=True, slots=True)
class _Codec:
    """How values of one Python type are read from and written as JSON.

    Attributes:
        read: non-null JSON value and its path → Python value (None: take the default).
        write: non-None Python value → JSON value.
        empty_is_null: a member holding ``""`` reads as absent (numbers, booleans).
        null_item: what a ``null`` map value reads as; ``_SKIP`` drops the entry.
        object_keys: the JSON has object map keys (written only in fastjson form).
    """

    read: Callable[[JSONValue, str], Any]
    write: Callable[[Any], JSONValue]
    empty_is_null: bool = False
    null_item: object = _SKIP
    object_keys: bool = False


_STR: Final = _Codec(_to_str, _same)
_INT: Final = _Codec(_to_int, _same, empty_is_null=True)
_FLOAT: Final = _Codec(_to_float, float, empty_is_null=True)
_BOOL: Final = _Codec(_to_bool, _same, empty_is_null=True)
_RAW: Final = _Codec(lambda value, path: value, _same, null_item=None)
_ATOMIC_LONG: Final = _Codec(_to_atomic_long, _same)


class _RawJSON:
    """What a ``JSONValue`` annotation resolves to: a value kept as decoded."""


_SCALARS: Final[dict[object, _Codec]] = {
    str: _STR,
    int: _INT,
    float: _FLOAT,
    bool: _BOOL,
    _RawJSON: _RAW,
}


def _enum_codec(cls: type[enum.Enum]) -> _Codec:
    return _Codec(lambda value, path: _to_enum(cls, value, path), operator.attrgetter("name"))


def _body_codec(cls: type[_Body]) -> _Codec:
    return _Codec(cls._read, operator.methodcaller("to_value"), object_keys=cls._json_object_keys)


def _tuple_codec(item: _Codec) -> _Codec:
    def read(value: JSONValue, path: str) -> tuple[object, ...]:
        if not isinstance(value, list):
            raise _bad(path, "a JSON array", value)
        return tuple(item.read(v, f"{path}[{i}]") for i, v in enumerate(value) if v is not None)

    def write(values: tuple[object, ...]) -> JSONValue:
        return [item.write(v) for v in values]

    return _Codec(read, write, null_item=(), object_keys=item.object_keys)


# A map key reader: JSON key, entry index and map path → (key, path of the entry's value).
_KeyReader: TypeAlias = Callable[[JSONKey, int, str], tuple[Any, str]]


def _str_key(key: JSONKey, index: int, path: str) -> tuple[str, str]:
    name = _key_str(key)
    return name, f"{path}.{name}"


def _int_key(key: JSONKey, index: int, path: str) -> tuple[int, str]:
    number = _to_int(_key_str(key), f"{path} key")
    return number, f"{path}.{number}"


def _object_key(key: _Body) -> ObjectKey:
    return ObjectKey.of(key.to_value())


def _object_key_reader(cls: type[_Body]) -> _KeyReader:
    """Keys that are ``cls`` objects (``Map<MessageQueue, …>``), as fastjson writes them."""

    def read(key: JSONKey, index: int, path: str) -> tuple[_Body, str]:
        where = f"{path} key {index}"
        if isinstance(key, ObjectKey):
            return cls._read(key.to_dict(), where), f"{path}[{index}]"
        if key.lstrip().startswith("{"):  # an object key some writers put in a string
            try:
                decoded = loads(key)
            except RemoteProtocolError as e:
                raise RemoteProtocolError(f"{where}: {e}") from e
            return cls._read(decoded, where), f"{path}[{index}]"
        raise _bad(where, f"a {cls.__name__} object as map key", key)

    return read


def _map_codec(
    read_key: _KeyReader,
    write_key: Callable[[Any], JSONKey],
    item: _Codec,
    *,
    sort_keys: bool,
    object_keys: bool = False,
) -> _Codec:
    def read(value: JSONValue, path: str) -> dict[object, object]:
        result: dict[object, object] = {}
        for i, (k, v) in enumerate(_object(value, path).items()):
            if v is None:
                if item.null_item is not _SKIP:
                    result[read_key(k, i, path)[0]] = item.null_item
            else:
                key, where = read_key(k, i, path)
                result[key] = item.read(v, where)
        return result

    def write(mapping: Mapping[Any, object]) -> JSONValue:
        keys = sorted(mapping) if sort_keys else mapping
        out: _JSONObject = {write_key(k): item.write(mapping[k]) for k in keys}
        return out

    return _Codec(read, write, object_keys=object_keys or item.object_keys)


def _codec_for(hint: object, *, sort_keys: bool = False) -> _Codec:
    """The codec of a (resolved) field type.

    Raises:
        TypeError: no codec for ``hint``, or ``sort_keys`` for something but a map.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Mapping:
        key, item = args
        if key is str:
            return _map_codec(_str_key, _same, _codec_for(item), sort_keys=sort_keys)
        if key is int:
            return _map_codec(_int_key, str, _codec_for(item), sort_keys=sort_keys)
        if isinstance(key, type) and issubclass(key, _Body):
            return _map_codec(
                _object_key_reader(key),
                _object_key,
                _codec_for(item),
                sort_keys=sort_keys,
                object_keys=True,
            )
    elif sort_keys:
        raise TypeError(f"sort_keys applies to maps, not to {hint!r}")
    elif hint in _SCALARS:
        return _SCALARS[hint]
    elif isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_codec(hint)
    elif isinstance(hint, type) and issubclass(hint, _Body):
        return _body_codec(hint)
    elif origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _tuple_codec(_codec_for(args[0]))
    raise TypeError(f"no JSON codec for {hint!r}")


# --------------------------------------------------------------------------- declaring bodies

_CAMEL: Final = re.compile(r"_([a-z0-9])")
_METADATA: Final = frozenset({"key", "sort_keys", "codec"})


@final
@dataclass(frozen=True, slots=True)
class _Member:
    """One member of a body's JSON object, derived from a dataclass field."""

    name: str  # the field
    key: str  # the JSON member name
    codec: _Codec
    default: Callable[[], object]  # the value of an absent or null member


def _constant(value: object) -> Callable[[], object]:
    return lambda: value


def _member(owner: type, f: dataclasses.Field[object], hint: object) -> _Member:
    where = f"{owner.__name__}.{f.name}"
    unknown = set(f.metadata) - _METADATA
    if unknown:
        raise TypeError(f"{where}: unknown body field metadata {sorted(unknown)}")
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) != 1 or f.default is not None:
            raise TypeError(f"{where}: only ``X | None = None`` unions are body members")
        hint = args[0]
    if f.default is not dataclasses.MISSING:
        default = _constant(f.default)
    elif f.default_factory is not dataclasses.MISSING:
        default = f.default_factory
    else:
        raise TypeError(f"{where}: a body field needs a default (an absent member's value)")
    try:
        codec = f.metadata.get("codec") or _codec_for(
            hint, sort_keys=f.metadata.get("sort_keys", False)
        )
    except TypeError as e:
        raise TypeError(f"{where}: {e}") from None
    key = f.metadata.get("key") or _CAMEL.sub(lambda m: m.group(1).upper(), f.name)
    return _Member(f.name, key, codec, default)


_B = TypeVar("_B", bound="type[_Body]")


def _json_body(cls: _B) -> _B:
    """Derive the JSON members of a body dataclass from its fields (see the module doc).

    Raises:
        TypeError: a field has no default, no codec for its type, or unknown metadata.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__}: put @_json_body above @dataclass")
    # JSONValue members are kept as decoded: resolve the alias to a marker, not its union.
    hints = typing.get_type_hints(cls, localns={"JSONValue": _RawJSON})
    members = tuple(_member(cls, f, hints[f.name]) for f in dataclasses.fields(cls))
    cls._json_members = members
    cls._json_order = tuple(sorted(members, key=operator.attrgetter("key")))
    cls._json_object_keys = any(m.codec.object_keys for m in members)
    return cls


class _Body:
    """Shared JSON codec of the body classes, driven by :func:`_json_body`."""

    __slots__ = ()

    _json_members: ClassVar[tuple[_Member, ...]] = ()  # in field order: the order read
    _json_order: ClassVar[tuple[_Member, ...]] = ()  # by member name: the order written
    _json_object_keys: ClassVar[bool] = False  # some map has object keys
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]  # set by @dataclass

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
        return dumps(self.to_value(), object_keys=self._json_object_keys)

    def to_value(self) -> _JSONObject:
        """The JSON object (members in the order written)."""
        out: _JSONObject = {}
        for m in self._json_order:
            value = getattr(self, m.name)
            if value is not None:
                out[m.key] = m.codec.write(value)
        return out

    @classmethod
    def _read(cls, value: JSONValue, path: str) -> Self:
        o = _object(value, path)
        fields: dict[str, object] = {}
        for m in cls._json_members:
            member = o.get(m.key)
            got = None
            if member is not None and not (m.codec.empty_is_null and member == ""):
                got = m.codec.read(member, f"{path}.{m.key}")
            fields[m.name] = m.default() if got is None else got
        return cls(**fields)


# --------------------------------------------------------------------------- metadata

# The attributes field of a topic config line, and the filterServerList section of a
# compressed registration: JSON read and written as the members of the same types.
_LINE_ATTRIBUTES: Final = _codec_for(Mapping[str, str], sort_keys=True)
_FILTER_SERVERS: Final = _codec_for(tuple[str, ...])


@final
@_json_body
@dataclass(frozen=True, slots=True, kw_only=True)
class DataVersion(_Body):
    """``DataVersion``: version stamp of broker metadata.

    Attributes:
        state_version: 5.x ``stateVersion`` (absent in 4.x).
        timestamp: milliseconds since the epoch of the last change.
        counter: changes so far (Java ``AtomicLong``, written as a number; read
            from a number or fastjson's ``{"value":N}`` bean form).
    """

    state_version: int = 0
    timestamp: int = 0
    counter: int = field(default=0, metadata={"codec": _ATOMIC_LONG})


@final
@_json_body
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
        attributes: 5.x topic attributes (``{"+message.type": "NORMAL"}``), written
            sorted by name.
    """

    topic_name: str = ""
    read_queue_nums: int = 16
    write_queue_nums: int = 16
    perm: int = 6
    topic_filter_type: TopicFilterType = TopicFilterType.SINGLE_TAG
    topic_sys_flag: int = 0
    order: bool = False
    attributes: Mapping[str, str] = field(default_factory=dict, metadata={"sort_keys": True})

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
            line += " " + dumps(_LINE_ATTRIBUTES.write(self.attributes)).decode()
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
                attributes = _LINE_ATTRIBUTES.read(loads(" ".join(parts[5:])), "attributes")
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
@_json_body
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
@_json_body
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
            filter_servers = _FILTER_SERVERS.read(loads(filter_json), "filterServerList")
        except RemoteProtocolError:
            filter_servers = ()  # Java logs and keeps an empty list
        infos: dict[str, JSONValue] | None = None
        if cur.pos < len(raw):
            infos = {}
            for i in range(max(cur.int32("the topic queue mapping count"), 0)):
                info = loads(cur.chunk(f"topic queue mapping {i}"))
                path = f"TopicQueueMappingInfo[{i}]"
                topic = _object(info, path).get("topic")
                infos["" if topic is None else _to_str(topic, f"{path}.topic")] = info
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
@_json_body
@dataclass(frozen=True, slots=True, kw_only=True)
class QueueData(_Body):
    """``QueueData``: a topic's queues on one broker (in TopicRouteData)."""

    broker_name: str = ""
    read_queue_nums: int = 0
    write_queue_nums: int = 0
    perm: int = 0
    topic_sys_flag: int = 0


@final
@_json_body
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
    broker_addrs: Mapping[int, str] = field(default_factory=dict, metadata={"sort_keys": True})
    zone_name: str | None = None
    enable_acting_master: bool = False


@final
@_json_body
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


@final
@_json_body
@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterInfo(_Body):
    """``ClusterInfo``: GET_BROKER_CLUSTER_INFO response body.

    Attributes:
        broker_addr_table: broker name → BrokerData.
        cluster_addr_table: cluster name → broker names.
    """

    broker_addr_table: Mapping[str, BrokerData] = field(default_factory=dict)
    cluster_addr_table: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@final
@_json_body
@dataclass(frozen=True, slots=True, kw_only=True)
class TopicList(_Body):
    """``TopicList``: GET_ALL_TOPIC_LIST_FROM_NAMESERVER and similar responses."""

    topic_list: tuple[str, ...] = ()
    broker_addr: str | None = None


@final
@_json_body
@dataclass(frozen=True, slots=True, kw_only=True)
class KVTable(_Body):
    """``KVTable``: a string map (GET_KVLIST_BY_NAMESPACE, broker runtime info)."""

    table: Mapping[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- heartbeat


@final
@_json_body
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


@final
@_json_body
@dataclass(frozen=True, slots=True)
class ProducerData(_Body):
    """``ProducerData``: a producer group in a heartbeat."""

    group_name: str = ""


@final
@_json_body
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


@final
@_json_body
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

    client_id: str = field(default="", metadata={"key": "clientID"})
    producer_data_set: tuple[ProducerData, ...] = ()
    consumer_data_set: tuple[ConsumerData, ...] = ()
    heartbeat_fingerprint: int = 0
    without_sub: bool = False


# --------------------------------------------------------------------------- queues and locks


@final
@_json_body
@dataclass(frozen=True, slots=True, order=True)
class MessageQueue(_Body):
    """``MessageQueue``: one queue of a topic on a broker.

    Ordered by (topic, broker_name, queue_id) as Java's ``compareTo`` (spec §6.7);
    hashable, so usable as a dict key.
    """

    topic: str = ""
    broker_name: str = ""
    queue_id: int = 0

    def to_key(self) -> ObjectKey:
        """This queue as a JSON map key (fastjson's ``Map<MessageQueue, …>`` form)."""
        return _object_key(self)

    def java_string(self) -> str:
        """Java ``toString()``: ``MessageQueue [topic=T, brokerName=B, queueId=Q]``."""
        return (
            f"MessageQueue [topic={self.topic}, brokerName={self.broker_name}, "
            f"queueId={self.queue_id}]"
        )


@final
@_json_body
@dataclass(frozen=True, slots=True, kw_only=True)
class LockBatchRequestBody(_Body):
    """``LockBatchRequestBody``: LOCK_BATCH_MQ request body."""

    consumer_group: str = ""
    client_id: str = ""
    only_this_broker: bool = False
    mq_set: tuple[MessageQueue, ...] = ()


@final
@_json_body
@dataclass(frozen=True, slots=True, kw_only=True)
class UnlockBatchRequestBody(_Body):
    """``UnlockBatchRequestBody``: UNLOCK_BATCH_MQ request body (LockBatchRequestBody's shape)."""

    consumer_group: str = ""
    client_id: str = ""
    only_this_broker: bool = False
    mq_set: tuple[MessageQueue, ...] = ()


@final
@_json_body
@dataclass(frozen=True, slots=True)
class LockBatchResponseBody(_Body):
    """``LockBatchResponseBody``: the queues LOCK_BATCH_MQ locked (``lockOKMQSet``)."""

    lock_ok_mq_set: tuple[MessageQueue, ...] = field(default=(), metadata={"key": "lockOKMQSet"})


@final
@_json_body
@dataclass(frozen=True, slots=True)
class GetConsumerListByGroupResponseBody(_Body):
    """``GetConsumerListByGroupResponseBody``: client ids of a consumer group."""

    consumer_id_list: tuple[str, ...] = ()


# --------------------------------------------------------------------------- connections


@final
@_json_body
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


@final
@_json_body
@dataclass(frozen=True, slots=True, kw_only=True)
class ConsumerConnection(_Body):
    """``ConsumerConnection``: GET_CONSUMER_CONNECTION_LIST response body."""

    connection_set: tuple[Connection, ...] = ()
    subscription_table: Mapping[str, SubscriptionData] = field(default_factory=dict)
    consume_type: ConsumeType | None = None
    message_model: MessageModel | None = None
    consume_from_where: ConsumeFromWhere | None = None


@final
@_json_body
@dataclass(frozen=True, slots=True)
class ProducerConnection(_Body):
    """``ProducerConnection``: GET_PRODUCER_CONNECTION_LIST response body."""

    connection_set: tuple[Connection, ...] = ()


# --------------------------------------------------------------------------- subscription groups


@final
@_json_body
@dataclass(frozen=True, slots=True, kw_only=True)
class SimpleSubscriptionData(_Body):
    """``SimpleSubscriptionData``: a subscription declared on a 5.x group config."""

    topic: str = ""
    expression_type: str = "TAG"
    expression: str = ""
    version: int = 0


def _default_retry_policy() -> dict[str, JSONValue]:
    return {"type": "CUSTOMIZED"}


@final
@_json_body
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
    attributes: Mapping[str, str] = field(default_factory=dict, metadata={"sort_keys": True})


@final
@_json_body
@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionGroupWrapper(_Body):
    """``SubscriptionGroupWrapper``: GET_ALL_SUBSCRIPTIONGROUP_CONFIG response body, and
    the shape of ``subscriptionGroup.json``.

    Attributes:
        subscription_group_table: group name → its config.
        forbidden_table: group → topic → forbidden-permission bits (5.x).
        data_version: version of the table.
    """

    subscription_group_table: Mapping[str, SubscriptionGroupConfig] = field(default_factory=dict)
    forbidden_table: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    data_version: DataVersion = field(default_factory=DataVersion)


@final
@_json_body
@dataclass(frozen=True, slots=True)
class GroupList(_Body):
    """``GroupList``: QUERY_TOPIC_CONSUME_BY_WHO response body (a Java ``HashSet``)."""

    group_list: tuple[str, ...] = ()


# --------------------------------------------------------------------------- queue-keyed maps


@final
@_json_body
@dataclass(frozen=True, slots=True)
class ResetOffsetBody(_Body):
    """``ResetOffsetBody``: RESET_CONSUMER_CLIENT_OFFSET body, queue → new offset.

    Written in fastjson's object-key form ``{"offsetTable":{{MessageQueue}:offset}}``;
    read from that form or from keys holding the MessageQueue JSON as a string.
    """

    offset_table: Mapping[MessageQueue, int] = field(default_factory=dict)


@final
@_json_body
@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetWrapper(_Body):
    """``OffsetWrapper``: a queue's offsets in ConsumeStats."""

    broker_offset: int = 0
    consumer_offset: int = 0
    pull_offset: int = 0
    last_timestamp: int = 0


@final
@_json_body
@dataclass(frozen=True, slots=True, kw_only=True)
class ConsumeStats(_Body):
    """``ConsumeStats``: GET_CONSUME_STATS response body (object-keyed, spec §10)."""

    offset_table: Mapping[MessageQueue, OffsetWrapper] = field(default_factory=dict)
    consume_tps: float = 0.0


@final
@_json_body
@dataclass(frozen=True, slots=True, kw_only=True)
class TopicOffset(_Body):
    """``TopicOffset``: a queue's offset range in TopicStatsTable."""

    min_offset: int = 0
    max_offset: int = 0
    last_update_timestamp: int = 0


@final
@_json_body
@dataclass(frozen=True, slots=True, kw_only=True)
class TopicStatsTable(_Body):
    """``TopicStatsTable``: GET_TOPIC_STATS_INFO response body (object-keyed, spec §10)."""

    offset_table: Mapping[MessageQueue, TopicOffset] = field(default_factory=dict)
    topic_put_tps: float = 0.0


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


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Join continuation lines and drop comments and blank lines (Properties.load).

    Returns (1-based number of the physical line where the logical line starts, text).
    """
    result: list[tuple[int, str]] = []
    pending: str | None = None
    start = 0
    for number, raw in enumerate(_LINE_BREAK.split(text), 1):
        line = raw.lstrip(" \t\f")
        if pending is None and (not line or line[0] in "#!"):
            continue
        trailing = len(line) - len(line.rstrip("\\"))
        continued = trailing % 2 == 1
        if continued:
            line = line[:-1]
        if pending is None:
            pending, start = line, number
        else:
            pending += line
        if not continued:
            result.append((start, pending))
            pending = None
    if pending is not None:
        result.append((start, pending))
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
    return {key: value for _, key, value in decode_properties_entries(data)}


def decode_properties_entries(
    data: bytes | bytearray | memoryview | str,
) -> list[tuple[int, str, str]]:
    """Like :func:`decode_properties_text`, but every entry in file order, repeats
    included, with the 1-based number of the line it starts on: ``(line, key, value)``.

    For configuration files, whose errors name the line.

    Raises:
        RemoteProtocolError: a malformed ``\\uXXXX`` escape (the message names the line).
    """
    if isinstance(data, str):
        text = data
    else:
        raw = bytes(data)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    entries: list[tuple[int, str, str]] = []
    for number, line in _logical_lines(text):
        key, value = _split_property(line)
        entries.append((number, _unescape_property(key, number), _unescape_property(value, number)))
    return entries
