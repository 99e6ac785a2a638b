"""Per-topic pull thresholds (Java ``pullThresholdForTopic`` / ``pullThresholdSizeForTopic``)
against a real ``rmq standalone``: after a rebalance the per-queue limits become the
topic limit divided by the number of queues held, and pulling really stops there."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

import pytest

from rmq_client import Admin, Producer
from rmq_client._instance import ClientConfig
from rmq_client.consumer import ConsumeResult, PushConsumer
from rmq_client.message import Message
from rmq_protocol.codec.body import ConsumeFromWhere
from rmq_protocol.codec.message import MessageExt

QUEUES = 4
PER_QUEUE = 100
BODY = b"b" * 100
PULL_BATCH = 5


class Standalone(Protocol):
    namesrv_addr: str


def held(consumer: PushConsumer) -> list[int]:
    table = consumer.running_info()["mqTable"]
    assert isinstance(table, dict)
    return [int(info["cachedMsgCount"]) for info in table.values()]


@pytest.mark.parametrize("kind", ["count", "size"])
async def test_topic_threshold_divides_over_held_queues_and_stops_pulling(
    standalone: Standalone, unique: Callable[[str], str], kind: str
) -> None:
    topic, group = unique("T"), unique("G")
    async with Admin(standalone.namesrv_addr) as admin:
        await admin.create_topic(topic, queue_nums=QUEUES)
    async with Producer(unique("P"), namesrv_addr=standalone.namesrv_addr) as producer:
        await producer.send(Message(topic, b"route"))  # (counted below: one extra message)
        route = producer.instance.publish_queues(topic)
        for mq in route:
            await producer.send_batch([Message(topic, BODY)] * PER_QUEUE, queue=mq)
    total = QUEUES * PER_QUEUE + 1
    release = asyncio.Event()
    consumed = 0
    all_done = asyncio.Event()

    async def listener(msgs: list[MessageExt]) -> ConsumeResult:
        nonlocal consumed
        await release.wait()
        consumed += len(msgs)
        if consumed >= total:
            all_done.set()
        return ConsumeResult.SUCCESS

    # 40 messages (or 40 bodies' bytes) for the consumer: 10 per topic queue, fewer
    # once the %RETRY% queue is held too.
    limits = (
        {"pull_threshold_for_topic": 40}
        if kind == "count"
        else {"pull_threshold_size_for_topic": 40 * len(BODY)}
    )
    consumer = PushConsumer(
        group,
        config=ClientConfig(namesrv_addr=standalone.namesrv_addr, instance_name=unique("i")),
        listener=listener,
        consume_from=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
        pull_batch_size=PULL_BATCH,
        **limits,  # type: ignore[arg-type]
    )
    consumer.subscribe(topic)
    async with consumer:
        async with asyncio.timeout(30):
            while len([q for q in consumer.assigned_queues if q.topic == topic]) < QUEUES:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            while sum(held(consumer)) < QUEUES * 8:  # noqa: ASYNC110 - pulled up to the limits
                await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # time to pull more if flow control did not stop it
        n = len(consumer.assigned_queues)
        if kind == "count":
            assert consumer.pull_threshold_for_queue == 40 // n
            assert consumer.pull_threshold_size_for_queue == 100 * 1024 * 1024
        else:
            assert consumer.pull_threshold_size_for_queue == 40 * len(BODY) // n
            assert consumer.pull_threshold_for_queue == 1000
        # A queue pulls while it holds at most its limit: one more pull batch at most.
        counts = held(consumer)
        assert max(counts) <= 40 // QUEUES + PULL_BATCH + 1, counts
        assert sum(counts) < total // 4, counts
        release.set()
        async with asyncio.timeout(60):
            await all_done.wait()  # pulling resumes as messages are consumed
    assert consumed == total


@pytest.mark.parametrize("name", ["pull_threshold_for_topic", "pull_threshold_size_for_topic"])
@pytest.mark.parametrize("value", [0, -2])
def test_topic_thresholds_are_minus_one_or_positive(name: str, value: int) -> None:
    with pytest.raises(ValueError, match=f"{name} must be -1 \\(off\\) or >= 1, not {value}"):
        PushConsumer("G", namesrv_addr="127.0.0.1:1", **{name: value})  # type: ignore[arg-type]


def test_topic_thresholds_default_to_off() -> None:
    consumer = PushConsumer("G", namesrv_addr="127.0.0.1:1", pull_threshold_for_queue=7)
    consumer._apply_topic_thresholds()  # no queues held: nothing to divide
    assert (consumer.pull_threshold_for_queue, consumer.pull_threshold_size_for_queue) == (
        7,
        100 * 1024 * 1024,
    )
