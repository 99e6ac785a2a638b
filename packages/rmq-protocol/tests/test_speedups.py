"""The C speedups give exactly the answers of the pure-Python functions they replace.

Each test feeds the C function and its Python reference the same inputs, ordinary and
hostile, and compares results or exception types and texts. Skipped, with the reason, when
the module is not built; CI builds it (tests/test_speedups.py::test_built_in_ci).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmq_protocol.codec import hashing
from rmq_protocol.codec.message import (
    MAGIC_V1,
    MAGIC_V2,
    HostPort,
    MessageExt,
    decode_message,
    encode_message_py,
)
from rmq_protocol.codec.speedups import ABI, load, speedups

needs_speedups = pytest.mark.skipif(speedups is None, reason="C speedups not built")


def test_built_in_ci() -> None:
    """CI must measure the code users run: the compiled module is present there."""
    if os.environ.get("CI") and not os.environ.get("RMQ_NO_EXTENSIONS"):
        assert speedups is not None, "rmq_protocol._speedups was not built in CI"
        assert speedups.ABI == ABI


@needs_speedups
def test_a_stale_build_is_refused_with_a_warning() -> None:
    with pytest.warns(RuntimeWarning, match=rf"stale build \(ABI {ABI}, this code needs 999\)"):
        assert load("rmq_protocol._speedups", 999) is None
    assert load("rmq_protocol._speedups", ABI) is speedups


def test_a_module_not_built_is_none() -> None:
    assert load("rmq_protocol._no_such_module", 1) is None


def outcome(function: object, *args: object) -> tuple[str, object]:
    try:
        return ("ok", function(*args))  # type: ignore[operator]
    except Exception as exc:  # noqa: BLE001 - the comparison is the point
        return (type(exc).__name__, str(exc))


# --- hashes ---------------------------------------------------------------------------------

texts = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=2000),
    st.text(alphabet=st.characters(min_codepoint=0xD000, max_codepoint=0x10FFFF), max_size=20),
)


@needs_speedups
@settings(max_examples=600, deadline=None)
@given(texts)
def test_java_string_hash(text: str) -> None:
    assert speedups is not None
    assert outcome(speedups.java_string_hash, text) == outcome(hashing.java_string_hash_py, text)
    assert outcome(speedups.index_key_hash, text) == outcome(hashing.index_key_hash_py, text)


@needs_speedups
@settings(max_examples=600, deadline=None)
@given(
    st.text(max_size=20),
    st.none() | st.text(alphabet=st.sampled_from(" ab\u00e9\u4e2d\U0001f600\ud800"), max_size=30),
    st.none() | st.text(max_size=40),
)
def test_index_key_hashes(topic: str, keys: str | None, unique: str | None) -> None:
    assert outcome(hashing.index_key_hashes, topic, keys, unique) == outcome(
        hashing.index_key_hashes_py, topic, keys, unique
    )


@needs_speedups
def test_hash_edge_values() -> None:
    assert speedups is not None
    # "polygenelubricants" hashes to Integer.MIN_VALUE: its index hash is 0.
    assert speedups.java_string_hash("polygenelubricants") == -(2**31)
    assert speedups.index_key_hash("polygenelubricants") == 0
    assert speedups.java_string_hash("") == 0
    with pytest.raises(UnicodeEncodeError):
        speedups.java_string_hash("a\udc00")
    with pytest.raises(TypeError):
        speedups.java_string_hash(b"bytes")


# --- encode_message ---------------------------------------------------------------------------

int32 = st.integers(-(2**31), 2**31 - 1)
int64 = st.integers(-(2**63), 2**63 - 1)
wide = st.one_of(int64, st.integers(-(2**70), 2**70), st.booleans())
hosts = st.builds(
    HostPort,
    st.sampled_from(
        [
            *("10.0.0.1", "255.255.255.255", "0.0.0.0", "::1", "fe80::1"),  # noqa: S104
            *("01.2.3.4", "1.2.3", "host.example", "1.2.3.4 ", "", "1.2.3.256"),
        ]
    ),
    st.one_of(st.integers(0, 65535), st.integers(-5, 70000)),
)
prop_text = st.text(alphabet=st.sampled_from("ab=\x01\x02 \u00e9\U0001f600"), max_size=8)


@st.composite
def messages(draw: st.DrawFn) -> MessageExt:
    props = draw(
        st.one_of(
            st.dictionaries(prop_text, prop_text, max_size=5),
            st.dictionaries(st.just("K"), st.text(min_size=1, max_size=1), max_size=1).map(
                lambda d: {**d, "BIG": "x" * draw(st.sampled_from([10, 32760, 32767]))}
            ),
            st.text(max_size=30),  # undecoded properties text, as decode_message leaves it
        )
    )
    return MessageExt(
        topic=draw(st.one_of(st.text(max_size=10), st.just("t" * 127), st.just("t" * 128))),
        magic=draw(st.sampled_from([MAGIC_V1, MAGIC_V1, MAGIC_V2, 7])),
        queue_id=draw(st.one_of(int32, wide)),
        flag=draw(int32),
        queue_offset=draw(st.one_of(int64, wide)),
        commit_log_offset=draw(int64),
        sys_flag=draw(st.one_of(int32, st.integers(0, 0x3FF))),
        born_timestamp=draw(int64),
        born_host=draw(hosts),
        store_timestamp=draw(int64),
        store_host=draw(hosts),
        reconsume_times=draw(int32),
        prepared_transaction_offset=draw(int64),
        body=draw(st.binary(max_size=300)),
        properties=props,  # type: ignore[arg-type]
    )


@needs_speedups
@settings(max_examples=1500, deadline=None)
@given(messages())
def test_encode_message(message: MessageExt) -> None:
    assert speedups is not None
    assert outcome(speedups.encode_message, message) == outcome(encode_message_py, message)


@needs_speedups
@settings(max_examples=800, deadline=None)
@given(
    st.builds(
        MessageExt,
        topic=st.text(max_size=40),
        queue_id=int32,
        flag=int32,
        queue_offset=int64,
        sys_flag=int32,
        born_timestamp=int64,
        born_host=st.builds(HostPort, st.ip_addresses(v=4).map(str), st.integers(0, 65535)),
        store_host=st.builds(HostPort, st.ip_addresses(v=4).map(str), st.integers(0, 65535)),
        body=st.binary(max_size=2000),
        properties=st.dictionaries(
            st.text(alphabet=st.characters(blacklist_characters="\x01\x02"), min_size=1),
            st.text(alphabet=st.characters(blacklist_characters="\x01\x02"), min_size=1),
            max_size=6,
        ),
    )
)
def test_encode_message_common_case(message: MessageExt) -> None:
    """The messages the C path takes itself (IPv4 hosts, fields in range, v1 topics)."""
    assert speedups is not None
    assert outcome(speedups.encode_message, message) == outcome(encode_message_py, message)


@needs_speedups
def test_encode_message_with_recurring_host_texts() -> None:
    """The C encoder remembers the last address texts it parsed: the same text object
    with another port (in range or not), and more addresses than it remembers, still
    encode as the reference does."""
    assert speedups is not None
    texts = [f"10.0.0.{i}" for i in range(7)]
    for round_ in range(3):
        for i, text in enumerate(texts):
            for port in (0, 10911, 65535, 65536, -1):
                message = MessageExt(
                    topic="T",
                    body=b"x",
                    born_host=HostPort(text, port),
                    store_host=HostPort(texts[(i + round_) % len(texts)], 10911),
                )
                expected = outcome(encode_message_py, message)
                assert outcome(speedups.encode_message, message) == expected


@needs_speedups
def test_encode_decoded_message_round_trip() -> None:
    """A decoded message keeps its properties as text until read: both encoders reuse it."""
    assert speedups is not None
    original = MessageExt(
        topic="T",
        body=b"x" * 100,
        born_host=HostPort("10.0.0.1", 1),
        store_host=HostPort("10.0.0.2", 10911),
        properties={"TAGS": "a", "KEYS": "k1 k2", "UNIQ_KEY": "U"},
    )
    record = encode_message_py(original)
    decoded, _ = decode_message(record)
    assert speedups.encode_message(decoded) == encode_message_py(decoded) == record


# --- write_records ----------------------------------------------------------------------------


def reference_write(
    buffer: bytearray, position: int, room: int, base: int, records: list[bytes],
    queue_offsets: list[int], store_timestamp: int,
) -> tuple[int, int, int, list[int]]:  # fmt: skip
    """CommitLog._append's inner loop, the way the Python store writes."""
    offsets: list[int] = []
    index = 0
    for index, data in enumerate(records):
        size = len(data)
        if size > room:
            return index, position, room, offsets
        buffer[position : position + size] = data
        buffer[position + 20 : position + 28] = queue_offsets[index].to_bytes(8, "big", signed=True)
        buffer[position + 28 : position + 36] = (base + position).to_bytes(8, "big", signed=True)
        at = 68 if data[39] & 0x10 else 56
        buffer[position + at : position + at + 8] = store_timestamp.to_bytes(8, "big", signed=True)
        offsets.append(base + position)
        position += size
        room -= size
    return len(records), position, room, offsets


@needs_speedups
@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 200), min_size=1, max_size=8),
    st.integers(0, 64),
    st.integers(0, 2000),
    st.sampled_from(["10.0.0.1", "::1"]),
)
def test_write_records(body_sizes: list[int], position: int, room: int, born: str) -> None:
    assert speedups is not None
    records = [
        encode_message_py(
            MessageExt(topic="T", body=bytes(size), born_host=HostPort(born, 1), queue_id=i)
        )
        for i, size in enumerate(body_sizes)
    ]
    queue_offsets = [7 * i - 3 for i in range(len(records))]
    expected = bytearray(4096)
    done, end, left, offsets = reference_write(
        expected, position, room, 1 << 40, records, queue_offsets, 1_700_000_000_123
    )
    actual = bytearray(4096)
    got: list[int] = []
    result = speedups.write_records(
        actual, position, room, 1 << 40, records, 0, queue_offsets, 1_700_000_000_123, got
    )
    assert result == (done, end, left)
    assert got == offsets
    assert actual == expected


@needs_speedups
def test_write_records_refuses_to_overrun_the_buffer() -> None:
    assert speedups is not None
    record = encode_message_py(MessageExt(topic="T", body=bytes(100)))
    with pytest.raises(ValueError, match="does not fit a buffer"):
        speedups.write_records(bytearray(150), 100, 10_000, 0, [record], 0, [0], 0, [])
    with pytest.raises(BufferError):
        speedups.write_records(b"read-only", 0, 10, 0, [record], 0, [0], 0, [])


# --- the switch ---------------------------------------------------------------------------------


def test_no_extensions_environment_selects_pure_python() -> None:
    code = (
        "from rmq_protocol.codec import message, hashing, speedups;"
        "assert speedups.speedups is None;"
        "assert message.encode_message is message.encode_message_py;"
        "assert hashing.index_key_hash is hashing.index_key_hash_py;"
        "print('pure')"
    )
    env = {**os.environ, "RMQ_NO_EXTENSIONS": "1"}
    out = subprocess.run(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "pure"


def test_crc_matches_zlib() -> None:
    """encode_message's BODYCRC is zlib's CRC-32 masked to 31 bits, in either encoder."""
    message = MessageExt(topic="T", body=b"hello world")
    record = (speedups.encode_message if speedups else encode_message_py)(message)
    assert int.from_bytes(record[8:12], "big") == zlib.crc32(b"hello world") & 0x7FFFFFFF
