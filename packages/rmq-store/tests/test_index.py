"""Tests for rmq_store.index: one RocketMQ index file (spec §4.3, golden vector V9)."""

from __future__ import annotations

import struct
from itertools import count
from pathlib import Path
from typing import Final

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmq_protocol.codec.hashing import index_key_hash
from rmq_store.errors import StoreClosedError, StoreError
from rmq_store.index import (
    DEFAULT_HASH_SLOT_NUM,
    DEFAULT_INDEX_NUM,
    ENTRY_SIZE,
    HEADER_SIZE,
    IndexEntry,
    IndexFile,
    IndexFileError,
    entry_position,
    index_file_size,
    index_key,
    slot_of,
    slot_position,
)

SLOTS: Final = 64
NUM: Final = 256
T0: Final = 1_700_000_000_000  # a store timestamp, ms
FOREVER: Final = 2**62


def new_file(tmp_path: Path, *, slots: int = SLOTS, num: int = NUM, name: str = "idx") -> IndexFile:
    return IndexFile.create(tmp_path / name, hash_slot_num=slots, index_num=num)


def raw(path: Path, position: int, size: int) -> bytes:
    with path.open("rb") as f:
        f.seek(position)
        return f.read(size)


def same_slot_other_hash(key: str, slots: int) -> str:
    """A key in the same slot as ``key`` but with a different keyHash (brute force)."""
    target, own = slot_of(key, slots), index_key_hash(key)
    for i in count():
        other = index_key("TopicTest", f"k{i}")
        if slot_of(other, slots) == target and index_key_hash(other) != own:
            return other
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- V9, layout


def test_v9_positions() -> None:
    key = index_key("TopicTest", "KEY1")
    assert key == "TopicTest#KEY1"
    assert index_key_hash(key) == 1656969516
    assert slot_of(key, DEFAULT_HASH_SLOT_NUM) == 1969516
    assert slot_position(1969516) == 7878104
    assert entry_position(1, DEFAULT_HASH_SLOT_NUM) == 20000060
    assert index_file_size(DEFAULT_HASH_SLOT_NUM, DEFAULT_INDEX_NUM) == 420_000_040
    assert (HEADER_SIZE, ENTRY_SIZE) == (40, 20)


def test_v9_default_sizes_raw_bytes(tmp_path: Path) -> None:
    path = tmp_path / "20240101000000000"
    with IndexFile.create(path) as f:  # default sizes, sparse
        assert f.put_key("TopicTest#KEY1", 4242, T0)
        f.flush()
    assert path.stat().st_size == 420_000_040
    assert raw(path, 7878104, 4) == struct.pack(">i", 1)
    assert raw(path, 20000060, 20) == struct.pack(">iqii", 1656969516, 4242, 0, 0)
    assert raw(path, 0, 40) == struct.pack(">qqqqii", T0, T0, 4242, 4242, 1, 2)
    with IndexFile.open(path) as f:
        assert f.select_phy_offsets("TopicTest#KEY1", 32, 0, FOREVER) == [4242]


# Files written by Apache RocketMQ's own IndexFile/IndexHeader classes (compiled from the
# 5.x sources with stub MappedFile/logging classes), then shut down (which flushes).
# JAVA_FILE_1: hashSlotNum 8, indexNum 8, JAVA_PUTS_1, the 8th put refused (full).
JAVA_PUTS_1: Final = [
    ("TopicTest#Aa", 100, 1700000000000),
    ("TopicTest#BB", 200, 1700000001500),
    ("TopicTest#KEY1", 300, 1700000003999),
    ("TopicTest#Aa", 400, 1700000010000),
    ("TopicTest#k5", 500, 1699999990000),
    ("TopicTest#k6", 600, 1700000020000),
    ("TopicTest#k7", 700, 1700000030000),
    ("TopicTest#k8", 800, 1700000040000),
]
JAVA_FILE_1: Final = bytes.fromhex(
    "0000018bcfe568000000018bcfe5dd30000000000000006400000000000002bc0000000400000008"
    "0000000000000000000000040000000000000005000000060000000700000000"
    "0000000000000000000000000000000000000000"
    "0029e1c2000000000000006400000000000000000029e1c200000000000000c80000000100000001"
    "62c3592c000000000000012c00000003000000000029e1c200000000000001900000000a00000002"
    "0029e6ac00000000000001f400000000000000030029e6ad00000000000002580000001400000000"
    "0029e6ae00000000000002bc0000001e00000000"
)
# JAVA_FILE_2: hashSlotNum 4, indexNum 5, created after a file that ended at phy offset
# 12345 and time 1699999000000; two puts of TopicTest#KEY1.
JAVA_FILE_2: Final = bytes.fromhex(
    "0000018bcfe568000000018bcfe56fd00000000000004e2000000000000075300000000100000003"
    "00000002000000000000000000000000"
    "0000000000000000000000000000000000000000"
    "62c3592c0000000000004e20000003e800000000"
    "62c3592c00000000000075300000000200000001" + "00" * 40
)


def test_byte_identical_to_java_file(tmp_path: Path) -> None:
    with new_file(tmp_path, slots=8, num=8) as f:
        results = [f.put_key(k, p, t) for k, p, t in JAVA_PUTS_1]
        assert results == [True] * 7 + [False]
        assert f.select_phy_offsets("TopicTest#Aa", 10, 0, FOREVER) == [400, 200, 100]
        assert f.select_phy_offsets("TopicTest#BB", 10, 1700000001000, 1700000009000) == [200]
        f.flush()
    assert (tmp_path / "idx").read_bytes() == JAVA_FILE_1


def test_byte_identical_to_java_file_after_previous(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    with IndexFile.create(
        path,
        hash_slot_num=4,
        index_num=5,
        prev_end_phy_offset=12345,
        prev_end_timestamp=1699999000000,
    ) as f:
        assert (f.begin_phy_offset, f.end_timestamp) == (12345, 1699999000000)
        assert f.put_key("TopicTest#KEY1", 20000, 1700000000000)
        assert f.put_key("TopicTest#KEY1", 30000, 1700000002000)
        # RocketMQ measures the first entry's timeDiff from the previous file's end.
        assert f.read_entry(1).time_diff == 1000
        assert f.select_phy_offsets("TopicTest#KEY1", 10, 0, FOREVER) == [30000, 20000]
        f.flush()
    assert path.read_bytes() == JAVA_FILE_2


def test_new_file_header_is_zero_until_put_or_flush(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    with IndexFile.create(path, hash_slot_num=SLOTS, index_num=NUM) as f:
        assert f.index_count == 1
        assert raw(path, 0, 40) == bytes(40)
        f.flush()
        assert raw(path, 36, 4) == struct.pack(">i", 1)
    assert path.stat().st_size == index_file_size(SLOTS, NUM)


# --------------------------------------------------------------------------- put / select


def test_put_select_round_trip_and_header(tmp_path: Path) -> None:
    with new_file(tmp_path) as f:
        assert f.select_phy_offsets("T#a", 10, 0, FOREVER) == []
        assert f.put_key("T#a", 100, T0)
        assert f.put_key("T#b", 200, T0 + 1500)
        assert f.put_key("T#a", 300, T0 + 4000)
        assert f.select_phy_offsets("T#a", 10, 0, FOREVER) == [300, 100]
        assert f.select_phy_offsets("T#b", 10, 0, FOREVER) == [200]
        assert f.select_phy_offsets("T#c", 10, 0, FOREVER) == []
        assert (f.begin_timestamp, f.end_timestamp) == (T0, T0 + 4000)
        assert (f.begin_phy_offset, f.end_phy_offset) == (100, 300)
        assert f.index_count == 4
        assert f.hash_slot_count == (1 if slot_of("T#a", SLOTS) == slot_of("T#b", SLOTS) else 2)
        assert f.read_entry(3) == IndexEntry(index_key_hash("T#a"), 300, 4, 1)
        assert f.read_entry(2).time_diff == 1  # whole seconds, truncated


def test_collision_same_slot_returns_only_matching_hash_newest_first(tmp_path: Path) -> None:
    a = index_key("TopicTest", "KEY1")
    b = same_slot_other_hash(a, SLOTS)
    with new_file(tmp_path) as f:
        for i, key in enumerate([a, b, a, b, a]):
            assert f.put_key(key, 1000 + i, T0 + i * 1000)
        assert f.hash_slot_count == 1
        assert f.select_phy_offsets(a, 10, 0, FOREVER) == [1004, 1002, 1000]
        assert f.select_phy_offsets(b, 10, 0, FOREVER) == [1003, 1001]


def test_equal_key_hash_returns_both_keys(tmp_path: Path) -> None:
    # "Aa" and "BB" have the same String.hashCode: the caller re-checks the keys.
    a, b = index_key("T", "Aa"), index_key("T", "BB")
    assert index_key_hash(a) == index_key_hash(b)
    with new_file(tmp_path) as f:
        f.put_key(a, 1, T0)
        f.put_key(b, 2, T0)
        assert f.select_phy_offsets(a, 10, 0, FOREVER) == [2, 1]


def test_time_window(tmp_path: Path) -> None:
    with new_file(tmp_path) as f:
        for i in range(6):
            # Times read back as T0 + i·10 s: whole seconds after the first put.
            f.put_key("T#k", i, T0 + i * 10_000 + (999 if i else 0))
        assert f.select_phy_offsets("T#k", 10, T0 + 10_000, T0 + 30_000) == [3, 2, 1]
        assert f.select_phy_offsets("T#k", 10, T0 + 10_001, T0 + 29_999) == [2]
        assert f.select_phy_offsets("T#k", 10, T0 + 60_000, FOREVER) == []
        assert f.select_phy_offsets("T#k", 10, 0, T0 - 1) == []
        assert f.select_phy_offsets("T#k", 10, 0, T0) == [0]


def test_walk_stops_at_entry_older_than_begin(tmp_path: Path) -> None:
    # RocketMQ assumes chains get older; an out-of-order older entry ends the walk.
    with new_file(tmp_path) as f:
        f.put_key("T#k", 1, T0)
        f.put_key("T#k", 2, T0 + 50_000)
        f.put_key("T#k", 3, T0 + 10_000)
        assert f.select_phy_offsets("T#k", 10, T0 + 40_000, FOREVER) == []
        assert f.select_phy_offsets("T#k", 10, T0 + 10_000, FOREVER) == [3, 2]
        assert f.select_phy_offsets("T#k", 10, T0, FOREVER) == [3, 2, 1]


def test_time_before_begin_clamps_to_zero(tmp_path: Path) -> None:
    with new_file(tmp_path) as f:
        f.put_key("T#k", 1, T0 + 50_000)
        f.put_key("T#k", 2, T0)
        assert f.read_entry(2).time_diff == 0
        assert f.select_phy_offsets("T#k", 10, T0 + 50_000, T0 + 50_000) == [2, 1]


def test_time_diff_clamps_to_int32(tmp_path: Path) -> None:
    with new_file(tmp_path) as f:
        f.put_key("T#k", 1, 1000)
        f.put_key("T#k", 2, 1000 + (2**31 + 5) * 1000)
        assert f.read_entry(2).time_diff == 2**31 - 1


@pytest.mark.parametrize("max_num", [0, 1, 2, 5, 10])
def test_max_num(tmp_path: Path, max_num: int) -> None:
    with new_file(tmp_path) as f:
        for i in range(5):
            f.put_key("T#k", i, T0 + i)
        assert f.select_phy_offsets("T#k", max_num, 0, FOREVER) == [4, 3, 2, 1, 0][:max_num]


def test_full_file(tmp_path: Path) -> None:
    with new_file(tmp_path, num=4) as f:
        assert [f.put_key(f"T#{i}", i, T0 + i) for i in range(3)] == [True] * 3
        assert f.is_full
        before = (tmp_path / "idx").read_bytes()
        assert not f.put_key("T#x", 99, T0 + 99)
        assert (tmp_path / "idx").read_bytes() == before
        assert (f.index_count, f.end_phy_offset) == (4, 2)
        assert [f.select_phy_offsets(f"T#{i}", 5, 0, FOREVER) for i in range(3)] == [[0], [1], [2]]


def test_index_num_one_is_always_full(tmp_path: Path) -> None:
    with new_file(tmp_path, num=1) as f:
        assert f.is_full
        assert not f.put_key("T#k", 1, T0)
        assert f.select_phy_offsets("T#k", 5, 0, FOREVER) == []


def test_is_time_matched(tmp_path: Path) -> None:
    with new_file(tmp_path) as f:
        f.put_key("T#k", 1, 1000)
        f.put_key("T#k", 2, 2000)
        assert f.is_time_matched(500, 2500)
        assert f.is_time_matched(1500, 1600)
        assert f.is_time_matched(0, 1000)
        assert f.is_time_matched(2000, 3000)
        assert not f.is_time_matched(0, 999)
        assert not f.is_time_matched(2001, 3000)


def test_garbage_slot_value_starts_a_new_chain(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    with new_file(tmp_path) as f:
        f.put_key("T#other", 1, T0)
        f.flush()
    with path.open("r+b") as fh:
        fh.seek(slot_position(slot_of("T#k", SLOTS)))
        fh.write(struct.pack(">i", 999))  # beyond indexCount
    with IndexFile.open(path, hash_slot_num=SLOTS, index_num=NUM) as f:
        assert f.select_phy_offsets("T#k", 5, 0, FOREVER) == []
        slots_used = f.hash_slot_count
        assert f.put_key("T#k", 7, T0)
        assert f.hash_slot_count == slots_used + 1
        assert f.read_entry(2).prev_index == 0
        assert f.select_phy_offsets("T#k", 5, 0, FOREVER) == [7]


# --------------------------------------------------------------------------- lifecycle


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    with new_file(tmp_path) as f:
        for i in range(20):
            f.put_key(f"T#{i % 7}", i, T0 + i * 1000)
        header = (f.begin_timestamp, f.end_timestamp, f.begin_phy_offset, f.end_phy_offset)
        counts = (f.hash_slot_count, f.index_count)
        found = [f.select_phy_offsets(f"T#{k}", 10, 0, FOREVER) for k in range(7)]
        f.flush()
    with IndexFile.open(path, hash_slot_num=SLOTS, index_num=NUM) as f:
        assert (f.begin_timestamp, f.end_timestamp, f.begin_phy_offset, f.end_phy_offset) == header
        assert (f.hash_slot_count, f.index_count) == counts
        assert [f.select_phy_offsets(f"T#{k}", 10, 0, FOREVER) for k in range(7)] == found
        assert f.put_key("T#0", 20, T0 + 20_000)
        assert f.select_phy_offsets("T#0", 1, 0, FOREVER) == [20]


def test_reopen_without_flush_keeps_puts(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    with new_file(tmp_path) as f:
        f.put_key("T#k", 5, T0)
    with IndexFile.open(path, hash_slot_num=SLOTS, index_num=NUM) as f:
        assert f.select_phy_offsets("T#k", 5, 0, FOREVER) == [5]


def test_open_wrong_size(tmp_path: Path) -> None:
    new_file(tmp_path).close()
    path = tmp_path / "idx"
    expected = index_file_size(SLOTS, NUM + 1)
    with pytest.raises(IndexFileError) as info:
        IndexFile.open(path, hash_slot_num=SLOTS, index_num=NUM + 1)
    message = str(info.value)
    assert str(path) in message
    assert str(expected) in message
    assert str(index_file_size(SLOTS, NUM)) in message
    assert info.value.path == path
    assert isinstance(info.value, StoreError)


def test_open_corrupt_index_count(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    new_file(tmp_path).close()
    with path.open("r+b") as fh:
        fh.seek(36)
        fh.write(struct.pack(">i", NUM + 1))
    with pytest.raises(IndexFileError, match="indexCount"):
        IndexFile.open(path, hash_slot_num=SLOTS, index_num=NUM)


def test_open_missing_and_create_existing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        IndexFile.open(tmp_path / "nope", hash_slot_num=SLOTS, index_num=NUM)
    new_file(tmp_path).close()
    with pytest.raises(FileExistsError):
        new_file(tmp_path)


@pytest.mark.parametrize(("slots", "num"), [(0, 10), (10, 0), (-1, 10), (10, 2**31)])
def test_bad_sizes(tmp_path: Path, slots: int, num: int) -> None:
    with pytest.raises(ValueError, match="must be in"):
        IndexFile.create(tmp_path / "idx", hash_slot_num=slots, index_num=num)
    assert not (tmp_path / "idx").exists()


def test_put_rejects_out_of_range_values(tmp_path: Path) -> None:
    with new_file(tmp_path) as f:
        with pytest.raises(ValueError, match="phy_offset"):
            f.put_key("T#k", 2**63, T0)
        with pytest.raises(ValueError, match="store_timestamp_ms"):
            f.put_key("T#k", 0, -(2**63) - 1)
        assert f.index_count == 1


def test_close_is_idempotent_and_use_after_close_raises(tmp_path: Path) -> None:
    f = new_file(tmp_path)
    f.close()
    f.close()
    assert f.closed
    assert f.index_num == NUM
    assert "closed" in repr(f)
    with pytest.raises(StoreClosedError):
        f.put_key("T#k", 1, T0)
    with pytest.raises(StoreClosedError):
        f.select_phy_offsets("T#k", 1, 0, FOREVER)
    with pytest.raises(StoreClosedError):
        f.flush()
    with pytest.raises(StoreClosedError):
        _ = f.index_count
    with pytest.raises(StoreClosedError):
        _ = f.is_full
    with pytest.raises(StoreClosedError):
        f.is_time_matched(0, 1)
    with pytest.raises(StoreClosedError), f:
        pass


def test_context_manager_closes(tmp_path: Path) -> None:
    with new_file(tmp_path) as f:
        assert not f.closed
    assert f.closed


# --------------------------------------------------------------------------- corruption


def _write_entry(path: Path, number: int, entry: IndexEntry, *, slots: int = SLOTS) -> None:
    with path.open("r+b") as fh:
        fh.seek(entry_position(number, slots))
        fh.write(entry.pack())


@pytest.mark.parametrize("prev", [1, 2, 3, 4, -5, 0x7FFFFFFF, -(2**31)])
def test_corrupt_prev_index_terminates(tmp_path: Path, prev: int) -> None:
    path = tmp_path / "idx"
    with new_file(tmp_path) as f:
        for i in range(4):
            f.put_key("T#k", i, T0)
        f.flush()
    # Entry 1 points to a newer entry (or itself, or garbage): a cycle 4→3→2→1→prev.
    _write_entry(path, 1, IndexEntry(index_key_hash("T#k"), 0, 0, prev))
    with IndexFile.open(path, hash_slot_num=SLOTS, index_num=NUM) as f:
        got = f.select_phy_offsets("T#k", 10**9, 0, FOREVER)
        assert got[:4] == [3, 2, 1, 0]
        assert len(got) <= f.index_count


def test_two_entry_cycle_terminates(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    with new_file(tmp_path) as f:
        f.put_key("T#k", 1, T0)
        f.put_key("T#k", 2, T0)
        f.flush()
    key_hash = index_key_hash("T#k")
    _write_entry(path, 1, IndexEntry(key_hash, 1, 0, 2))
    with IndexFile.open(path, hash_slot_num=SLOTS, index_num=NUM) as f:
        assert f.select_phy_offsets("T#k", 1000, 0, FOREVER) == [2, 1, 2]


def test_chain_into_last_entry_of_full_file_stays_in_bounds(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    with new_file(tmp_path, num=3) as f:
        f.put_key("T#k", 1, T0)
        f.put_key("T#k", 2, T0)
        f.flush()
    # prevIndex == indexCount == index_num: the entry would lie past the end of the file.
    _write_entry(path, 2, IndexEntry(index_key_hash("T#k"), 2, 0, 3))
    with IndexFile.open(path, hash_slot_num=SLOTS, index_num=3) as f:
        assert f.select_phy_offsets("T#k", 10, 0, FOREVER) == [2]


@settings(max_examples=60)
@given(
    garbage=st.lists(
        st.tuples(st.integers(0, index_file_size(8, 16) - 1), st.binary(min_size=1, max_size=24)),
        max_size=12,
    ),
    queries=st.lists(st.sampled_from(["T#a", "T#b", "T#c", "T#Aa", "T#BB"]), max_size=5),
)
def test_garbage_never_hangs_or_raises_non_store_errors(
    tmp_path_factory: pytest.TempPathFactory,
    garbage: list[tuple[int, bytes]],
    queries: list[str],
) -> None:
    path = tmp_path_factory.mktemp("garbage") / "idx"
    with IndexFile.create(path, hash_slot_num=8, index_num=16) as f:
        for i, key in enumerate(["T#a", "T#b", "T#a", "T#Aa", "T#BB", "T#c", "T#a"]):
            f.put_key(key, i, T0 + i * 1000)
    data = bytearray(path.read_bytes())
    for position, chunk in garbage:
        end = min(position + len(chunk), len(data))
        data[position:end] = chunk[: end - position]
    path.write_bytes(bytes(data))
    try:
        with IndexFile.open(path, hash_slot_num=8, index_num=16) as f:
            for key in queries:
                got = f.select_phy_offsets(key, 1000, -(2**62), FOREVER)
                assert len(got) <= 16
            f.put_key("T#a", 99, T0 + 99_000)
            for key in queries:
                f.select_phy_offsets(key, 1000, -(2**62), FOREVER)
    except StoreError:
        pass


# --------------------------------------------------------------------------- model


KEYS: Final = ["T#a", "T#b", "T#c", "T#d", "T#Aa", "T#BB", "T#KEY1", "T#é"]


@settings(max_examples=80)
@given(
    slots=st.integers(1, 8),
    num=st.integers(1, 24),
    puts=st.lists(st.tuples(st.sampled_from(KEYS), st.integers(0, 2**40), st.integers(0, 3000))),
    queries=st.lists(
        st.tuples(
            st.sampled_from(KEYS),
            st.integers(0, 30),
            st.integers(-5000, 60_000),
            st.integers(0, 60_000),
        ),
        min_size=1,
        max_size=10,
    ),
)
def test_matches_dict_model(
    tmp_path_factory: pytest.TempPathFactory,
    slots: int,
    num: int,
    puts: list[tuple[str, int, int]],
    queries: list[tuple[str, int, int, int]],
) -> None:
    # Model: keyHash -> [(phy_offset, time as the file reports it)], oldest first.
    model: dict[int, list[tuple[int, int]]] = {}
    begin: int | None = None
    path = tmp_path_factory.mktemp("model") / "idx"
    with IndexFile.create(path, hash_slot_num=slots, index_num=num) as f:
        now = T0
        for stored, (key, phy, step) in enumerate(puts):
            now += step  # store times never go back
            accepted = f.put_key(key, phy, now)
            assert accepted == (stored < num - 1)
            if accepted:
                begin = now if begin is None else begin
                seen = begin + (now - begin) // 1000 * 1000
                model.setdefault(index_key_hash(key), []).append((phy, seen))
        for key, max_num, start, length in queries:
            lo, hi = T0 + start, T0 + start + length
            want = [p for p, t in reversed(model.get(index_key_hash(key), [])) if lo <= t <= hi]
            assert f.select_phy_offsets(key, max_num, lo, hi) == want[:max_num]
        assert f.index_count == 1 + sum(len(v) for v in model.values())
    with IndexFile.open(path, hash_slot_num=slots, index_num=num) as f:
        for key in KEYS:
            want = [p for p, _ in reversed(model.get(index_key_hash(key), []))]
            assert f.select_phy_offsets(key, 100, 0, FOREVER) == want
