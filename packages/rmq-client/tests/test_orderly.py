"""Orderly PushConsumer against a real ``rmq standalone``: per-queue order, local retry."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from typing import Protocol

from rmq_client.consumer import ConsumeOrderlyResult, PushConsumer
from rmq_protocol.codec.body import ConsumeFromWhere
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import SendMessageRequestHeaderV2
from rmq_protocol.codec.message import BatchEntry, MessageExt, encode_batch
from rmq_protocol.transport import RemotingClient


class Standalone(Protocol):
    namesrv_addr: str
    broker_addr: str


async def send(broker: str, topic: str, count: int, *, queues: int = 2) -> None:
    async with RemotingClient() as client:
        for queue_id in range(queues):
            entries = [
                BatchEntry(body=f"{queue_id}:{i}".encode(), properties={"KEYS": str(i)})
                for i in range(count)
            ]
            header = SendMessageRequestHeaderV2(
                producer_group="test-producer", topic=topic, default_topic="TBW102",
                default_topic_queue_nums=queues, queue_id=queue_id, sys_flag=0,
                born_timestamp=int(time.time() * 1000), flag=0, batch=True,
            )  # fmt: skip
            cmd = RemotingCommand.request(
                RequestCode.SEND_BATCH_MESSAGE, header, body=encode_batch(entries)
            )
            response = await client.request(broker, cmd, timeout=10)
            assert response.code == ResponseCode.SUCCESS, response.remark


async def test_orderly_keeps_queue_order_and_retries_locally(
    standalone: Standalone, unique: Callable[[str], str]
) -> None:
    topic, group = unique("T"), unique("G")
    count = 30
    await send(standalone.broker_addr, topic, count)
    order: dict[int, list[int]] = collections.defaultdict(list)
    attempts: collections.Counter[bytes] = collections.Counter()
    done = asyncio.Event()
    active: set[int] = set()

    async def listener(msgs: list[MessageExt]) -> ConsumeOrderlyResult:
        (msg,) = msgs
        assert msg.queue_id not in active  # never two calls on one queue at once
        active.add(msg.queue_id)
        try:
            await asyncio.sleep(0)
            attempts[msg.body] += 1
            if msg.body == b"0:5" and attempts[msg.body] < 3:
                assert msg.reconsume_times == attempts[msg.body] - 1
                return ConsumeOrderlyResult.SUSPEND_CURRENT_QUEUE_A_MOMENT
            order[msg.queue_id].append(int(msg.body.split(b":")[1]))
            if sum(len(v) for v in order.values()) == 2 * count:
                done.set()
            return ConsumeOrderlyResult.SUCCESS
        finally:
            active.discard(msg.queue_id)

    consumer = PushConsumer(
        group, namesrv_addr=standalone.namesrv_addr, listener=listener, orderly=True,
        consume_from=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
        suspend_current_queue_time=0.05,
    )  # fmt: skip
    consumer.subscribe(topic)
    async with consumer:
        async with asyncio.timeout(30):
            await done.wait()
        offsets = {mq.queue_id: off for mq, off in consumer.offsets().items() if mq.topic == topic}
    assert order == {0: list(range(count)), 1: list(range(count))}
    assert attempts[b"0:5"] == 3
    assert consumer.failed == 2
    assert offsets == {0: count, 1: count}
