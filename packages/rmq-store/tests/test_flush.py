"""CommitLogFlusher: group commit, timeouts, failures and shutdown, with a controllable flush."""

from __future__ import annotations

import concurrent.futures
import errno
import threading
from collections.abc import Iterator

import pytest

from rmq_store.errors import FlushDiskTimeoutError, StoreClosedError
from rmq_store.flush import CommitLogFlusher


class FakeLog:
    """A commit log whose flush blocks until released, or fails on demand."""

    def __init__(self) -> None:
        self.appended = 0
        self.calls = 0
        self.gate = threading.Event()
        self.gate.set()
        self.fail: OSError | None = None

    def flush(self) -> int:
        end = self.appended
        self.gate.wait()
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        return end


@pytest.fixture
def log() -> FakeLog:
    return FakeLog()


@pytest.fixture
def flusher(log: FakeLog) -> Iterator[CommitLogFlusher]:
    flusher = CommitLogFlusher(log.flush, interval=30.0, name="test-flush")
    flusher.start(0)
    yield flusher
    log.gate.set()
    flusher.stop()


def test_a_waiter_wakes_the_flusher_before_its_interval(
    log: FakeLog, flusher: CommitLogFlusher
) -> None:
    log.appended = 100
    assert flusher.wait_flushed(100, timeout=5) == 100
    assert flusher.flush_future(100).result(timeout=0) == 100  # already durable


def test_one_flush_serves_every_waiter_that_came_before_it(
    log: FakeLog, flusher: CommitLogFlusher
) -> None:
    log.gate.clear()  # the first flush hangs: waiters pile up behind it
    log.appended = 10
    first = flusher.flush_future(10)
    log.appended = 80
    later = [flusher.flush_future(offset) for offset in (20, 40, 80)]
    calls_before = log.calls
    log.gate.set()
    assert first.result(timeout=5) >= 10
    assert all(f.result(timeout=5) == 80 for f in later)
    assert log.calls - calls_before <= 2  # the hanging flush, then one for all three
    assert flusher.statistics().waiters_served == 4


def test_timeout_raises_flush_disk_timeout(log: FakeLog, flusher: CommitLogFlusher) -> None:
    log.gate.clear()
    log.appended = 50
    with pytest.raises(FlushDiskTimeoutError, match=r"offset 50 within 0\.05 s") as caught:
        flusher.wait_flushed(50, timeout=0.05)
    assert caught.value.offset == 50
    assert isinstance(caught.value, TimeoutError)


def test_a_failed_flush_fails_its_waiters_and_the_next_one_recovers(
    log: FakeLog, flusher: CommitLogFlusher
) -> None:
    log.fail = OSError(errno.EIO, "I/O error")
    log.appended = 30
    future = flusher.flush_future(30)
    with pytest.raises(OSError, match="I/O error"):
        future.result(timeout=5)
    with pytest.raises(OSError, match="I/O error"):
        flusher.wait_flushed(30, timeout=5)
    log.fail = None
    assert flusher.wait_flushed(30, timeout=5) == 30
    assert flusher.statistics().errors >= 1


def test_stop_flushes_last_and_fails_later_requests(log: FakeLog) -> None:
    flusher = CommitLogFlusher(log.flush, interval=30.0, name="test-flush")
    flusher.start(0)
    log.appended = 70
    flusher.stop()
    assert flusher.flushed_offset == 70
    log.appended = 90
    with pytest.raises(StoreClosedError):
        flusher.flush_future(90).result(timeout=1)
    with pytest.raises(StoreClosedError):
        flusher.wait_flushed(90, timeout=1)
    flusher.stop()  # idempotent


def test_listener_runs_once_per_flush_and_its_errors_are_contained(
    log: FakeLog, flusher: CommitLogFlusher
) -> None:
    seen: list[int] = []
    reached = threading.Event()

    def broken(offset: int) -> None:
        raise RuntimeError("listener bug")

    def listener(offset: int) -> None:
        seen.append(offset)
        if offset >= 9:
            reached.set()

    flusher.add_listener(broken)
    flusher.add_listener(listener)
    log.appended = 5
    flusher.wait_flushed(5, timeout=5)
    log.appended = 9
    flusher.wait_flushed(9, timeout=5)
    assert reached.wait(5)  # listeners run after waiters are released
    assert seen == sorted(seen)
    flusher.remove_listener(broken)


def test_many_threads_waiting_concurrently(log: FakeLog, flusher: CommitLogFlusher) -> None:
    lock = threading.Lock()

    def writer(n: int) -> int:
        with lock:
            log.appended += n
            end = log.appended
        return flusher.wait_flushed(end, timeout=10) - end

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        slack = list(pool.map(writer, range(1, 500)))
    assert all(s >= 0 for s in slack)
    assert log.calls < 499
