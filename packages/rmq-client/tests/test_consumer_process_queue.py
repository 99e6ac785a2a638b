"""ProcessQueue: flow-control counters and the commit-offset rule."""

from __future__ import annotations

from rmq_client.consumer._process_queue import ProcessQueue
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
