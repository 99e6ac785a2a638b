"""Tests for rmq_store.checkpoint: checkpoint, abort marker, process lock, atomic writes."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

from rmq_store.checkpoint import (
    CHECKPOINT_FILE_SIZE,
    AbortMarker,
    CheckpointFileError,
    StoreCheckpoint,
    StoreLock,
    StoreLockedError,
    write_atomically,
)
from rmq_store.errors import StoreClosedError, StoreError

T0: Final = 1_700_000_000_000  # a store timestamp, ms


def set_all(cp: StoreCheckpoint, values: tuple[int, int, int, int, int]) -> None:
    (
        cp.physic_msg_timestamp,
        cp.logics_msg_timestamp,
        cp.index_msg_timestamp,
        cp.master_flushed_offset,
        cp.confirm_phy_offset,
    ) = values


def get_all(cp: StoreCheckpoint) -> tuple[int, int, int, int, int]:
    return (
        cp.physic_msg_timestamp,
        cp.logics_msg_timestamp,
        cp.index_msg_timestamp,
        cp.master_flushed_offset,
        cp.confirm_phy_offset,
    )


# --------------------------------------------------------------------------- checkpoint


def test_new_checkpoint_is_one_zero_page(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with StoreCheckpoint(root) as cp:
        assert get_all(cp) == (0, 0, 0, 0, 0)
        assert cp.path == root / "checkpoint"
    assert (root / "checkpoint").read_bytes() == bytes(CHECKPOINT_FILE_SIZE)
    assert not (root / "checkpoint.tmp").exists()


def test_round_trip_and_byte_layout(tmp_path: Path) -> None:
    values = (T0 + 5, T0 + 3, T0 + 1, 1 << 40, -1)
    with StoreCheckpoint(tmp_path) as cp:
        set_all(cp, values)
        cp.flush()
        data = (tmp_path / "checkpoint").read_bytes()
    assert len(data) == 4096
    assert data[:40] == struct.pack(">qqqqq", *values)
    for i, value in enumerate(values):
        assert struct.unpack_from(">q", data, i * 8) == (value,)
    assert data[40:] == bytes(4096 - 40)
    with StoreCheckpoint(tmp_path) as again:
        assert get_all(again) == values


def test_flush_survives_reopen_without_close(tmp_path: Path) -> None:
    cp = StoreCheckpoint(tmp_path)
    set_all(cp, (T0, T0 - 10, T0 - 20, 300, 200))
    cp.flush()
    other = StoreCheckpoint(tmp_path)  # a second reader sees the flushed page
    assert get_all(other) == (T0, T0 - 10, T0 - 20, 300, 200)
    other.close()
    cp.close()


def test_close_flushes(tmp_path: Path) -> None:
    cp = StoreCheckpoint(tmp_path)
    cp.physic_msg_timestamp = T0
    cp.close()
    cp.close()  # idempotent
    assert cp.closed
    with StoreCheckpoint(tmp_path) as again:
        assert again.physic_msg_timestamp == T0


def test_flush_after_close_raises(tmp_path: Path) -> None:
    cp = StoreCheckpoint(tmp_path)
    cp.close()
    with pytest.raises(StoreClosedError, match="closed"):
        cp.flush()


def test_reads_4x_file(tmp_path: Path) -> None:
    page = bytearray(4096)
    struct.pack_into(">qqq", page, 0, T0 + 2, T0 + 1, T0)
    (tmp_path / "checkpoint").write_bytes(bytes(page))
    with StoreCheckpoint(tmp_path) as cp:
        assert get_all(cp) == (T0 + 2, T0 + 1, T0, 0, 0)


def test_flush_keeps_rest_of_page(tmp_path: Path) -> None:
    page = bytearray(4096)
    page[4000:4004] = b"keep"
    (tmp_path / "checkpoint").write_bytes(bytes(page))
    with StoreCheckpoint(tmp_path) as cp:
        cp.confirm_phy_offset = 7
        cp.flush()
    data = (tmp_path / "checkpoint").read_bytes()
    assert data[32:40] == struct.pack(">q", 7)
    assert data[4000:4004] == b"keep"


@pytest.mark.parametrize("size", [24, 40, 4095, 4097, 8192])
def test_wrong_size_is_refused(tmp_path: Path, size: int) -> None:
    (tmp_path / "checkpoint").write_bytes(bytes(size))
    with pytest.raises(CheckpointFileError, match=f"size is {size} bytes, expected 4096") as info:
        StoreCheckpoint(tmp_path)
    assert isinstance(info.value, StoreError)
    assert info.value.path == tmp_path / "checkpoint"
    assert (tmp_path / "checkpoint").stat().st_size == size  # untouched


def test_empty_file_reads_as_zeros(tmp_path: Path) -> None:
    (tmp_path / "checkpoint").write_bytes(b"")
    with StoreCheckpoint(tmp_path) as cp:
        assert get_all(cp) == (0, 0, 0, 0, 0)
    assert (tmp_path / "checkpoint").stat().st_size == 4096


def test_value_out_of_range(tmp_path: Path) -> None:
    with StoreCheckpoint(tmp_path) as cp:
        cp.master_flushed_offset = 2**63
        with pytest.raises(ValueError, match="master_flushed_offset"):
            cp.flush()
        cp.master_flushed_offset = 0


@pytest.mark.parametrize(
    ("physic", "logics", "index", "expected", "expected_index"),
    [
        (T0, T0 + 100, T0 + 200, T0 - 3000, T0 - 3000),  # min of physic/logics − 3 s
        (T0 + 100, T0, T0 + 200, T0 - 3000, T0 - 3000),
        (T0, T0, T0 - 5000, T0 - 3000, T0 - 5000),  # index older: taken as is
        (T0, T0, T0 - 3000, T0 - 3000, T0 - 3000),
        (1000, 2000, 500, 0, 0),  # clamped at 0 before the index minimum
        (0, 0, 0, 0, 0),
        (2999, T0, T0, 0, 0),
        (3001, T0, T0, 1, 1),
        (T0, T0, -5, T0 - 3000, -5),  # the index timestamp is not clamped (as in Java)
    ],
)
def test_min_timestamp(
    tmp_path: Path, physic: int, logics: int, index: int, expected: int, expected_index: int
) -> None:
    with StoreCheckpoint(tmp_path) as cp:
        cp.physic_msg_timestamp, cp.logics_msg_timestamp, cp.index_msg_timestamp = (
            physic,
            logics,
            index,
        )
        assert cp.min_timestamp == expected
        assert cp.min_timestamp_index == expected_index
        cp.index_msg_timestamp = 0


# --------------------------------------------------------------------------- write_atomically


def test_write_atomically_creates_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "topics.json"
    write_atomically(target, b'{"a":1}')
    assert target.read_bytes() == b'{"a":1}'
    write_atomically(target, b"{}")
    assert target.read_bytes() == b"{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["topics.json"]


def test_write_atomically_failure_leaves_old_file(tmp_path: Path) -> None:
    target = tmp_path / "consumerOffset.json"
    target.write_bytes(b"old")
    (tmp_path / "consumerOffset.json.tmp").mkdir()  # opening the temp file fails
    with pytest.raises(IsADirectoryError):
        write_atomically(target, b"new")
    assert target.read_bytes() == b"old"


# --------------------------------------------------------------------------- lock

_CHILD: Final = """
import sys
from pathlib import Path
from rmq_store.checkpoint import StoreLock, StoreLockedError
try:
    with StoreLock(Path(sys.argv[1])):
        print("acquired")
except StoreLockedError as exc:
    print("locked:", exc)
"""


def try_lock_in_child(root: Path) -> str:
    return subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", _CHILD, str(root)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()


def test_lock_excludes_second_lock_in_process(tmp_path: Path) -> None:
    root = tmp_path / "store"
    held = StoreLock(root)
    with held:
        assert (root / "lock").read_bytes() == b"lock"
        second = StoreLock(root)
        with pytest.raises(StoreLockedError) as info:
            second.acquire()
        assert not second.locked
        assert isinstance(info.value, StoreError)
        assert info.value.root == root
        assert str(root) in str(info.value)
        assert "another process" in str(info.value)
        # the failed attempt did not disturb the holder
        with pytest.raises(StoreLockedError):
            StoreLock(root).acquire()
    assert not held.locked
    with StoreLock(root) as again:  # released on exit
        assert again.locked
    assert (root / "lock").exists()


def test_lock_excludes_child_process(tmp_path: Path) -> None:
    with StoreLock(tmp_path):
        out = try_lock_in_child(tmp_path)
        assert out.startswith("locked:")
        assert str(tmp_path) in out
    assert try_lock_in_child(tmp_path) == "acquired"


def test_lock_released_on_exception(tmp_path: Path) -> None:
    def boom() -> None:
        raise KeyError("boom")

    lock = StoreLock(tmp_path)
    with pytest.raises(KeyError), lock:
        boom()
    assert not lock.locked
    with StoreLock(tmp_path):
        pass


def test_lock_acquire_twice_is_a_bug(tmp_path: Path) -> None:
    with StoreLock(tmp_path) as lock:
        with pytest.raises(RuntimeError, match="already held"):
            lock.acquire()
        assert lock.locked
    lock.release()  # idempotent


# --------------------------------------------------------------------------- abort marker


def test_abort_marker_lifecycle(tmp_path: Path) -> None:
    root = tmp_path / "store"
    assert not AbortMarker.was_present(root)
    AbortMarker.create(root)  # store started
    assert AbortMarker.was_present(root)
    assert (root / "abort").read_bytes() == b""
    AbortMarker.create(root)  # creating again is harmless
    assert AbortMarker.was_present(root)
    AbortMarker.remove(root)  # clean shutdown
    assert not AbortMarker.was_present(root)
    assert not (root / "abort").exists()
    AbortMarker.remove(root)  # idempotent


def test_abort_marker_left_by_crash_is_seen(tmp_path: Path) -> None:
    (tmp_path / "abort").write_bytes(b"12345")  # RocketMQ writes its PID
    assert AbortMarker.was_present(tmp_path)
    AbortMarker.create(tmp_path)
    assert (tmp_path / "abort").read_bytes() == b""
