"""rmq_protocol._wire gives exactly the answers of the pure-Python codec it replaces.

``decode_command`` in C and ``decode_command_py`` get the same frames (captures of real
clients, every header serialisation, generated commands, hand-written JSON dialects and
mutated bytes) and must return equal commands, field by field and type by type, or raise
the same exception with the same text and offset. The C ``from_ext_fields`` of every header
class in headers.py is compared with the generated Python decoder it falls back to.
Skipped, with the reason, when the module is not built; CI builds it
(:func:`test_built_in_ci`).
"""

from __future__ import annotations

import functools
import gc
import json
import os
import struct
import types
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rmq_protocol.capture import read_tcp_chunks
from rmq_protocol.codec import headers
from rmq_protocol.codec.codes import LanguageCode, RequestCode, ResponseCode, SerializeType
from rmq_protocol.codec.command import (
    RemotingCommand,
    decode_command,
    decode_command_py,
    encode_command,
    encode_command_py,
    encode_response,
    encode_response_py,
    response_with_ext,
)
from rmq_protocol.codec.frame import FrameDecoder
from rmq_protocol.codec.header import (
    WIRE_ABI,
    CommandHeader,
    command_header,
    wire,
    wire_speedups,
)
from rmq_protocol.codec.speedups import load
from rmq_protocol.errors import RemoteProtocolError

if TYPE_CHECKING:
    from conftest import Mutator

needs_wire = pytest.mark.skipif(wire_speedups is None, reason="rmq_protocol._wire not built")
VECTORS = Path(__file__).parent / "vectors"


def test_built_in_ci() -> None:
    """CI must measure the code users run: the compiled module is present there."""
    if os.environ.get("CI") and not os.environ.get("RMQ_NO_EXTENSIONS"):
        assert wire_speedups is not None, "rmq_protocol._wire was not built in CI"
        assert wire_speedups.ABI == WIRE_ABI
        assert decode_command is wire_speedups.decode_command


@needs_wire
def test_a_stale_build_is_refused_with_a_warning() -> None:
    with pytest.warns(
        RuntimeWarning, match=rf"stale build \(ABI {WIRE_ABI}, this code needs 999\)"
    ):
        assert load("rmq_protocol._wire", 999) is None


# --------------------------------------------------------------------------- decode_command


def outcome(function: Callable[..., Any], *args: Any) -> tuple[Any, ...]:
    """What a call gives: every field with its type, or the exception's type, text, offset."""
    try:
        result = function(*args)
    except Exception as exc:  # noqa: BLE001 - the comparison is the point
        return ("raised", type(exc), str(exc), getattr(exc, "offset", None))
    if isinstance(result, RemotingCommand):
        fields = []
        for name, value in zip(RemotingCommand._fields, result, strict=True):
            shown: object = value
            if isinstance(value, dict):
                shown = [(type(k), k, type(v), v) for k, v in value.items()]
            elif isinstance(value, memoryview):
                shown = (value.obj is getattr(args[0], "obj", args[0]), bytes(value))
            fields.append((name, type(value), shown))
        return ("ok", type(result), fields)
    if isinstance(result, bytes):
        return ("ok", bytes, result)
    return ("ok", type(result), tuple((type(v), v) for v in result))


def same_decode(frame: Any) -> tuple[Any, ...]:
    got = outcome(decode_command, frame)
    assert got == outcome(decode_command_py, frame)
    return got


def frame_of(header: bytes, body: bytes = b"", kind: int = 0) -> bytes:
    return struct.pack(">I", kind << 24 | len(header)) + header + body


def each_buffer(frame: bytes) -> list[Any]:
    """The frame as every buffer type decode_command is given."""
    return [frame, bytearray(frame), memoryview(frame), memoryview(b"\0\0\0\0" + frame)[4:]]


def test_the_c_module_is_the_one_in_use() -> None:
    if wire_speedups is None:
        assert decode_command is decode_command_py
    else:
        assert decode_command is wire_speedups.decode_command


def test_captured_frames_of_real_clients(frames: dict[str, bytes]) -> None:
    for name, frame in frames.items():
        for buffer in each_buffer(frame[4:]):
            assert same_decode(buffer)[0] == "ok", name


def _pcap_frames() -> list[bytes]:
    """Every frame of the recorded ali-ons conversation (both directions)."""
    decoders: dict[tuple[str, str], FrameDecoder] = defaultdict(FrameDecoder)
    out = []
    for chunk in read_tcp_chunks((VECTORS / "alions-conversation.pcap").read_bytes()):
        decoder = decoders[(str(chunk.source), str(chunk.destination))]
        decoder.feed(chunk.data)
        while (frame := decoder.next_frame()) is not None:
            out.append(bytes(frame))
    return out


def test_every_frame_of_a_recorded_alions_conversation() -> None:
    """ali-ons sends numbers and booleans in extFields; rmq answers in its own JSON."""
    frames = _pcap_frames()
    assert len(frames) > 20
    for frame in frames:
        for buffer in each_buffer(frame):
            assert same_decode(buffer)[0] == "ok"


JSON_DIALECTS = [
    # C++: trailing newline, empty remark, ACL keys
    b'{"code":105,"extFields":{"AccessKey":"","topic":"T"},"flag":0,"language":"CPP",'
    b'"opaque":0,"remark":"","version":333}\n',
    # ali-ons: numbers and booleans in extFields, key order of its own
    b'{"code":310,"language":"JAVA","opaque":1,"flag":0,"version":121,"extFields":'
    b'{"a":"PID","b":"T","d":4,"e":0,"f":0,"g":1795239421717,"k":false,"m":true}}',
    # rocketmq-nodejs: extFields null
    b'{"code":34,"extFields":null,"flag":0,"language":"CPP","opaque":2,"version":333}',
    # Java: serializeTypeCurrentRPC, properties with \\u0001 / \\u0002 escapes
    b'{"code":310,"extFields":{"i":"TAGS\\u0001A\\u0002KEYS\\u0001k\\u0002"},"flag":0,'
    b'"language":"JAVA","opaque":7,"serializeTypeCurrentRPC":"JSON","version":409}',
    b'{ "code" : 1 , "extFields" : { "a" : "b" } }\t\r\n ',
    b'{"code":-2147483648,"opaque":2147483647,"flag":2147483647,"version":-5}',
    b'{"code":0,"opaque":null,"flag":null,"version":null,"remark":null,"language":null}',
    b'{"code":0,"extFields":{}}',
    b'{"code":0,"language":"NODE_JS"}',
    b'{"code":0,"language":"COBOL"}',
    b'{"code":0,"language":"java"}',
    b'{"code":0,"language":""}',
    b'{"code":0,"remark":"caf\xc3\xa9 \\"q\\" \\\\ \\/ \\b\\f\\n\\r\\t '
    b'\\u00e9\\u20ac\\ud83d\\ude00"}',
    b'{"code":0,"extFields":{"k\\u00e9y":"\\u0000","\xe2\x82\xac":"\xf0\x9f\x98\x80"}}',
    b'{"code":0,"unknown":"x","other":12,"t":true,"f":false,"n":null,"s":"\xc3\xa9"}',
    # unusual: the reference decides (fallback in C)
    b'{"code":"105"}',
    b'{"code":105.0}',
    b'{"code":1e2}',
    b'{"code":2147483648}',
    b'{"code":-0}',
    b'{"code":0105}',
    b'{"code":true}',
    b'{"code":null}',
    b'{"opaque":1}',
    b"{}",
    b"[]",
    b'"code"',
    b"",
    b"   ",
    b'{"code":1,"code":2}',
    b'{"code":1,"extFields":{"a":"1","a":"2"}}',
    b'{"code":1,"extFields":{"a":null,"b":"2"}}',
    b'{"code":1,"extFields":{"a":1.5}}',
    b'{"code":1,"extFields":{"a":-0}}',
    b'{"code":1,"extFields":{"a":12345678901234567890123}}',
    b'{"code":1,"extFields":{"a":[1]}}',
    b'{"code":1,"extFields":{"a":{"b":"c"}}}',
    b'{"code":1,"extFields":[]}',
    b'{"code":1,"extFields":"x"}',
    b'{"code":1,"remark":5}',
    b'{"code":1,"remark":true}',
    b'{"code":1,"remark":{"a":1}}',
    b'{"code":1,"language":3}',
    b'{"code":1,"language":"J\\u0041VA"}',
    b'{"code":1,"flag":-1}',
    b'{"code":1,"opaque":"7"}',
    b'{"code":1,"nested":{"a":[1,2,{"b":null}]}}',
    b'{"code":1,"x":1.25e-3}',
    b'{"code":1,"remark":"\\ud800"}',
    b'{"code":1,"remark":"\\udc00x"}',
    b'{"code":1,"remark":"\\ud800\\u0041"}',
    b'{"code":1,"remark":"\\x"}',
    b'{"code":1,"remark":"\\u12"}',
    b'{"code":1,"remark":"\\u12G4"}',
    b'{"code":1,"remark":"tab\there"}',
    b'{"code":1,"remark":"\xff"}',
    b'{"code":1,"remark":"\xed\xa0\x80"}',
    b'{"code":1,"remark":"\xc3"}',
    b'{"code":1,"remark":"open}',
    b'{"code":1,}',
    b'{"code":1 "flag":0}',
    b'{"code":1}x',
    b'{"code":1}{}',
    b'\xef\xbb\xbf{"code":1}',
    b'{"c\\u006fde":1}',
    b'{"code":1,"extFields":{"a":"b",}}',
    b'{"code":1,"extFields":{"a" "b"}}',
    b'{"code":1,"extFields":{"a":tru}}',
    b'{"code":1,"extFields":{"a":nul}}',
    b'{"code":1,"extFields":{"a":"b"}',
    b'{"code":1,"extFields":{',
    b"{'code':1}",
]


@pytest.mark.parametrize("header", JSON_DIALECTS)
def test_json_headers_of_every_dialect(header: bytes) -> None:
    for body in (b"", b"body", b"x" * 5000):
        for buffer in each_buffer(frame_of(header, body)):
            same_decode(buffer)


def test_the_common_dialects_are_decoded_in_c() -> None:
    """The C parser takes them (the fallback to Python would give the same, slower)."""
    if wire_speedups is None:
        pytest.skip("rmq_protocol._wire not built")
    for header in JSON_DIALECTS[:15]:
        cmd = wire_speedups.decode_command(frame_of(header))
        assert type(cmd) is RemotingCommand


def test_one_character_and_escaped_strings_decode_the_same() -> None:
    """Every one-character key and value (the C decoder hands out shared, interned ones),
    and escaped strings whose decoded text is ASCII or not (the C decoder skips the UTF-8
    check for the first)."""
    texts = [chr(c) for c in range(0x80)] + ["é", "€", "😀"]
    escaped = [
        "TAGS\x01TagA\x02UNIQ_KEY\x01U\x02",
        "\x00\x7f",
        'a"b\\c/\n',
        "é\x01",
        "\x01é",
        "\x01\u2028",
        "\x01😀\x02",
    ]
    for text in texts + escaped:
        quoted = json.dumps(text)  # \uXXXX escapes for control and non-ASCII
        raw = json.dumps(text, ensure_ascii=False)
        for value in {quoted, raw}:
            header = b'{"code":1,"extFields":{%s:%s,"k":%s}}' % (
                value.encode(),
                value.encode(),
                value.encode(),
            )
            same_decode(frame_of(header))
            if text != "k":  # else a duplicate key: both raise
                cmd = decode_command(frame_of(header))
                assert cmd.ext_fields == {text: text, "k": text}


# What may stand in JSON text for one character: escapes (short, \u, surrogate pairs, lone
# surrogates, bad ones) and raw bytes (control, DEL, UTF-8 of 2-4 bytes, invalid UTF-8, a
# quote that ends the string early).
_SPECIALS = [
    b"",
    b'\\"',
    b"\\\\",
    b"\\/",
    b"\\n",
    b"\\u0001",
    b"\\u0002",
    b"\\u0000",
    b"\\u007F",
    b"\\u00e9",
    b"\\u20AC",
    b"\\ud83d\\ude00",
    b"\\ud83d",
    b"\\ude00",
    b"\\u12",
    b"\\x",
    b"\x01",
    b"\x1f",
    b"\x7f",
    b"\xc3\xa9",
    b"\xe2\x82\xac",
    b"\xf0\x9f\x98\x80",
    b"\xff",
    b"\xc3",
    b'"',
]


@pytest.mark.parametrize("special", _SPECIALS)
def test_a_special_character_at_every_position_decodes_the_same(special: bytes) -> None:
    """The C decoder reads strings 8 bytes at a time and takes short ASCII ones from a
    cache that loads 24: one escape or non-ASCII byte (or none) at every position of JSON
    text 0 to 40 bytes long, as an extFields key and value, as the last value (the end of
    the header within a word) and as the remark."""
    for length in range(41):
        plain = bytes(0x21 + (i * 7) % 90 for i in range(length))
        plain = plain.replace(b'"', b"a").replace(b"\\", b"b")
        for at in range(length + 1) if special else [length]:
            text = b'"' + plain[:at] + special + plain[at:] + b'"'
            for header in (
                b'{"code":1,"extFields":{%s:%s,"k":"v"}}' % (text, text),
                b'{"code":1,"extFields":{"k":"v","v":%s}}' % text,
                b'{"code":1,"extFields":{"v":%s},"flag":0}' % text,
                b'{"code":1,"remark":%s}' % text,
            ):
                same_decode(frame_of(header))
                same_decode(frame_of(header[:-1]))


def test_short_strings_at_the_end_of_a_header_decode_the_same() -> None:
    """A cached string whose 24 bytes would run past the end of the header (JSON and
    ROCKETMQ binary), of every length and contents that differ only after a word."""
    for length in range(30):
        for last in (b"a", b"b", b"\0"):
            text = b"x" * max(length - 1, 0) + last * (length > 0)
            if b"\0" not in text:
                same_decode(frame_of(b'{"code":1,"extFields":{"k":"%s"}}' % text))
            header = _binary_header(entries=[(b"k", text), (text or b"k", b"v")])
            same_decode(frame_of(header, kind=1))
            same_decode(frame_of(_binary_header(entries=[(b"k", text)]), kind=1))


@pytest.mark.parametrize("key", ["code", "opaque", "flag", "version"])
def test_numbers_of_every_length_decode_the_same(key: str) -> None:
    """The C decoder reads up to 9 digits inline: every length up to 12 digits, leading
    zeros, signs, fractions, exponents, int32 edges, followed by more keys, by the end of
    the object, and cut short."""
    numbers = [b"0", b"00", b"01", b"-0", b"-1", b"1.0", b"1e3", b"1E3", b"0.5", b"0e1", b"7x"]
    numbers += [b"9" * n for n in range(1, 13)] + [b"1" + b"0" * n for n in range(12)]
    numbers += [b"2147483647", b"2147483648", b"-2147483648", b"-2147483649", b"null"]
    code = b"" if key == "code" else b'"code":1,'
    for number in numbers:
        field = b'"%s":%s' % (key.encode(), number)
        for header in (
            b'{%s,%s"language":"GO"}' % (field, code),
            b"{%s%s}" % (code, field),
            b"{%s%s }" % (code, field.replace(b":", b": ")),
        ):
            same_decode(frame_of(header))
            same_decode(frame_of(header[:-1]))


def test_zero_copy_and_copy_body_rules() -> None:
    small, large = b"s" * 4096, b"L" * 4097
    for body in (small, large):
        frame = frame_of(b'{"code":11,"flag":1}', body)
        for buffer in each_buffer(frame):
            cmd = decode_command(buffer)
            assert bytes(cmd.body) == body
            if body is small:
                assert type(cmd.body) is bytes
            else:
                assert type(cmd.body) is memoryview
                assert cmd.body.obj is (buffer.obj if type(buffer) is memoryview else buffer)
            same_decode(buffer)


def _binary_header(
    code: int = 310,
    lang: int = 0,
    version: int = 409,
    opaque: int = 1,
    flag: int = 0,
    remark: bytes = b"",
    entries: list[tuple[bytes, bytes]] | None = None,
    ext_len: int | None = None,
    remark_len: int | None = None,
) -> bytes:
    ext = b"".join(
        struct.pack(">h", len(k)) + k + struct.pack(">i", len(v)) + v for k, v in entries or []
    )
    return (
        struct.pack(
            ">hbhiii",
            code,
            lang,
            version,
            opaque,
            flag,
            len(remark) if remark_len is None else remark_len,
        )
        + remark
        + struct.pack(">i", len(ext) if ext_len is None else ext_len)
        + ext
    )


BINARY_HEADERS = [
    _binary_header(),
    _binary_header(entries=[(b"a", b"PID"), (b"b", b"T"), (b"i", b"TAGS\x01A\x02")]),
    _binary_header(code=-1, lang=-1, version=-32768, opaque=-5, flag=-1, remark=b"r\xc3\xa9"),
    _binary_header(lang=13, entries=[(b"", b"v"), (b"k", b""), (b"dup", b"1"), (b"dup", b"2")]),
    _binary_header(lang=99, entries=[(b"\xe2\x82\xac", b"\xf0\x9f\x98\x80")]),
    _binary_header(entries=[(b"k", b"\xff")]),
    _binary_header(entries=[(b"\xc3", b"v")]),
    _binary_header(remark=b"\xed\xa0\x80"),
    _binary_header(remark=b"abc", remark_len=-1),
    _binary_header(remark=b"abc", remark_len=100),
    _binary_header(ext_len=-1),
    _binary_header(ext_len=1000),
    _binary_header(entries=[(b"k", b"v")], ext_len=3),
    _binary_header(entries=[(b"k", b"v")])[:-1],
    _binary_header()[:16],
    _binary_header()[:19],
    _binary_header() + b"trailing",
    _binary_header(remark=b"x" * 70000),
]


@pytest.mark.parametrize("header", BINARY_HEADERS)
def test_binary_headers(header: bytes) -> None:
    for body in (b"", b"body", b"x" * 5000):
        for buffer in each_buffer(frame_of(header, body, kind=1)):
            same_decode(buffer)


def test_malformed_frames_and_odd_buffers() -> None:
    for frame in (b"", b"\0\0\0", b"\x02\0\0\0", b"\xff\0\0\x05{}", b"\0\0\0\x10{}"):
        for buffer in each_buffer(frame):
            assert same_decode(buffer)[0] == "raised"
    ok = frame_of(b'{"code":1}', b"body")
    released = memoryview(ok)
    released.release()
    same_decode(released)
    same_decode(memoryview(ok).cast("c"))
    same_decode(memoryview(ok + b"\0\0").cast("I"))
    same_decode(memoryview(ok * 2)[::2])
    same_decode("not bytes")
    same_decode(None)


_texts = st.text(st.characters(codec="utf-8"), max_size=12)
_ints = st.integers(-(2**31), 2**31 - 1)


@st.composite
def commands(draw: st.DrawFn) -> RemotingCommand:
    binary = draw(st.booleans())
    small = st.integers(-(2**15), 2**15 - 1) if binary else _ints
    return RemotingCommand(
        code=draw(small),
        language=draw(st.sampled_from(LanguageCode)),
        version=draw(small),
        opaque=draw(_ints),
        flag=draw(st.integers(-(2**31) if binary else 0, 2**31 - 1)),
        remark=draw(st.none() | _texts),
        ext_fields=draw(st.none() | st.dictionaries(_texts, _texts, max_size=6)),
        body=draw(st.sampled_from((b"", b"b", b"z" * 4097))),
        serialize_type=SerializeType.ROCKETMQ if binary else SerializeType.JSON,
    )


@given(cmd=commands())
def test_generated_commands(cmd: RemotingCommand) -> None:
    frame = encode_command(cmd)[4:]
    for buffer in each_buffer(frame):
        same_decode(buffer)


_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _texts
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_texts, inner, max_size=3),
    max_leaves=6,
)


@given(
    top=st.dictionaries(
        st.sampled_from(
            ("code", "opaque", "flag", "version", "remark", "language", "extFields", "x")
        ),
        _json_values | st.dictionaries(_texts, _json_scalars, max_size=4),
        max_size=8,
    ),
    code=st.none() | _ints,
    indent=st.booleans(),
    ascii_only=st.booleans(),
)
def test_generated_json_headers(
    top: dict[str, Any], code: int | None, indent: bool, ascii_only: bool
) -> None:
    if code is not None:
        top["code"] = code
    # the standard library's encoder: big numbers, \uXXXX escapes or raw UTF-8, indents
    text = json.dumps(top, indent=2 if indent else None, ensure_ascii=ascii_only)
    header = text.encode()
    for buffer in each_buffer(frame_of(header, b"body")):
        same_decode(buffer)


@given(data=st.data())
def test_mutated_json_frames(data: st.DataObject, mutate: Mutator) -> None:
    header = mutate(data, JSON_DIALECTS[:15], b'{}[]":,\\u0123456789-.eEtrfanl \n\x00\x80\xc3\xff')
    for buffer in each_buffer(frame_of(header, b"body")):
        same_decode(buffer)


@given(data=st.data())
def test_mutated_binary_frames(data: st.DataObject, mutate: Mutator) -> None:
    frame = mutate(
        data,
        [frame_of(h, b"body", kind=1) for h in BINARY_HEADERS[:5]],
        bytes(range(0, 256, 7)) + b"\xff\x80\x00",
    )
    for buffer in each_buffer(frame):
        same_decode(buffer)


@given(frame=st.binary(max_size=64))
def test_random_bytes(frame: bytes) -> None:
    same_decode(frame)


# --------------------------------------------------------------------------- encode_command


def same_encode(cmd: Any, **kwargs: Any) -> tuple[Any, ...]:
    got = outcome(functools.partial(encode_command, cmd, **kwargs))
    assert got == outcome(functools.partial(encode_command_py, cmd, **kwargs)), (cmd, kwargs)
    return got


def test_the_c_encoder_is_the_one_in_use() -> None:
    expected = encode_command_py if wire_speedups is None else wire_speedups.encode_command
    assert encode_command is expected


@given(cmd=commands(), opaque=st.none() | _ints)
def test_generated_commands_encode_the_same(cmd: RemotingCommand, opaque: int | None) -> None:
    same_encode(cmd, opaque=opaque)
    same_encode(cmd)


@pytest.mark.parametrize("special", ["\x00", "\x1f", '"', "\\", "\x7f", "é", "\x80", " "])
def test_escapes_at_every_position_of_long_text_encode_the_same(special: str) -> None:
    """The C encoder checks text 8 bytes at a time: one byte to escape (or not) at every
    position of keys and values 0 to 40 bytes long, and text with no escape at all."""
    for length in range(41):
        plain = (
            "".join(chr(0x21 + (i * 7) % 90) for i in range(length))
            .replace('"', "a")
            .replace("\\", "b")
        )
        texts = [plain] + [plain[:at] + special + plain[at + 1 :] for at in range(length)]
        for text in texts:
            same_encode(COMMON._replace(ext_fields={text or "k": text, "v": text}))
            same_encode(COMMON._replace(remark=text))


class _Int(int):
    """An int subclass with its own text: the encoders write the value."""

    def __repr__(self) -> str:
        return "not-a-number"

    __str__ = __repr__

    def __index__(self) -> int:
        return 99


ESCAPES = "".join(map(chr, range(0x20))) + '"\\/\x7fé€😀\u2028'
COMMON = RemotingCommand(
    code=0,
    flag=1,
    opaque=9,
    ext_fields={"msgId": "7F00000100002A9F0000000000001F40", "queueId": "3"},
    language=LanguageCode.JAVA,
)
HOSTILE_CHANGES: list[dict[str, Any]] = [
    {},
    {"ext_fields": None},
    {"ext_fields": {}},
    {"remark": ""},
    {"remark": ESCAPES},
    {"ext_fields": {ESCAPES: ESCAPES, "": ""}},
    {"ext_fields": {"k": 1}},
    {"ext_fields": {"k": None}},
    {"ext_fields": {"k": True}},
    {"ext_fields": {1: "v"}},
    {"ext_fields": {"k": "\ud800"}},
    {"ext_fields": {"\udfff": "v"}},
    {"ext_fields": types.MappingProxyType({"k": "v"})},
    {"ext_fields": defaultdict(str, {"k": "v"})},
    {"ext_fields": [("k", "v")]},
    {"ext_fields": {f"k{i}": f"v{i}" for i in range(100)}},
    {"remark": "\ud800"},
    {"remark": 5},
    {"remark": b"r"},
    {"language": 3},
    {"language": None},
    {"language": SerializeType.JSON},
    {"code": True},
    {"code": ResponseCode.SUCCESS, "opaque": RequestCode.SEND_MESSAGE, "flag": _Int(1)},
    {"version": _Int(-7), "code": ResponseCode.SYSTEM_BUSY},
    {"code": 2**63 - 1, "version": -(2**63), "opaque": 2**63 - 1, "flag": -1},
    {"code": 2**63},
    {"code": -(2**63) - 1},
    {"code": 2**64},
    {"code": 1.0},
    {"code": "1"},
    {"version": None},
    {"body": b"x" * 5000},
    {"body": bytearray(b"body")},
    {"body": memoryview(b"xbodyx")[1:-1]},
    {"body": memoryview(b"abcd").cast("I")},
    {"body": memoryview(b"abcdef")[::2]},
    {"body": "text"},
    {"body": None},
    {"body": 5},
    {"serialize_type": SerializeType.ROCKETMQ},
    {"serialize_type": 0},
    {"serialize_type": SerializeType.ROCKETMQ, "code": 2**20},
    {"code": 2**15, "version": -(2**15) - 1},
    {"code": -(2**15), "version": 2**15 - 1, "opaque": -(2**31), "flag": -(2**31)},
    {"opaque": 2**31, "flag": 2**31},
    {"ext_fields": {"k" * 0x8000: "v"}},
    {"ext_fields": {"k" * 0x7FFF: "v" * 70000}},
    {"language": LanguageCode.NODE_JS, "remark": "r" * 300},
]


@pytest.mark.parametrize("kind", SerializeType)
@pytest.mark.parametrize("changes", HOSTILE_CHANGES)
def test_hostile_commands_encode_the_same(kind: SerializeType, changes: dict[str, Any]) -> None:
    cmd = COMMON._replace(serialize_type=kind)._replace(**changes)
    for opaque in (None, 0, -1, 2**31, 2**63, True, "7", 1.5):
        same_encode(cmd, opaque=opaque)
    same_encode(cmd)


def test_odd_calls_encode_the_same() -> None:
    same_encode(COMMON, opaque=None)
    same_encode(COMMON, other=1)
    same_encode(tuple(COMMON))
    same_encode(COMMON[:8])
    same_encode(None)
    subclass = type("Sub", (RemotingCommand,), {"__slots__": ()})
    same_encode(subclass(*COMMON))
    assert outcome(encode_command, COMMON, 5) == outcome(encode_command_py, COMMON, 5)
    assert outcome(encode_command) == outcome(encode_command_py)


def test_a_header_past_16_mib_raises_the_same() -> None:
    got = same_encode(COMMON._replace(remark="r" * 0x1000000))
    assert got[0] == "raised"


def test_encoded_frames_decode_to_the_same_command() -> None:
    cmd = COMMON._replace(remark=ESCAPES, ext_fields={ESCAPES: "é", "i": "TAGS\x01A\x02"})
    assert decode_command(encode_command(cmd)[4:]) == cmd


# --------------------------------------------------------------------------- encode_response


def same_response(*args: Any) -> tuple[Any, ...]:
    got = outcome(functools.partial(encode_response, *args))
    assert got == outcome(functools.partial(encode_response_py, *args)), args
    return got


def test_the_c_response_encoder_is_the_one_in_use() -> None:
    expected = encode_response_py if wire_speedups is None else wire_speedups.encode_response
    assert encode_response is expected


_texts = st.text(max_size=12) | st.sampled_from(["msgId", "queueId", "TRACE_ON", ESCAPES])


@given(
    request=commands(),
    code=_ints,
    language=st.sampled_from(LanguageCode),
    ext=st.dictionaries(_texts, _texts, max_size=8),
)
def test_generated_responses_encode_as_the_command_would(
    request: RemotingCommand, code: int, language: LanguageCode, ext: dict[str, str]
) -> None:
    pairs = tuple(text for item in ext.items() for text in item)
    got = same_response(request, code, language, pairs)
    expected = outcome(encode_command_py, response_with_ext(request, code, None, ext, language))
    assert got == expected


@pytest.mark.parametrize("kind", SerializeType)
def test_odd_responses_encode_the_same(kind: SerializeType) -> None:
    request = COMMON._replace(serialize_type=kind, flag=0, opaque=77)
    java = LanguageCode.JAVA
    ok = same_response(request, 0, java, ("msgId", "M", "queueId", "3"))
    assert ok[0] != "raised"
    assert same_response(request, 0, java, ("k", "1", "k", "2"))[0] == "raised"  # twice
    assert same_response(request, 0, java, ("k", "1", "".join(["k"]), "2"))[0] == "raised"
    assert same_response(request, 0, java, ("k",))[0] == "raised"  # no value
    for pairs in [(), ("k", 1), (1, "v"), ("k", None), ("k", "\ud800"), ["k", "v"], None]:
        same_response(request, 0, java, pairs)
    same_response(request, 0, java, tuple(f"k{i // 2}" if i % 2 == 0 else "v" for i in range(70)))
    same_response(request, 2**40, java, ("k", "v"))
    same_response(request, 0, 3, ("k", "v"))
    same_response(request, 0, java, (ESCAPES, ESCAPES))
    same_response(tuple(request), 0, java, ("k", "v"))
    same_response(request._replace(serialize_type=0), 0, java, ("k", "v"))  # type: ignore[arg-type]
    assert outcome(encode_response, request, 0) == outcome(encode_response_py, request, 0)


# --------------------------------------------------------------------------- from_ext_fields

HEADER_CLASSES = sorted(
    (
        cls
        for cls in vars(headers).values()
        if isinstance(cls, type) and issubclass(cls, CommandHeader) and cls is not CommandHeader
    ),
    key=lambda cls: cls.__name__,
)


def _decoders(cls: type[CommandHeader]) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """(what from_ext_fields runs, the Python reference) for ``cls``."""
    installed = vars(cls)["from_ext_fields"].__func__
    if wire_speedups is not None and isinstance(installed, wire_speedups.HeaderDecoder):
        return installed, installed.fallback
    return installed, installed


def test_every_header_class_with_plain_fields_is_decoded_in_c() -> None:
    if wire_speedups is None:
        pytest.skip("rmq_protocol._wire not built")
    for cls in HEADER_CLASSES:
        installed, reference = _decoders(cls)
        plain = all(f.kind in (str, int, bool) for f in cls.wire_fields)
        assert (installed is not reference) == plain, cls.__name__
        if plain:
            assert getattr(installed, "cls") is cls  # noqa: B009 - untyped C attribute


def same_header(cls: type[CommandHeader], ext: Any) -> tuple[Any, ...]:
    installed, reference = _decoders(cls)
    got = outcome(installed, cls, ext)
    assert got == outcome(reference, cls, ext), (cls.__name__, ext)
    if got[0] == "ok":
        assert type(cls.from_ext_fields(ext)) is cls
    return got


VALUES = [
    "0", "1", "-1", "+7", "007", "123456789012345678", "-123456789012345678",
    "1234567890123456789", "9223372036854775807", "9223372036854775808",
    "-9223372036854775808", "-9223372036854775809", "", "-", "+", "1_000", " 1", "1 ",
    "1.5", "0x10", "\u0663", "\uff11", "true", "TRUE", "True", "tRuE", "false", "yes",
    "\u0130", "\u212a", "trUe ", "x", "é",
]  # fmt: skip
ODD_VALUES: list[Any] = [5, None, True, b"1", 1.5, ["1"]]


@pytest.mark.parametrize("cls", HEADER_CLASSES, ids=lambda cls: cls.__name__)
def test_every_header_class(cls: type[CommandHeader]) -> None:
    same_header(cls, None)
    same_header(cls, {})
    fields = cls.wire_fields
    full = {f.key: ("true" if f.kind is bool else "1") for f in fields}
    if all(f.kind in (str, int, bool) for f in fields):
        assert same_header(cls, full)[0] == "ok"
    for f in fields:
        for value in [*VALUES, *ODD_VALUES]:
            same_header(cls, {**full, f.key: value})
        rest = dict(full)
        del rest[f.key]
        same_header(cls, rest)
    same_header(cls, types.MappingProxyType(full))
    same_header(cls, {**full, "unknown": "x", 7: "y"})


class _Dict(dict[str, str]):
    def get(self, key: str, default: Any = None) -> Any:
        return "42"


@given(data=st.data())
def test_generated_ext_fields(data: st.DataObject) -> None:
    cls = data.draw(st.sampled_from(HEADER_CLASSES))
    ext = {}
    for f in cls.wire_fields:
        choice = data.draw(st.integers(0, 3))
        if choice == 0:
            continue
        if choice == 1:
            ext[f.key] = data.draw(st.sampled_from(VALUES))
        elif choice == 2:
            ext[f.key] = data.draw(st.text(max_size=20))
        else:
            ext[f.key] = str(data.draw(st.integers(-(2**64), 2**64)))
    same_header(cls, ext)
    same_header(cls, _Dict(ext))


@given(st.data())
def test_ext_fields_in_any_order_with_copied_and_extra_keys(data: st.DataObject) -> None:
    """The C decoder finds a field by its key object first (one pass over the dict), then
    by lookup: keys in any order, equal keys that are other objects, extra keys, a
    decoded frame's extFields (keys shared with the header's)."""
    cls = data.draw(st.sampled_from(HEADER_CLASSES))
    items = []
    for f in cls.wire_fields:
        if data.draw(st.booleans()):
            key = f.key if data.draw(st.booleans()) else "".join(list(f.key))  # a copy
            items.append((key, data.draw(st.sampled_from(VALUES))))
    items += data.draw(st.lists(st.tuples(st.text(max_size=3), st.sampled_from(VALUES))))
    ext = dict(data.draw(st.permutations(items)))
    same_header(cls, ext)
    if all(type(v) is str for v in ext.values()):
        frame = frame_of(b'{"code":1,"extFields":%s}' % json.dumps(ext).encode())
        decoded = decode_command(frame).ext_fields
        assert decoded == ext
        same_header(cls, decoded)


@needs_wire
def test_header_decoder_rejects_bad_specs_and_odd_calls() -> None:
    assert wire_speedups is not None
    decoder_type = wire_speedups.HeaderDecoder
    cls = headers.GetMaxOffsetRequestHeader
    fallback = _decoders(cls)[1]
    with pytest.raises(TypeError):
        decoder_type(cls, (("k", 0, True),), fallback)
    with pytest.raises(ValueError, match="field kind 9"):
        decoder_type(cls, (("k", 9, True, None),), fallback)
    with pytest.raises(TypeError, match="tuple subclass"):
        decoder_type(dict, (), fallback)
    with pytest.raises(TypeError, match="callable"):
        decoder_type(cls, (), 5)
    decoder = _decoders(cls)[0]
    ext = {"topic": "T", "queueId": "1"}
    # Any call shape but (cls, ext_fields) goes to the reference unchanged.
    assert outcome(decoder, cls, ext) == outcome(fallback, cls, ext)
    assert outcome(decoder, cls) == outcome(fallback, cls)
    by_keyword = functools.partial(decoder, cls, ext_fields=ext)
    assert outcome(by_keyword) == outcome(functools.partial(fallback, cls, ext_fields=ext))
    sub = type("Sub", (cls,), {"__slots__": ()})
    assert outcome(decoder, sub, ext) == outcome(fallback, sub, ext)


def test_a_header_declared_later_gets_the_c_decoder_and_is_collected() -> None:
    @command_header
    class LateHeader(CommandHeader):
        name: str = wire("n")
        number: int = 3
        on: bool | None = None

    installed, reference = _decoders(LateHeader)
    for ext in (
        {"n": "x"},
        {"n": "x", "number": "-9", "on": "TRUE"},
        {},
        {"n": "x", "number": "z"},
    ):
        same_header(LateHeader, ext)
    if wire_speedups is not None:
        assert installed is not reference
    assert LateHeader.from_ext_fields({"n": "x", "on": "true"}) == LateHeader(name="x", on=True)
    import weakref

    ref = weakref.ref(LateHeader)
    del LateHeader, installed, reference
    gc.collect()
    assert ref() is None, "the class <-> decoder cycle is collectable"


def test_decode_then_header_round_trip() -> None:
    ext = {
        "a": "PID", "b": "T", "c": "TBW102", "d": "4", "e": "3", "f": "0",
        "g": "1700000000000", "h": "0", "i": "TAGS\x01A\x02", "j": "0", "k": "false",
        "m": "false",
    }  # fmt: skip
    cmd = RemotingCommand(code=310, ext_fields=ext, body=b"x")
    decoded = decode_command(encode_command(cmd)[4:])
    header = decoded.decode_header(headers.SendMessageRequestHeaderV2)
    assert header.queue_id == 3
    assert header.born_timestamp == 1_700_000_000_000
    assert header.unit_mode is False
    assert header.properties == "TAGS\x01A\x02"
    with pytest.raises(RemoteProtocolError, match="field 'e' is 'x'"):
        headers.SendMessageRequestHeaderV2.from_ext_fields({**ext, "e": "x"})


# --------------------------------------------------------------------------- to_ext_fields


def _encoders(cls: type[CommandHeader]) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """(what to_ext_fields runs, the Python reference) for ``cls``."""
    installed = vars(cls)["to_ext_fields"]
    if wire_speedups is not None and isinstance(installed, wire_speedups.HeaderEncoder):
        return installed, installed.fallback
    return installed, installed


def same_ext(header: CommandHeader) -> tuple[Any, ...]:
    installed, reference = _encoders(type(header))
    got = outcome(installed, header)
    if got[0] == "ok":
        got = ("ok", list(installed(header).items()))
    expected = outcome(reference, header)
    if expected[0] == "ok":
        expected = ("ok", list(reference(header).items()))
    assert got == expected, header
    if got[0] == "ok":
        assert list(header.to_ext_fields().items()) == got[1]
    return got


def test_every_header_class_with_plain_fields_is_encoded_in_c() -> None:
    if wire_speedups is None:
        pytest.skip("rmq_protocol._wire not built")
    for cls in HEADER_CLASSES:
        installed, reference = _encoders(cls)
        plain = all(f.kind in (str, int, bool) for f in cls.wire_fields)
        assert (installed is not reference) == plain, cls.__name__


class _Str(str):
    pass


ENCODE_ODD: list[Any] = [None, True, False, 0, -(2**70), _Int(5), _Str("s"), "", "é\x01", 1.5, b"b"]


@pytest.mark.parametrize("cls", HEADER_CLASSES, ids=lambda cls: cls.__name__)
def test_every_header_class_encodes_the_same(cls: type[CommandHeader]) -> None:
    fields = cls.wire_fields
    plain = {f.name: (True if f.kind is bool else 7 if f.kind is int else "v") for f in fields}
    if any(f.kind not in (str, int, bool) for f in fields):
        return
    base = cls(**plain)
    assert same_ext(base)[0] == "ok"
    for i in range(len(fields)):
        for value in ENCODE_ODD:
            same_ext(tuple.__new__(cls, (*base[:i], value, *base[i + 1 :])))
    same_ext(tuple.__new__(cls, tuple(None for _ in fields)))


@given(data=st.data())
def test_generated_headers_encode_the_same(data: st.DataObject) -> None:
    cls = data.draw(st.sampled_from(HEADER_CLASSES))
    values = []
    for f in cls.wire_fields:
        if f.kind is bool:
            strategy: st.SearchStrategy[Any] = st.booleans()
        elif f.kind is int:
            strategy = st.integers(-(2**64), 2**64)
        else:
            strategy = st.text(max_size=8)
        values.append(data.draw(st.none() | strategy if f.optional else strategy))
    same_ext(tuple.__new__(cls, tuple(values)))


@needs_wire
def test_header_encoder_odd_calls_and_specs() -> None:
    assert wire_speedups is not None
    cls = headers.GetMaxOffsetRequestHeader
    header = cls(topic="T", queue_id=1)
    installed, reference = _encoders(cls)
    assert cls.to_ext_fields(header) == reference(header)  # through the class
    assert outcome(installed) == outcome(reference)
    assert outcome(installed, header, 1) == outcome(reference, header, 1)
    assert outcome(installed, ("T", 1)) == outcome(reference, ("T", 1))
    with pytest.raises(ValueError, match="field kind 7"):
        wire_speedups.HeaderEncoder(cls, (("k", 7, False),), reference)
    with pytest.raises(TypeError, match="tuple subclass"):
        wire_speedups.HeaderEncoder(dict, (), reference)
