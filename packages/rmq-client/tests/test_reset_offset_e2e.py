"""Offset backtracking and group offset cloning against a real ``rmq standalone``.

``Admin.reset_offsets_by_timestamp`` asks the broker (INVOKE_BROKER_TO_RESET_OFFSET),
which tells the running PushConsumer (RESET_CONSUMER_CLIENT_OFFSET): the group consumes
again from the first message stored at or after the timestamp.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable

from rmq_client import Admin, Message, Producer
from rmq_client.consumer import ConsumeResult, PushConsumer
from rmq_protocol.codec.body import ConsumeFromWhere
from rmq_protocol.codec.message import MessageExt


class Collect:
    def __init__(self) -> None:
        self.bodies: collections.Counter[bytes] = collections.Counter()
        self.changed = asyncio.Event()

    async def __call__(self, msgs: list[MessageExt]) -> ConsumeResult:
        for m in msgs:
            self.bodies[m.body] += 1
        self.changed.set()
        return ConsumeResult.SUCCESS

    async def wait(self, condition: Callable[[], bool], *, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


async def _produce(namesrv: str, topic: str) -> tuple[list[bytes], list[bytes], float]:
    """Eight messages, a pause, eight more; returns both halves and a time in between."""
    old = [f"old-{i}".encode() for i in range(8)]
    new = [f"new-{i}".encode() for i in range(8)]
    async with Producer(namesrv_addr=namesrv) as producer:
        for body in old:
            await producer.send(Message(topic, body))
        await asyncio.sleep(0.3)
        middle = time.time()
        await asyncio.sleep(0.3)
        for body in new:
            await producer.send(Message(topic, body))
    return old, new, middle


async def test_running_group_is_reset_by_timestamp(
    namesrv_addr: str, unique: Callable[[str], str]
) -> None:
    topic, group = unique("T"), unique("CG")
    old, new, middle = await _produce(namesrv_addr, topic)
    seen = Collect()
    consumer = PushConsumer(
        group,
        namesrv_addr=namesrv_addr,
        listener=seen,
        consume_from=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
    )
    consumer.subscribe(topic)
    async with consumer, Admin(namesrv_addr) as admin:
        await seen.wait(lambda: len(seen.bodies) == 16, timeout=30)
        await consumer.persist_offsets()
        offsets = await admin.reset_offsets_by_timestamp(group, topic, middle)
        # the broker answered with its offset table: 8 before the middle, 4 queues
        assert sum(offsets.values()) == 8
        assert len(offsets) == 4
        await seen.wait(lambda: all(seen.bodies[b] == 2 for b in new), timeout=30)
        await asyncio.sleep(1.0)  # nothing else comes back
    assert all(seen.bodies[b] == 1 for b in old)
    assert all(seen.bodies[b] == 2 for b in new)


async def test_offline_reset_and_clone(namesrv_addr: str, unique: Callable[[str], str]) -> None:
    topic, group, copy = unique("T"), unique("CG"), unique("CG")
    _, _, middle = await _produce(namesrv_addr, topic)
    seen = Collect()
    consumer = PushConsumer(
        group,
        namesrv_addr=namesrv_addr,
        listener=seen,
        consume_from=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
    )
    consumer.subscribe(topic)
    async with consumer:
        await seen.wait(lambda: len(seen.bodies) == 16, timeout=30)
    async with Admin(namesrv_addr) as admin:
        before = await admin.consumer_progress(group, topic=topic)
        assert before.total_lag == 0
        offsets = await admin.reset_offsets_by_timestamp(group, topic, middle)
        assert sum(offsets.values()) == 8
        after = await admin.consumer_progress(group, topic=topic)
        assert {q.queue: q.consumer_offset for q in after.queues} == offsets
        assert after.total_lag == 8
        await admin.clone_group_offset(group, copy, topic, offline=True)
        cloned = await admin.consumer_progress(copy, topic=topic)
        assert {q.queue: q.consumer_offset for q in cloned.queues} == offsets
