"""Clocks for the NameServer's liveness checks: the system's, and a manual one for tests.

Java's ``RouteInfoManager`` reads ``System.currentTimeMillis()`` and its
``scanExecutorService`` sleeps between scans; here both go through a :class:`Clock`, so
that a test can expire a broker by advancing a :class:`ManualClock` instead of waiting
two minutes. Liveness uses a monotonic clock: a wall-clock step must not expire every
broker at once.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Protocol, final

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """Where the NameServer reads time and waits."""

    def time_ms(self) -> int:
        """Milliseconds on a monotonic scale (only differences matter)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


@final
class SystemClock:
    """``time.monotonic`` and ``asyncio.sleep``."""

    def time_ms(self) -> int:
        return time.monotonic_ns() // 1_000_000

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@final
class ManualClock:
    """A clock that moves only when told to (:meth:`advance`), for tests.

    Sleepers wake when the clock passes their deadline. All methods must be called on
    the event loop of the tasks that sleep.
    """

    def __init__(self, start_ms: int = 1_000_000) -> None:
        self._now = start_ms
        self._sleepers: list[tuple[int, asyncio.Future[None]]] = []
        self._changed: asyncio.Event | None = None

    def time_ms(self) -> int:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (self._now + math.ceil(seconds * 1000), future)
        self._sleepers.append(entry)
        self._notify()
        try:
            await future
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)

    def advance(self, ms: int) -> None:
        """Move the clock ``ms`` milliseconds forward and wake every sleeper now due."""
        if ms < 0:
            raise ValueError(f"a clock does not go back ({ms} ms)")
        self._now += ms
        due = [entry for entry in self._sleepers if entry[0] <= self._now]
        for entry in due:
            self._sleepers.remove(entry)
            if not entry[1].done():
                entry[1].set_result(None)

    @property
    def sleepers(self) -> int:
        """Tasks sleeping on this clock now."""
        return len(self._sleepers)

    async def wait_sleepers(self, count: int = 1, *, timeout: float = 5.0) -> None:
        """Wait until at least ``count`` tasks sleep on this clock (``timeout`` in real
        seconds): after :meth:`advance`, a periodic task that sleeps again has finished
        the work it woke up for.

        Raises:
            TimeoutError: fewer sleepers than ``count`` after ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            while len(self._sleepers) < count:
                self._changed = event = asyncio.Event()
                await event.wait()

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
