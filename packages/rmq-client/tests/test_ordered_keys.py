"""Ordered messages end to end: a producer hashes sharding keys over 4 queues, two
orderly PushConsumers of one group split the queues and each key's messages arrive in
exactly the order they were sent, once each."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable

from rmq_client import Admin, HashSelector, Message, Producer, ReceivedMessage
from rmq_client._instance import ClientConfig
from rmq_client.consumer import ConsumeOrderlyResult, PushConsumer
from rmq_protocol.codec.body import ConsumeFromWhere

Unique = Callable[[str], str]


async def test_per_key_order_with_two_orderly_consumers(namesrv_addr: str, unique: Unique) -> None:
    topic, group = unique("T"), unique("G")
    keys = [f"order-{k}" for k in range(12)]
    steps = 25
    async with Admin(namesrv_addr) as admin:
        await admin.create_topic(topic, queue_nums=4, order=True)

    seen: dict[str, list[int]] = collections.defaultdict(list)
    by_member: dict[int, set[int]] = collections.defaultdict(set)  # member -> queue ids
    active: set[int] = set()
    done = asyncio.Event()

    def listener_of(member: int) -> Callable[[list[ReceivedMessage]], object]:
        async def listener(msgs: list[ReceivedMessage]) -> ConsumeOrderlyResult:
            queue_ids = {m.queue_id for m in msgs}
            assert not queue_ids & active, "two listener calls on one queue at once"
            active.update(queue_ids)
            try:
                await asyncio.sleep(0.001 * (member + 1))  # the members run at other speeds
                for m in msgs:
                    key, step = m.body.decode().rsplit(":", 1)
                    seen[key].append(int(step))
                    by_member[member].add(m.queue_id)
                if sum(map(len, seen.values())) >= len(keys) * steps:
                    done.set()
                return ConsumeOrderlyResult.SUCCESS
            finally:
                active.difference_update(queue_ids)

        return listener

    consumers = [
        PushConsumer(
            group,
            config=ClientConfig(namesrv_addr=namesrv_addr, instance_name=unique("i")),
            listener=listener_of(member),  # type: ignore[arg-type]
            orderly=True,
            consume_from=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
            consume_batch_size=4,
        )
        for member in range(2)
    ]
    for c in consumers:
        c.subscribe(topic)
        await c.start()
    try:
        # Both members hold their share of the 4 queues before anything is sent, so no
        # queue changes hands while it is consumed (that would allow redeliveries).
        def shares() -> list[int]:
            return [len([q for q in c.assigned_queues if q.topic == topic]) for c in consumers]

        async with asyncio.timeout(20):
            while shares() != [2, 2]:
                for c in consumers:
                    c.rebalance_soon()
                await asyncio.sleep(0.1)
        async with Producer(unique("PG"), namesrv_addr=namesrv_addr) as producer:
            for step in range(steps):  # interleave the keys, as real orders would
                for key in keys:
                    await producer.send(
                        Message(topic, f"{key}:{step}".encode(), keys=key),
                        selector=HashSelector(),
                        arg=key,
                    )
        async with asyncio.timeout(30):
            await done.wait()
    finally:
        for c in consumers:
            await c.aclose()
    assert dict(seen) == {key: list(range(steps)) for key in keys}
    assert by_member[0]  # both members consumed
    assert by_member[1]
    assert not by_member[0] & by_member[1]  # a queue belongs to one member
