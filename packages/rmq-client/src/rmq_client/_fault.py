"""Latency-based fault avoidance for sends (Java ``MQFaultStrategy`` and
``LatencyFaultToleranceImpl``).

Each send records its latency against the broker; a slow or failed broker is
avoided for a while, by these steps (milliseconds, Java's tables)::

    latency  >=   50   100   550   1800   3000   5000   15000
    avoid for      0     0  2000   5000   6000  10000   30000

A failed send counts as 10 000 ms ("isolation": avoided for 10 s); a broker that
could not be reached at all is also marked unreachable until a send to it works.
Queue selection prefers available brokers, then reachable ones, then any; a retry
avoids the broker that just failed.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Sequence
from typing import Final, final

from rmq_protocol.codec.body import MessageQueue

__all__ = ["FaultStrategy"]

_LATENCY_MAX: Final = (50, 100, 550, 1800, 3000, 5000, 15000)  # ms
_NOT_AVAILABLE: Final = (0, 0, 2000, 5000, 6000, 10000, 30000)  # ms
ISOLATION_LATENCY: Final = 10000  # ms a failed send counts as
_FIRST_AVOIDED: Final = next(
    limit for limit, avoid in zip(_LATENCY_MAX, _NOT_AVAILABLE, strict=True) if avoid
)  # ms: faster sends are never avoided


def not_available_duration(latency_ms: float) -> int:
    """How long (ms) a broker with this send latency is avoided."""
    for limit, duration in zip(reversed(_LATENCY_MAX), reversed(_NOT_AVAILABLE), strict=True):
        if latency_ms >= limit:
            return duration
    return 0


@final
class FaultStrategy:
    """Picks the queue for each send. Not thread-safe (one event loop)."""

    __slots__ = ("_available_at", "_counter", "_unreachable", "enabled")

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._available_at: dict[str, float] = {}  # broker name -> monotonic seconds
        self._unreachable: set[str] = set()
        self._counter = itertools.count(random.randrange(1 << 16))  # noqa: S311 - spreading

    def update(
        self,
        broker_name: str,
        latency_ms: float,
        *,
        isolation: bool = False,
        reachable: bool = True,
    ) -> None:
        """Record a send to ``broker_name`` (``isolation``: it failed)."""
        if not self.enabled:
            return
        if latency_ms < _FIRST_AVOIDED and not isolation and reachable:
            # The common case (a fast send), without the table walk: the broker is fine.
            if self._unreachable:
                self._unreachable.discard(broker_name)
            if self._available_at:
                self._available_at.pop(broker_name, None)
            return
        duration = not_available_duration(ISOLATION_LATENCY if isolation else latency_ms)
        if reachable:
            self._unreachable.discard(broker_name)
        else:
            self._unreachable.add(broker_name)
        if duration > 0:
            until = time.monotonic() + duration / 1000
            if until > self._available_at.get(broker_name, 0.0):
                self._available_at[broker_name] = until
        elif broker_name in self._available_at and not isolation:
            # A fast send: the broker is fine again.
            del self._available_at[broker_name]

    def is_available(self, broker_name: str) -> bool:
        until = self._available_at.get(broker_name)
        return until is None or time.monotonic() >= until

    def select(
        self, queues: Sequence[MessageQueue], last_broker: str | None = None
    ) -> MessageQueue:
        """The next queue, round robin, skipping ``last_broker`` and avoided brokers.

        ``queues`` must not be empty.
        """
        n = len(queues)
        start = next(self._counter)
        if self.enabled and (self._available_at or self._unreachable):
            now = time.monotonic()
            avoided = self._available_at
            for i in range(n):
                mq = queues[(start + i) % n]
                name = mq.broker_name
                if name != last_broker and now >= avoided.get(name, 0.0):
                    return mq
            for i in range(n):
                mq = queues[(start + i) % n]
                if mq.broker_name != last_broker and mq.broker_name not in self._unreachable:
                    return mq
        if last_broker is not None:
            for i in range(n):
                mq = queues[(start + i) % n]
                if mq.broker_name != last_broker:
                    return mq
        return queues[start % n]
