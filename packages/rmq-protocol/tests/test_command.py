"""RemotingCommand header codecs against spec §9 golden vectors and real captures."""

from __future__ import annotations

import contextlib
import json
import struct
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rmq_protocol.codec.codes import LanguageCode, RequestCode, ResponseCode, SerializeType
from rmq_protocol.codec.command import (
    RemotingCommand,
    decode_command,
    encode_command,
    encode_command_parts,
)
from rmq_protocol.errors import LocalProtocolError, RemoteProtocolError

CAPTURED = sorted(json.loads((Path(__file__).parent / "vectors" / "frames.json").read_text()))

V1_ROUTE = RemotingCommand(
    code=RequestCode.GET_ROUTEINFO_BY_TOPIC,
    language=LanguageCode.JAVA,
    version=399,
    opaque=1,
    ext_fields={"topic": "TopicTest"},
)


def test_v1_json_request_is_byte_exact(frames: dict[str, bytes]) -> None:
    assert encode_command(V1_ROUTE) == frames["v1_get_route_json"]


def test_v2_binary_request_is_byte_exact(frames: dict[str, bytes]) -> None:
    cmd = RemotingCommand(
        code=105,
        language=LanguageCode.JAVA,
        version=399,
        opaque=1,
        ext_fields={"topic": "TopicTest"},
        serialize_type=SerializeType.ROCKETMQ,
    )
    assert encode_command(cmd) == frames["v2_get_route_binary"]


@pytest.mark.parametrize("name", ["v1_get_route_json", "v2_get_route_binary"])
def test_golden_frames_decode(frames: dict[str, bytes], name: str) -> None:
    cmd = decode_command(frames[name][4:])
    assert (cmd.code, cmd.language, cmd.version, cmd.opaque, cmd.flag) == (
        105,
        LanguageCode.JAVA,
        399,
        1,
        0,
    )
    assert cmd.ext_fields == {"topic": "TopicTest"}
    assert cmd.remark is None
    assert bytes(cmd.body) == b""


def test_v3_response_header_length() -> None:
    response = RemotingCommand(
        code=ResponseCode.SUCCESS, language=LanguageCode.JAVA, version=403, flag=1
    )
    assert encode_command(response)[:8] == bytes.fromhex("000000630000005f")


@pytest.mark.parametrize("name", CAPTURED)
def test_every_captured_first_request_decodes(frames: dict[str, bytes], name: str) -> None:
    cmd = decode_command(frames[name][4:])
    assert cmd.code == RequestCode.GET_ROUTEINFO_BY_TOPIC
    assert cmd.ext_fields is not None
    assert cmd.ext_fields["topic"] == "TopicTest"
    assert not cmd.is_response
    assert not cmd.is_oneway


def test_cpp_header_with_trailing_newline_and_acl_fields(frames: dict[str, bytes]) -> None:
    cmd = decode_command(frames["cpp21_route"][4:])
    assert cmd.language == LanguageCode.CPP
    assert cmd.version == 333
    assert cmd.remark == ""
    assert cmd.ext_fields is not None
    assert cmd.ext_fields["OnsChannel"] == "ALIYUN"


def _json_frame(header: bytes, body: bytes = b"") -> bytes:
    """A frame without its length prefix."""
    return struct.pack(">I", len(header)) + header + body


def test_alions_numbers_and_booleans_in_ext_fields_become_strings() -> None:
    header = (
        b'{"code":310,"language":"JAVA","opaque":1,"flag":0,"version":121,'
        b'"extFields":{"a":"PID","e":0,"f":6,"g":1795239421717,"k":false,"x":null,"y":1.5}}'
    )
    cmd = decode_command(_json_frame(header, b"body"))
    assert cmd.ext_fields == {
        "a": "PID",
        "e": "0",
        "f": "6",
        "g": "1795239421717",
        "k": "false",
        "y": "1.5",
    }
    assert bytes(cmd.body) == b"body"


def test_null_ext_fields_and_missing_optional_members() -> None:
    cmd = decode_command(_json_frame(b'{"code":34,"extFields":null,"language":"CPP"}'))
    assert cmd.ext_fields is None
    assert (cmd.opaque, cmd.flag, cmd.version) == (0, 0, 0)


def test_unknown_language_name_is_other_not_an_error() -> None:
    cmd = decode_command(_json_frame(b'{"code":34,"language":"COBOL","opaque":3}'))
    assert cmd.language == LanguageCode.OTHER


def test_go_client_header_order_and_empty_remark() -> None:
    header = (
        b'{"code":105,"language":"GO","version":317,"opaque":2,"flag":0,"remark":"",'
        b'"extFields":{"topic":"T"}}'
    )
    cmd = decode_command(_json_frame(header))
    assert (cmd.language, cmd.remark, cmd.opaque) == (LanguageCode.GO, "", 2)


def test_response_echoes_opaque_and_serialize_type() -> None:
    request = RemotingCommand(code=105, opaque=77, serialize_type=SerializeType.ROCKETMQ)
    response = RemotingCommand.response_to(request, ResponseCode.TOPIC_NOT_EXIST, "no route")
    assert response.opaque == 77
    assert response.is_response
    assert response.serialize_type == SerializeType.ROCKETMQ
    assert response.code_name == "TOPIC_NOT_EXIST"
    decoded = decode_command(encode_command(response)[4:])
    assert decoded.remark == "no route"
    assert decoded.is_response


def test_oneway_flag() -> None:
    cmd = RemotingCommand.request(RequestCode.UPDATE_CONSUMER_OFFSET, oneway=True)
    assert cmd.is_oneway
    assert decode_command(encode_command(cmd)[4:]).flag == 2


def test_binary_header_refuses_codes_beyond_int16() -> None:
    cmd = RemotingCommand(code=RequestCode.POP_MESSAGE, serialize_type=SerializeType.ROCKETMQ)
    with pytest.raises(LocalProtocolError, match=r"SerializeType\.JSON"):
        encode_command(cmd)


def test_binary_zero_length_ext_value_is_dropped_like_java_null() -> None:
    cmd = RemotingCommand(
        code=1, ext_fields={"a": "", "b": "x"}, serialize_type=SerializeType.ROCKETMQ
    )
    assert decode_command(encode_command(cmd)[4:]).ext_fields == {"b": "x"}


def test_parts_encoding_equals_joined_encoding() -> None:
    cmd = RemotingCommand(code=0, flag=1, opaque=9, ext_fields={"k": "v"}, body=b"abcdef")
    parts = encode_command_parts(cmd, [b"abc", memoryview(b"def")])
    assert b"".join(bytes(p) for p in parts) == encode_command(cmd)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"\x00\x00", "no header-info word"),
        (b"\x00\x00\x00\x10{}", "header length 16 does not fit"),
        (b"\x02\x00\x00\x02{}", "unknown header serialize type 2"),
        (b"\x00\x00\x00\x02[]", "not an object"),
        (b"\x00\x00\x00\x03{x}", "does not parse"),
        (b'\x00\x00\x00\x0c{"code":"x"}', "not an int32"),
        (b'\x00\x00\x00\x1b{"code":1,"extFields":[1]} ', "not an object"),
        (b"\x01\x00\x00\x03abc", "shorter than its 17-byte fixed part"),
        (b"\x01\x00\x00\x11" + bytes(13) + b"\x00\x00\x00\x09", "remark length 9"),
        (b"\x01\x00\x00\x15" + bytes(17) + b"\x00\x00\x00\x09", "extFields length 9"),
    ],
)
def test_malformed_headers_raise_remote_protocol_error(frame: bytes, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        decode_command(frame)


_text = st.text(max_size=40)
_ext = st.dictionaries(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=40))
_int32 = st.integers(-(2**31), 2**31 - 1)
_int16 = st.integers(-(2**15), 2**15 - 1)


@given(
    code=_int16,
    language=st.sampled_from(LanguageCode),
    version=_int16,
    opaque=_int32,
    flag=_int32,
    remark=st.none() | _text.filter(bool),
    ext_fields=st.none() | _ext,
    body=st.binary(max_size=64),
    serialize_type=st.sampled_from(SerializeType),
)
def test_round_trip_any_command(
    code: int,
    language: LanguageCode,
    version: int,
    opaque: int,
    flag: int,
    remark: str | None,
    ext_fields: dict[str, str] | None,
    body: bytes,
    serialize_type: SerializeType,
) -> None:
    if serialize_type == SerializeType.ROCKETMQ and ext_fields == {}:
        ext_fields = None  # the binary form cannot tell {} from absent
    cmd = RemotingCommand(
        code=code,
        language=language,
        version=version,
        opaque=opaque,
        flag=flag,
        remark=remark,
        ext_fields=ext_fields,
        body=body,
        serialize_type=serialize_type,
    )
    wire = encode_command(cmd)
    assert struct.unpack_from(">i", wire)[0] == len(wire) - 4
    assert decode_command(wire[4:]) == cmd


@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_remote_protocol_error(data: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        decode_command(data)


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    st.dictionaries(
        st.sampled_from(
            ["code", "language", "version", "opaque", "flag", "remark", "extFields", "x"]
        ),
        _json_values,
    )
)
def test_any_json_header_values_raise_only_remote_protocol_error(header: dict[str, object]) -> None:
    text = orjson.dumps(header)
    with contextlib.suppress(RemoteProtocolError):
        cmd = decode_command(struct.pack(">I", len(text)) + text)
        assert isinstance(cmd.language, LanguageCode)
        assert cmd.ext_fields is None or all(type(v) is str for v in cmd.ext_fields.values())


@pytest.mark.parametrize("number", [b"1" * 30, b"-" + b"9" * 25, b"1e400"])
def test_out_of_range_numbers_in_the_header(number: bytes) -> None:
    header = b'{"code":' + number + b',"extFields":{"a":' + number + b"}}"
    with contextlib.suppress(RemoteProtocolError):
        cmd = decode_command(struct.pack(">I", len(header)) + header)
        assert cmd.ext_fields is not None


def test_unhashable_language_is_not_a_crash() -> None:
    for language in (b"[1,2]", b'{"a":1}'):
        header = b'{"code":1,"language":' + language + b"}"
        assert decode_command(struct.pack(">I", len(header)) + header).code == 1


def test_binary_encoder_refuses_non_string_ext_values() -> None:
    cmd = RemotingCommand(
        code=0,
        flag=1,
        ext_fields={"queueOffset": 5},  # type: ignore[dict-item]
        serialize_type=SerializeType.ROCKETMQ,
    )
    with pytest.raises(LocalProtocolError, match="must map str to str"):
        encode_command(cmd)


def test_small_bodies_are_copied_large_ones_are_views() -> None:
    small = encode_command(RemotingCommand(code=1, body=b"x" * 100))
    large = encode_command(RemotingCommand(code=1, body=b"y" * 100_000))
    chunk = memoryview(small + large)
    first = decode_command(chunk[4 : len(small)])
    second = decode_command(chunk[len(small) + 4 :])
    assert type(first.body) is bytes
    assert isinstance(second.body, memoryview)
    assert bytes(second.body) == b"y" * 100_000
