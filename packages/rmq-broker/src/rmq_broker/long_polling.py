"""Long polling: PULL_MESSAGE requests held until a message arrives or they time out.

Mirrors ``org.apache.rocketmq.broker.longpolling.PullRequestHoldService`` with two
differences (DESIGN "Pull path" 4):

* a held pull is woken by the store's arrival listener the moment a message it can
  see is dispatched to its queue (offset reached and, for TAG subscriptions, the tag
  hash in its code set), not by a scan every 5 s;
* timeouts come from one heap of deadlines and one timer handle for the earliest of
  them, not a task (or a scan) per request.

Woken and timed-out pulls are handed to ``resume`` in a batch from one loop callback,
after the send that woke them returned to the event loop; ``resume`` runs the pull
again without suspension and answers it. Safe to be told of arrivals from another
thread (the call is moved onto the loop); everything else runs on the loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import itertools
import logging
import threading
from collections.abc import Callable, Collection, Mapping
from typing import final

from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.transport import Connection

__all__ = ["HeldPull", "PullHoldService"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(slots=True, eq=False, kw_only=True)
class HeldPull:
    """One parked PULL_MESSAGE."""

    request: RemotingCommand
    connection: Connection
    topic: str
    queue_id: int
    offset: int  # the queue offset the consumer waits for
    tags_codes: Collection[int] | None  # None: any message wakes it
    held_at: float  # loop time
    deadline: float  # loop time
    done: bool = False


@final
class PullHoldService:
    """Parked pulls by (topic, queue id), with one timer for all their deadlines."""

    def __init__(
        self,
        resume: Callable[[list[HeldPull]], None],
        *,
        capacity: int = 100_000,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._resume = resume
        self._capacity = capacity
        self._loop = loop or asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._waiting: dict[tuple[str, int], list[HeldPull]] = {}
        # Read-only view for the arrival listener: empty means no arrival can wake a pull.
        self.waiting: Mapping[tuple[str, int], list[HeldPull]] = self._waiting
        self._deadlines: list[tuple[float, int, HeldPull]] = []
        self._sequence = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")
        self._ready: list[HeldPull] = []
        self._count = 0
        self._closed = False
        self._held = asyncio.Event()
        self.woken = 0  # pulls woken by an arrival
        self.expired = 0  # pulls answered at their deadline

    def __len__(self) -> int:
        return self._count

    def hold(self, pull: HeldPull) -> bool:
        """Park ``pull`` until a matching arrival or its deadline; False (not parked)
        when ``capacity`` pulls are parked already or the service is closed."""
        if self._count >= self._capacity or self._closed:
            return False
        self._waiting.setdefault((pull.topic, pull.queue_id), []).append(pull)
        heapq.heappush(self._deadlines, (pull.deadline, next(self._sequence), pull))
        self._count += 1
        self._held.set()
        if pull.deadline < self._timer_at:
            self._arm(pull.deadline)
        return True

    async def wait_held(self, count: int = 1, *, timeout: float) -> None:
        """Wait until at least ``count`` pulls are parked.

        Raises:
            TimeoutError: not within ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            while self._count < count:
                self._held.clear()
                await self._held.wait()

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = self._loop.call_at(when, self._expire)

    # ------------------------------------------------------------------ wake-ups

    def on_arrival(self, topic: str, queue_id: int, queue_offset: int, tags_code: int) -> None:
        """The store's arrival listener: a message was dispatched to a queue."""
        if not self._waiting:
            return
        if threading.get_ident() != self._thread:
            self._loop.call_soon_threadsafe(
                self.on_arrival, topic, queue_id, queue_offset, tags_code
            )
            return
        key = (topic, queue_id)
        pulls = self._waiting.get(key)
        if pulls is None:
            return
        keep: list[HeldPull] = []
        for pull in pulls:
            codes = pull.tags_codes
            if pull.offset <= queue_offset and (codes is None or tags_code in codes):
                self._take(pull)
                self.woken += 1
            else:
                keep.append(pull)
        if keep:
            self._waiting[key] = keep
        else:
            del self._waiting[key]

    def _take(self, pull: HeldPull) -> None:
        pull.done = True
        self._count -= 1
        if not self._ready:
            self._loop.call_soon(self._run_ready)
        self._ready.append(pull)

    def _run_ready(self) -> None:
        ready, self._ready = self._ready, []
        if ready:
            try:
                self._resume(ready)
            except Exception:  # one bad pull must not stop long polling for the rest
                logger.exception("answering %d woken pulls failed", len(ready))

    def _expire(self) -> None:
        self._timer = None
        self._timer_at = float("inf")
        now = self._loop.time()
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, _, pull = heapq.heappop(deadlines)
            if pull.done:
                continue
            self._remove_waiting(pull)
            self._take(pull)
            self.expired += 1
        while deadlines and deadlines[0][2].done:
            heapq.heappop(deadlines)
        if deadlines:
            self._arm(deadlines[0][0])

    def _remove_waiting(self, pull: HeldPull) -> None:
        key = (pull.topic, pull.queue_id)
        pulls = self._waiting.get(key)
        if pulls is None:
            return
        pulls = [p for p in pulls if p is not pull]
        if pulls:
            self._waiting[key] = pulls
        else:
            del self._waiting[key]

    # ------------------------------------------------------------------ shutdown

    def release_all(self) -> None:
        """Answer every parked pull now (shutdown) and park no more."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for pulls in self._waiting.values():
            for pull in pulls:
                if not pull.done:
                    pull.done = True
                    self._count -= 1
                    self._ready.append(pull)
        self._waiting.clear()
        self._deadlines.clear()
        self._run_ready()
