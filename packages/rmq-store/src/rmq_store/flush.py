"""Commit-log flushing: periodic (ASYNC_FLUSH) and group commit (SYNC_FLUSH) in one thread.

Mirrors RocketMQ's ``FlushRealTimeService`` and ``GroupCommitService``. One thread owns
every commit-log ``fdatasync``:

* it wakes every ``flushIntervalCommitLog`` ms and flushes whatever was appended;
* it wakes at once when a writer asks for an offset to become durable, and one flush then
  covers every writer that asked before it started (group commit): the next flush starts
  as soon as the previous one ends, so the fsync rate adapts to the disk and the number of
  writers acknowledged per fsync grows with the load.

Writers wait in one of three ways: :meth:`CommitLogFlusher.wait_flushed` (blocking, for
threads), :meth:`CommitLogFlusher.flush_future` (a ``concurrent.futures.Future``; an
asyncio caller awaits ``asyncio.wrap_future(future)``), or a listener registered with
:meth:`CommitLogFlusher.add_listener`, called once per flush with the new flushed offset
(an event loop turns that into one ``call_soon_threadsafe`` per group commit).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import final

from rmq_store.errors import FlushDiskTimeoutError, StoreClosedError

__all__ = ["CommitLogFlusher", "FlushStatistics"]

logger = logging.getLogger(__name__)

FlushListener = Callable[[int], None]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FlushStatistics:
    flushes: int  # fdatasync rounds that made new bytes durable
    flushed_offset: int  # commit-log offset below which everything is durable
    waiters_served: int  # durability requests answered (futures and blocking waits)
    flush_seconds: float  # total time spent in fdatasync
    errors: int  # flushes that raised OSError


@final
class CommitLogFlusher:
    """The flush thread of a store. Safe for concurrent use by any number of writers.

    ``flush`` is called on the flush thread only; it makes the commit log durable up to
    what was appended when it started and returns the flushed offset.
    """

    def __init__(self, flush: Callable[[], int], *, interval: float, name: str) -> None:
        self._flush = flush
        self._interval = interval
        self._cond = threading.Condition()
        self._flushed = 0
        self._wanted = 0  # highest offset a waiter asked for
        self._futures: list[tuple[int, int, concurrent.futures.Future[int]]] = []
        self._sequence = itertools.count()
        self._listeners: list[FlushListener] = []
        self._error: OSError | None = None
        self._stopping = False
        self._flushes = self._served = self._errors = 0
        self._flush_seconds = 0.0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self, flushed_offset: int) -> None:
        self._flushed = flushed_offset
        self._thread.start()

    def stop(self) -> None:
        """Flush one last time and stop the thread (idempotent). Waiters still pending
        are failed with :class:`StoreClosedError`."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()

    # ------------------------------------------------------------------ waiting

    @property
    def flushed_offset(self) -> int:
        return self._flushed

    def add_listener(self, listener: FlushListener) -> None:
        """Call ``listener(flushed_offset)`` on the flush thread after every flush.

        It must be quick and must not raise (an exception is logged and dropped).
        """
        self._listeners.append(listener)

    def remove_listener(self, listener: FlushListener) -> None:
        self._listeners.remove(listener)

    def flush_future(self, offset: int) -> concurrent.futures.Future[int]:
        """A future resolved with the flushed offset once everything below ``offset`` is
        durable (at once if it already is); it fails with the ``OSError`` of a failed
        flush or :class:`StoreClosedError` when the store closes first."""
        future: concurrent.futures.Future[int] = concurrent.futures.Future()
        with self._cond:
            if offset <= self._flushed:
                future.set_result(self._flushed)
                return future
            if self._stopping:
                future.set_exception(StoreClosedError("the store is closed"))
                return future
            heapq.heappush(self._futures, (offset, next(self._sequence), future))
            self._wanted = max(self._wanted, offset)
            self._cond.notify_all()
        return future

    def wait_flushed(self, offset: int, *, timeout: float) -> int:
        """Block until everything below ``offset`` is durable; returns the flushed offset.

        Raises:
            FlushDiskTimeoutError: not durable within ``timeout`` seconds.
            OSError: the flush failed (disk error); the bytes may not be durable.
            StoreClosedError: the store closed before the bytes were flushed.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            errors_before = self._errors  # only a flush that fails from now on is ours
            if offset > self._flushed:
                self._wanted = max(self._wanted, offset)
                self._cond.notify_all()
            while offset > self._flushed:
                if self._errors > errors_before and self._error is not None:
                    raise self._error
                if self._stopping and not self._thread.is_alive():
                    raise StoreClosedError("the store closed before the write was flushed")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise FlushDiskTimeoutError(offset, timeout)
                self._cond.wait(remaining)
            self._served += 1
            return self._flushed

    def statistics(self) -> FlushStatistics:
        return FlushStatistics(
            flushes=self._flushes,
            flushed_offset=self._flushed,
            waiters_served=self._served,
            flush_seconds=self._flush_seconds,
            errors=self._errors,
        )

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._stopping and self._wanted <= self._flushed:
                    self._cond.wait(self._interval)
                stopping = self._stopping
            self._flush_once()
            if stopping:
                break
        with self._cond:
            for _, _, future in self._futures:
                future.set_exception(StoreClosedError("the store closed before the flush"))
            self._futures.clear()
            self._cond.notify_all()

    def _flush_once(self) -> None:
        started = time.perf_counter()
        try:
            flushed = self._flush()
        except OSError as exc:
            logger.exception("commit log flush failed; writers waiting for it get the error")
            with self._cond:
                self._errors += 1
                self._error = exc
                for _, _, future in self._futures:
                    future.set_exception(exc)
                self._futures.clear()
                self._cond.notify_all()
            time.sleep(min(self._interval, 1.0))  # do not spin on a failing disk
            return
        elapsed = time.perf_counter() - started
        ready: list[concurrent.futures.Future[int]] = []
        with self._cond:
            self._error = None
            if flushed > self._flushed:
                self._flushes += 1
                self._flush_seconds += elapsed
            self._flushed = max(self._flushed, flushed)
            while self._futures and self._futures[0][0] <= self._flushed:
                ready.append(heapq.heappop(self._futures)[2])
            self._served += len(ready)
            self._cond.notify_all()
        for future in ready:
            future.set_result(flushed)
        for listener in self._listeners:
            try:
                listener(flushed)
            except Exception:
                logger.exception("flush listener %r failed", listener)
