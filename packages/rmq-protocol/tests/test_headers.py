"""Typed custom headers (codec/headers.py): round trips, strictness, real peers' quirks."""

from __future__ import annotations

import enum

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmq_protocol.codec import headers
from rmq_protocol.codec.codes import RequestCode
from rmq_protocol.codec.header import CommandHeader, HeaderField, command_header
from rmq_protocol.codec.headers import (
    REQUEST_HEADERS,
    RESPONSE_HEADERS,
    BoundaryType,
    GetMaxOffsetRequestHeader,
    HeartbeatResponseHeader,
    PullMessageRequestHeader,
    PullMessageResponseHeader,
    QueryMessageRequestHeader,
    RegisterBrokerRequestHeader,
    RpcRequestHeader,
    SearchOffsetRequestHeader,
    SendMessageRequestHeader,
    SendMessageRequestHeaderV2,
    SendMessageResponseHeader,
    TopicRequestHeader,
    UnregisterClientRequestHeader,
)
from rmq_protocol.errors import InvalidHeaderError

JAVA_LONG = st.integers(min_value=-(2**63), max_value=2**63 - 1)

DECLARED: list[type[CommandHeader]] = sorted(
    {
        obj
        for name in headers.__all__
        if isinstance(obj := getattr(headers, name), type) and issubclass(obj, CommandHeader)
    },
    key=lambda cls: cls.__name__,
)
REGISTERED: set[type[CommandHeader]] = {*REQUEST_HEADERS.values(), *RESPONSE_HEADERS.values()}
BASES: set[type[CommandHeader]] = {RpcRequestHeader, TopicRequestHeader}


def _value_strategy(f: HeaderField) -> st.SearchStrategy[object]:
    base: st.SearchStrategy[object]
    if f.kind is bool:
        base = st.booleans()
    elif f.kind is int:
        base = JAVA_LONG
    elif f.kind is float:
        base = st.floats(allow_nan=False)
    elif f.kind is str:
        base = st.text()
    elif issubclass(f.kind, enum.Enum):
        base = st.sampled_from(list(f.kind))
    else:  # pragma: no cover - header.py accepts no other kind
        raise AssertionError(f"no strategy for {f.kind!r}")
    return st.none() | base if f.optional else base


def instances(cls: type[CommandHeader]) -> st.SearchStrategy[CommandHeader]:
    """Any instance of ``cls``, built from the types of its wire fields."""
    return st.builds(cls, **{f.name: _value_strategy(f) for f in cls.wire_fields})


def _sample_value(f: HeaderField) -> object:
    if f.kind is bool:
        return True
    if f.kind is int:
        return 7
    if f.kind is float:
        return 1.5
    if f.kind is str:
        return "x"
    return next(iter(f.kind))  # type: ignore[call-overload]


def sample(cls: type[CommandHeader]) -> CommandHeader:
    """An instance of ``cls`` with every field set (optionals too)."""
    return cls(**{f.name: _sample_value(f) for f in cls.wire_fields})


# -- (a) round trips -------------------------------------------------------------------


def test_every_header_class_is_declared_and_covered() -> None:
    assert len(DECLARED) > 100
    assert set(DECLARED) >= REGISTERED
    assert set(DECLARED) - REGISTERED == BASES


@pytest.mark.parametrize("cls", DECLARED, ids=lambda cls: cls.__name__)
@settings(max_examples=40)
@given(data=st.data())
def test_round_trip(cls: type[CommandHeader], data: st.DataObject) -> None:
    header = data.draw(instances(cls))
    ext = header.to_ext_fields()
    values: list[object] = list(ext.values())
    assert all(isinstance(v, str) for v in values)
    expected_keys = {
        f.key for f in cls.wire_fields if not f.optional or getattr(header, f.name) is not None
    }
    assert set(ext) == expected_keys
    assert cls.from_ext_fields(ext) == header


@pytest.mark.parametrize("cls", DECLARED, ids=lambda cls: cls.__name__)
def test_full_sample_round_trips(cls: type[CommandHeader]) -> None:
    header = sample(cls)
    assert cls.from_ext_fields(header.to_ext_fields()) == header


# -- (b) strictness ---------------------------------------------------------------------

REQUIRED = [
    pytest.param(cls, f.key, id=f"{cls.__name__}.{f.key}")
    for cls in DECLARED
    for f in cls.wire_fields
    if f.required
]


@pytest.mark.parametrize(("cls", "key"), REQUIRED)
def test_missing_required_field_names_the_key(cls: type[CommandHeader], key: str) -> None:
    ext = sample(cls).to_ext_fields()
    del ext[key]
    with pytest.raises(InvalidHeaderError, match=key) as info:
        cls.from_ext_fields(ext)
    assert info.value.key == key
    assert info.value.header == cls.__name__
    assert info.value.value is None


def test_no_ext_fields_at_all_is_missing_the_first_required_key() -> None:
    with pytest.raises(InvalidHeaderError) as info:
        PullMessageRequestHeader.from_ext_fields(None)
    assert info.value.key == "consumerGroup"


def test_only_optional_fields_decode_from_nothing() -> None:
    assert headers.GetAllTopicConfigRequestHeader.from_ext_fields(None) == (
        headers.GetAllTopicConfigRequestHeader()
    )
    assert HeartbeatResponseHeader.from_ext_fields({}) == HeartbeatResponseHeader(
        is_support_heart_beat_v2=False, is_sub_change=False
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [("queueOffset", "12x"), ("queueId", ""), ("subVersion", "1.5"), ("maxMsgBytes", "big")],
)
def test_unparsable_number_is_rejected(key: str, value: str) -> None:
    ext = sample(PullMessageRequestHeader).to_ext_fields() | {key: value}
    with pytest.raises(InvalidHeaderError) as info:
        PullMessageRequestHeader.from_ext_fields(ext)
    assert (info.value.key, info.value.value) == (key, value)


# -- (c) lenient parsing, as real peers need --------------------------------------------

ALI_ONS_SEND: dict[str, str] = {
    "a": "PID",
    "b": "T",
    "c": "TBW102",
    "d": "4",
    "e": "0",
    "f": "0",
    "g": "1795239421717",
    "h": "0",
    "i": "UNIQ_KEY\x01C0A8010A303912345678\x02WAIT\x01true\x02",
    "j": "0",
    "k": "false",
}


def test_ali_ons_send_v2_with_acl_keys() -> None:
    ext = ALI_ONS_SEND | {"AccessKey": "ak", "Signature": "c2ln", "OnsChannel": "ALIYUN"}
    header = SendMessageRequestHeaderV2.from_ext_fields(ext)
    assert header == SendMessageRequestHeaderV2(
        producer_group="PID",
        topic="T",
        default_topic="TBW102",
        default_topic_queue_nums=4,
        queue_id=0,
        sys_flag=0,
        born_timestamp=1795239421717,
        flag=0,
        properties=ALI_ONS_SEND["i"],
        reconsume_times=0,
        unit_mode=False,
    )
    assert header.to_ext_fields() == ALI_ONS_SEND


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [("0", False), ("1", False), ("false", False), ("", False), ("true", True), ("TRUE", True)],
)
def test_booleans_parse_like_java(raw: str, parsed: bool) -> None:
    # rocketmq-client-cpp 2.1 sends "k":"0"; Java's Boolean.parseBoolean reads it as false.
    header = SendMessageRequestHeaderV2.from_ext_fields(ALI_ONS_SEND | {"k": raw})
    assert header.unit_mode is parsed


def test_inherited_rpc_keys_are_read_when_present() -> None:
    ext = sample(GetMaxOffsetRequestHeader).to_ext_fields()
    assert {"ns", "nsd", "bname", "oway", "lo", "committed"} <= set(ext)
    minimal = {"topic": "T", "queueId": "3"}
    assert GetMaxOffsetRequestHeader.from_ext_fields(minimal) == GetMaxOffsetRequestHeader(
        topic="T", queue_id=3, committed=True
    )


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("UPPER", BoundaryType.UPPER),
        ("upper", BoundaryType.UPPER),
        ("Upper", BoundaryType.UPPER),
        ("LOWER", BoundaryType.LOWER),
        ("lower", BoundaryType.LOWER),
        ("", BoundaryType.LOWER),
        ("sideways", BoundaryType.LOWER),
    ],
)
def test_boundary_type_parses_like_java(raw: str, parsed: BoundaryType) -> None:
    ext = {"topic": "T", "queueId": "0", "timestamp": "1", "boundaryType": raw}
    assert SearchOffsetRequestHeader.from_ext_fields(ext).boundary_type is parsed
    assert BoundaryType(raw) is parsed


def test_boundary_type_encodes_as_java_enum_name() -> None:
    header = SearchOffsetRequestHeader(
        topic="T", queue_id=0, timestamp=1, boundary_type=BoundaryType.UPPER
    )
    assert header.to_ext_fields()["boundaryType"] == "UPPER"


def test_unique_key_query_ext_key() -> None:
    ext = {"topic": "T", "key": "K", "maxNum": "32", "beginTimestamp": "0", "endTimestamp": "9"}
    assert QueryMessageRequestHeader.from_ext_fields(ext).unique_key_query is False
    header = QueryMessageRequestHeader.from_ext_fields(ext | {"_UNIQUE_KEY_QUERY": "true"})
    assert header.unique_key_query is True
    assert header.to_ext_fields()["_UNIQUE_KEY_QUERY"] == "true"


def test_irregular_java_keys() -> None:
    assert "clientID" in UnregisterClientRequestHeader(client_id="c").to_ext_fields()
    ext = sample(RegisterBrokerRequestHeader).to_ext_fields()
    assert {"bodyCrc32", "haServerAddr", "__ZONE_NAME"} <= set(ext)
    assert HeartbeatResponseHeader(is_support_heart_beat_v2=True).to_ext_fields() == {
        "IS_SUPPORT_HEART_BEAT_V2": "true",
        "IS_SUB_CHANGE": "false",
    }
    assert "proxyFrowardClientId" in sample(PullMessageRequestHeader).to_ext_fields()


# -- (d) exactly the keys Java writes ----------------------------------------------------


def test_send_response_keys() -> None:
    minimal = SendMessageResponseHeader(
        msg_id="7F00000100002A9F0000000000000000", queue_id=3, queue_offset=0
    )
    assert minimal.to_ext_fields() == {
        "msgId": "7F00000100002A9F0000000000000000",
        "queueId": "3",
        "queueOffset": "0",
    }
    full = SendMessageResponseHeader(
        msg_id="M",
        queue_id=1,
        queue_offset=42,
        transaction_id="U",
        batch_uniq_id="B",
        recall_handle="R",
    )
    assert full.to_ext_fields() == {
        "msgId": "M",
        "queueId": "1",
        "queueOffset": "42",
        "transactionId": "U",
        "batchUniqId": "B",
        "recallHandle": "R",
    }


def test_pull_response_keys() -> None:
    minimal = PullMessageResponseHeader(
        suggest_which_broker_id=0, next_begin_offset=32, min_offset=0, max_offset=100
    )
    assert minimal.to_ext_fields() == {
        "suggestWhichBrokerId": "0",
        "nextBeginOffset": "32",
        "minOffset": "0",
        "maxOffset": "100",
    }
    full = PullMessageResponseHeader(
        suggest_which_broker_id=1,
        next_begin_offset=2,
        min_offset=3,
        max_offset=4,
        offset_delta=5,
        topic_sys_flag=6,
        group_sys_flag=7,
        forbidden_type=8,
    )
    assert full.to_ext_fields() == {
        "suggestWhichBrokerId": "1",
        "nextBeginOffset": "2",
        "minOffset": "3",
        "maxOffset": "4",
        "offsetDelta": "5",
        "topicSysFlag": "6",
        "groupSysFlag": "7",
        "forbiddenType": "8",
    }


def test_send_v2_keys_are_the_letters() -> None:
    keys = [
        f.key
        for f in SendMessageRequestHeaderV2.wire_fields
        if f.key not in ("ns", "nsd", "bname", "oway", "lo")
    ]
    assert keys == list("abcdefghijklmn")


# -- (e) V1 <-> V2 -----------------------------------------------------------------------


@given(v1=instances(SendMessageRequestHeader))
def test_v1_to_v2_and_back(v1: CommandHeader) -> None:
    assert isinstance(v1, SendMessageRequestHeader)
    v2 = SendMessageRequestHeaderV2.from_v1(v1)
    assert v2.broker_name == v1.bname
    assert v2.bname is None
    assert v2.to_v1() == v1


@given(v2=instances(SendMessageRequestHeaderV2))
def test_v2_to_v1_and_back(v2: CommandHeader) -> None:
    assert isinstance(v2, SendMessageRequestHeaderV2)
    v1 = v2.to_v1()
    assert v1.bname == v2.broker_name
    # V2 carries the broker name in ``n``; its inherited ``bname`` is not converted (as Java).
    assert SendMessageRequestHeaderV2.from_v1(v1) == v2._replace(bname=None)


def test_v1_and_v2_wire_forms_decode_to_the_same_send() -> None:
    v2 = SendMessageRequestHeaderV2.from_ext_fields(ALI_ONS_SEND | {"n": "broker-a"})
    v1_wire = v2.to_v1().to_ext_fields()
    assert v1_wire["producerGroup"] == "PID"
    assert v1_wire["bname"] == "broker-a"
    assert SendMessageRequestHeader.from_ext_fields(v1_wire) == v2.to_v1()


# -- (f) registries ----------------------------------------------------------------------


@pytest.mark.parametrize("cls", DECLARED, ids=lambda cls: cls.__name__)
def test_keys_and_names_unique_within_a_class(cls: type[CommandHeader]) -> None:
    assert issubclass(cls, CommandHeader)
    keys = [f.key for f in cls.wire_fields]
    names = [f.name for f in cls.wire_fields]
    assert len(set(keys)) == len(keys)
    assert len(set(names)) == len(names)


def test_registries() -> None:
    for code, cls in REQUEST_HEADERS.items():
        assert isinstance(code, RequestCode)
        assert issubclass(cls, CommandHeader)
        assert "Response" not in cls.__name__, code.name
    for code, cls in RESPONSE_HEADERS.items():
        assert isinstance(code, RequestCode)
        assert issubclass(cls, CommandHeader)
        assert "Response" in cls.__name__, code.name
    with pytest.raises(TypeError):
        REQUEST_HEADERS[RequestCode.SEND_MESSAGE] = SendMessageRequestHeaderV2  # type: ignore[index]


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (RequestCode.SEND_MESSAGE, SendMessageRequestHeader),
        (RequestCode.SEND_MESSAGE_V2, SendMessageRequestHeaderV2),
        (RequestCode.SEND_BATCH_MESSAGE, SendMessageRequestHeaderV2),
        (RequestCode.PULL_MESSAGE, PullMessageRequestHeader),
        (RequestCode.LITE_PULL_MESSAGE, PullMessageRequestHeader),
        (RequestCode.QUERY_MESSAGE, QueryMessageRequestHeader),
        (RequestCode.REGISTER_BROKER, RegisterBrokerRequestHeader),
        (RequestCode.GET_ROUTEINFO_BY_TOPIC, headers.GetRouteInfoRequestHeader),
    ],
)
def test_request_registry_entries(code: RequestCode, cls: type[CommandHeader]) -> None:
    assert REQUEST_HEADERS[code] is cls


def test_response_registry_entries() -> None:
    for code in (
        RequestCode.SEND_MESSAGE,
        RequestCode.SEND_MESSAGE_V2,
        RequestCode.SEND_BATCH_MESSAGE,
    ):
        assert RESPONSE_HEADERS[code] is SendMessageResponseHeader
    assert RESPONSE_HEADERS[RequestCode.PULL_MESSAGE] is PullMessageResponseHeader
    assert RESPONSE_HEADERS[RequestCode.HEART_BEAT] is HeartbeatResponseHeader
    assert RequestCode.GET_BROKER_CLUSTER_INFO not in REQUEST_HEADERS


def test_all_is_complete() -> None:
    public = {
        name
        for name, obj in vars(headers).items()
        if not name.startswith("_") and isinstance(obj, type) and obj.__module__ == headers.__name__
    }
    assert public <= set(headers.__all__)
    assert len(set(headers.__all__)) == len(headers.__all__)


@pytest.mark.parametrize(
    "value", ["1_000", " 7 ", "7 ", "1" * 30, "-" + "9" * 19, "0x10", "1.0", ""]
)
def test_integers_parse_as_java_long_parse_long(value: str) -> None:
    with pytest.raises(InvalidHeaderError, match="'e'"):
        SendMessageRequestHeaderV2.from_ext_fields(
            {"a": "P", "b": "T", "c": "TBW102", "d": "4", "e": value, "f": "0", "g": "0", "h": "0"}
        )


@pytest.mark.parametrize(
    ("value", "number"), [("+5", 5), ("-5", -5), ("007", 7), (str(2**63 - 1), 2**63 - 1)]
)
def test_integers_java_accepts(value: str, number: int) -> None:
    header = SendMessageRequestHeaderV2.from_ext_fields(
        {"a": "P", "b": "T", "c": "TBW102", "d": "4", "e": "0", "f": "0", "g": value, "h": "0"}
    )
    assert header.born_timestamp == number


def test_redeclaring_an_inherited_field_is_refused() -> None:
    @command_header
    class Base(CommandHeader):
        y: int = 1

    with pytest.raises(TypeError, match="redeclares an inherited header field"):

        @command_header
        class Child(Base):
            y: int = 5


@pytest.mark.parametrize("value", ["²", "①", "12²", "-²"])
def test_digit_like_characters_are_header_errors_not_crashes(value: str) -> None:
    with pytest.raises(InvalidHeaderError):
        SendMessageRequestHeaderV2.from_ext_fields(
            {"a": "P", "b": "T", "c": "TBW102", "d": "4", "e": value, "f": "0", "g": "0", "h": "0"}
        )


def test_unicode_decimal_digits_read_like_java() -> None:
    header = SendMessageRequestHeaderV2.from_ext_fields(
        {"a": "P", "b": "T", "c": "TBW102", "d": "4", "e": "١٢", "f": "0", "g": "0", "h": "0"}
    )
    assert header.queue_id == 12
