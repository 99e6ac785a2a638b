"""ProcessQueue: the messages pulled from one queue and not yet consumed.

Mirrors Java's ``ProcessQueue``: message count and body bytes for flow control
(``pullThresholdForQueue`` 1,000 messages, ``pullThresholdSizeForQueue`` 100 MiB), the
span between the lowest and highest offsets held (``consumeConcurrentlyMaxSpan``), the
dropped flag a rebalance sets, and the offset that may be committed.

Commit rule (concurrent consumption): messages finish out of order, so the committable
offset is the lowest offset still in flight, or one past the highest offset received
when nothing is in flight. Here the offsets are kept in arrival order (a deque) next to a
dict of those in flight; finishing pops the deque's finished head, so each call is
amortised O(1) instead of Java's TreeMap O(log n).

Orderly consumption takes messages in offset order (:meth:`take`), and :meth:`commit`
returns one past the last offset taken; :meth:`rollback` and :meth:`reconsume` put taken
messages back for another attempt.

Not safe for use from several threads: every call happens on the consumer's event loop.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Final, final

from rmq_protocol.codec.message import MessageExt

__all__ = [
    "LOCK_MAX_LIVE_TIME",
    "PULL_MAX_IDLE_TIME",
    "REBALANCE_LOCK_INTERVAL",
    "ProcessQueue",
]

LOCK_MAX_LIVE_TIME: Final = 30.0  # seconds a broker queue lock is trusted (Java 30000 ms)
REBALANCE_LOCK_INTERVAL: Final = 20.0  # seconds between re-locks (Java 20000 ms)
PULL_MAX_IDLE_TIME: Final = 120.0  # seconds without a pull before the queue is dropped


@final
class ProcessQueue:
    """Messages of one queue between pull and consume (see the module docstring)."""

    __slots__ = (
        "_consuming",
        "_inflight",
        "_order",
        "consuming",
        "dropped",
        "last_consume_time",
        "last_lock_time",
        "last_pull_time",
        "locked",
        "msg_acc_count",
        "msg_count",
        "msg_size",
        "queue_offset_max",
        "try_unlock_times",
    )

    def __init__(self) -> None:
        self._inflight: dict[int, MessageExt] = {}
        self._order: deque[int] = deque()
        self._consuming: dict[int, MessageExt] = {}  # orderly: taken, not committed
        self.msg_count = 0
        self.msg_size = 0  # body bytes
        self.queue_offset_max = 0
        self.msg_acc_count = 0  # messages left on the broker after the last pull
        self.dropped = False
        self.locked = False
        self.consuming = False  # orderly: a consume task is working on this queue
        now = time.monotonic()
        self.last_pull_time = now
        self.last_consume_time = now
        self.last_lock_time = now
        self.try_unlock_times = 0

    # ------------------------------------------------------------------ receiving

    def put(self, messages: Sequence[MessageExt], *, broker_max_offset: int | None = None) -> None:
        """Add pulled messages (in offset order); duplicates of held offsets are ignored.

        ``broker_max_offset`` is the pull response's ``maxOffset``: what remains on the
        broker is recorded as :attr:`msg_acc_count`.
        """
        if not messages:
            return
        inflight, order = self._inflight, self._order
        offsets = [m.queue_offset for m in messages]
        if offsets[0] > self.queue_offset_max or not inflight:
            # The usual case: a pull continues past everything held (no duplicates).
            inflight.update(zip(offsets, messages, strict=True))
            order.extend(offsets)
            added, size = len(messages), sum([len(m.body) for m in messages])
        else:
            added = size = 0
            for offset, msg in zip(offsets, messages, strict=True):
                if offset in inflight:
                    continue
                inflight[offset] = msg
                order.append(offset)
                added += 1
                size += len(msg.body)
        if added:
            self.msg_count += added
            self.msg_size += size
            self.queue_offset_max = offsets[-1]
        if messages and broker_max_offset is not None:
            left = broker_max_offset - messages[-1].queue_offset
            if left > 0:
                self.msg_acc_count = left

    @property
    def max_span(self) -> int:
        """Highest offset received minus lowest in flight (0 when empty).

        Java uses the highest offset still held; this is never smaller, so flow control
        on ``consumeConcurrentlyMaxSpan`` starts no later.
        """
        if not self._inflight:
            return 0
        self._skip_finished()
        return self.queue_offset_max - self._order[0] if self._order else 0

    def min_offset(self) -> int | None:
        """The lowest offset held (Java's ``msgTreeMap.firstKey()``), None when empty."""
        if not self._inflight:
            return None
        self._skip_finished()
        return self._order[0] if self._order else None

    def __len__(self) -> int:
        return self.msg_count

    def __contains__(self, msg: MessageExt) -> bool:
        return msg.queue_offset in self._inflight

    def is_dropped(self) -> bool:
        """True once a rebalance (or shutdown) took the queue away."""
        return self.dropped

    def has_messages(self) -> bool:
        """True if any message is held (Java's ``hasTempMessage``)."""
        return bool(self._inflight)

    # ------------------------------------------------------------------ concurrent

    def remove(self, messages: Iterable[MessageExt]) -> int:
        """Forget consumed messages; the offset that may now be committed.

        Returns:
            The lowest offset still in flight, or ``queue_offset_max + 1`` when none is,
            or -1 if nothing was held at all (as Java's ``removeMessage``).
        """
        self.last_consume_time = time.monotonic()
        inflight = self._inflight
        if not inflight:
            return -1
        removed = size = 0
        pop = inflight.pop
        for msg in messages:
            if pop(msg.queue_offset, None) is not None:
                removed += 1
                size += len(msg.body)
        self.msg_count -= removed
        self.msg_size = 0 if self.msg_count == 0 else self.msg_size - size
        self._skip_finished()
        return self._order[0] if self._order else self.queue_offset_max + 1

    def _skip_finished(self) -> None:
        order, inflight = self._order, self._inflight
        while order and order[0] not in inflight:
            order.popleft()

    # ------------------------------------------------------------------ orderly

    def take(self, batch_size: int) -> list[MessageExt]:
        """Take up to ``batch_size`` messages in offset order for orderly consumption.

        Clears :attr:`consuming` when there is nothing to take.
        """
        self.last_consume_time = time.monotonic()
        taken: list[MessageExt] = []
        order, inflight, consuming = self._order, self._inflight, self._consuming
        while order and len(taken) < batch_size:
            offset = order.popleft()
            msg = inflight.pop(offset, None)
            if msg is None:
                continue
            consuming[offset] = msg
            taken.append(msg)
        if not taken:
            self.consuming = False
        return taken

    def commit(self) -> int:
        """Forget the taken messages; one past the last taken offset (-1 if none)."""
        consuming = self._consuming
        if not consuming:
            return -1
        last = max(consuming)
        self.msg_count -= len(consuming)
        self.msg_size = (
            0
            if self.msg_count == 0
            else self.msg_size - sum(len(m.body) for m in consuming.values())
        )
        consuming.clear()
        return last + 1

    def reconsume(self, messages: Iterable[MessageExt]) -> None:
        """Put taken messages back in front, to be taken again (a local retry)."""
        back = sorted(messages, key=lambda m: m.queue_offset, reverse=True)
        for msg in back:
            if self._consuming.pop(msg.queue_offset, None) is not None:
                self._inflight[msg.queue_offset] = msg
                self._order.appendleft(msg.queue_offset)

    def rollback(self) -> None:
        """Put every taken message back (Java's ``rollback``)."""
        self.reconsume(list(self._consuming.values()))

    # ------------------------------------------------------------------ lifecycle

    def clear(self) -> None:
        """Drop everything held."""
        self._inflight.clear()
        self._order.clear()
        self._consuming.clear()
        self.msg_count = self.msg_size = self.queue_offset_max = 0

    def is_lock_expired(self, now: float | None = None) -> bool:
        """True if the broker lock was last confirmed more than 30 s ago."""
        return ((now or time.monotonic()) - self.last_lock_time) > LOCK_MAX_LIVE_TIME

    def is_pull_expired(self, now: float | None = None) -> bool:
        """True if nothing was pulled for this queue for 120 s."""
        return ((now or time.monotonic()) - self.last_pull_time) > PULL_MAX_IDLE_TIME

    def info(self) -> dict[str, object]:
        """Counters for GET_CONSUMER_RUNNING_INFO (Java ``ProcessQueueInfo`` names)."""
        self._skip_finished()
        return {
            "cachedMsgCount": self.msg_count,
            "cachedMsgSizeInMiB": self.msg_size // (1024 * 1024),
            "cachedMsgMinOffset": self._order[0] if self._order else 0,
            "cachedMsgMaxOffset": self.queue_offset_max,
            "transactionMsgCount": len(self._consuming),
            "locked": self.locked,
            "tryUnlockTimes": self.try_unlock_times,
            "lastLockTimestamp": int(self.last_lock_time * 1000),
            "droped": self.dropped,
            "lastPullTimestamp": int(self.last_pull_time * 1000),
            "lastConsumeTimestamp": int(self.last_consume_time * 1000),
        }
