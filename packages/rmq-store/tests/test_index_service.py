"""Tests for rmq_store.index_service: the rolling ``index/`` directory (spec §4.3)."""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

import pytest

from rmq_protocol.codec.hashing import index_key_hash
from rmq_store.errors import IndexFileError, StoreClosedError
from rmq_store.index import IndexFile, index_file_size, index_key
from rmq_store.index_service import IndexQueryResult, IndexService, index_file_name

SLOTS: Final = 8
NUM: Final = 5  # 4 entries per file: entry 0 is never used
TOPIC: Final = "TopicTest"
# 2024-01-01 00:00:00.000 at UTC+8 (the zone the autouse fixture sets)
T0: Final = 1_704_038_400_000
T0_NAME: Final = "20240101000000000"
SIZE: Final = 100  # bytes per fake commit-log record
FOREVER: Final = 2**62


@pytest.fixture(autouse=True)
def _local_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run every test in a fixed zone, UTC+8 without DST (POSIX TZ ``CST-8``)."""
    monkeypatch.setenv("TZ", "CST-8")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


class FakeClock:
    def __init__(self, now: int = T0) -> None:
        self.now = now
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.now


def new_service(
    tmp_path: Path,
    clock: FakeClock | None = None,
    *,
    last_exit_ok: bool = True,
    checkpoint_index_timestamp: int = 0,
) -> IndexService:
    service = IndexService(
        tmp_path / "index",
        hash_slot_num=SLOTS,
        index_num=NUM,
        clock_ms=clock if clock is not None else FakeClock(),
    )
    service.load(last_exit_ok=last_exit_ok, checkpoint_index_timestamp=checkpoint_index_timestamp)
    return service


def dispatch(
    service: IndexService,
    numbers: range,
    *,
    keys: str | None = "K",
    unique: bool = False,
    clock: FakeClock | None = None,
) -> None:
    """Message i: offset i·SIZE, stored at T0 + i seconds; the clock (if any) follows."""
    for i in numbers:
        if clock is not None:
            clock.now = T0 + i * 1000
        service.build_index(
            TOPIC,
            keys=keys,
            unique_key=f"U{i}" if unique else None,
            phy_offset=i * SIZE,
            store_timestamp=T0 + i * 1000,
        )


def entries(service: IndexService) -> int:
    return sum(f.index_count - 1 for f in service.files)


def names(service: IndexService) -> list[str]:
    return [f.path.name for f in service.files]


def offsets(*numbers: int) -> list[int]:
    return [i * SIZE for i in numbers]


def query_all(service: IndexService, key: str = "K") -> list[int]:
    return service.query(TOPIC, key, 1000, 0, FOREVER).phy_offsets


# --------------------------------------------------------------------------- names


def test_index_file_name_is_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    assert index_file_name(T0) == T0_NAME
    assert index_file_name(T0 + 3_723_045) == "20240101010203045"
    monkeypatch.setenv("TZ", "UTC0")
    time.tzset()
    assert index_file_name(T0) == "20231231160000000"


def test_rolling_creates_files_named_by_the_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    service = new_service(tmp_path, clock)
    assert list(service.files) == []
    dispatch(service, range(10), clock=clock)  # 4 + 4 + 2 entries
    # files are created when messages 0, 4 and 8 arrive
    assert names(service) == [T0_NAME, "20240101000004000", "20240101000008000"]
    assert [f.index_count for f in service.files] == [5, 5, 3]
    assert [f.is_full for f in service.files] == [True, True, False]
    assert clock.calls == 3
    assert sorted(p.name for p in (tmp_path / "index").iterdir()) == names(service)
    assert all(
        p.stat().st_size == index_file_size(SLOTS, NUM) for p in (tmp_path / "index").iterdir()
    )
    service.close()


def test_new_file_starts_from_the_previous_end(tmp_path: Path) -> None:
    service = new_service(tmp_path)
    dispatch(service, range(4))  # file 0 ends at offset 300, T0 + 3 s
    service.build_index(
        TOPIC, keys="K", unique_key=None, phy_offset=5000, store_timestamp=T0 + 10_000
    )
    first, second = service.files
    assert (first.end_phy_offset, first.end_timestamp) == (300, T0 + 3000)
    assert (second.begin_phy_offset, second.end_phy_offset) == (5000, 5000)
    assert (second.begin_timestamp, second.end_timestamp) == (T0 + 10_000, T0 + 10_000)
    # the first entry's timeDiff counts from the carried endTimestamp, as in RocketMQ
    assert second.read_entry(1).time_diff == 7
    service.close()


def test_full_file_is_flushed_on_rollover(tmp_path: Path) -> None:
    service = new_service(tmp_path)
    dispatch(service, range(5))
    full = service.files[0]
    header = struct.unpack(">qqqqii", full.path.read_bytes()[:40])
    assert header == (T0, T0 + 3000, 0, 300, full.hash_slot_count, 5)
    service.close()


def test_names_never_collide_within_one_millisecond(tmp_path: Path) -> None:
    clock = FakeClock()  # never advances
    service = new_service(tmp_path, clock)
    dispatch(service, range(12))
    assert names(service) == [T0_NAME, "20240101000000001", "20240101000000002"]
    service.close()


def test_name_bumped_past_a_stray_file_and_a_clock_step_back(tmp_path: Path) -> None:
    clock = FakeClock()
    service = new_service(tmp_path, clock)
    dispatch(service, range(4))
    (tmp_path / "index" / "20240101000000001").write_bytes(b"")  # appeared after load
    dispatch(service, range(4, 5))
    clock.now = T0 - 60_000  # the wall clock stepped back a minute
    dispatch(service, range(5, 9))
    assert names(service) == [T0_NAME, "20240101000000002", "20240101000000003"]
    assert names(service) == sorted(names(service))
    service.close()


# --------------------------------------------------------------------------- build_index


def test_unique_key_and_several_keys(tmp_path: Path) -> None:
    service = new_service(tmp_path)
    service.build_index(
        TOPIC, keys=" a  b c ", unique_key="U1", phy_offset=4242, store_timestamp=T0
    )
    (only,) = service.files
    stored = [only.read_entry(n) for n in range(1, only.index_count)]
    assert [e.key_hash for e in stored] == [
        index_key_hash(index_key(TOPIC, k)) for k in ("U1", "a", "b", "c")
    ]
    assert {e.phy_offset for e in stored} == {4242}
    for key in ("U1", "a", "b", "c"):
        assert query_all(service, key) == [4242]
    assert query_all(service, "a  b c") == []
    service.close()


def test_keys_of_one_message_may_span_two_files(tmp_path: Path) -> None:
    service = new_service(tmp_path)
    dispatch(service, range(2), keys="a b", unique=True)  # 6 entries: 4 + 2
    assert [f.index_count for f in service.files] == [5, 3]
    assert query_all(service, "U1") == offsets(1)
    assert query_all(service, "a") == offsets(1, 0)
    assert query_all(service, "b") == offsets(1, 0)
    service.close()


def test_rollback_and_keyless_records_are_not_indexed(tmp_path: Path) -> None:
    service = new_service(tmp_path)
    service.build_index(
        TOPIC,
        keys="K",
        unique_key="U",
        phy_offset=0,
        store_timestamp=T0,
        transaction_rollback=True,
    )
    service.build_index(TOPIC, keys=None, unique_key=None, phy_offset=100, store_timestamp=T0)
    service.build_index(TOPIC, keys="  ", unique_key=None, phy_offset=200, store_timestamp=T0)
    assert list(service.files) == []
    service.build_index(TOPIC, keys="K", unique_key=None, phy_offset=300, store_timestamp=T0)
    service.build_index(
        TOPIC,
        keys="K",
        unique_key=None,
        phy_offset=400,
        store_timestamp=T0,
        transaction_rollback=True,
    )
    assert query_all(service) == [300]
    service.close()


def test_redispatch_indexes_once(tmp_path: Path) -> None:
    service = new_service(tmp_path)
    dispatch(service, range(10), keys="a b", unique=True)  # 30 entries over 8 files
    assert entries(service) == 30
    count = len(service.files)
    dispatch(service, range(10), keys="a b", unique=True)
    dispatch(service, range(9, 10), keys="a b", unique=True)  # the boundary record again
    assert entries(service) == 30
    assert len(service.files) == count
    assert query_all(service, "a") == offsets(*range(9, -1, -1))
    assert query_all(service, "U9") == offsets(9)
    service.close()


def test_redispatch_completes_a_partly_indexed_record(tmp_path: Path) -> None:
    service = new_service(tmp_path)
    dispatch(service, range(1), keys="a", unique=True)  # U0 and a at offset 0
    dispatch(service, range(1), keys="a b c", unique=True)  # as if it had been cut short
    assert entries(service) == 4
    assert query_all(service, "b") == [0]
    assert query_all(service, "a") == [0]
    service.close()


def test_first_record_at_offset_zero_is_indexed(tmp_path: Path) -> None:
    service = new_service(tmp_path)
    service.build_index(TOPIC, keys="K", unique_key=None, phy_offset=0, store_timestamp=T0)
    assert query_all(service) == [0]
    service.close()


# --------------------------------------------------------------------------- query


def test_query_newest_first_across_files(tmp_path: Path) -> None:
    service = new_service(tmp_path)
    dispatch(service, range(10))
    assert len(service.files) == 3
    assert query_all(service) == offsets(*range(9, -1, -1))
    result = service.query(TOPIC, "K", 3, 0, FOREVER)
    assert result == IndexQueryResult(offsets(9, 8, 7), T0 + 9000, 900)
    assert service.query(TOPIC, "K", 0, 0, FOREVER).phy_offsets == []
    assert query_all(service, "other") == []
    assert service.query("OtherTopic", "K", 10, 0, FOREVER).phy_offsets == []
    service.close()


def test_query_time_window(tmp_path: Path) -> None:
    service = new_service(tmp_path)
    dispatch(service, range(10))
    window = service.query(TOPIC, "K", 100, T0 + 2500, T0 + 6500).phy_offsets
    assert window == offsets(6, 5, 4, 3)
    assert service.query(TOPIC, "K", 100, T0 + 5500, T0 + 7500).phy_offsets == offsets(7, 6)
    assert service.query(TOPIC, "K", 100, 0, T0 - 1).phy_offsets == []
    service.close()


def test_query_without_files(tmp_path: Path) -> None:
    service = new_service(tmp_path)
    assert service.query(TOPIC, "K", 10, 0, FOREVER) == IndexQueryResult([], 0, 0)
    service.close()


# --------------------------------------------------------------------------- load


def test_load_after_reopen(tmp_path: Path) -> None:
    service = new_service(tmp_path)
    dispatch(service, range(6), unique=True)  # 12 entries: 3 files
    before = names(service)
    assert service.flush() == T0 + 5000
    service.close()

    clock = FakeClock(T0 + 3_600_000)
    service = new_service(tmp_path, clock, last_exit_ok=True)
    assert names(service) == before
    assert query_all(service) == offsets(5, 4, 3, 2, 1, 0)
    assert service.end_phy_offset == 500
    assert service.end_timestamp == T0 + 5000
    dispatch(service, range(6, 8), unique=True)  # fills the newest file, then rolls
    assert names(service) == [*before, "20240101010000000"]
    assert query_all(service, "U7") == offsets(7)
    service.close()


def test_load_ignores_other_names_and_deletes_empty_files(tmp_path: Path) -> None:
    service = new_service(tmp_path)
    dispatch(service, range(2))
    service.close()
    directory = tmp_path / "index"
    (directory / "20240101000000000.tmp").write_bytes(b"x")
    (directory / "checkpoint").write_bytes(b"x")
    (directory / "20240102000000000").mkdir()
    (directory / "20240103000000000").write_bytes(b"")  # crash between create and size
    service = new_service(tmp_path)
    assert names(service) == [T0_NAME]
    assert not (directory / "20240103000000000").exists()
    assert (directory / "20240101000000000.tmp").exists()
    service.close()


def test_load_refuses_a_file_of_the_wrong_size(tmp_path: Path) -> None:
    service = new_service(tmp_path)
    dispatch(service, range(5))
    service.close()
    (tmp_path / "index" / "20990101000000000").write_bytes(b"\0" * 100)
    service = IndexService(tmp_path / "index", hash_slot_num=SLOTS, index_num=NUM)
    with pytest.raises(IndexFileError, match="20990101000000000"):
        service.load(last_exit_ok=True, checkpoint_index_timestamp=0)
    other = IndexService(tmp_path / "index", hash_slot_num=SLOTS + 1, index_num=NUM)
    with pytest.raises(IndexFileError, match="hash_slot_num=9"):
        other.load(last_exit_ok=True, checkpoint_index_timestamp=0)


def test_abnormal_load_drops_files_newer_than_the_checkpoint(tmp_path: Path) -> None:
    clock = FakeClock()
    service = new_service(tmp_path, clock)
    dispatch(service, range(10), clock=clock)
    all_names = names(service)
    checkpoint = service.files[1].end_timestamp  # file 2 was never covered by a checkpoint
    service.close()

    service = new_service(
        tmp_path, clock, last_exit_ok=False, checkpoint_index_timestamp=checkpoint
    )
    assert names(service) == all_names[:2]
    assert sorted(p.name for p in (tmp_path / "index").iterdir()) == all_names[:2]
    dispatch(service, range(10), clock=clock)  # re-dispatch rebuilds the lost file
    assert entries(service) == 10
    assert query_all(service) == offsets(*range(9, -1, -1))
    service.close()


def test_clean_load_keeps_files_newer_than_the_checkpoint(tmp_path: Path) -> None:
    service = new_service(tmp_path)
    dispatch(service, range(10))
    service.close()
    service = new_service(tmp_path, last_exit_ok=True, checkpoint_index_timestamp=0)
    assert len(service.files) == 3
    service.close()
    service = new_service(tmp_path, last_exit_ok=False, checkpoint_index_timestamp=0)
    assert list(service.files) == []
    assert list((tmp_path / "index").iterdir()) == []
    service.close()


# --------------------------------------------------------------------------- deleting


def test_delete_expired_never_deletes_the_newest(tmp_path: Path) -> None:
    service = new_service(tmp_path)
    dispatch(service, range(10))  # ends: 300, 700, 900
    first, second, newest = service.files
    assert service.delete_expired(300) == 0  # endPhyOffset 300 is not below 300
    assert service.delete_expired(301) == 1
    assert first.closed
    assert not first.path.exists()
    assert service.delete_expired(FOREVER) == 1
    assert service.files == (newest,)
    assert not second.path.exists()
    assert service.delete_expired(FOREVER) == 0
    assert query_all(service) == offsets(9, 8)
    service.close()


def test_truncate_after(tmp_path: Path) -> None:
    service = new_service(tmp_path)
    dispatch(service, range(10))  # files cover offsets 0..300, 400..700, 800..900
    assert service.truncate_after(1000) == 0
    assert service.truncate_after(600) == 2  # the last file whole, the middle one cut
    assert len(service.files) == 1
    assert service.end_phy_offset == 300
    assert sorted(p.name for p in (tmp_path / "index").iterdir()) == names(service)
    dispatch(service, range(6))  # re-dispatch up to the new end of the commit log
    assert query_all(service) == offsets(5, 4, 3, 2, 1, 0)
    assert service.truncate_after(0) == 2
    assert list(service.files) == []
    service.close()


def test_truncate_after_the_boundary_record_of_a_file(tmp_path: Path) -> None:
    service = new_service(tmp_path)
    dispatch(service, range(10))
    assert service.truncate_after(700) == 2  # 700 is the middle file's last record
    assert service.end_phy_offset == 300
    dispatch(service, range(10))
    assert entries(service) == 10
    assert query_all(service) == offsets(*range(9, -1, -1))
    service.close()


# --------------------------------------------------------------------------- lifecycle


def test_flush_returns_the_newest_end_timestamp(tmp_path: Path) -> None:
    service = new_service(tmp_path)
    assert service.flush() == 0
    dispatch(service, range(6))
    assert service.flush() == T0 + 5000
    newest = service.files[-1]
    header = struct.unpack(">qqqqii", newest.path.read_bytes()[:40])
    assert header[:4] == (T0 + 4000, T0 + 5000, 400, 500)
    assert service.flush() == T0 + 5000
    service.close()


def test_close_is_idempotent_and_final(tmp_path: Path) -> None:
    service = new_service(tmp_path)
    dispatch(service, range(3))
    (f,) = service.files
    service.close()
    service.close()
    assert service.closed
    assert f.closed
    with pytest.raises(StoreClosedError):
        service.query(TOPIC, "K", 1, 0, FOREVER)
    with pytest.raises(StoreClosedError):
        dispatch(service, range(3, 4))
    with pytest.raises(StoreClosedError):
        service.flush()
    with pytest.raises(StoreClosedError):
        _ = service.files
    with pytest.raises(StoreClosedError):
        service.load(last_exit_ok=True, checkpoint_index_timestamp=0)
    with IndexFile.open(f.path, hash_slot_num=SLOTS, index_num=NUM) as reopened:
        assert reopened.index_count == 4  # close flushed the header


def test_must_load_first_and_once(tmp_path: Path) -> None:
    service = IndexService(tmp_path / "index", hash_slot_num=SLOTS, index_num=NUM)
    with pytest.raises(RuntimeError, match="load"):
        dispatch(service, range(1))
    with pytest.raises(RuntimeError, match="load"):
        service.query(TOPIC, "K", 1, 0, FOREVER)
    service.load(last_exit_ok=True, checkpoint_index_timestamp=0)
    with pytest.raises(RuntimeError, match="already loaded"):
        service.load(last_exit_ok=True, checkpoint_index_timestamp=0)
    service.close()


def test_constructor_does_not_touch_disk_and_checks_sizes(tmp_path: Path) -> None:
    IndexService(tmp_path / "index", hash_slot_num=SLOTS, index_num=NUM)
    assert not (tmp_path / "index").exists()
    with pytest.raises(ValueError, match="index_num"):
        IndexService(tmp_path / "index", hash_slot_num=SLOTS, index_num=1)
    with pytest.raises(ValueError, match="hash_slot_num"):
        IndexService(tmp_path / "index", hash_slot_num=0, index_num=NUM)


def test_queries_while_the_writer_builds(tmp_path: Path) -> None:
    service = new_service(tmp_path)

    def write() -> None:
        dispatch(service, range(200), keys="K k2", unique=True)  # 150 files
        service.delete_expired(50 * SIZE)

    with ThreadPoolExecutor(max_workers=1) as pool:
        writer = pool.submit(write)
        while not writer.done():
            found = query_all(service)
            assert found == sorted(found, reverse=True)
        writer.result()
    assert query_all(service, "U199") == offsets(199)
    assert query_all(service)[:2] == offsets(199, 198)
    service.close()
