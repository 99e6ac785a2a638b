"""ProcessQueue: flow-control counters and the commit-offset rule."""

from __future__ import annotations

from rmq_client.consumer._process_queue import ProcessQueue, Run
from rmq_protocol.codec.message import MessageExt


def msgs(*offsets: int, size: int = 10) -> list[MessageExt]:
    return [MessageExt(topic="T", queue_offset=o, body=b"x" * size) for o in offsets]


def test_counts_and_sizes() -> None:
    pq = ProcessQueue()
    pq.put(msgs(0, 1, 2), broker_max_offset=10)
    assert (pq.msg_count, pq.msg_size, pq.queue_offset_max) == (3, 30, 2)
    assert pq.msg_acc_count == 8
    pq.put(msgs(2, 3))  # offset 2 again: ignored
    assert (pq.msg_count, pq.msg_size, pq.max_span) == (4, 40, 3)


def test_commit_offset_is_the_lowest_in_flight() -> None:
    pq = ProcessQueue()
    assert pq.remove(msgs(0)) == -1  # nothing held
    batch = msgs(10, 11, 12, 15)
    pq.put(batch)
    assert pq.remove([batch[1]]) == 10  # 10 still in flight
    assert pq.remove([batch[3]]) == 10
    assert pq.remove([batch[0]]) == 12
    assert pq.max_span == 3  # highest received (15) minus lowest in flight (12)
    assert pq.remove([batch[2]]) == 16  # none left: max + 1
    assert (pq.msg_count, pq.msg_size) == (0, 0)
    assert not pq.has_messages()


def test_orderly_take_commit_and_reconsume() -> None:
    pq = ProcessQueue()
    pq.put(msgs(0, 1, 2, 3))
    first = pq.take(2)
    assert [m.queue_offset for m in first] == [0, 1]
    pq.reconsume([first[1]])
    assert pq.commit() == 1
    again = pq.take(10)
    assert [m.queue_offset for m in again] == [1, 2, 3]
    pq.rollback()
    assert [m.queue_offset for m in pq.take(1)] == [1]
    assert pq.commit() == 2
    assert pq.msg_count == 2
    pq.take(5)
    assert pq.commit() == 4
    assert pq.take(5) == []
    assert not pq.consuming
    assert pq.msg_count == 0


class _Model:
    """The ProcessQueue rules written the plain way (Java's TreeMap semantics)."""

    def __init__(self) -> None:
        self.held: dict[int, MessageExt] = {}
        self.taken: dict[int, MessageExt] = {}
        self.count = self.size = self.max = 0

    def put(self, batch: list[MessageExt]) -> None:
        added = 0
        for m in batch:
            if m.queue_offset not in self.held:
                self.held[m.queue_offset] = m
                self.count += 1
                self.size += len(m.body)
                added += 1
        if added:
            self.max = batch[-1].queue_offset

    def lowest(self) -> int | None:
        return min(self.held) if self.held else None

    def remove(self, batch: list[MessageExt]) -> int:
        if not self.held:
            return -1
        for m in batch:
            if self.held.pop(m.queue_offset, None) is not None:
                self.count -= 1
                self.size -= len(m.body)
        if self.count == 0:
            self.size = 0
        low = self.lowest()
        return self.max + 1 if low is None else low

    def take(self, n: int) -> list[int]:
        offsets = sorted(self.held)[:n]
        for o in offsets:
            self.taken[o] = self.held.pop(o)
        return offsets

    def commit(self) -> int:
        if not self.taken:
            return -1
        last = max(self.taken)
        self.count -= len(self.taken)
        self.size = (
            0 if self.count == 0 else self.size - sum(len(m.body) for m in self.taken.values())
        )
        self.taken.clear()
        return last + 1

    def reconsume(self, batch: list[MessageExt]) -> None:
        for m in batch:
            if self.taken.pop(m.queue_offset, None) is not None:
                self.held[m.queue_offset] = m


def test_random_operations_match_the_plain_model() -> None:
    """Pulls in order (the usual case), overlapping and out-of-order pulls, removals in
    any order, with and without put's run, orderly take/reconsume/commit: the counters,
    the lowest offset, the commit offsets and the messages taken are the model's."""
    import random

    rng = random.Random(5)
    for _ in range(300):
        pq, model = ProcessQueue(), _Model()
        pulled: list[tuple[list[MessageExt], Run | None]] = []
        nxt = rng.randrange(100)
        for _ in range(60):
            op = rng.random()
            if op < 0.35:  # a pull: usually the next offsets, sometimes odd ones
                kind = rng.random()
                n = rng.randrange(1, 6)
                if kind < 0.7:
                    offsets = list(range(nxt, nxt + n))
                    nxt += n + rng.randrange(2)
                elif kind < 0.85:
                    offsets = sorted(rng.sample(range(max(0, nxt - 10), nxt + 5), n))
                else:
                    offsets = [rng.randrange(max(0, nxt - 10), nxt + 5) for _ in range(n)]
                batch = [
                    MessageExt(topic="T", queue_offset=o, body=b"x" * rng.randrange(1, 9))
                    for o in offsets
                ]
                run = pq.put(batch, broker_max_offset=nxt + 3)
                model.put(batch)
                pulled.append((batch, run))
            elif op < 0.65 and pulled:  # settle a whole pull, or a part of one
                batch, run = pulled.pop(rng.randrange(len(pulled)))
                if rng.random() < 0.6:
                    got = pq.remove(batch, run=run if rng.random() < 0.8 else None)
                    assert got == model.remove(batch)
                else:
                    part = rng.sample(batch, rng.randrange(1, len(batch) + 1))
                    assert pq.remove(part) == model.remove(part)
            elif op < 0.8:
                n = rng.randrange(1, 4)
                assert [m.queue_offset for m in pq.take(n)] == model.take(n)
            elif op < 0.9:
                back = list(model.taken.values())
                back = rng.sample(back, rng.randrange(len(back) + 1))
                pq.reconsume(back)
                model.reconsume(back)
            else:
                assert pq.commit() == model.commit()
            assert (pq.msg_count, pq.msg_size) == (model.count, model.size)
            assert pq.min_offset() == model.lowest()
            assert pq.has_messages() == bool(model.held)
            low = model.lowest()
            assert pq.max_span == (0 if low is None else pq.queue_offset_max - low)
