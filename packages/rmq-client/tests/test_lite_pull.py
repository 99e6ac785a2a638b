"""PullConsumer (lite pull) against a real ``rmq standalone``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from rmq_client.consumer import PullConsumer
from rmq_protocol.codec.body import ConsumeFromWhere
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import SendMessageRequestHeaderV2
from rmq_protocol.codec.message import BatchEntry, MessageExt, encode_batch
from rmq_protocol.transport import RemotingClient


class Standalone(Protocol):
    namesrv_addr: str
    broker_addr: str


async def send(broker: str, topic: str, count: int, *, queues: int = 2, start: int = 0) -> None:
    async with RemotingClient() as client:
        for queue_id in range(queues):
            entries = [
                BatchEntry(body=f"{queue_id}:{i}".encode(), properties={"TAGS": f"t{i % 2}"})
                for i in range(start, start + count)
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


async def drain(consumer: PullConsumer, count: int) -> list[MessageExt]:
    got: list[MessageExt] = []
    async with asyncio.timeout(20):
        while len(got) < count:
            got += await consumer.poll(timeout=1.0)
    return got


async def test_subscribe_poll_commit_and_resume(
    standalone: Standalone, unique: Callable[[str], str]
) -> None:
    topic, group = unique("T"), unique("G")
    await send(standalone.broker_addr, topic, 20)
    consumer = PullConsumer(
        group, namesrv_addr=standalone.namesrv_addr, auto_commit=False,
        consume_from=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
    )  # fmt: skip
    consumer.subscribe(topic, "t1")
    async with consumer:
        got = await drain(consumer, 20)  # tag t1: the odd half of 2 x 20
        assert sorted(m.body for m in got) == sorted(
            f"{q}:{i}".encode() for q in range(2) for i in range(1, 20, 2)
        )
        assert len(consumer.assignment()) == 2
        await consumer.commit()
        committed = {mq.queue_id: await consumer.committed(mq) for mq in consumer.assignment()}
    assert committed == {0: 20, 1: 20}

    await send(standalone.broker_addr, topic, 2, start=20)  # i = 20, 21: one t1 per queue
    again = PullConsumer(group, namesrv_addr=standalone.namesrv_addr)
    again.subscribe(topic, "t1")
    async with again:
        got = await drain(again, 2)
    assert sorted(m.body for m in got) == [b"0:21", b"1:21"]


async def test_assign_seek_pause_resume(
    standalone: Standalone, unique: Callable[[str], str]
) -> None:
    topic, group = unique("T"), unique("G")
    await send(standalone.broker_addr, topic, 10)
    consumer = PullConsumer(
        group, namesrv_addr=standalone.namesrv_addr,
        consume_from=ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET,
    )  # fmt: skip
    consumer.assign([])
    async with consumer:
        mq0 = (await consumer.fetch_message_queues(topic))[0]
        consumer.assign([mq0])
        async with asyncio.timeout(10):
            while consumer.assignment() != [mq0]:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        # (A new group starts at 0 while message 0 is in memory, as on Apache RocketMQ.)
        await consumer.seek_to_end(mq0)
        assert await consumer.poll(timeout=0.3) == []
        await consumer.seek_to_begin(mq0)
        got = await drain(consumer, 10)
        assert [m.body for m in got] == [f"0:{i}".encode() for i in range(10)]
        consumer.seek(mq0, 5)
        got = await drain(consumer, 5)
        assert [m.queue_offset for m in got] == [5, 6, 7, 8, 9]
        consumer.pause([mq0])
        await send(standalone.broker_addr, topic, 2, start=10)
        assert await consumer.poll(timeout=0.5) == []
        consumer.resume([mq0])
        got = await drain(consumer, 2)
        assert [m.body for m in got] == [b"0:10", b"0:11"]
        assert await consumer.offset_for_timestamp(mq0, 0) == 0
        await consumer.seek_to_end(mq0)
        assert await consumer.poll(timeout=0.3) == []
