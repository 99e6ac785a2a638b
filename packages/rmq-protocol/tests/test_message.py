"""Message records, batch bodies, sysFlag and compression (spec §3, vectors V4, V6, V10)."""

from __future__ import annotations

import dataclasses
import pickle
import struct
import zlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmq_protocol.codec import message as codec
from rmq_protocol.codec.message import (
    BLANK_MAGIC,
    BLANK_MAGIC_SIGNED,
    MAGIC_V1,
    MAGIC_V1_SIGNED,
    MAGIC_V2,
    MAGIC_V2_SIGNED,
    PHYSICAL_OFFSET_POSITION,
    QUEUE_OFFSET_POSITION,
    SYSFLAG_POSITION,
    BatchEntry,
    CompressionType,
    HostPort,
    MessageExt,
    SysFlag,
    TransactionType,
    body_crc,
    compress_body,
    compression_type,
    decode_batch,
    decode_message,
    decode_messages,
    decompress_body,
    encode_batch,
    encode_message,
    peek_record_header,
    record_size,
    reset_transaction_type,
    store_timestamp_position,
    transaction_type,
)
from rmq_protocol.codec.properties import KEYS, TAGS, encode_properties
from rmq_protocol.errors import LocalProtocolError, RemoteProtocolError

SETTINGS = settings(max_examples=200, deadline=None)

V4_RECORD = bytes.fromhex(
    "000000a7" "daa320a7" "77d18982" "00000000" "00000000"
    "0000000000000000" "0000000000000000" "00000000" "0000018bcfe56800"
    "7f000001" "0000c350" "0000018bcfe5687b" "7f000001" "00002a9f"
    "00000000" "0000000000000000" "00000005" "48656c6c6f" "09" "546f70696354657374" "003e"
    "5441475301546167410257414954017472756502554e49515f4b455901374630"
    "303030303130443041303030303030303030303030303030303030303102"
)  # fmt: skip
V4_MESSAGE = MessageExt(
    body=b"Hello",
    topic="TopicTest",
    born_timestamp=1700000000000,
    born_host=HostPort("127.0.0.1", 50000),
    store_timestamp=1700000000123,
    store_host=HostPort("127.0.0.1", 10911),
    properties={"TAGS": "TagA", "WAIT": "true", "UNIQ_KEY": "7F0000010D0A00000000000000000001"},
)
V6_BATCH = bytes.fromhex(
    "00000022 00000000 00000000 00000000 00000001 41 000b 554e49515f4b4559 01 58 02"
    "00000023 00000000 00000000 00000007 00000002 4243 000b 4b455953 01 6b31206b32 02"
)
V6_ENTRIES = [
    BatchEntry(b"A", 0, {"UNIQ_KEY": "X"}),
    BatchEntry(b"BC", 7, {"KEYS": "k1 k2"}),
]


def stored(message: MessageExt) -> MessageExt:
    """``message`` as a decoder returns it: TOTALSIZE, BODYCRC, magic and host bits filled."""
    record = encode_message(message)
    size, magic = struct.unpack_from(">iI", record)
    (sys_flag,) = struct.unpack_from(">i", record, SYSFLAG_POSITION)
    return dataclasses.replace(
        message, store_size=size, magic=magic, body_crc=body_crc(message.body), sys_flag=sys_flag
    )


# --- golden vectors ------------------------------------------------------------------


def test_v4_encode() -> None:
    assert len(V4_RECORD) == 167
    assert encode_message(V4_MESSAGE) == V4_RECORD


def test_v4_decode() -> None:
    message, end = decode_message(V4_RECORD)
    assert end == 167
    assert message == dataclasses.replace(V4_MESSAGE, store_size=167, body_crc=2010220930)
    assert message.magic == MAGIC_V1
    assert message.msg_id == "7F0000010D0A00000000000000000001"  # UNIQ_KEY
    assert message.offset_msg_id == "7F00000100002A9F0000000000000000"
    assert message.tags == "TagA"
    assert message.keys == []
    assert message.get_property("WAIT") == "true"
    assert message.get_property("nope", "x") == "x"


def test_v6_batch() -> None:
    assert encode_batch(V6_ENTRIES) == V6_BATCH
    assert decode_batch(V6_BATCH) == V6_ENTRIES
    assert decode_batch(bytearray(V6_BATCH)) == V6_ENTRIES
    assert decode_batch(memoryview(V6_BATCH)) == V6_ENTRIES
    assert encode_batch([]) == b""
    assert decode_batch(b"") == []


def test_v10_misc() -> None:
    assert body_crc(b"Hello") == 2010220930
    assert (MAGIC_V1, MAGIC_V2, BLANK_MAGIC) == (0xDAA320A7, 0xDAA320AB, 0xCBD43194)
    for unsigned, signed in (
        (MAGIC_V1, MAGIC_V1_SIGNED),
        (MAGIC_V2, MAGIC_V2_SIGNED),
        (BLANK_MAGIC, BLANK_MAGIC_SIGNED),
    ):
        assert struct.pack(">I", unsigned) == struct.pack(">i", signed)
    compressed, flags = compress_body(b"hello world " * 3, CompressionType.ZLIB)
    assert compressed.hex() == "785ecb48cdc9c95728cf2fca4951c8c0c10600fd080d75"
    assert flags == SysFlag.COMPRESSED | SysFlag.COMPRESSION_ZLIB_TYPE == 0x301


def test_every_exported_name_exists() -> None:
    for name in codec.__all__:
        assert hasattr(codec, name), name


# --- MessageExt --------------------------------------------------------------------------


def test_decoded_message_is_a_frozen_message_ext() -> None:
    message, _ = decode_message(V4_RECORD)
    assert type(message) is MessageExt
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.topic = "other"  # type: ignore[misc]
    assert hash(message) == hash(dataclasses.replace(message))
    assert dataclasses.replace(message, queue_id=3).queue_id == 3
    assert pickle.loads(pickle.dumps(message)) == message  # noqa: S301 - our own bytes
    assert "UNIQ_KEY" in repr(message)


def test_properties_are_parsed_lazily_and_once() -> None:
    message, _ = decode_message(V4_RECORD)
    assert isinstance(codec._raw_properties(message), str)
    props = message.properties
    assert props == V4_MESSAGE.properties
    assert message.properties is props


def test_msg_id_falls_back_to_offset_id() -> None:
    message = dataclasses.replace(
        V4_MESSAGE, properties={KEYS: "a  b c", TAGS: "t"}, commit_log_offset=1234
    )
    assert message.msg_id == message.offset_msg_id == "7F00000100002A9F00000000000004D2"
    assert message.keys == ["a", "b", "c"]
    assert MessageExt(topic="t").tags is None


def test_defaults() -> None:
    message = MessageExt(topic="T")
    assert (message.magic, message.body, message.properties) == (MAGIC_V1, b"", {})
    assert message.born_host == message.store_host == codec.UNSPECIFIED_HOST
    decoded, _ = decode_message(encode_message(message))
    assert decoded == stored(message)


def test_host_port() -> None:
    assert str(HostPort("10.0.0.1", 10911)) == "10.0.0.1:10911"
    assert str(HostPort("::1", 10911)) == "[::1]:10911"
    assert HostPort.parse("10.0.0.1:10911") == HostPort("10.0.0.1", 10911)
    assert HostPort.parse("[0:0::1]:80") == HostPort("::1", 80)
    assert HostPort("::1", 1).is_ipv6
    for bad in ("10.0.0.1", "host:1", "10.0.0.1:70000", "10.0.0.1:-1"):
        with pytest.raises(ValueError, match=r"address:port|not an IP address"):
            HostPort.parse(bad)


# --- sysFlag ------------------------------------------------------------------------------


def test_sys_flag_bits() -> None:
    assert SysFlag.COMPRESSED.value == 0x1
    assert SysFlag.MULTI_TAGS.value == 0x2
    assert SysFlag.BORNHOST_V6.value == 0x10
    assert SysFlag.STOREHOSTADDRESS_V6.value == 0x20
    assert SysFlag.NEED_UNWRAP.value == 0x40
    assert SysFlag.INNER_BATCH.value == 0x80
    assert CompressionType.LZ4.flag == SysFlag.COMPRESSION_LZ4_TYPE
    assert SysFlag.COMPRESSION_LZ4_TYPE.value == 0x100
    assert CompressionType.ZSTD.flag == SysFlag.COMPRESSION_ZSTD_TYPE
    assert SysFlag.COMPRESSION_ZSTD_TYPE.value == 0x200
    assert CompressionType.ZLIB.flag == SysFlag.COMPRESSION_ZLIB_TYPE
    assert SysFlag.COMPRESSION_ZLIB_TYPE.value == 0x300


@pytest.mark.parametrize("kind", list(TransactionType))
def test_transaction_type(kind: TransactionType) -> None:
    flag = reset_transaction_type(0x301 | 0xC, kind)
    assert transaction_type(flag) is kind
    assert flag & ~0xC == 0x301


@pytest.mark.parametrize(
    ("sys_flag", "kind"),
    [
        (0x1, CompressionType.ZLIB),  # legacy: no type bits
        (0x301, CompressionType.ZLIB),
        (0x201, CompressionType.ZSTD),
        (0x101, CompressionType.LZ4),
    ],
)
def test_compression_type(sys_flag: int, kind: CompressionType) -> None:
    assert compression_type(sys_flag) is kind


def test_unknown_compression_type() -> None:
    with pytest.raises(RemoteProtocolError, match="unknown compression type 4"):
        compression_type(0x401)


# --- compression --------------------------------------------------------------------------

BODY = b"RocketMQ " * 1000


@pytest.mark.parametrize("kind", [CompressionType.ZLIB, CompressionType.ZSTD])
def test_compression_round_trip(kind: CompressionType) -> None:
    compressed, flags = compress_body(BODY, kind)
    assert len(compressed) < len(BODY)
    assert flags == SysFlag.COMPRESSED | kind.flag
    assert decompress_body(compressed, flags) == BODY
    assert decompress_body(BODY, 0) == BODY  # not compressed: unchanged


def test_legacy_zlib_flag() -> None:
    assert decompress_body(zlib.compress(BODY), SysFlag.COMPRESSED) == BODY


def test_zstd_multiple_frames_and_no_content_size() -> None:
    zstd = pytest.importorskip("zstandard")
    cctx = zstd.ZstdCompressor(level=5, write_content_size=False)
    frames = cctx.compress(b"part one ") + cctx.compress(b"part two")
    assert decompress_body(frames, 0x201) == b"part one part two"


@pytest.mark.parametrize("kind", [CompressionType.ZLIB, CompressionType.ZSTD])
def test_corrupt_compressed_body(kind: CompressionType) -> None:
    compressed, flags = compress_body(BODY, kind)
    for broken in (compressed[:-5], b"garbage!" + compressed, b"\x00"):
        with pytest.raises(RemoteProtocolError, match=kind.name):
            decompress_body(broken, flags)


def test_missing_zstandard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(codec._modules, "zstandard", None)
    with pytest.raises(LocalProtocolError, match=r"pip install 'rmq-protocol\[zstd\]'"):
        compress_body(BODY, CompressionType.ZSTD)
    with pytest.raises(RemoteProtocolError, match=r"pip install 'rmq-protocol\[zstd\]'"):
        decompress_body(b"\x28\xb5\x2f\xfd", 0x201)


def test_lz4_without_the_lz4_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(codec._modules, "lz4.frame", None)
    with pytest.raises(LocalProtocolError, match="LZ4 compression is not supported"):
        compress_body(BODY, CompressionType.LZ4)
    with pytest.raises(RemoteProtocolError, match="LZ4 is not supported"):
        decompress_body(b"\x04\x22\x4d\x18", 0x101)


def test_lz4_round_trip_when_available() -> None:
    pytest.importorskip("lz4.frame")
    compressed, flags = compress_body(BODY, CompressionType.LZ4)
    assert decompress_body(compressed, flags) == BODY


def test_bad_compression_level() -> None:
    with pytest.raises(LocalProtocolError, match="level 42"):
        compress_body(BODY, CompressionType.ZLIB, level=42)


@pytest.mark.parametrize("kind", [CompressionType.ZLIB, CompressionType.ZSTD])
def test_decode_inflates_and_clears_compressed_bit(kind: CompressionType) -> None:
    compressed, flags = compress_body(BODY, kind)
    message = dataclasses.replace(V4_MESSAGE, body=compressed, sys_flag=flags | SysFlag.MULTI_TAGS)
    record = encode_message(message)
    decoded, _ = decode_message(record)
    assert decoded.body == BODY
    assert decoded.sys_flag == kind.flag | SysFlag.MULTI_TAGS  # type bits stay
    assert decoded.body_crc == body_crc(compressed)  # CRC of the stored body
    raw, _ = decode_message(record, decompress=False)
    assert raw == stored(message)
    assert encode_message(raw) == record


def test_empty_compressed_body_is_left_alone() -> None:
    message = dataclasses.replace(V4_MESSAGE, body=b"", sys_flag=0x301)
    decoded, _ = decode_message(encode_message(message))
    assert (decoded.body, decoded.sys_flag) == (b"", 0x301)


def test_decode_corrupt_compressed_body_names_its_offset() -> None:
    record = encode_message(dataclasses.replace(V4_MESSAGE, body=b"not zlib", sys_flag=0x301))
    with pytest.raises(RemoteProtocolError, match="does not inflate") as info:
        decode_messages(V4_RECORD + record)
    assert info.value.offset == 167 + 88


# --- layout --------------------------------------------------------------------------------


HOSTS = [
    (HostPort("127.0.0.1", 50000), HostPort("127.0.0.1", 10911)),
    (HostPort("2001:db8::1", 50000), HostPort("127.0.0.1", 10911)),
    (HostPort("127.0.0.1", 50000), HostPort("fe80::1", 10911)),
    (HostPort("::1", 1), HostPort("2001:db8::ff", 65535)),
]


@pytest.mark.parametrize(("born", "store"), HOSTS)
def test_ipv6_hosts(born: HostPort, store: HostPort) -> None:
    message = dataclasses.replace(V4_MESSAGE, born_host=born, store_host=store, sys_flag=0x30)
    record = encode_message(message)
    (sys_flag,) = struct.unpack_from(">i", record, SYSFLAG_POSITION)
    assert sys_flag == (0x10 if born.is_ipv6 else 0) | (0x20 if store.is_ipv6 else 0)
    assert (
        len(record)
        == record_size(5, 9, 62, born_v6=born.is_ipv6, store_v6=store.is_ipv6)
        == 167 + 12 * (born.is_ipv6 + store.is_ipv6)
    )
    decoded, end = decode_message(record)
    assert end == len(record)
    assert decoded == stored(message)
    assert (decoded.born_host, decoded.store_host) == (born, store)
    assert len(decoded.offset_msg_id) == (56 if store.is_ipv6 else 32)
    position = store_timestamp_position(sys_flag)
    assert struct.unpack_from(">q", record, position) == (1700000000123,)


def test_ipv6_host_text_is_canonical() -> None:
    message = dataclasses.replace(V4_MESSAGE, store_host=HostPort("2001:0DB8:0::1", 1))
    decoded, _ = decode_message(encode_message(message))
    assert decoded.store_host == HostPort("2001:db8::1", 1)


def test_patch_positions() -> None:
    record = bytearray(V4_RECORD)
    struct.pack_into(">q", record, QUEUE_OFFSET_POSITION, 77)
    struct.pack_into(">q", record, PHYSICAL_OFFSET_POSITION, 4096)
    decoded, _ = decode_message(record)
    assert (decoded.queue_offset, decoded.commit_log_offset) == (77, 4096)


def test_magic_v2_on_request_and_for_long_topics() -> None:
    asked = dataclasses.replace(V4_MESSAGE, magic=MAGIC_V2)
    record = encode_message(asked)
    assert len(record) == 168 == record_size(5, 9, 62, magic_v2=True)
    assert peek_record_header(record) == (168, MAGIC_V2)
    assert decode_message(record)[0] == stored(asked)

    v1 = dataclasses.replace(V4_MESSAGE, topic="t" * 127)
    assert peek_record_header(encode_message(v1))[1] == MAGIC_V1
    long_topic = dataclasses.replace(V4_MESSAGE, topic="é" * 150)  # 300 UTF-8 bytes
    record = encode_message(long_topic)
    assert peek_record_header(record)[1] == MAGIC_V2
    decoded, _ = decode_message(record)
    assert decoded.topic == "é" * 150
    assert decoded.magic == MAGIC_V2


def test_record_size_formula() -> None:
    assert record_size(0, 0, 0) == 91
    assert record_size(5, 9, 62) == 167
    assert record_size(1, 2, 3, born_v6=True, store_v6=True, magic_v2=True) == 91 + 6 + 25


def test_decode_message_at_offset_in_any_buffer() -> None:
    other = encode_message(dataclasses.replace(V4_MESSAGE, queue_id=5))
    data = V4_RECORD + other
    for buf in (data, bytearray(data), memoryview(data)):
        first, end = decode_message(buf)
        second, end2 = decode_message(buf, end)
        assert (first.queue_id, second.queue_id, end, end2) == (0, 5, 167, 334)
    assert [m.queue_id for m in decode_messages(memoryview(data))] == [0, 5]
    assert decode_messages(b"") == []


def test_decode_message_from_non_byte_memoryview() -> None:
    data = V4_RECORD + b"\x00"  # 168 bytes = 42 uint32 items
    view = memoryview(bytearray(data)).cast("I")
    message, end = decode_message(view)
    assert (message.topic, end) == ("TopicTest", 167)


def test_reencoding_keeps_unparsed_properties_bytes() -> None:
    odd = "TAGS\x01TagA\x02junk\x02\x01novalue\x02"  # Java skips the junk; bytes survive
    props = odd.encode()
    record = (
        struct.pack(">i", 91 + 5 + 9 + len(props))
        + V4_RECORD[4:103]
        + struct.pack(">h", len(props))
        + props
    )
    decoded, _ = decode_message(record)
    assert encode_message(decoded) == record
    assert decoded.properties == {"TAGS": "TagA"}


def test_check_crc() -> None:
    assert decode_message(V4_RECORD, check_crc=True)[0].body == b"Hello"
    broken = bytearray(V4_RECORD)
    broken[88] ^= 0xFF  # first body byte
    assert decode_message(broken)[0].body != b"Hello"  # not checked by default
    with pytest.raises(RemoteProtocolError, match="BODYCRC 2010220930 does not match") as info:
        decode_messages(V4_RECORD + broken, check_crc=True)
    assert info.value.offset == 167 + 8


# --- decode errors ----------------------------------------------------------------------------


def with_int(record: bytes, offset: int, fmt: str, value: int) -> bytes:
    data = bytearray(record)
    struct.pack_into(fmt, data, offset, value)
    return bytes(data)


@pytest.mark.parametrize(
    ("record", "match", "offset"),
    [
        (V4_RECORD[:7], "truncated: 7 bytes left", 0),
        (V4_RECORD[:60], "truncated: TOTALSIZE is 167 but only 60", 0),
        (V4_RECORD[:166], "truncated: TOTALSIZE is 167 but only 166", 0),
        (with_int(V4_RECORD, 4, ">I", 0xDEADBEEF), "unknown magic code 0xDEADBEEF", 4),
        (with_int(V4_RECORD, 4, ">I", BLANK_MAGIC), "blank end-of-file", 4),
        (with_int(V4_RECORD, 0, ">i", 168) + b"\x00", "TOTALSIZE 168 does not match", 0),
        (with_int(V4_RECORD, 0, ">i", 166)[:166], "BODYLENGTH|does not match|TOPICLENGTH", None),
        (with_int(V4_RECORD, 0, ">i", 50), "TOTALSIZE 50 is less than the 91", 0),
        (with_int(V4_RECORD, 0, ">i", -1), "TOTALSIZE -1 is less", 0),
        (with_int(V4_RECORD, 84, ">i", -1), "BODYLENGTH -1 is negative", 84),
        (with_int(V4_RECORD, 84, ">i", 100), "BODYLENGTH 100 runs past", 84),
        (with_int(V4_RECORD, 93, ">B", 0x80), "TOPICLENGTH -128 is negative", 93),
        (with_int(V4_RECORD, 93, ">B", 73), "TOPICLENGTH 73 runs past", 93),
        (with_int(V4_RECORD, 93, ">B", 70), "TOTALSIZE 167 does not match .*TOPICLENGTH 70", 0),
        (with_int(V4_RECORD, 103, ">h", -1), "PROPERTIESLENGTH -1 is negative", 103),
        (with_int(V4_RECORD, 103, ">h", 61), "TOTALSIZE 167 does not match", 0),
        (with_int(V4_RECORD, 94, ">B", 0xFF), "topic is not valid UTF-8", 94),
        (with_int(V4_RECORD, 106, ">B", 0xC3), "properties is not valid UTF-8", 106),
        (with_int(V4_RECORD, 52, ">i", 70000), "BORNHOST port 70000", 52),
        (with_int(V4_RECORD, 68, ">i", -5), "STOREHOST port -5", 68),
        (with_int(V4_RECORD, 36, ">i", 0x10), "TOTALSIZE 167 does not match|runs past", None),
    ],
)
def test_decode_errors(record: bytes, match: str, offset: int | None) -> None:
    for decode in (decode_messages, lambda buf: decode_message(buf)):
        with pytest.raises(RemoteProtocolError, match=match) as info:
            decode(record)
        if offset is not None:
            assert info.value.offset == offset
    with pytest.raises(RemoteProtocolError) as info:
        decode_messages(V4_RECORD + record)
    assert info.value.offset is not None
    assert info.value.offset >= 167
    assert "message record starting at byte 167" in str(info.value)
    with pytest.raises(RemoteProtocolError) as info:
        decode_message(memoryview(V4_RECORD + record), 167)
    assert info.value.offset is not None
    assert info.value.offset >= 167


def test_every_truncation_is_an_error() -> None:
    for cut in range(1, len(V4_RECORD)):
        with pytest.raises(RemoteProtocolError, match=r"truncated|less than|runs past"):
            decode_messages(V4_RECORD[:cut])
        with pytest.raises(RemoteProtocolError):
            decode_messages(V4_RECORD + V4_RECORD[:cut])


@pytest.mark.parametrize("offset", [-1, 167, 500])
def test_decode_message_offset_outside_buffer(offset: int) -> None:
    for buf in (V4_RECORD, bytearray(V4_RECORD)):
        with pytest.raises(RemoteProtocolError, match="no record at offset"):
            decode_message(buf, offset)


def test_peek_record_header() -> None:
    assert peek_record_header(V4_RECORD) == (167, MAGIC_V1)
    assert peek_record_header(memoryview(V4_RECORD + V4_RECORD), 167) == (167, MAGIC_V1)
    with pytest.raises(RemoteProtocolError, match="needs 8 bytes, 3 left"):
        peek_record_header(V4_RECORD, 164)


# --- encode errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"queue_id": 2**31}, "queue_id 2147483648"),
        ({"queue_offset": -(2**63) - 1}, "queue_offset"),
        ({"sys_flag": 2**32}, "sys_flag"),
        ({"born_host": HostPort("broker-a", 1)}, "born host 'broker-a' is not an IPv4"),
        ({"store_host": HostPort("10.0.0.1", 65536)}, "store host port 65536"),
        ({"topic": "t" * 32768}, "topic is 32768 bytes"),
        ({"properties": {"k": "v" * 32766}}, "properties are 32769 bytes"),
        ({"properties": {"k": "a\x02b"}}, "separator"),
        ({"magic": BLANK_MAGIC}, "neither MAGIC_V1 nor MAGIC_V2"),
    ],
)
def test_encode_errors(change: dict[str, object], match: str) -> None:
    message = dataclasses.replace(V4_MESSAGE, **change)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match=match):
        encode_message(message)


# --- batch errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "match", "offset"),
    [
        (V6_BATCH[:21], "truncated: 21 bytes left", 0),
        (V6_BATCH[:33], "truncated: TOTALSIZE is 34 but only 33", 0),
        (V6_BATCH[:40], r"truncated: 6 bytes left.*\(batch entry starting at byte 34\)", 34),
        (with_int(V6_BATCH, 0, ">i", 21), "TOTALSIZE 21 is less than the 22", 0),
        (with_int(V6_BATCH, 16, ">i", -1), "BODYLENGTH -1 does not fit", 16),
        (with_int(V6_BATCH, 16, ">i", 13), "BODYLENGTH 13 does not fit", 16),
        (with_int(V6_BATCH, 21, ">h", -2), "PROPERTIESLENGTH -2 does not match", 21),
        (with_int(V6_BATCH, 21, ">h", 10), "PROPERTIESLENGTH 10 does not match", 21),
        (with_int(V6_BATCH, 24, ">B", 0xFF), "properties are not valid UTF-8", 24),
    ],
)
def test_decode_batch_errors(body: bytes, match: str, offset: int) -> None:
    with pytest.raises(RemoteProtocolError, match=match) as info:
        decode_batch(body)
    assert info.value.offset == offset


def test_encode_batch_errors() -> None:
    with pytest.raises(LocalProtocolError, match="batch entry 1: flag 4294967296"):
        encode_batch([BatchEntry(b""), BatchEntry(b"", 2**32)])
    with pytest.raises(LocalProtocolError, match="properties are 32772 bytes"):
        encode_batch([BatchEntry(b"", 0, {"key": "v" * 32767})])
    with pytest.raises(LocalProtocolError, match="separator"):
        encode_batch([BatchEntry(b"", 0, {"key": "\x01"})])


# --- property-based ------------------------------------------------------------------------------

INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)
TEXT = st.text(
    alphabet=st.characters(exclude_characters="\x01\x02", exclude_categories=["Cs"]),
    min_size=1,
    max_size=12,
)
HOST = st.builds(
    HostPort,
    st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str),
    st.integers(0, 65535),
)


@st.composite
def messages(draw: st.DrawFn) -> MessageExt:
    return MessageExt(
        magic=draw(st.sampled_from([MAGIC_V1, MAGIC_V2])),
        queue_id=draw(INT32),
        flag=draw(INT32),
        queue_offset=draw(INT64),
        commit_log_offset=draw(INT64),
        sys_flag=draw(INT32),
        born_timestamp=draw(INT64),
        born_host=draw(HOST),
        store_timestamp=draw(INT64),
        store_host=draw(HOST),
        reconsume_times=draw(INT32),
        prepared_transaction_offset=draw(INT64),
        body=draw(st.binary(max_size=300)),
        topic=draw(st.text(st.characters(exclude_categories=["Cs"]), max_size=140)),
        properties=draw(st.dictionaries(TEXT, TEXT, max_size=6)),
    )


@SETTINGS
@given(st.lists(messages(), min_size=1, max_size=4))
def test_encode_decode_round_trip(batch: list[MessageExt]) -> None:
    body = b"".join(encode_message(m) for m in batch)
    decoded = decode_messages(body, decompress=False)
    assert decoded == [stored(m) for m in batch]
    for message, original in zip(decoded, batch, strict=True):
        assert message.magic == (
            MAGIC_V2
            if original.magic == MAGIC_V2 or len(original.topic.encode()) > 127
            else MAGIC_V1
        )
        topic = original.topic.encode()
        props = encode_properties(original.properties).encode()
        assert message.store_size == record_size(
            len(original.body),
            len(topic),
            len(props),
            born_v6=original.born_host.is_ipv6,
            store_v6=original.store_host.is_ipv6,
            magic_v2=message.magic == MAGIC_V2,
        )
        assert encode_message(message) == encode_message(original)


@SETTINGS
@given(
    st.lists(
        st.builds(
            BatchEntry, st.binary(max_size=100), INT32, st.dictionaries(TEXT, TEXT, max_size=4)
        ),
        max_size=5,
    )
)
def test_batch_round_trip(entries: list[BatchEntry]) -> None:
    assert decode_batch(encode_batch(entries)) == entries


def remote_error(fn: Callable[[], object]) -> RemoteProtocolError | None:
    """Run ``fn``; return the RemoteProtocolError it raised (any other error propagates)."""
    try:
        fn()
    except RemoteProtocolError as e:
        return e
    return None


def touch(decoded: list[MessageExt]) -> None:
    for message in decoded:
        assert isinstance(message.properties, dict)
        assert message.msg_id
        assert len(message.offset_msg_id) in (32, 56)


@SETTINGS
@given(st.binary(max_size=400))
def test_arbitrary_bytes_only_raise_remote_protocol_error(data: bytes) -> None:
    remote_error(lambda: touch(decode_messages(data, check_crc=True)))
    remote_error(lambda: decode_batch(data))


@st.composite
def mutated(draw: st.DrawFn, valid: st.SearchStrategy[bytes]) -> bytes:
    data = bytearray(draw(valid))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        index = draw(st.integers(0, len(data) - 1))
        data[index] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF, data[index] ^ 0x01]))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def compressed_messages() -> st.SearchStrategy[MessageExt]:
    def compress(message: MessageExt, kind: CompressionType) -> MessageExt:
        body, flags = compress_body(message.body, kind)
        return dataclasses.replace(message, body=body, sys_flag=(message.sys_flag & ~0x701) | flags)

    return st.builds(
        compress, messages(), st.sampled_from([CompressionType.ZLIB, CompressionType.ZSTD])
    )


RECORDS = st.lists(st.one_of(messages(), compressed_messages()), min_size=1, max_size=3).map(
    lambda batch: b"".join(encode_message(m) for m in batch)
)


@SETTINGS
@given(mutated(RECORDS), st.booleans())
def test_mutated_records_only_raise_remote_protocol_error(data: bytes, check: bool) -> None:
    error = remote_error(lambda: touch(decode_messages(data, check_crc=check)))
    if error is not None and error.offset is not None:
        assert 0 <= error.offset <= len(data)
    remote_error(lambda: touch(decode_messages(bytearray(data), decompress=False)))

    def single() -> None:
        message, end = decode_message(memoryview(data))
        assert end == message.store_size

    remote_error(single)


BATCHES = st.lists(
    st.builds(BatchEntry, st.binary(max_size=50), INT32, st.dictionaries(TEXT, TEXT, max_size=3)),
    min_size=1,
    max_size=4,
).map(encode_batch)


@SETTINGS
@given(mutated(BATCHES))
def test_mutated_batches_only_raise_remote_protocol_error(data: bytes) -> None:
    error = remote_error(lambda: decode_batch(data))
    if error is not None:
        assert error.offset is not None
        assert 0 <= error.offset <= len(data)


@pytest.mark.parametrize("kind", [CompressionType.ZLIB, CompressionType.ZSTD])
def test_decompression_is_bounded(kind: CompressionType) -> None:
    bomb, flags = compress_body(b"\0" * (8 * 1024 * 1024), kind)
    assert len(bomb) < 64 * 1024
    with pytest.raises(RemoteProtocolError, match="inflates to more than 1048576 bytes"):
        decompress_body(bomb, flags, max_size=1024 * 1024)
    assert len(decompress_body(bomb, flags, max_size=8 * 1024 * 1024)) == 8 * 1024 * 1024


@pytest.mark.parametrize("kind", [CompressionType.ZLIB, CompressionType.ZSTD])
def test_truncated_compressed_body_is_an_error(kind: CompressionType) -> None:
    packed, flags = compress_body(bytes(range(256)) * 64, kind)
    with pytest.raises(RemoteProtocolError):
        decompress_body(packed[:-4], flags)


def test_lz4_decompression_is_bounded() -> None:
    pytest.importorskip("lz4.frame")
    bomb, flags = compress_body(b"\0" * (8 * 1024 * 1024), CompressionType.LZ4)
    with pytest.raises(RemoteProtocolError, match="inflates to more than 1048576 bytes"):
        decompress_body(bomb, flags, max_size=1024 * 1024)


def test_decode_messages_has_one_inflation_budget_for_all_records() -> None:
    packed, flags = compress_body(b"\0" * (1024 * 1024), CompressionType.ZLIB)
    record = codec.encode_message(
        codec.MessageExt(topic="T", body=packed, sys_flag=int(flags), properties={"a": "b"})
    )
    pull_body = record * 10  # 10 MiB when inflated
    assert len(codec.decode_messages(pull_body, max_inflated=10 * 1024 * 1024)) == 10
    with pytest.raises(RemoteProtocolError, match="inflates to more than"):
        codec.decode_messages(pull_body, max_inflated=5 * 1024 * 1024)
