"""Tests of rmq_protocol.codec.fastjson: fastjson-compatible JSON reading and writing."""

from __future__ import annotations

import contextlib
import math
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmq_protocol.codec.fastjson import (
    MAX_DEPTH,
    MAX_KEY_DEPTH,
    JSONKey,
    JSONValue,
    ObjectKey,
    dumps,
    loads,
)
from rmq_protocol.errors import LocalProtocolError, RemoteProtocolError

if TYPE_CHECKING:
    from conftest import Mutator

MQ_KEY = ObjectKey.of({"brokerName": "b", "queueId": 0, "topic": "t"})

# --------------------------------------------------------------------------- loads


def test_standard_json() -> None:
    assert loads(b'{"a":[1,2.5,"x",true,false,null]}') == {"a": [1, 2.5, "x", True, False, None]}
    assert loads('"text"') == "text"
    assert loads(memoryview(b"[1]")) == [1]
    assert loads(bytearray(b"7")) == 7


def test_unquoted_integer_keys_read_as_strings() -> None:
    text = b'{"brokerAddrs":{0:"127.0.0.1:10911",1:"127.0.0.1:10921"},"n":{-1:2}}'
    assert loads(text) == {
        "brokerAddrs": {"0": "127.0.0.1:10911", "1": "127.0.0.1:10921"},
        "n": {"-1": 2},
    }
    assert loads(b'{0:"a"}') == loads(b'{"0":"a"}')


def test_bare_identifier_keys_and_single_quotes() -> None:
    assert loads("{topic:'TopicTest', queueId : 3}") == {"topic": "TopicTest", "queueId": 3}
    assert loads("['it\\'s', \"dq'\"]") == ["it's", "dq'"]


def test_object_keys() -> None:
    text = b'{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:{"brokerOffset":5}}}'
    value = loads(text)
    assert value == {"offsetTable": {MQ_KEY: {"brokerOffset": 5}}}
    # Member order inside the key does not matter.
    again = loads(b'{{"topic":"t","queueId":0,"brokerName":"b"}:1}')
    assert again == {MQ_KEY: 1}
    assert MQ_KEY.to_dict() == {"brokerName": "b", "queueId": 0, "topic": "t"}
    assert MQ_KEY.get("queueId") == 0
    assert MQ_KEY.get("missing") is None


def test_object_key_nested_values_are_hashable() -> None:
    value = loads(b'{{"a":[1,{"b":2}],"c":{"d":null}}:"v"}')
    assert isinstance(value, dict)
    (key,) = value
    assert isinstance(key, ObjectKey)
    same: dict[JSONKey, JSONValue] = {"c": {"d": None}, "a": [1, {"b": 2}]}
    assert key == ObjectKey.of(same)
    assert hash(key) == hash(ObjectKey.of(same))
    assert key.to_dict() == {"a": [1, {"b": 2}], "c": {"d": None}}


@pytest.mark.parametrize(
    "text",
    [
        b'{"a":1}\n',
        b'{"a":1}\r\n\t ',
        b'\xef\xbb\xbf{"a":1}',
        b'\xef\xbb\xbf{"a":1}\n',
        b'{"a":1}\x00',
        b'{"a":1,}',
        b" {a:1 , } ",
    ],
)
def test_tolerated_framing(text: bytes) -> None:
    assert loads(text) == {"a": 1}


def test_numbers() -> None:
    big = 123456789012345678901234567890
    assert loads(f'{{"big":{big}}}') == {"big": big}
    assert loads(f"{{x:{big}, y:-{big}}}") == {"x": big, "y": -big}
    assert loads("{a:1L, b:2.5D, c:-0.5e1}") == {"a": 1, "b": 2.5, "c": -5.0}
    assert loads("[1.0e2]") == [100.0]
    # Beyond orjson's integer range: still exact integers, never floats.
    for n in (-(2**63) - 1, 2**64, 2**63 - 1, -(2**63)):
        got = loads(f"[{n}]")
        assert got == [n]
        assert isinstance(got, list)
        assert isinstance(got[0], int)


def test_string_escapes() -> None:
    assert loads(r"{a:'\x41\u00e9\/\n\t\'\"\\'}") == {"a": "Aé/\n\t'\"\\"}
    assert loads(r"{a:'\ud83d\ude00'}") == {"a": "\U0001f600"}
    assert loads("{a:'raw\ncontrol'}") == {"a": "raw\ncontrol"}
    assert loads(b"{a:'caf\xc3\xa9'}") == {"a": "café"}
    # Invalid UTF-8 is replaced, as Java's String decoder does.
    assert loads(b"{a:'\xff'}") == {"a": "\ufffd"}


def test_duplicate_keys_last_wins() -> None:
    assert loads("{a:1,a:2}") == {"a": 2}


@pytest.mark.parametrize(
    ("text", "offset", "expected"),
    [
        (b"", 0, "JSON value"),
        (b"   ", 3, "JSON value"),
        (b'{"a":[1,2}', 9, "',' or ']'"),
        (b'{"a" 1}', 5, "':'"),
        (b'{"a":1 "b":2}', 7, "',' or '}'"),
        (b'{"a":"x', 7, "closing"),
        (b"{a:1}x", 5, "end of text"),
        (b"{a:tru}", 3, "JSON value"),
        (b"{a:'\\q'}", 5, "valid escape"),
        (b"{a:'\\u12'}", 6, "4 hex digits"),
        (b"[1,", 3, "value or ']'"),
        ('{"é":1,x}'.encode(), 9, "':'"),
    ],
)
def test_errors_carry_offset(text: bytes, offset: int, expected: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        loads(text)
    assert info.value.offset == offset
    assert expected in str(info.value)


def test_error_offset_is_characters_for_str_input() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        loads('{"é":1,x}')
    assert info.value.offset == 8


def test_nesting_is_bounded() -> None:
    # A bare key forces the tolerant parser; orjson has its own limit.
    ok = "[" * (MAX_DEPTH - 1) + "{a:1}" + "]" * (MAX_DEPTH - 1)
    assert isinstance(loads(ok), list)
    deep = "[" * MAX_DEPTH + "{a:1}" + "]" * MAX_DEPTH
    with pytest.raises(RemoteProtocolError, match="nested"):
        loads(deep)
    with pytest.raises(RemoteProtocolError):
        loads("[" * 100_000)


def test_object_key_nesting_is_bounded() -> None:
    # The key object is level 1 of the key.
    inner = "[" * (MAX_KEY_DEPTH - 1) + "]" * (MAX_KEY_DEPTH - 1)
    assert isinstance(loads("{{a:" + inner + "}:1}"), dict)
    deeper = "[" * MAX_KEY_DEPTH + "]" * MAX_KEY_DEPTH
    with pytest.raises(RemoteProtocolError, match="object key"):
        loads("{{a:" + deeper + "}:1}")


# --------------------------------------------------------------------------- dumps


def test_dumps_is_compact() -> None:
    value: JSONValue = {"brokerAddrs": {"0": "127.0.0.1:10911"}, "list": [1, 2], "f": 0.0}
    assert dumps(value) == b'{"brokerAddrs":{"0":"127.0.0.1:10911"},"list":[1,2],"f":0.0}'


def test_dumps_keeps_dict_order() -> None:
    assert dumps({"b": 1, "a": 2}) == b'{"b":1,"a":2}'


def test_dumps_object_keys_only_when_asked() -> None:
    value: JSONValue = {"offsetTable": {MQ_KEY: 7}}
    assert dumps(value, object_keys=True) == (
        b'{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:7}}'
    )
    with pytest.raises(LocalProtocolError, match="object_keys=True"):
        dumps(value)


def test_dumps_big_integers_and_surrogates() -> None:
    assert dumps([2**70, -(2**70)]) == f"[{2**70},{-(2**70)}]".encode()
    assert dumps({"s": "a\ud800b"}) == b'{"s":"a\\ud800b"}'
    assert loads(dumps({"s": "a\ud800b"})) == {"s": "a\ud800b"}


def test_dumps_non_finite_floats_as_null() -> None:
    assert dumps([math.nan, math.inf], object_keys=True) == b"[null,null]"
    assert dumps([math.nan]) == b"[null]"


def test_dumps_rejects_what_json_cannot_carry() -> None:
    with pytest.raises(LocalProtocolError):
        dumps({1: "x"})  # type: ignore[dict-item]
    with pytest.raises(LocalProtocolError):
        dumps([b"bytes"])  # type: ignore[list-item]
    with pytest.raises(LocalProtocolError):
        dumps({MQ_KEY: 1})
    with pytest.raises(LocalProtocolError):
        dumps([MQ_KEY])  # type: ignore[list-item]


# --------------------------------------------------------------------------- properties

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
_values: st.SearchStrategy[JSONValue] = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def _keyed_values(draw: st.DrawFn) -> JSONValue:
    """Values whose maps may be keyed by JSON objects (fastjson form)."""
    table: dict[JSONKey, JSONValue] = {}
    for _ in range(draw(st.integers(0, 4))):
        key_obj = draw(st.dictionaries(st.text(max_size=6), _values, max_size=3))
        table[ObjectKey.of(key_obj)] = draw(_values)
    table[draw(st.text(max_size=6))] = draw(_values)
    return {"offsetTable": table, "tps": draw(st.floats(allow_nan=False, allow_infinity=False))}


@settings(max_examples=200, deadline=None)
@given(_values)
def test_round_trip(value: JSONValue) -> None:
    assert loads(dumps(value)) == value
    assert loads(dumps(value, object_keys=True)) == value


@settings(max_examples=200, deadline=None)
@given(_keyed_values())
def test_object_key_round_trip(value: JSONValue) -> None:
    assert loads(dumps(value, object_keys=True)) == value


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_remote_protocol_error(data: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        loads(data)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="{}[]:,'\"\\ \n0123456789-.eEtrufalsn xLu", max_size=80))
def test_json_like_text_raises_only_remote_protocol_error(text: str) -> None:
    with contextlib.suppress(RemoteProtocolError):
        loads(text)


_SAMPLES = (
    b'{"consumeTps":1.5,"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:'
    b'{"brokerOffset":5,"consumerOffset":3}}}',
    b'{"brokerAddrs":{0:"127.0.0.1:10911",1:"127.0.0.1:10921"},"brokerName":"b"}',
    b"\xef\xbb\xbf{a:'x\\u0041',b:[1,2L,3.5e3,],c:{d:null}}\n",
)


_MUTATION_ALPHABET = b"{}[]:,\"'\\0-.eLu \n\x00\xff\xc3"


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_mutated_text_raises_only_remote_protocol_error(
    data: st.DataObject, mutate: Mutator
) -> None:
    try:
        value = loads(mutate(data, _SAMPLES, _MUTATION_ALPHABET))
    except RemoteProtocolError:
        return
    # Whatever was read can be written back in the fastjson form.
    dumps(value, object_keys=True)
