"""The store's C loops write exactly what its Python loops write.

Two stores take the same appends with the same clock, one with the C loops
(rmq_store._speedups, and rmq_protocol's) and one with them switched off; every file
they write must be byte-identical, and so must every answer. Skipped when not built;
CI builds them (test_built_in_ci).
"""

from __future__ import annotations

import dataclasses
import errno
import os
import random
import shutil
import struct
import tempfile
import threading
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rmq_store.commitlog
import rmq_store.index
import rmq_store.index_service
import rmq_store.mapped_file
import rmq_store.store
from rmq_protocol.codec import hashing
from rmq_protocol.codec import message as codec
from rmq_protocol.codec.message import BLANK_MAGIC, HostPort, MessageExt, SysFlag
from rmq_store.checkpoint import AbortMarker, StoreCheckpoint
from rmq_store.commitlog import CommitLog
from rmq_store.config import FlushDiskType, StoreConfig
from rmq_store.errors import StoreError
from rmq_store.index import IndexFile
from rmq_store.mapped_file import PENDING_CAPACITY
from rmq_store.speedups import ABI, speedups
from rmq_store.store import SCHEDULE_TOPIC, GetMessageStatus, MessageStore

needs_speedups = pytest.mark.skipif(speedups is None, reason="C speedups not built")


def test_built_in_ci() -> None:
    if os.environ.get("CI") and not os.environ.get("RMQ_NO_EXTENSIONS"):
        assert speedups is not None, "rmq_store._speedups was not built in CI"
        assert speedups.ABI == ABI


def random_batches(seed: int) -> list[list[MessageExt]]:
    """Appends that take every branch: new queues, queue runs, transaction halves and
    rollbacks, the schedule topic, tags with and without hashes worth the name, undecoded
    properties text, keys and unique keys, IPv6 hosts, bodies that fill segments."""
    rng = random.Random(seed)
    born = [HostPort("10.0.0.1", 5000), HostPort("::1", 5001)]
    batches = []
    for n in range(120):
        topic = rng.choice(["A", "B", "Topic\u00e9", SCHEDULE_TOPIC])
        queue_id = rng.randrange(3)
        batch = []
        for i in range(rng.choice([1, 1, 3, 32])):
            drawn = {
                "TAGS": rng.choice(["TagA", "", "\U0001f600x", "t" * 40]),
                "KEYS": rng.choice(["", "k1", "k1 k2  k3", f"order-{n}-{i}"]),
                "UNIQ_KEY": f"U{n:04d}{i:04d}",
            }
            kept = {name: value for name, value in drawn.items() if value}
            if topic == SCHEDULE_TOPIC:
                kept["DELAY"] = str(rng.randrange(1, 4))
            if rng.random() < 0.2:
                kept.pop("TAGS", None)
            props: dict[str, str] | str = kept
            if rng.random() < 0.1:
                props = "TAGS\x01T\x02KEYS\x01kk\x02"  # undecoded text
            batch.append(
                MessageExt(
                    topic=topic,
                    queue_id=queue_id,
                    sys_flag=rng.choice([0, 0, 0, SysFlag.TRANSACTION_PREPARED_TYPE, 0xC, 0x8]),
                    born_host=rng.choice(born),
                    store_host=HostPort("10.0.0.2", 10911),
                    born_timestamp=1_700_000_000_000 + n,
                    body=bytes(rng.choice([0, 10, 1000, 3000])),
                    properties=props,  # type: ignore[arg-type]
                )
            )
        batches.append(batch)
    return batches


def tiny_config(root: Path, flush: FlushDiskType = FlushDiskType.ASYNC_FLUSH) -> StoreConfig:
    """Small segments, queue files and index files, so that the appends roll all three.
    SYNC_FLUSH writes the commit log with pwrite instead of through the mapping."""
    return StoreConfig(
        store_path_root_dir=root,
        flush_disk_type=flush,
        mapped_file_size_commit_log=64 * 1024,
        mapped_file_size_consume_queue=20 * 50,
        max_hash_slot_num=101,
        max_index_num=400,
    )


def write_store(
    root: Path,
    batches: list[list[MessageExt]],
    flush: FlushDiskType = FlushDiskType.ASYNC_FLUSH,
) -> list[object]:
    ticks = iter(range(1_700_000_000_000, 1_800_000_000_000, 997))
    config = tiny_config(root, flush)
    arrivals: list[tuple[str, int, int, int]] = []
    answers: list[object] = []
    store = MessageStore.open(config, clock_ms=lambda: next(ticks), start_services=False)
    store.add_arrival_listener(lambda *a: arrivals.append(a))
    try:
        answers.extend(store.append_messages(batch) for batch in batches)
        statistics = store.statistics()
        answers.append((statistics.put_messages, statistics.put_bytes))
        found = store.query_message("A", "k1", max_num=64)
        answers.append((found.phy_offsets, [bytes(m) for m in found.messages], found.more))
    finally:
        store.close()
    answers.append(arrivals)
    return answers


class CountingSpeedups:
    """rmq_store._speedups with a count of the appends its ``append`` took."""

    def __init__(self) -> None:
        self.taken = self.declined = 0

    def append(self, store: MessageStore, messages: list[MessageExt]) -> object:
        result = speedups.append(store, messages)  # type: ignore[union-attr]
        if result is None:
            self.declined += 1
        else:
            self.taken += 1
        return result

    def __getattr__(self, name: str) -> object:
        return getattr(speedups, name)


def without_c(patch: pytest.MonkeyPatch) -> None:
    """Switch every C loop the store uses off (the pure-Python reference)."""
    patch.setattr(rmq_store.store, "_speedups", None)
    patch.setattr(rmq_store.index, "_speedups", None)
    patch.setattr(rmq_store.commitlog, "_speedups", None)
    patch.setattr(rmq_store.mapped_file, "_speedups", None)
    patch.setattr(rmq_store.store, "encode_message", codec.encode_message_py)
    patch.setattr(rmq_store.index_service, "index_key_hashes", hashing.index_key_hashes_py)
    patch.setattr(rmq_store.index_service, "index_key_hashes_c", None)


def files_of(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name not in {"lock", "abort"}
    }


@needs_speedups
@pytest.mark.parametrize("flush", list(FlushDiskType))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_store_files_identical_with_and_without_c(
    tmp_path: Path, seed: int, flush: FlushDiskType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The C append and the Python path write the same files, through the mapping
    (ASYNC_FLUSH) and with pwrite (SYNC_FLUSH); and both modes write the same files."""
    batches = random_batches(seed)
    counting = CountingSpeedups()
    with monkeypatch.context() as patch:
        patch.setattr(rmq_store.store, "_speedups", counting)
        with_c = write_store(tmp_path / "c", batches, flush)
    # Both paths ran: C took the plain runs, Python the rest (new queues, transactions,
    # the schedule topic, segment rolls, mixed batches).
    assert counting.taken >= 10, vars(counting)
    assert counting.declined >= 10, vars(counting)
    with monkeypatch.context() as patch:
        without_c(patch)
        with_py = write_store(tmp_path / "py", batches, flush)
    assert with_c == with_py
    c_files, py_files = files_of(tmp_path / "c"), files_of(tmp_path / "py")
    assert c_files.keys() == py_files.keys()
    for name in c_files:
        assert c_files[name] == py_files[name], name
    if flush is FlushDiskType.SYNC_FLUSH:
        assert write_store(tmp_path / "mapped", batches) == with_c
        assert files_of(tmp_path / "mapped") == c_files


def _plain(i: int, **changes: object) -> MessageExt:
    fields: dict[str, object] = {
        "topic": "A",
        "queue_id": 0,
        "store_host": HostPort("10.0.0.2", 10911),
        "born_timestamp": 1_700_000_000_000 + i,
        "body": b"x" * 100,
        "properties": {"TAGS": "t", "KEYS": f"k{i}", "UNIQ_KEY": f"U{i}"},
    }
    fields.update(changes)
    return MessageExt(**fields)  # type: ignore[arg-type]


class _Recorder:
    """A store opened without services, and what its appends answered: each outcome (a
    PutResult, or the exception's type and text with the store's root written ROOT) and
    the arrivals it announced."""

    def __init__(self, config: StoreConfig, clock: Callable[[], int]) -> None:
        self.store = MessageStore.open(config, clock_ms=clock, start_services=False)
        self.root = str(config.store_path_root_dir)
        self.arrivals: list[object] = []
        self.outcomes: list[object] = []
        self.store.add_arrival_listener(lambda *a: self.arrivals.append(a))

    def attempt(self, messages: list[MessageExt]) -> None:
        try:
            self.outcomes.append(self.store.append_messages(messages))
        except Exception as exc:  # noqa: BLE001 - compared
            self.outcomes.append((type(exc).__name__, str(exc).replace(self.root, "ROOT")))


def _append_scenario(root: Path, scenario: str) -> list[object]:
    """One store's answers to an append after ``scenario`` set it up: each outcome (a
    PutResult or the exception's type and text), the clock calls, the arrivals."""
    ticks = iter(range(1_700_000_000_000, 1_800_000_000_000, 7))
    calls: list[int] = []

    def clock() -> int:
        calls.append(1)
        return next(ticks)

    config = StoreConfig(store_path_root_dir=root, mapped_file_size_commit_log=1 << 20)
    recorder = _Recorder(config, clock)
    store, arrivals, outcomes = recorder.store, recorder.arrivals, recorder.outcomes

    def attempt(messages: list[MessageExt]) -> None:
        recorder.attempt(messages)
        outcomes.append(len(calls))

    try:
        for i in range(3):  # the queue, the msgId prefix: then the common case
            attempt([_plain(i)])
        if scenario == "too large":
            attempt([_plain(3), _plain(4, body=bytes(config.max_message_size + 1))])
        elif scenario == "unencodable":
            attempt([_plain(3), _plain(4, reconsume_times=2**40)])
        elif scenario == "refused":
            store._writes_refused = True
            attempt([_plain(3)])
            store._writes_refused = False
        elif scenario == "lock held":  # by another thread (the lock is reentrant)
            held = threading.Event()

            def hold() -> None:
                with store._put_lock:
                    held.set()
                    time.sleep(0.2)

            holder = threading.Thread(target=hold)
            holder.start()
            held.wait()
            attempt([_plain(3)])  # waits for the lock, then appends
            holder.join()
        elif scenario == "listener raises":

            def failing(*arrival: object) -> None:
                raise RuntimeError(f"listener failed on {arrival}")

            store.add_arrival_listener(failing)
            attempt([_plain(3), _plain(4)])
            store._arrival_listeners.pop()
        elif scenario == "closed":
            store.close()
            attempt([_plain(3)])
            return outcomes
        attempt([_plain(5), _plain(6)])
        outcomes.append(store.get_max_offset_in_queue("A", 0))
        statistics = store.statistics()
        outcomes.append((statistics.put_messages, statistics.put_bytes, arrivals))
    finally:
        store.close()
    return outcomes


@needs_speedups
@pytest.mark.parametrize(
    "scenario",
    ["plain", "too large", "unencodable", "refused", "lock held", "listener raises", "closed"],
)
def test_c_append_answers_as_python(
    tmp_path: Path, scenario: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MessageStore.append_messages in C answers exactly as the Python path: the same
    results, the same errors, one clock call per append, the same arrivals and files;
    whatever it declines it declines before changing anything."""
    counting = CountingSpeedups()
    with monkeypatch.context() as patch:
        patch.setattr(rmq_store.store, "_speedups", counting)
        with_c = _append_scenario(tmp_path / "c", scenario)
    assert counting.taken >= 1
    with monkeypatch.context() as patch:
        without_c(patch)
        with_py = _append_scenario(tmp_path / "py", scenario)
    assert with_c == with_py
    c_files, py_files = files_of(tmp_path / "c"), files_of(tmp_path / "py")
    assert c_files == py_files


@pytest.mark.parametrize("path", ["c", "python"])
def test_failed_commit_keeps_the_buffered_records(
    tmp_path: Path, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SYNC_FLUSH store's log buffers appended records and writes them with pwrite when
    it commits (before a flush or a read of them). A pwrite that fails (an I/O error)
    fails the flush with the OSError and keeps the records buffered: appends go on, and
    the next commit writes every record once, in order, durable after a reopen. A record
    too large for the buffer is written at once: its failure is the append's StoreError,
    which leaves no trace."""
    if path == "python":
        without_c(monkeypatch)
    elif speedups is None:
        pytest.skip("rmq_store._speedups is not built")
    config = StoreConfig(
        store_path_root_dir=tmp_path,
        flush_disk_type=FlushDiskType.SYNC_FLUSH,
        mapped_file_size_commit_log=4 << 20,
    )
    store = MessageStore.open(config, start_services=False)
    try:
        first = store.append_messages([_plain(0)])
        segment = store.commit_log.segments[-1]
        assert segment.pwrite
        assert segment.pending_size == first.wrote_bytes  # buffered, not written yet
        writable, read_only = segment._fd, os.open(segment.path, os.O_RDONLY)
        segment._fd = read_only  # every pwrite now fails with EBADF
        try:
            with pytest.raises(OSError, match="Bad file descriptor") as failed:
                store.flush()
            assert failed.value.errno == errno.EBADF
            more = store.append_messages([_plain(1), _plain(2)])  # buffered after them
            assert more.phy_offset == first.phy_offset + first.wrote_bytes
            huge = _plain(3, body=b"h" * (PENDING_CAPACITY + 1))
            with pytest.raises(StoreError, match="Bad file descriptor") as caught:
                store.append_messages([huge])
            assert isinstance(caught.value.__cause__, OSError)
        finally:
            segment._fd = writable
            os.close(read_only)
        assert segment.pending_size == more.end_offset  # nothing lost, nothing added
        assert store.get_max_offset_in_queue("A", 0) == 3
        store.flush()
        assert segment.pending_size == 0
        assert store.flushed_offset == more.end_offset
        got = store.get_messages("A", 0, 0)
        decoded = [codec.decode_message(view, 0)[0] for view in got.messages]
        del got
        assert [m.queue_offset for m in decoded] == [0, 1, 2]
        assert [m.properties["KEYS"] for m in decoded] == ["k0", "k1", "k2"]
    finally:
        store.close()
    with MessageStore.open(config, start_services=False) as reopened:
        assert reopened.get_max_offset_in_queue("A", 0) == 3
        assert reopened.commit_log.max_offset == more.end_offset


def test_reads_commit_the_buffered_records(tmp_path: Path) -> None:
    """Every read of a SYNC_FLUSH store sees a record the moment append returns, though
    it is still in the write buffer: a get, a lookup by offset and by key, and the
    replication read commit it first."""
    config = StoreConfig(store_path_root_dir=tmp_path, flush_disk_type=FlushDiskType.SYNC_FLUSH)
    store = MessageStore.open(config, start_services=False)
    try:
        segment = None
        for read in ("get", "lookup", "query", "replication"):
            result = store.append_messages([_plain(7, properties={"KEYS": read})])
            segment = store.commit_log.segments[-1]
            assert segment.pending_size > 0
            if read == "get":
                got = store.get_messages("A", 0, result.queue_offset)
                found = codec.decode_message(got.messages[0], 0)[0].properties["KEYS"]
                del got
            elif read == "lookup":
                message = store.look_message_by_offset(result.phy_offset)
                assert message is not None
                found = message.properties["KEYS"]
            elif read == "query":
                queried = store.query_message("A", read, max_num=1).messages
                found = codec.decode_message(queried[0], 0)[0].properties["KEYS"]
                del queried
            else:
                data = store.get_commit_log_data(result.phy_offset)
                assert data is not None
                found = codec.decode_message(data, 0)[0].properties["KEYS"]
                del data
            assert found == read
            assert segment.pending_size == 0
    finally:
        store.close()


# ---------------------------------------------------------------- undecoded properties text

# Pieces of hostile properties texts: the three names the append reads, separators in
# every place, empty values, near-miss names, Latin-1, BMP and astral characters (Java
# hashes the UTF-16 units of a tag) and lone surrogates (the C append leaves them to Python).
_TEXT_PIECES = [
    *("TAGS", "KEYS", "UNIQ_KEY", "\x01", "\x02", "\x01", "\x02", "t", "k1", " ", "k1 k2"),
    *("TAG", "TAGSS", "tags", "KEY", "UNIQ_KEYS", "\x00", "\u00e9", "\u4e2d", "\U0001f600"),
    *("\ud800", "\udfff"),
]
_PAIR_NAMES = st.sampled_from(["TAGS", "KEYS", "UNIQ_KEY", "WAIT", "", "TAGS\x01", "x"])
_PAIR_VALUES = st.sampled_from(
    ["", "t", "TagA", "k1 k2  k3", "k1", "\u00e9t\u00e9", "\u4e2d\u6587", "\U0001f600x", "a\x01b"]
)
_texts = st.one_of(
    st.lists(st.sampled_from(_TEXT_PIECES), max_size=14).map("".join),
    # mostly well-formed pairs (duplicates included), a separator now and then dropped
    st.lists(
        st.tuples(_PAIR_NAMES, _PAIR_VALUES, st.sampled_from(["\x02", "\x02", "\x02", ""])),
        max_size=6,
    ).map(lambda pairs: "".join(f"{name}\x01{value}{end}" for name, value, end in pairs)),
)


def _text_message(i: int, text: str) -> MessageExt:
    return _plain(i, properties=text)


def _text_store_answers(root: Path, texts: list[str]) -> list[object]:
    """A store's answers to appends of messages whose properties are ``texts`` (fresh
    messages: the Python path replaces a text by its dict when it reads it): the outcome
    of the whole batch and of each message alone, the arrivals, index lookups."""
    ticks = iter(range(1_700_000_000_000, 1_800_000_000_000, 7))
    recorder = _Recorder(tiny_config(root), lambda: next(ticks))  # small files: 2 stores
    store, arrivals, outcomes, attempt = (
        recorder.store,
        recorder.arrivals,
        recorder.outcomes,
        recorder.attempt,
    )

    try:
        attempt([_plain(0)])  # the queue and the msgId prefix: then the common case
        attempt([_text_message(i, text) for i, text in enumerate(texts)])
        for i, text in enumerate(texts):
            attempt([_text_message(i, text), _plain(i)])
        for key in ("k1", "k2", "t", "U0", "\u00e9t\u00e9", "\U0001f600x", "a\x01b"):
            found = store.query_message("A", key, max_num=64)
            outcomes.append((key, found.phy_offsets))
    finally:
        store.close()
    outcomes.append(arrivals)
    return outcomes


@needs_speedups
def test_c_append_reads_properties_text_as_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages whose properties are an undecoded text (as the broker's batch path hands
    them over): the C append finds TAGS, KEYS and UNIQ_KEY in the text itself and must
    answer, dispatch and write exactly what the Python path does (which decodes the text
    with decode_properties), for hostile texts too."""
    counting = CountingSpeedups()

    @settings(max_examples=150, deadline=None)
    @given(texts=st.lists(_texts, min_size=1, max_size=6))
    def check(texts: list[str]) -> None:
        with tempfile.TemporaryDirectory(prefix="rmq-text-") as tmp:
            root = Path(tmp)
            with monkeypatch.context() as patch:
                patch.setattr(rmq_store.store, "_speedups", counting)
                with_c = _text_store_answers(root / "c", texts)
            with monkeypatch.context() as patch:
                without_c(patch)
                with_py = _text_store_answers(root / "py", texts)
            assert with_c == with_py
            c_files, py_files = files_of(root / "c"), files_of(root / "py")
            assert c_files.keys() == py_files.keys()
            for name in c_files:
                assert c_files[name] == py_files[name], name

    check()
    # C took the texts it can (most of them), Python the first append of each store and
    # the texts with a lone surrogate.
    assert counting.taken > counting.declined, vars(counting)


@pytest.mark.parametrize("c", [True, False], ids=["c", "python"])
def test_properties_text_stored_as_sent(
    tmp_path: Path, c: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An undecoded properties text goes into the record byte for byte, as Java's batch
    encoder copies an entry's properties; its tags code, KEYS and UNIQ_KEY are those of
    decode_properties (a repeated name keeps its last value, a segment without a name or
    a value does not count)."""
    if c and speedups is None:
        pytest.skip("C speedups not built")
    if not c:
        without_c(monkeypatch)
    counting = CountingSpeedups()
    if c:
        monkeypatch.setattr(rmq_store.store, "_speedups", counting)
    text = (
        "TAGS\x01first\x02KEYS\x01old\x02\x01orphan\x02TAGS\x01\u00e9\U0001f600\x02"
        "KEYS\x01\x02UNIQ_KEY\x01U1\x01x\x02KEYS\x01new k2\x02junk"
    )
    config = StoreConfig(store_path_root_dir=tmp_path, mapped_file_size_commit_log=1 << 20)
    arrivals: list[tuple[str, int, int, int]] = []
    with MessageStore.open(config, start_services=False) as store:
        store.add_arrival_listener(lambda *a: arrivals.append(a))
        store.append_messages([_plain(0)])
        put = store.append_messages([_text_message(1, text), _text_message(2, text)])
        records = store.commit_log.read(put.phy_offset, put.wrote_bytes)
        assert records is not None
        decoded = codec.decode_messages(records)
        assert [codec._raw_properties(m) for m in decoded] == [text, text]
        # Java's hashCode over UTF-16 units: (0xE9 * 31 + 0xD83D) * 31 + 0xDE00
        assert arrivals[-1] == ("A", 0, 2, 1_996_812)
        for key, count in (("new", 2), ("k2", 2), ("U1\x01x", 2), ("old", 0), ("first", 0)):
            assert len(store.query_message("A", key, max_num=64).phy_offsets) == count, key
    if c:
        assert counting.taken == 1, vars(counting)


@needs_speedups
@pytest.mark.parametrize("seed", range(6))
def test_index_put_identical(tmp_path: Path, seed: int) -> None:
    """IndexFile.put_records takes the C loop for a list and the Python loop for a tuple."""
    rng = random.Random(seed)
    records: list[tuple[list[int], int, int]] = []
    for n in range(rng.randrange(1, 90)):
        hashes = [rng.choice([0, 1, 7, 2**31 - 1, rng.randrange(2**31)]) for _ in range(3)]
        if rng.random() < 0.05:
            hashes.append(rng.choice([-1, 2**31, 2**40]))  # the Python loop's error
        timestamp = rng.choice([0, -5, 1_700_000_000_000 + 1000 * n, 2**63 - 1])
        phy = rng.choice([n * 100, 2**63 - 1, 2**64]) if rng.random() < 0.05 else n * 100
        records.append((hashes[: rng.randrange(0, len(hashes) + 1)], phy, timestamp))

    def run(path: Path, c: bool) -> tuple[object, ...]:
        index = IndexFile.create(path, hash_slot_num=13, index_num=rng_index_num)
        outcome: object
        try:
            try:
                outcome = index.put_records(records if c else tuple(records))
            except Exception as exc:  # noqa: BLE001 - compared
                outcome = (type(exc).__name__, str(exc))
            index.flush()
        finally:
            index.close()
        return (outcome, path.read_bytes())

    rng_index_num = rng.choice([10, 50, 400])
    assert run(tmp_path / "c", True) == run(tmp_path / "py", False)


@needs_speedups
@pytest.mark.parametrize("seed", range(8))
def test_index_build_identical(tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """IndexService.build_indexes with the C loop (index_build) writes the same index
    files as the Python loop, and fails the same way, for ordinary and hostile records:
    keys with runs of spaces, non-BMP and lone surrogates, more keys than C takes,
    records at or before the newest file's end, values out of range, files filling up."""
    rng = random.Random(seed)
    topics = ["T", "Topic\u00e9", "\U0001f600", "T\ud800"]
    batches: list[list[tuple[object, ...]]] = []
    phy = 0
    for _ in range(rng.randrange(3, 12)):
        batch: list[tuple[object, ...]] = []
        for _ in range(rng.randrange(1, 40)):
            phy += 0 if rng.random() < 0.05 else rng.choice([1, 100])
            keys = rng.choice([None, "", "k1", "k1  k2 ", f"k{phy}", " k3"])
            if rng.random() < 0.05:
                keys = rng.choice([" ".join(f"k{i}" for i in range(70)), "a\ud800"])
            uniq = rng.choice([None, "", "U1", f"U{phy}", "\U0001f600u"])
            stamp = rng.choice([1_700_000_000_000 + phy, 0, -5])
            record: tuple[object, ...] = (rng.choice(topics[:3]), keys, uniq, phy, stamp)
            roll = rng.random()
            if roll < 0.03:
                record = (topics[3], keys, uniq, phy, stamp)
            elif roll < 0.05:
                record = ("T", keys, uniq, -1, stamp)
            elif roll < 0.07:
                record = ("T", keys, uniq, 2**63, stamp)
            elif roll < 0.09:
                record = ("T", keys, uniq, max(phy - 200, 0), stamp)  # before the end
            batch.append(record)
        batches.append(batch)

    def run(root: Path) -> list[object]:
        ticks = iter(range(1_700_000_000_000, 1_800_000_000_000, 1000))
        service = rmq_store.index_service.IndexService(
            root, hash_slot_num=7, index_num=rng_index_num, clock_ms=lambda: next(ticks)
        )
        service.load(last_exit_ok=True, checkpoint_index_timestamp=0)
        outcomes: list[object] = []
        try:
            for batch in batches:
                try:
                    service.build_indexes(list(batch))  # type: ignore[arg-type]
                    outcomes.append(None)
                except Exception as exc:  # noqa: BLE001 - compared
                    outcomes.append((type(exc).__name__, str(exc)))
        finally:
            service.close()
        outcomes.append(sorted((p.name, p.read_bytes()) for p in root.iterdir()))
        return outcomes

    rng_index_num = rng.choice([20, 60, 400])
    calls = []
    original = IndexFile.index_records_c

    def counted(
        self: IndexFile, records: list[tuple[str, str | None, str | None, int, int]]
    ) -> int:
        done = original(self, records)
        calls.append(done)
        return done

    with monkeypatch.context() as patch:
        patch.setattr(IndexFile, "index_records_c", counted)
        with_c = run(tmp_path / "c")
    assert sum(calls) > 0  # C took records
    with monkeypatch.context() as patch:
        without_c(patch)
        with_py = run(tmp_path / "py")
    assert with_c == with_py


class _Segment:
    """What CommitLog._check reads of a segment: its buffer and size."""

    def __init__(self, buffer: bytearray) -> None:
        self.buffer = buffer
        self.file_size = len(buffer)


def python_check_records(buffer: bytearray, position: int, check_crc: bool) -> tuple[int, int, int]:
    segment = _Segment(buffer)
    records = 0
    while True:
        size = CommitLog._check(None, segment, position, check_crc=check_crc)  # type: ignore[arg-type]
        if not size:
            return position, records, 0 if size == 0 else 1
        position += size
        records += 1


def damaged_segment(rng: random.Random) -> bytearray:
    texts = ["T", "Topic\u00e9", "t" * 127]
    data = bytearray()
    for n in range(rng.randrange(1, 12)):
        message = MessageExt(
            topic=rng.choice(texts),
            magic=rng.choice([codec.MAGIC_V1, codec.MAGIC_V2]),
            born_host=rng.choice([HostPort("10.0.0.1", 1), HostPort("::1", 2)]),
            store_host=rng.choice([HostPort("10.0.0.2", 3), HostPort("fe80::2", 4)]),
            body=rng.randbytes(rng.choice([0, 5, 300])),
            properties=rng.choice([{}, {"KEYS": f"k{n}", "\u00e9": "\U0001f600"}]),
        )
        data += codec.encode_message_py(message)
    tail = rng.choice([b"", bytes(40), BLANK_TAIL])
    data += tail
    for _ in range(rng.choice([0, 1, 1, 3])):  # damage: flip, zero or cut
        at = rng.randrange(len(data))
        kind = rng.randrange(3)
        if kind == 0:
            data[at] ^= 1 << rng.randrange(8)
        elif kind == 1:
            data[at] = rng.choice([0, 0x80, 0xC0, 0xED, 0xFF])
        else:
            data = data[:at] + bytes(len(data) - at)
    return data


BLANK_TAIL = (12).to_bytes(4, "big") + BLANK_MAGIC.to_bytes(4, "big") + bytes(4)


@needs_speedups
@pytest.mark.parametrize("check_crc", [True, False])
def test_check_records_same_verdicts_as_python(check_crc: bool) -> None:
    assert speedups is not None
    rng = random.Random(7)
    verdicts = set()
    for _ in range(3000):
        data = damaged_segment(rng)
        expected = python_check_records(data, 0, check_crc)
        assert speedups.check_records(data, 0, len(data), check_crc) == expected
        verdicts.add(expected[2])
    assert verdicts == {0, 1}  # both ends were exercised


def crash_copy(source: Path, target: Path, rng: random.Random) -> None:
    """``source`` as a crash may leave it: some queues' newest units and perhaps the index
    not yet written, the abort file present, the checkpoint back at the first record."""
    shutil.copytree(source, target)
    for queue_dir in sorted((target / "consumequeue").glob("*/*")):
        files = sorted(queue_dir.iterdir())
        if not files or rng.random() < 0.4:
            continue
        last = files[-1]
        data = bytearray(last.read_bytes())
        used = len(data.rstrip(b"\x00"))
        used += -used % 20
        cut = rng.randrange(0, used // 20 + 1) * 20
        data[used - cut : used] = bytes(cut)
        last.write_bytes(data)
    if rng.random() < 0.3:
        shutil.rmtree(target / "index", ignore_errors=True)
    checkpoint = StoreCheckpoint(target)
    checkpoint.physic_msg_timestamp = checkpoint.logics_msg_timestamp = 1
    checkpoint.close()
    AbortMarker.create(target)


def recover_store(root: Path) -> tuple[int, list[object]]:
    """Open ``root`` (recovering it), read every queue, close; the re-dispatch count and
    what was read."""
    config = tiny_config(root)
    ticks = iter(range(1_900_000_000_000, 2_000_000_000_000, 997))
    with MessageStore.open(config, clock_ms=lambda: next(ticks), start_services=False) as store:
        assert store.recovery.abnormal
        seen: list[object] = []
        for topic in store.topics():
            for queue_id in store.queue_ids(topic):
                got = store.get_messages(topic, queue_id, 0, max_count=10_000)
                seen.append(
                    (topic, queue_id, got.next_begin_offset, [bytes(m) for m in got.messages])
                )
        found = store.query_message("A", "k1", max_num=64)
        seen.append((found.phy_offsets, found.more))
        return store.recovery.redispatched, seen


@needs_speedups
@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_recovery_skips_only_what_is_dispatched(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recovery with the C skip of complete records writes the same queues and index as
    the full re-dispatch, and decodes fewer records."""
    write_store(tmp_path / "clean", random_batches(seed))
    for name in ("c", "py"):
        crash_copy(tmp_path / "clean", tmp_path / name, random.Random(seed))
    with_c = recover_store(tmp_path / "c")
    with monkeypatch.context() as patch:
        patch.setattr(rmq_store.commitlog, "_store_speedups", None)
        without_c = recover_store(tmp_path / "py")
    assert with_c[1] == without_c[1]
    assert with_c[0] < without_c[0]
    c_files, py_files = files_of(tmp_path / "c"), files_of(tmp_path / "py")
    assert c_files.keys() == py_files.keys()
    for name in c_files:
        assert c_files[name] == py_files[name], name


# ------------------------------------------------------------------ read_units (get_messages)

_UNIT = struct.Struct(">qiq")


class FakeQueue:
    """What ``MessageStore._scan_units`` reads of a queue: its units, from bytes."""

    topic, queue_id = "T", 0

    def __init__(self, units: bytes) -> None:
        self.units = units

    def unit_tuples(self, queue_offset: int, max_count: int) -> Iterator[tuple[int, int, int]]:
        return _UNIT.iter_unpack(self.units[: max_count * 20])


class FakeSegments:
    """Commit-log segments of ``size`` bytes at the given starts, ``written`` bytes each."""

    def __init__(self, size: int, segments: dict[int, int], rng: random.Random) -> None:
        self.segment_size = size
        self.data = {start: bytes(rng.randrange(256) for _ in range(size)) for start in segments}
        self.written = segments
        self.calls = 0

    def segment_view(self, phy: int) -> tuple[int, int, memoryview] | None:
        self.calls += 1
        start = phy - phy % self.segment_size
        if start not in self.data:
            return None
        return start, self.written[start], memoryview(self.data[start])


ScanArgs = tuple[Any, int, int, tuple[int, int, int, int]]
"""tags_codes (any object: hostile ones too), max_phy, in_memory_limit, the four limits."""


def _as_python(result: tuple[Any, ...]) -> tuple[Any, ...]:
    status, messages, offsets, total, next_offset, max_phy_pulling = result
    return status, [bytes(m) for m in messages], offsets, total, next_offset, max_phy_pulling


def _python_scan(
    units: bytes, segments: FakeSegments, offset: int, args: ScanArgs
) -> tuple[Any, ...]:
    tags_codes, max_phy, in_memory_limit, limits = args
    fake_store: Any = types.SimpleNamespace(commit_log=segments)
    fake_queue: Any = FakeQueue(units)
    return _as_python(
        MessageStore._scan_units(
            fake_store, fake_queue, offset, len(units) // 20, max_phy, in_memory_limit,
            limits[:2], limits[2:], tags_codes, None,
        )
    )  # fmt: skip


def _c_scan(
    units: bytes, segments: FakeSegments, offset: int, args: ScanArgs, complete: bool
) -> tuple[Any, ...] | None:
    tags_codes, max_phy, in_memory_limit, limits = args
    assert speedups is not None
    found = speedups.read_units(
        units, complete, offset, segments.segment_view, segments.segment_size, tags_codes,
        max_phy, in_memory_limit, *limits,
    )  # fmt: skip
    if found is None:
        return None
    messages, offsets, total, next_offset, max_phy_pulling = found
    status = GetMessageStatus.FOUND if messages else GetMessageStatus.NO_MATCHED_MESSAGE
    return _as_python((status, messages, offsets, total, next_offset, max_phy_pulling))


@needs_speedups
@pytest.mark.parametrize("seed", range(6))
def test_read_units_answers_as_python(seed: int) -> None:
    """Random and hostile units (negative offsets, sizes <= 0, blank units, records past
    the written bytes or across segments, missing segments), random limits and tag
    filters: whatever C answers, the Python loop answers the same."""
    rng = random.Random(seed)
    taken = declined = 0
    big = 1 << 70
    for _ in range(400):
        written = {start: rng.choice([4096, rng.randrange(4097)]) for start in (4096, 8192)}
        if rng.random() < 0.1:
            del written[4096]
        segments = FakeSegments(4096, written, rng)
        units = bytearray()
        hostile = rng.random() < 0.4
        for _ in range(rng.randrange(1, 60)):
            phy = rng.randrange(4096, 8192 + 4096 * (rng.random() < 0.1))
            size = rng.randrange(1, 400)
            if hostile and rng.random() < 0.2:
                phy = rng.choice(
                    [rng.randrange(0, 20000), -rng.randrange(1, 1 << 40), 0, (1 << 63) - 1,
                     -(1 << 63), phy]
                )  # fmt: skip
                size = rng.choice([0, -rng.randrange(1, 100), 0x7FFFFFFF, -(1 << 31), size])
            code = rng.choice([1, 2, 3, -5, (1 << 63) - 1, -(1 << 63)])
            units += _UNIT.pack(phy, size, code)
        units_bytes = bytes(units)
        tags_codes = rng.choice(
            [None, None, frozenset({1, 2}), {3}, set(), frozenset(range(-5, 30)),
             {1, big}, {True}, {1.0}, [1, 2], frozenset({-(1 << 63), (1 << 63) - 1})]
        )  # fmt: skip

        def limit() -> int:
            return rng.choice([0, 1, 2, 5, 32, -1, 300, 5000, 1 << 62])

        args: ScanArgs = (
            tags_codes,
            rng.choice([12288, 20000, 1 << 40]),
            rng.choice([0, 100, 8000, 1 << 50]),
            (limit(), limit(), limit(), limit()),
        )
        offset = rng.randrange(0, 1 << 40)
        expected = _python_scan(units_bytes, segments, offset, args)
        found = _c_scan(units_bytes, segments, offset, args, complete=True)
        if found is None:
            declined += 1
        else:
            taken += 1
            assert found == expected, (units_bytes, segments.written, args)
        # A run that is not complete: C answers only when it stops inside it.
        partial = _c_scan(units_bytes, segments, offset, args, complete=False)
        if partial is not None:
            assert partial == expected
            assert partial[4] < offset + len(units_bytes) // 20
    assert taken >= 40, (taken, declined)
    assert declined >= 40, (taken, declined)


@needs_speedups
def test_read_units_hostile_arguments() -> None:
    """Odd arguments decline (None) or raise what the Python loop raises; never a crash."""
    read_units = speedups.read_units  # type: ignore[union-attr]
    segment = bytearray(range(256)) * 16
    unit = _UNIT.pack(0, 10, 1)
    good = lambda phy: (0, 4096, memoryview(segment))  # noqa: E731
    limits = (32, 1 << 20, 32, 1 << 20)

    def call(*changed: tuple[int, object]) -> object:
        args: list[object] = [unit * 3, True, 0, good, 4096, None, 4096, 0, *limits]
        for at, value in changed:
            args[at] = value
        return read_units(*args)

    assert call()[2] == 30  # type: ignore[index]
    for changed in [
        (0, bytearray(unit)),
        (0, unit[:19]),
        (0, "units"),
        (2, -1),
        (2, 1 << 64),
        (2, 1.0),
        (4, 0),
        (6, -1),
        (7, 1 << 64),
        (8, None),
        (11, 2.5),
        (5, [1]),
        (5, {object()}),
        (5, {1: 1}),
        (3, lambda phy: None),
        (3, lambda phy: (0, 4096)),
        (3, lambda phy: (0, 4096, bytes(segment))),
        (3, lambda phy: (0, 5000, memoryview(segment))),
        (3, lambda phy: (-1, 4096, memoryview(segment))),
        (3, lambda phy: (0, 4096, memoryview(segment)[::2])),
        (3, lambda phy: (0, 1024, memoryview(segment).cast("B", (64, 64)))),
        (3, lambda phy: (1 << 70, 4096, memoryview(segment))),
    ]:
        assert call(changed) is None, changed
    with pytest.raises(TypeError):
        read_units(unit)
    with pytest.raises(ZeroDivisionError):
        call((3, lambda phy: 1 // 0))
    with pytest.raises(TypeError):
        call((3, "not callable"))


@needs_speedups
@pytest.mark.parametrize("seed", [1, 2])
def test_get_messages_identical_with_and_without_c(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real stores (small segments and queue files, so reads cross both), then units
    overwritten with hostile ones: every get answers the same with C and without."""
    rng = random.Random(seed)
    config = dataclasses.replace(
        tiny_config(tmp_path), mapped_file_size_consume_queue=20 * rng.choice([50, 3000])
    )
    store = MessageStore.open(config, start_services=False)
    calls = {"taken": 0, "declined": 0}

    class Counting:
        def read_units(self, *args: object) -> object:
            found = speedups.read_units(*args)  # type: ignore[union-attr]
            calls["declined" if found is None else "taken"] += 1
            return found

    try:
        for batch in random_batches(seed):
            store.append_messages(batch)
        codes = [hashing.tags_code(tag) for tag in ("TagA", "T", "t" * 40, None)]

        def gets() -> list[object]:
            answers: list[object] = []
            for (topic, queue_id), queue in sorted(store._queues.items()):
                for _ in range(25):
                    offset = rng.randrange(-2, queue.max_offset + 3)
                    tags = rng.choice([None, frozenset(codes[:1]), set(codes), [codes[0]]])
                    got = store.get_messages(
                        topic, queue_id, offset, max_count=rng.choice([0, 1, 3, 32, 1000]),
                        max_bytes=rng.choice([1, 2000, 1 << 22]), tags_codes=tags,
                    )  # fmt: skip
                    fields = {f.name: getattr(got, f.name) for f in dataclasses.fields(got)}
                    fields["messages"] = [bytes(m) for m in got.messages]
                    answers.append(fields)
            return answers

        def both() -> None:
            state = rng.getstate()
            with monkeypatch.context() as patch:
                patch.setattr(rmq_store.store, "_speedups", Counting())
                with_c = gets()
            rng.setstate(state)
            with monkeypatch.context() as patch:
                patch.setattr(rmq_store.store, "_speedups", None)
                with_py = gets()
            assert with_c == with_py

        both()
        for queue in store._queues.values():  # hostile units over real ones
            for mapped in queue.files:
                for position in range(0, mapped.wrote_position, 20):
                    if rng.random() < 0.1:
                        mapped.buffer[position : position + 20] = _UNIT.pack(
                            rng.choice([-1, 0, 10, store.commit_log.max_offset + 7, 1 << 62]),
                            rng.choice([0, -3, 0x7FFFFFFF, 100, 5000]),
                            rng.choice(codes),
                        )
        both()
    finally:
        store.close()
    assert calls["taken"] >= 20, calls
    assert calls["declined"] >= 5, calls


@needs_speedups
def test_read_views_behave_as_python_slices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The C read makes each message's view without slicing (a view of the segment's
    buffer, narrowed): it must be what slicing gives, an export of the mapping that keeps
    it from closing, sliceable again, and released like any view."""
    config = StoreConfig(store_path_root_dir=tmp_path, mapped_file_size_commit_log=1 << 20)
    body = bytes(range(256)) * 3
    with MessageStore.open(config, start_services=False) as store:
        store.append_messages(
            [
                MessageExt(
                    topic="Views",
                    queue_id=0,
                    body=body,
                    born_host=HostPort("127.0.0.1", 1),
                    store_host=HostPort("127.0.0.1", 2),
                    properties={"TAGS": f"t{i}"},
                )
                for i in range(5)
            ]
        )
        c_views = store.get_messages("Views", 0, 1, max_count=3).messages
        with monkeypatch.context() as patch:
            without_c(patch)
            py_views = store.get_messages("Views", 0, 1, max_count=3).messages
        assert [bytes(v) for v in c_views] == [bytes(v) for v in py_views]
        for c_view, py_view in zip(c_views, py_views, strict=True):
            assert (len(c_view), c_view.nbytes, c_view.shape, c_view.strides) == (
                len(py_view), py_view.nbytes, py_view.shape, py_view.strides,
            )  # fmt: skip
            assert (c_view.ndim, c_view.format, c_view.readonly, c_view.contiguous) == (
                py_view.ndim, py_view.format, py_view.readonly, py_view.contiguous,
            )  # fmt: skip
            assert c_view.obj is py_view.obj
            assert bytes(c_view[88 : 88 + len(body)]) == body  # IPv4 hosts: body at 88
            assert bytes(c_view[4:8]) == bytes(py_view[4:8])
        mapping: Any = c_views[0].obj  # the segment's mmap
        del py_views
        with pytest.raises(BufferError):
            mapping.close()  # the C views are exports of the mapping
        for view in c_views:
            view.release()
        del c_views
