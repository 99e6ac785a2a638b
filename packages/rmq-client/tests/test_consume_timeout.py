"""Consume timeout (Java ``cleanExpireMsg``) against a real ``rmq standalone``.

A listener call that does not return within ``consume_timeout`` has its message sent
back (CONSUMER_SEND_MSG_BACK, delay level 3: 10 s) and removed from the process queue,
so the queue's committed offset moves past it while the call is still stuck; the
message comes back from ``%RETRY%<group>`` with reconsume_times 1.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

import pytest

from rmq_client import Admin, Producer
from rmq_client._instance import ClientConfig
from rmq_client.consumer import ConsumeResult, PushConsumer
from rmq_client.message import Message
from rmq_protocol.codec.body import ConsumeFromWhere, MessageQueue
from rmq_protocol.codec.message import MessageExt


class Standalone(Protocol):
    namesrv_addr: str
    broker_addr: str


async def test_a_stuck_message_is_sent_back_and_the_offset_moves_on(
    standalone: Standalone, unique: Callable[[str], str]
) -> None:
    topic, group = unique("T"), unique("G")
    async with Admin(standalone.namesrv_addr) as admin:
        await admin.create_topic(topic, queue_nums=1)
    async with Producer(unique("P"), namesrv_addr=standalone.namesrv_addr) as producer:
        for body in (b"first", b"stuck", b"last"):
            await producer.send(Message(topic, body))
    config = ClientConfig(namesrv_addr=standalone.namesrv_addr, instance_name=unique("i"))
    delivered: list[tuple[bytes, int, str]] = []
    stuck_started = asyncio.Event()
    came_back = asyncio.Event()
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    sent_back_at = 0.0

    async def listener(msgs: list[MessageExt]) -> ConsumeResult:
        delivered.extend((m.body, m.reconsume_times, m.topic) for m in msgs)
        if msgs[0].body == b"stuck":
            if msgs[0].reconsume_times == 0:
                stuck_started.set()
                await never  # stuck until aclose() cancels it
            came_back.set()
        return ConsumeResult.SUCCESS

    consumer = PushConsumer(
        group, config=config, listener=listener, consume_concurrency=2,
        consume_from=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
        consume_timeout=1.0, await_termination=0.5,
    )  # fmt: skip
    consumer.subscribe(topic)
    mq: MessageQueue | None = None
    async with consumer:
        async with asyncio.timeout(30):
            await stuck_started.wait()
            (mq,) = [q for q in consumer.assigned_queues if q.topic == topic]
            # first (0) and last (2) are done; the stuck call holds offset 1 ...
            while consumer.offsets().get(mq) != 1:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            # ... until it is 1 to 2 timeouts old: then it is sent back and dropped.
            while consumer.offsets().get(mq) != 3:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            sent_back_at = time.monotonic()
            assert not never.done()  # the listener call itself is not cancelled
        async with asyncio.timeout(60):
            await came_back.wait()
        waited = time.monotonic() - sent_back_at
    assert sorted(delivered) == sorted(
        [(b"first", 0, topic), (b"stuck", 0, topic), (b"last", 0, topic), (b"stuck", 1, topic)]
    )
    assert waited > 7.0  # delay level 3 is 10 s (level 1 would be 1 s, level 2 5 s)


def test_consume_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="consume_timeout must be > 0 seconds, not 0"):
        PushConsumer("g", namesrv_addr="127.0.0.1:9876", consume_timeout=0)
