"""rmq_protocol._records gives exactly the answers of the pure-Python functions it mirrors.

Each test feeds the C function and its Python reference the same inputs, ordinary and
hostile (hypothesis), and compares results, or exception types, texts and offsets. Skipped,
with the reason, when the module is not built; CI builds it (test_built_in_ci).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmq_protocol.codec import message, msgid
from rmq_protocol.codec import properties as props
from rmq_protocol.codec.message import (
    MAGIC_V1,
    MAGIC_V2,
    BatchEntry,
    HostPort,
    MessageExt,
    compress_body,
    encode_batch_py,
    encode_message_py,
)
from rmq_protocol.codec.speedups import load
from rmq_protocol.errors import ProtocolError, RemoteProtocolError

records = props.records
needs_records = pytest.mark.skipif(records is None, reason="rmq_protocol._records not built")


def test_built_in_ci() -> None:
    """CI must measure the code users run: the compiled module is present there."""
    if os.environ.get("CI") and not os.environ.get("RMQ_NO_EXTENSIONS"):
        assert records is not None, "rmq_protocol._records was not built in CI"
        assert records.ABI == props.RECORDS_ABI


@needs_records
def test_a_stale_build_is_refused_with_a_warning() -> None:
    with pytest.warns(RuntimeWarning, match=r"_records is a stale build"):
        assert load("rmq_protocol._records", 999) is None


def test_no_extensions_means_the_python_codec() -> None:
    code = (
        "from rmq_protocol.codec import message, msgid, properties as p\n"
        "assert p.records is None\n"
        "assert message._decode_records is message.decode_records_py\n"
        "assert message.encode_batch is message.encode_batch_py\n"
        "assert message.decode_batch_messages is message.decode_batch_messages_py\n"
        "assert message.new_message is message.new_message_py\n"
        "assert p.encode_properties is p.encode_properties_py\n"
        "assert msgid._unique_ids is msgid.unique_ids_py\n"
    )
    env = {**os.environ, "RMQ_NO_EXTENSIONS": "1"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)  # noqa: S603


@needs_records
def test_the_codec_uses_the_c_functions() -> None:
    assert records is not None
    assert message._decode_records is records.decode_records
    assert message.encode_batch is records.encode_batch
    assert message.decode_batch is records.decode_batch
    assert message.decode_batch_messages is records.decode_batch_messages
    assert message.new_message is records.new_message
    assert props.encode_properties is records.encode_properties
    assert props.decode_properties is records.decode_properties
    assert msgid._unique_ids is records.unique_ids


def outcome(function: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    """The result, or the exception's type, text and offset (for RemoteProtocolError)."""
    try:
        return ("ok", function(*args))
    except Exception as exc:  # noqa: BLE001 - the comparison is the point
        return (type(exc).__name__, (str(exc), getattr(exc, "offset", None)))


def fields(m: MessageExt) -> tuple[Any, ...]:
    """Every slot of a message as stored (properties as text or dict, not parsed)."""
    values = []
    for f in dataclasses.fields(MessageExt):
        if f.name == "properties":
            raw = message._raw_properties(m)
            values.append((type(raw).__name__, raw))
        else:
            values.append(getattr(m, f.name))
    return (type(m).__name__, *values)


# --- records ----------------------------------------------------------------------------------

int32 = st.integers(-(2**31), 2**31 - 1)
int64 = st.integers(-(2**63), 2**63 - 1)
ipv4 = st.ip_addresses(v=4).map(str)
any_ip = st.one_of(ipv4, ipv4, st.ip_addresses(v=6).map(str))
text_piece = st.text(alphabet=st.sampled_from("ab\x01\x02 \u00e9\u4e2d\U0001f600"), max_size=8)


@st.composite
def stored(draw: st.DrawFn) -> MessageExt:
    """A message a broker could have stored: any IPs, both magics, maybe compressed."""
    body = draw(st.binary(max_size=200))
    sys_flag = draw(st.one_of(st.just(0), st.integers(0, 0x7CF), int32))
    if draw(st.integers(0, 5)) == 0:
        body, bits = compress_body(body)
        sys_flag = (sys_flag & ~0x701) | bits
    text = draw(
        st.one_of(
            st.dictionaries(text_piece, text_piece, max_size=5).map(
                lambda d: "".join(f"{k}\x01{v}\x02" for k, v in d.items())
            ),
            st.text(max_size=30),
            st.just("TAGS\x01a\x02KEYS\x01k1 k2\x02UNIQ_KEY\x01U\x02"),
        )
    )
    return MessageExt(
        topic=draw(st.one_of(st.just("TopicTest"), st.text(max_size=10), st.just("t" * 128))),
        magic=draw(st.sampled_from([MAGIC_V1, MAGIC_V1, MAGIC_V2])),
        queue_id=draw(int32),
        flag=draw(int32),
        queue_offset=draw(int64),
        commit_log_offset=draw(int64),
        sys_flag=sys_flag,
        born_timestamp=draw(int64),
        born_host=HostPort(draw(any_ip), draw(st.integers(0, 65535))),
        store_timestamp=draw(int64),
        store_host=HostPort(draw(any_ip), draw(st.integers(0, 65535))),
        reconsume_times=draw(int32),
        prepared_transaction_offset=draw(int64),
        body=body,
        properties=text,  # type: ignore[arg-type]
    )


def encodable(m: MessageExt) -> bytes | None:
    try:
        return encode_message_py(m)
    except (ProtocolError, UnicodeEncodeError):
        return None  # a lone surrogate in the text: no record to decode


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """Pull bodies: valid records back to back, often damaged afterwards."""
    parts = [encodable(m) for m in draw(st.lists(stored(), max_size=4))]
    data = bytearray(b"".join(p for p in parts if p is not None))
    damage = draw(st.integers(0, 4))
    if data and damage == 1:  # flip bytes
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] = draw(st.integers(0, 255))
    elif data and damage == 2:  # cut
        del data[draw(st.integers(0, len(data) - 1)) :]
    elif damage == 3:  # trailing garbage
        data += draw(st.binary(max_size=100))
    elif data and damage == 4:  # a length field set to something odd
        at = draw(st.sampled_from([0, 84, 96, 108]))
        if at + 4 <= len(data):
            value = draw(st.sampled_from([0, -1, 1, 91, 2**31 - 1, -(2**31), len(data)]))
            data[at : at + 4] = value.to_bytes(4, "big", signed=True)
    return bytes(data)


def run_loop(
    loop: Callable[..., int], data: bytes, decompress: bool, check_crc: bool, budget: int
) -> tuple[list[tuple[Any, ...]], int, list[int]]:
    out: list[MessageExt] = []
    left = [budget]
    end = loop(out, data, 0, len(data), decompress, check_crc, 0, False, left)
    return [fields(m) for m in out], end, left


@needs_records
@settings(max_examples=600, deadline=None)
@given(bodies(), st.booleans(), st.booleans(), st.sampled_from([1 << 26, 100, 0]))
def test_decode_records(data: bytes, decompress: bool, check_crc: bool, budget: int) -> None:
    assert records is not None
    expected = outcome(run_loop, message.decode_records_py, data, decompress, check_crc, budget)
    assert outcome(run_loop, records.decode_records, data, decompress, check_crc, budget) == (
        expected
    )


def run_single(
    loop: Callable[..., int], data: bytes, pos: int, base: int
) -> tuple[list[tuple[Any, ...]], int]:
    out: list[MessageExt] = []
    end = loop(out, data, pos, len(data), True, True, base, True, [1 << 20])
    return [fields(m) for m in out], end


@needs_records
@settings(max_examples=500, deadline=None)
@given(bodies(), st.integers(0, 300), st.sampled_from([0, 5, 1 << 40]))
def test_decode_one_record(data: bytes, pos: int, base: int) -> None:
    """decode_message's call: one record from pos, error offsets shifted by base."""
    assert records is not None
    pos = min(pos, max(len(data) - 1, 0))
    expected = outcome(run_single, message.decode_records_py, data, pos, base)
    assert outcome(run_single, records.decode_records, data, pos, base) == expected


def sample(index: int, **changes: Any) -> MessageExt:
    values: dict[str, Any] = {
        "topic": "TopicTest",
        "queue_id": index % 4,
        "queue_offset": 1000 + index,
        "commit_log_offset": 4096 * index,
        "born_timestamp": 1_700_000_000_000 + index,
        "born_host": HostPort("10.0.0.1", 50000),
        "store_timestamp": 1_700_000_000_123 + index,
        "store_host": HostPort("10.0.0.2", 10911),
        "body": bytes(range(index % 256)),
        "properties": {"TAGS": "TagA", "KEYS": f"k{index}", "UNIQ_KEY": f"U{index:030d}"},
    }
    return MessageExt(**{**values, **changes})


@needs_records
def test_decode_messages_matches_the_reference_on_a_pull_body() -> None:
    originals = [sample(i) for i in range(32)]
    originals[3] = sample(3, born_host=HostPort("::1", 1), store_host=HostPort("fe80::2", 2))
    originals[5] = sample(5, magic=MAGIC_V2, topic="t" * 200)
    body, bits = compress_body(b"z" * 5000)
    originals[7] = sample(7, body=body, sys_flag=bits)
    data = b"".join(encode_message_py(m) for m in originals)
    decoded = message.decode_messages(data)
    reference: list[MessageExt] = []
    message.decode_records_py(reference, data, 0, len(data), True, False, 0, False, [1 << 26])
    expected = [fields(m) for m in decoded]
    assert expected == [fields(m) for m in reference]
    # a memoryview and a bytearray decode the same
    assert [fields(m) for m in message.decode_messages(memoryview(data))] == expected
    assert [fields(m) for m in message.decode_messages(bytearray(data))] == expected
    assert decoded[7].body == b"z" * 5000
    assert decoded[7].sys_flag == bits & ~1
    assert decoded[3].born_host == HostPort("::1", 1)
    assert type(message._raw_properties(decoded[0])) is str  # parsed on first read
    assert decoded[0].properties == originals[0].properties
    assert decoded[0].msg_id == originals[0].properties["UNIQ_KEY"]


@needs_records
def test_decode_messages_errors_name_the_offset() -> None:
    data = encode_message_py(sample(1)) + encode_message_py(sample(2))
    broken = bytearray(data)
    second = len(encode_message_py(sample(1)))
    broken[second + 4 : second + 8] = b"\x00\x00\x00\x01"
    with pytest.raises(ProtocolError, match=rf"unknown magic code 0x00000001.*byte {second}\)"):
        message.decode_messages(bytes(broken))
    with pytest.raises(ProtocolError, match=r"port 70000 not in 0..65535"):
        message.decode_messages(encode_message_py(sample(1)).replace(
            (50000).to_bytes(4, "big"), (70000).to_bytes(4, "big")
        ))  # fmt: skip
    crc_broken = bytearray(data)
    crc_broken[8] ^= 1
    with pytest.raises(RemoteProtocolError, match=r"BODYCRC .* does not match") as caught:
        message.decode_messages(bytes(crc_broken), check_crc=True)
    assert caught.value.offset == 8
    assert len(message.decode_messages(bytes(crc_broken))) == 2  # unchecked by default


@needs_records
def test_decode_message_of_a_mapped_window() -> None:
    data = bytearray(64) + bytearray(encode_message_py(sample(9))) + bytearray(10)
    got, end = message.decode_message(memoryview(data), 64)
    reference: list[MessageExt] = []
    window = bytes(data[64:-10])
    message.decode_records_py(reference, window, 0, len(window), True, False, 64, True, [1 << 20])
    assert fields(got) == fields(reference[0])
    assert end == len(data) - 10
    assert got.properties == sample(9).properties


@needs_records
def test_zip_bombs_share_one_budget() -> None:
    body, bits = compress_body(bytes(1000))
    data = b"".join(encode_message_py(sample(i, body=body, sys_flag=bits)) for i in range(3))
    assert len(message.decode_messages(data, max_inflated=3000)) == 3
    with pytest.raises(ProtocolError, match=r"at byte 440: .* inflates to more than 999 bytes"):
        message.decode_messages(data, max_inflated=2999)


# --- properties -------------------------------------------------------------------------------

any_text = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=st.sampled_from("ab\x01\x02\u00e9\u4e2d\U0001f600\ud800"), max_size=20),
)


@needs_records
@settings(max_examples=600, deadline=None)
@given(st.one_of(any_text, st.text(alphabet=st.sampled_from("TAGS\x01\x02k"), max_size=40)))
def test_decode_properties(text: str) -> None:
    assert records is not None
    expected = outcome(props.decode_properties_py, text)
    got = outcome(records.decode_properties, text)
    assert got == expected
    assert list(got[1]) == list(expected[1])  # same order


class Text(str):
    __slots__ = ()


@needs_records
@settings(max_examples=600, deadline=None)
@given(
    st.one_of(
        st.dictionaries(any_text, any_text, max_size=6),
        st.dictionaries(st.text(min_size=1, max_size=8), st.text(min_size=1), max_size=6),
        st.dictionaries(st.sampled_from(["a", Text("b"), 3]), st.sampled_from(["v", Text("w")])),
    )
)
def test_encode_properties(mapping: dict[Any, Any]) -> None:
    assert records is not None
    assert outcome(records.encode_properties, mapping) == outcome(
        props.encode_properties_py, mapping
    )


@needs_records
def test_properties_odd_arguments() -> None:
    assert records is not None
    for value in ({"a": "b"}.items(), None, b"x", Text("a\x01b\x02")):
        assert outcome(records.encode_properties, value) == outcome(
            props.encode_properties_py, value
        )
        assert outcome(records.decode_properties, value) == outcome(
            props.decode_properties_py, value
        )
    big = {"a": "\U0001f600" * 20000}
    assert records.encode_properties(big) == props.encode_properties_py(big)


def _canonical(text: str) -> bool:
    """Whether encode_properties(decode_properties(text)) gives the text back."""
    try:
        return props.encode_properties_py(props.decode_properties_py(text)) == text
    except ProtocolError:
        return False


pair_texts = st.lists(
    st.tuples(
        st.sampled_from(["TAGS", "KEYS", "UNIQ_KEY", "WAIT", "a", "\u00e9", "", "a\x01b"]),
        st.sampled_from(["v", "true", "x y", "\u4e2d\U0001f600", "", "b\x01c", "\ud800"]),
    ),
    max_size=8,
).map(lambda pairs: "".join(f"{name}\x01{value}\x02" for name, value in pairs))
scan_names = ("UNIQ_KEY", "WAIT", "TRAN_MSG", "\u00e9", "a")


@needs_records
@settings(max_examples=800, deadline=None)
@given(st.one_of(pair_texts, any_text, pair_texts.map(lambda t: t[:-1])))
def test_scan_properties(text: str) -> None:
    """C and Python agree; a result means the text survives decode + encode unchanged,
    and its values are what decoding finds."""
    assert records is not None
    expected = outcome(props.scan_properties_py, text, scan_names)
    assert outcome(records.scan_properties, text, scan_names) == expected
    found = props.scan_properties_py(text, scan_names)
    assert (found is not None) == (_canonical(text) and text != "")
    if found is not None:
        decoded = props.decode_properties_py(text)
        assert found == tuple(decoded.get(name) for name in scan_names)


@needs_records
def test_scan_properties_odd_arguments() -> None:
    assert records is not None
    many = "".join(f"k{i}\x01v{i}\x02" for i in range(200))  # past the C segment table
    for text, names in (
        (Text("a\x01b\x02"), ("a",)),
        ("a\x01b\x02", ["a"]),
        ("a\x01b\x02", (Text("a"),)),
        ("a\x01b\x02", ("\u00e9",)),
        (many, ("k150", "k0", "zz")),
        (many + "k3\x01again\x02", ("k3",)),
        (b"a\x01b\x02", ("a",)),
    ):
        assert outcome(records.scan_properties, text, names) == outcome(
            props.scan_properties_py, text, names
        )
    assert records.scan_properties(many, ("k150",)) == ("v150",)


# --- batch bodies -----------------------------------------------------------------------------

flags = st.one_of(int32, st.integers(-(2**40), 2**40), st.booleans())


@st.composite
def entries(draw: st.DrawFn) -> list[Any]:
    def entry() -> Any:
        kind = draw(st.integers(0, 12))
        properties: Any = draw(
            st.one_of(
                st.dictionaries(any_text, any_text, max_size=4),
                st.dictionaries(
                    st.sampled_from(["TAGS", "KEYS", "UNIQ_KEY", "DELAY"]),
                    st.text(min_size=1, max_size=6),
                ),
            )
        )
        if kind == 0:
            properties = {"BIG": "x" * draw(st.sampled_from([32760, 32762, 32763, 40000]))}
        body: Any = draw(st.binary(max_size=100))
        if kind == 1:
            body = bytearray(body)
        flag = draw(flags) if kind == 2 else draw(int32)
        if kind == 3:
            return ("not", "an entry")
        if kind == 4:
            return BatchEntry(body, flag, Text("x"))  # type: ignore[arg-type]
        return BatchEntry(body, flag, properties)

    return [entry() for _ in range(draw(st.integers(0, 5)))]


@needs_records
@settings(max_examples=600, deadline=None)
@given(entries(), st.sampled_from([list, tuple, iter]))
def test_encode_batch(items: list[Any], container: Callable[[list[Any]], Any]) -> None:
    assert records is not None
    assert outcome(records.encode_batch, container(items)) == outcome(
        encode_batch_py, container(items)
    )


def valid_entries() -> st.SearchStrategy[list[BatchEntry]]:
    safe = st.text(
        alphabet=st.characters(codec="utf-8", blacklist_characters="\x01\x02"),
        min_size=1,
    )
    return st.lists(
        st.builds(
            BatchEntry,
            st.binary(max_size=300),
            int32,
            st.dictionaries(st.one_of(safe, st.sampled_from(["DELAY", "TAGS"])), safe, max_size=4),
        ),
        max_size=6,
    )


@st.composite
def batch_bodies(draw: st.DrawFn) -> bytes:
    data = bytearray(encode_batch_py(draw(valid_entries())))
    damage = draw(st.integers(0, 5))
    if data and damage == 1:
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] = draw(st.integers(0, 255))
    elif data and damage == 2:
        del data[draw(st.integers(0, len(data) - 1)) :]
    elif damage == 3:
        data += draw(st.binary(max_size=40))
    elif data and damage == 4:
        at = draw(st.sampled_from([0, 16]))
        value = draw(st.sampled_from([0, -1, 21, 22, 2**31 - 1, len(data)]))
        data[at : at + 4] = value.to_bytes(4, "big", signed=True)
    elif damage == 5:  # properties that are not UTF-8, or a hand-made text
        text = draw(st.sampled_from([b"\xff\x01a\x02", b"a\x01\xc3\x02", b"\x01\x02DELAY\x01\x02"]))
        text += draw(st.sampled_from([b"", b"DELAY\x011\x02", b"DELAY\x01"]))
        data += (22 + len(text)).to_bytes(4, "big") + bytes(12) + text_len(text)
    return bytes(data)


def text_len(text: bytes) -> bytes:
    return bytes(4) + len(text).to_bytes(2, "big") + text


def entry_fields(items: list[BatchEntry]) -> list[tuple[Any, ...]]:
    return [(type(e).__name__, e.body, e.flag, list(e.properties.items())) for e in items]


@needs_records
@settings(max_examples=600, deadline=None)
@given(batch_bodies(), st.sampled_from([bytes, bytearray, memoryview]))
def test_decode_batch(data: bytes, kind: Callable[[bytes], Any]) -> None:
    assert records is not None
    got = outcome(lambda: entry_fields(records.decode_batch(kind(data))))
    assert got == outcome(lambda: entry_fields(message.decode_batch_py(kind(data))))


def batch_messages(
    function: Callable[..., tuple[list[MessageExt], list[int]]], data: Any, *args: Any
) -> tuple[list[tuple[Any, ...]], list[int]]:
    found, watched = function(data, *args)
    return [fields(m) for m in found], watched


@needs_records
@settings(max_examples=600, deadline=None)
@given(
    batch_bodies(),
    st.sampled_from([bytes, bytearray, memoryview]),
    st.sampled_from(["DELAY", "TAGS", "", "\ud800", "\u00e9"]),
    st.booleans(),
)
def test_decode_batch_messages(
    data: bytes, kind: Callable[[bytes], Any], watch: str, text_properties: bool
) -> None:
    assert records is not None
    args = ("Topic", 3, 0x80, 1_700_000_000_000, HostPort("10.0.0.1", 5))
    args += (HostPort("10.0.0.2", 10911), 2, watch, text_properties)  # type: ignore[assignment]
    expected = outcome(batch_messages, message.decode_batch_messages_py, kind(data), *args)
    assert outcome(batch_messages, records.decode_batch_messages, kind(data), *args) == expected


@needs_records
def test_decode_batch_messages_is_what_the_broker_built() -> None:
    """Each message is the one new_message / the keyword constructor would build."""
    items = [BatchEntry(b"body%d" % i, i, {"TAGS": "a", "UNIQ_KEY": f"U{i}"}) for i in range(3)]
    items.append(BatchEntry(b"late", 0, {"DELAY": "3"}))
    born, store = HostPort("10.0.0.9", 4), HostPort("10.0.0.2", 10911)
    found, watched = message.decode_batch_messages(
        encode_batch_py(items), "T", 1, 0, 123, born, store, 0, props.DELAY_TIME_LEVEL, True
    )
    assert watched == [3]
    for entry, got in zip(items, found, strict=True):
        built = MessageExt(
            topic="T", queue_id=1, flag=entry.flag, born_timestamp=123, born_host=born,
            store_host=store, body=entry.body, properties=dict(entry.properties),
        )  # fmt: skip
        assert got == built
        assert encode_message_py(got) == encode_message_py(built)


@needs_records
def test_hostile_buffers_and_calls() -> None:
    assert records is not None
    with pytest.raises(TypeError):
        records.decode_records([], bytearray(10), 0, 10, True, False, 0, False, [1])
    with pytest.raises(TypeError):
        records.decode_records([], b"", 0)
    # a call outside what the codec makes is answered by the reference
    assert outcome(records.decode_records, [], b"abc", 0, 99, True, False, 0, False, [1]) == (
        outcome(message.decode_records_py, [], b"abc", 0, 99, True, False, 0, False, [1])
    )
    strided = memoryview(encode_batch_py([BatchEntry(b"x", 0, {})]))[::2]
    assert outcome(records.decode_batch, strided) == outcome(message.decode_batch_py, strided)
    wide = memoryview(bytes(44)).cast("i")
    assert outcome(records.decode_batch, wide) == outcome(message.decode_batch_py, wide)
    assert outcome(records.decode_batch, "text") == outcome(message.decode_batch_py, "text")


# --- unique ids -------------------------------------------------------------------------------


@needs_records
@settings(max_examples=800, deadline=None)
@given(
    st.one_of(st.just("0A0000010D0A1234ABCD"), st.text(max_size=6), st.just(b"x")),
    st.one_of(st.integers(0, 2**32 - 1), st.integers(-5, 2**33), st.just(1.5)),
    st.one_of(st.integers(0, 2**17), st.integers(-(2**70), 2**70), st.just(0.5)),
    st.integers(-2, 5),
)
def test_unique_ids(prefix: Any, span: Any, start: Any, n: int) -> None:
    assert records is not None
    a, b = itertools.count(start), itertools.count(start)
    assert outcome(records.unique_ids, prefix, span, a, n) == outcome(
        msgid.unique_ids_py, prefix, span, b, n
    )
    assert outcome(next, a) == outcome(next, b)  # the counters moved alike
    assert outcome(records.unique_id, prefix, span, a) == outcome(
        lambda: msgid.unique_ids_py(prefix, span, b, 1)[0]
    )


@needs_records
def test_unique_ids_from_other_iterators() -> None:
    assert records is not None

    def numbers() -> Iterator[Any]:
        yield 1
        yield 2**80 + 7
        yield -1
        yield "x"

    for count in (1, 3, 4):
        assert outcome(records.unique_ids, "P", 5, numbers(), count) == outcome(
            msgid.unique_ids_py, "P", 5, numbers(), count
        )
    assert outcome(records.unique_ids, "P", 5, iter([]), 1) == outcome(
        msgid.unique_ids_py, "P", 5, iter([]), 1
    )
    assert outcome(records.unique_ids, "P", 5, [1, 2], 1) == outcome(
        msgid.unique_ids_py, "P", 5, [1, 2], 1
    )


@needs_records
def test_next_ids_are_the_next_ids() -> None:
    now = 1_700_000_000_000
    one = msgid.UniqueIdGenerator("10.0.0.1", 7, 9, counter=0xFFFE)
    many = msgid.UniqueIdGenerator("10.0.0.1", 7, 9, counter=0xFFFE)
    assert many.next_ids(now, 4) == [one.next_id(now) for _ in range(4)]
    assert many.next_id(now + 5) == one.next_id(now + 5)
    assert many.next_ids(now, 0) == []
    fake = msgid.UniqueIdGenerator(None, 7, 9)
    ids = fake.next_ids(now, 2)
    assert ids[0][:8] == f"{now & 0xFFFFFFFF:08X}"
    assert ids[1].endswith("0001")
    parsed = msgid.parse_unique_id(one.next_id(now))
    assert (parsed.pid, parsed.class_loader_hash, parsed.counter) == (7, 9, 0x0003)


# --- memory -----------------------------------------------------------------------------------


def refused(function: Callable[..., Any], *args: Any) -> None:
    try:
        function(*args)
    except ProtocolError:
        return
    raise AssertionError(f"{function.__name__} took {args!r}")


@needs_records
def test_no_leaks_on_common_and_error_paths() -> None:
    """Repeating any path must not grow memory (a lost reference per call would)."""
    good = b"".join(encode_message_py(sample(i)) for i in range(8))
    bad = bytearray(good)
    bad[5] ^= 0xFF  # the first magic code
    batch = encode_batch_py([BatchEntry(b"x" * 10, 1, {"TAGS": "a", "DELAY": "2"})] * 8)
    hosts = (HostPort("10.0.0.1", 5), HostPort("10.0.0.2", 6))
    ids = msgid.UniqueIdGenerator("10.0.0.1", 7, 9)
    paths: list[Callable[[], object]] = [
        lambda: message.decode_messages(good),
        lambda: message.decode_messages(good, check_crc=True),
        lambda: [m.properties for m in message.decode_messages(good)],
        lambda: refused(message.decode_messages, bytes(bad)),
        lambda: refused(message.decode_messages, good[:-1]),
        lambda: refused(message.decode_messages, good + b"\0"),
        lambda: message.decode_batch(batch),
        lambda: message.decode_batch_messages(batch, "T", 1, 0, 5, *hosts, 0, "DELAY", True),
        lambda: message.decode_batch_messages(batch, "T", 1, 0, 5, *hosts, 0, "DELAY", False),
        lambda: refused(message.decode_batch, batch[:-1]),
        lambda: message.encode_batch(message.decode_batch(batch)),
        lambda: refused(message.encode_batch, [BatchEntry(b"", 0, {"a": ""})]),
        lambda: props.encode_properties({"a": "b", "c": "\u4e2d"}),
        lambda: ids.next_ids(1_700_000_000_000, 16),
    ]
    for index, path in enumerate(paths):
        for _ in range(50):  # warm the caches
            path()
        tracemalloc.start()
        try:
            path()
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(300):
                path()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert grown < 4096, f"path {index}: memory grew by {grown} bytes over 300 calls"


# --- new_message ------------------------------------------------------------------------


@given(
    topic=st.text(max_size=8),
    ints=st.lists(st.integers(-(2**70), 2**70), min_size=5, max_size=5),
    body=st.binary(max_size=16),
    properties=st.one_of(
        st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=3),
        st.text(max_size=20),
    ),
)
def test_new_message_is_the_keyword_constructor(
    topic: str, ints: list[int], body: bytes, properties: dict[str, str] | str
) -> None:
    """C == Python == MessageExt(...) with the ten keywords: every field, the objects
    themselves stored (nothing copied or converted), the properties text decoded on read."""
    queue_id, flag, sys_flag, born_timestamp, reconsume_times = ints
    born, store = HostPort("10.1.2.3", 45678), HostPort("127.0.0.1", 10911)
    args = (topic, queue_id, flag, sys_flag, born_timestamp, born, store, reconsume_times, body)
    expected = MessageExt(
        topic=topic, queue_id=queue_id, flag=flag, sys_flag=sys_flag,
        born_timestamp=born_timestamp, born_host=born, store_host=store,
        reconsume_times=reconsume_times, body=body,
        properties=props.decode_properties(properties)
        if isinstance(properties, str) else properties,
    )  # fmt: skip
    builders = [message.new_message_py] + ([records.new_message] if records else [])
    for build in builders:
        built = build(*args, properties)
        assert type(built) is MessageExt
        for f in dataclasses.fields(MessageExt):
            assert getattr(built, f.name) == getattr(expected, f.name), (build, f.name)
        assert built == expected
        assert built.topic is topic
        assert built.body is body
        assert built.born_host is born
        if not isinstance(properties, str):
            assert built.properties is properties
        with pytest.raises(dataclasses.FrozenInstanceError):
            built.topic = "other"  # type: ignore[misc]


@needs_records
def test_new_message_takes_ten_positional_arguments() -> None:
    assert records is not None
    with pytest.raises(TypeError, match="10 positional"):
        records.new_message("T")
