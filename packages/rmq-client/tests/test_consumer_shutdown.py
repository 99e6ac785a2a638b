"""PushConsumer shutdown commits exactly what the listener finished (real ``rmq standalone``).

A pull of several messages is one work item; with ``consume_batch_size`` 1 the listener
is called once per message. When :meth:`PushConsumer.aclose` cancels a call that is held
(``await_termination`` passed), the calls of that item that had already returned must
still be committed, or the next member of the group receives them again (the cause of
``rmq consume --count N`` redelivering one message).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from rmq_client import Admin
from rmq_client._instance import ClientConfig
from rmq_client.consumer import ConsumeResult, PushConsumer
from rmq_protocol.codec.body import ConsumeFromWhere
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import SendMessageRequestHeaderV2
from rmq_protocol.codec.message import BatchEntry, MessageExt, encode_batch
from rmq_protocol.transport import RemotingClient


class Standalone(Protocol):
    namesrv_addr: str
    broker_addr: str


async def send_to_queue_0(broker: str, topic: str, count: int) -> None:
    """``count`` messages ``b"0"``, ``b"1"``, … into queue 0 of ``topic``."""
    entries = [BatchEntry(body=str(i).encode(), properties={"KEYS": str(i)}) for i in range(count)]
    header = SendMessageRequestHeaderV2(
        producer_group="test-producer", topic=topic, default_topic="TBW102",
        default_topic_queue_nums=1, queue_id=0, sys_flag=0,
        born_timestamp=int(time.time() * 1000), flag=0, batch=True,
    )  # fmt: skip
    cmd = RemotingCommand.request(
        RequestCode.SEND_BATCH_MESSAGE, header, body=encode_batch(entries)
    )
    async with RemotingClient() as client:
        response = await client.request(broker, cmd, timeout=10)
    assert response.code == ResponseCode.SUCCESS, response.remark


async def test_aclose_commits_the_finished_part_of_a_held_work_item(
    standalone: Standalone, unique: Callable[[str], str]
) -> None:
    topic, group = unique("T"), unique("G")
    async with Admin(standalone.namesrv_addr) as admin:  # routed before the consumer starts
        await admin.create_topic(topic, queue_nums=1)
    await send_to_queue_0(standalone.broker_addr, topic, 3)
    config = ClientConfig(namesrv_addr=standalone.namesrv_addr, instance_name=unique("i"))
    seen: list[bytes] = []
    held = asyncio.Event()
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def listener(msgs: list[MessageExt]) -> ConsumeResult:
        assert len(msgs) == 1
        if msgs[0].body != b"0":
            held.set()
            await never  # held until aclose() cancels it
        seen.append(msgs[0].body)
        return ConsumeResult.SUCCESS

    consumer = PushConsumer(
        group, config=config, listener=listener, consume_concurrency=1, consume_batch_size=1,
        consume_from=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, await_termination=0.2,
    )  # fmt: skip
    consumer.subscribe(topic)
    async with consumer:
        async with asyncio.timeout(30):
            await held.wait()
    assert seen == [b"0"]

    # The next member starts after message 0: it gets 1 and 2, not 0 again.
    got: list[bytes] = []
    both = asyncio.Event()

    def record(msgs: list[MessageExt]) -> ConsumeResult:
        got.extend(m.body for m in msgs)
        if len(got) >= 2:
            both.set()
        return ConsumeResult.SUCCESS

    again = PushConsumer(group, config=config, listener=record)
    again.subscribe(topic)
    async with again:
        async with asyncio.timeout(30):
            await both.wait()
        await asyncio.sleep(0.5)  # a redelivered message 0 would arrive with the others
    assert got == [b"1", b"2"]
