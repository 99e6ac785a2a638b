"""SYNC_FLUSH: sends wait for the store's group commit without blocking the event loop.

Mirrors what Java's ``CommitLog.handleDiskFlush`` + ``GroupCommitService`` give a
SYNC_FLUSH broker: a send is answered once the commit log is durable past its record,
or FLUSH_DISK_TIMEOUT after ``syncFlushTimeout``. Here (DESIGN "Send path" 4):

* a waiter is an :class:`asyncio.Future` in one FIFO of (end offset, deadline, future):
  sends append on this loop, so waiters arrive in offset order and, as all share one
  timeout, in deadline order too; a group commit releases a prefix of the FIFO and the
  one timer handle watches its head (an offset out of order is only answered late, with
  the waiter before it, never early);
* the flush thread is asked for the highest wanted offset once per loop iteration
  (one ``flush_future`` call however many sends arrived), and the store's flush
  listener hands each flushed offset back with one ``call_soon_threadsafe``; the loop
  keeps that offset, so a send learns whether it must wait without asking the store.

Not thread-safe apart from the flush listener; create and use it on the loop.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
from typing import final

from rmq_broker.store import BrokerStore

__all__ = ["FlushWaiter"]

logger = logging.getLogger(__name__)


@final
class FlushWaiter:
    """Futures resolved True once the commit log is durable to an offset, False on timeout."""

    def __init__(self, store: BrokerStore, *, timeout: float) -> None:
        self._store = store
        self._timeout = timeout
        self._loop = asyncio.get_running_loop()
        # (end offset, deadline, future), in arrival order
        self._waiters: collections.deque[tuple[int, float, asyncio.Future[bool]]] = (
            collections.deque()
        )
        self._flushed = store.flushed_offset  # as the flush listener last reported it
        self._wanted = 0
        self._kick_scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self.timeouts = 0
        store.add_flush_listener(self._on_flush_thread)

    def __len__(self) -> int:
        """Waiters not answered yet."""
        return len(self._waiters)

    def wait(self, end_offset: int) -> asyncio.Future[bool]:
        """A future: True once everything below ``end_offset`` is durable, False if it
        is not within the timeout (the message is stored; FLUSH_DISK_TIMEOUT)."""
        future: asyncio.Future[bool] = self._loop.create_future()
        if end_offset <= self._flushed:
            future.set_result(True)
            return future
        if self._closed:
            future.set_result(False)
            return future
        deadline = self._loop.time() + self._timeout
        self._waiters.append((end_offset, deadline, future))
        if self._timer is None:
            self._timer = self._loop.call_at(deadline, self._expire)
        if end_offset > self._wanted:
            self._wanted = end_offset
            if not self._kick_scheduled:
                self._kick_scheduled = True
                self._loop.call_soon(self._kick)
        return future

    def _kick(self) -> None:
        """Ask the flush thread for everything wanted so far (one request per batch)."""
        self._kick_scheduled = False
        requested = self._store.flush_future(self._wanted)
        requested.add_done_callback(self._requested_done)

    def _requested_done(self, requested: concurrent.futures.Future[int]) -> None:
        # On the flush thread. Success arrives through the listener; a failure fails
        # every waiter (they may retry; the error is logged by the store).
        if requested.cancelled() or requested.exception() is None:
            return
        try:
            self._loop.call_soon_threadsafe(self._failed)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            return

    def _on_flush_thread(self, flushed: int) -> None:
        try:
            self._loop.call_soon_threadsafe(self._flushed_to, flushed)
        except RuntimeError:  # the loop is closed
            return

    def _flushed_to(self, flushed: int) -> None:
        if flushed > self._flushed:
            self._flushed = flushed
        waiters = self._waiters
        while waiters and waiters[0][0] <= flushed:
            future = waiters.popleft()[2]
            if not future.done():
                future.set_result(True)

    def _failed(self) -> None:
        waiters = self._waiters
        while waiters:
            future = waiters.popleft()[2]
            if not future.done():
                future.set_result(False)

    def _expire(self) -> None:
        self._timer = None
        now = self._loop.time()
        waiters = self._waiters
        while waiters and (waiters[0][2].done() or waiters[0][1] <= now):
            future = waiters.popleft()[2]
            if not future.done():
                self.timeouts += 1
                future.set_result(False)
        if waiters:
            self._timer = self._loop.call_at(waiters[0][1], self._expire)

    def close(self) -> None:
        """Stop listening; waiters left are answered False (timed out)."""
        if self._closed:
            return
        self._closed = True
        self._store.remove_flush_listener(self._on_flush_thread)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._failed()
