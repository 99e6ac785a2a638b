"""ProcessQueue: the messages pulled from one queue and not yet consumed.

Mirrors Java's ``ProcessQueue``: message count and body bytes for flow control
(``pullThresholdForQueue`` 1,000 messages, ``pullThresholdSizeForQueue`` 100 MiB), the
span between the lowest and highest offsets held (``consumeConcurrentlyMaxSpan``), the
dropped flag a rebalance sets, and the offset that may be committed.

Commit rule (concurrent consumption): messages finish out of order, so the committable
offset is the lowest offset still in flight, or one past the highest offset received
when nothing is in flight. The messages in flight are a dict by offset; pulls arrive in
offset order, so the dict's first key is the lowest offset (found in C, without a loop
per message, where Java keeps a TreeMap); after an unusual insert (a local retry put
back in front, duplicates) ``min()`` finds it until the queue empties again.

Orderly consumption takes messages in offset order (:meth:`take`), and :meth:`commit`
returns one past the last offset taken; :meth:`rollback` and :meth:`reconsume` put taken
messages back for another attempt.

Not safe for use from several threads: every call happens on the consumer's event loop.
"""

from __future__ import annotations

import heapq
import operator
import time
from collections.abc import Iterable, Sequence
from itertools import islice, repeat
from typing import Final, TypeAlias, final

from rmq_protocol.codec.message import MessageExt

_lt: Final = operator.lt

Run: TypeAlias = "tuple[list[int], int]"
"""What :meth:`ProcessQueue.put` returns for a pull it took whole: offsets, body bytes."""

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
        "_ordered",
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
        # In flight, by offset. While ``_ordered`` the dict's insertion order is offset
        # order (pulls arrive in offset order), so its first key is the lowest offset
        # held (found in C, without a per-message loop); otherwise ``min()`` finds it.
        self._inflight: dict[int, MessageExt] = {}
        self._ordered = True
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

    def _lowest(self) -> int | None:
        """The lowest offset in flight, None when none is."""
        inflight = self._inflight
        if not inflight:
            return None
        return next(iter(inflight)) if self._ordered else min(inflight)

    # ------------------------------------------------------------------ receiving

    def put(
        self, messages: Sequence[MessageExt], *, broker_max_offset: int | None = None
    ) -> Run | None:
        """Add pulled messages (in offset order); duplicates of held offsets are ignored.

        ``broker_max_offset`` is the pull response's ``maxOffset``: what remains on the
        broker is recorded as :attr:`msg_acc_count`.

        Returns:
            When every message was added: their offsets and body bytes, which
            :meth:`remove` of the same messages may be given (and then need not count
            them again); otherwise None.
        """
        if not messages:
            return None
        inflight = self._inflight
        offsets = [m.queue_offset for m in messages]
        run: Run | None = None
        last = (next(reversed(inflight)) if self._ordered else max(inflight)) if inflight else -1
        if (
            (offsets[0] > self.queue_offset_max or not inflight)
            and offsets[0] > last
            and (len(offsets) == 1 or all(map(_lt, offsets, islice(offsets, 1, None))))
        ):
            # The usual case: a pull, in offset order, continues past everything held.
            if not inflight:
                self._ordered = True
            inflight.update(zip(offsets, messages, strict=True))
            added = len(offsets)
            size = sum([len(m.body) for m in messages])
            run = (offsets, size)
        else:
            added = size = 0
            highest = last
            for offset, msg in zip(offsets, messages, strict=True):
                if offset in inflight:
                    continue
                inflight[offset] = msg
                added += 1
                size += len(msg.body)
                if offset <= highest:
                    self._ordered = False  # stored after a higher offset
                highest = max(highest, offset)
        if added:
            self.msg_count += added
            self.msg_size += size
            self.queue_offset_max = offsets[-1]
        if broker_max_offset is not None:
            left = broker_max_offset - messages[-1].queue_offset
            if left > 0:
                self.msg_acc_count = left
        return run

    @property
    def max_span(self) -> int:
        """Highest offset received minus lowest in flight (0 when empty).

        Java uses the highest offset still held; this is never smaller, so flow control
        on ``consumeConcurrentlyMaxSpan`` starts no later.
        """
        lowest = self._lowest()
        return 0 if lowest is None else self.queue_offset_max - lowest

    def min_offset(self) -> int | None:
        """The lowest offset held (Java's ``msgTreeMap.firstKey()``), None when empty."""
        return self._lowest()

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

    def remove(self, messages: Iterable[MessageExt], *, run: Run | None = None) -> int:
        """Forget consumed messages; the offset that may now be committed.

        ``run`` is what :meth:`put` returned for exactly these messages (their offsets
        and body bytes), if the caller has it.

        Returns:
            The lowest offset still in flight, or ``queue_offset_max + 1`` when none is,
            or -1 if nothing was held at all (as Java's ``removeMessage``).
        """
        self.last_consume_time = time.monotonic()
        inflight = self._inflight
        if not inflight:
            return -1
        if not isinstance(messages, list):
            messages = list(messages)
        offsets = [m.queue_offset for m in messages] if run is None else run[0]
        held = len(inflight)
        # The loop runs in C: pop every offset (None where the offset is not held).
        popped = list(map(inflight.pop, offsets, repeat(None)))
        removed = held - len(inflight)
        if removed == len(messages):  # the usual case: all of them were held
            size = sum([len(m.body) for m in messages]) if run is None else run[1]
        else:
            size = sum(
                [len(m.body) for m, p in zip(messages, popped, strict=True) if p is not None]
            )
        self.msg_count -= removed
        self.msg_size = 0 if self.msg_count == 0 else self.msg_size - size
        if not inflight:
            self._ordered = True
            return self.queue_offset_max + 1
        return next(iter(inflight)) if self._ordered else min(inflight)

    # ------------------------------------------------------------------ orderly

    def take(self, batch_size: int) -> list[MessageExt]:
        """Take up to ``batch_size`` messages in offset order for orderly consumption.

        Clears :attr:`consuming` when there is nothing to take.
        """
        self.last_consume_time = time.monotonic()
        inflight, consuming = self._inflight, self._consuming
        offsets = (
            list(islice(inflight, batch_size))
            if self._ordered
            else heapq.nsmallest(batch_size, inflight)
        )
        taken = [inflight.pop(offset) for offset in offsets]
        consuming.update(zip(offsets, taken, strict=True))
        if not inflight:
            self._ordered = True
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
        back = [m for m in messages if self._consuming.pop(m.queue_offset, None) is not None]
        if not back:
            return
        inflight = self._inflight
        if self._ordered and inflight:
            # In front: rebuild the offset order (a local retry, not the hot path).
            merged = {m.queue_offset: m for m in back}
            for offset, msg in inflight.items():
                merged.setdefault(offset, msg)  # (a message put back wins, as before)
            if list(merged) == sorted(merged):
                inflight.clear()
                inflight.update(merged)
            else:
                inflight.update(merged)
                self._ordered = False
        else:
            for msg in back:
                inflight[msg.queue_offset] = msg
            if self._ordered and len(inflight) > 1:
                self._ordered = list(inflight) == sorted(inflight)

    def rollback(self) -> None:
        """Put every taken message back (Java's ``rollback``)."""
        self.reconsume(list(self._consuming.values()))

    # ------------------------------------------------------------------ lifecycle

    def clear(self) -> None:
        """Drop everything held."""
        self._inflight.clear()
        self._consuming.clear()
        self._ordered = True
        self.msg_count = self.msg_size = self.queue_offset_max = 0

    def is_lock_expired(self, now: float | None = None) -> bool:
        """True if the broker lock was last confirmed more than 30 s ago."""
        return ((now or time.monotonic()) - self.last_lock_time) > LOCK_MAX_LIVE_TIME

    def is_pull_expired(self, now: float | None = None) -> bool:
        """True if nothing was pulled for this queue for 120 s."""
        return ((now or time.monotonic()) - self.last_pull_time) > PULL_MAX_IDLE_TIME

    def info(self) -> dict[str, object]:
        """Counters for GET_CONSUMER_RUNNING_INFO (Java ``ProcessQueueInfo`` names)."""
        lowest = self._lowest()
        return {
            "cachedMsgCount": self.msg_count,
            "cachedMsgSizeInMiB": self.msg_size // (1024 * 1024),
            "cachedMsgMinOffset": 0 if lowest is None else lowest,
            "cachedMsgMaxOffset": self.queue_offset_max,
            "transactionMsgCount": len(self._consuming),
            "locked": self.locked,
            "tryUnlockTimes": self.try_unlock_times,
            "lastLockTimestamp": int(self.last_lock_time * 1000),
            "droped": self.dropped,
            "lastPullTimestamp": int(self.last_pull_time * 1000),
            "lastConsumeTimestamp": int(self.last_consume_time * 1000),
        }
