"""Synchronous consumer facades against a real ``rmq standalone``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from rmq_client.consumer import ConsumeResult
from rmq_client.message import ReceivedMessage
from rmq_client.sync_consumer import SyncPullConsumer, SyncPushConsumer
from rmq_protocol.codec.body import ConsumeFromWhere
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import SendMessageRequestHeaderV2
from rmq_protocol.codec.message import BatchEntry, encode_batch
from rmq_protocol.transport import RemotingClient


class Standalone(Protocol):
    namesrv_addr: str
    broker_addr: str


def send(broker: str, topic: str, count: int) -> None:
    import asyncio

    async def run() -> None:
        async with RemotingClient() as client:
            header = SendMessageRequestHeaderV2(
                producer_group="test-producer", topic=topic, default_topic="TBW102",
                default_topic_queue_nums=1, queue_id=0, sys_flag=0,
                born_timestamp=int(time.time() * 1000), flag=0, batch=True,
            )  # fmt: skip
            body = encode_batch([BatchEntry(body=f"m{i}".encode()) for i in range(count)])
            cmd = RemotingCommand.request(RequestCode.SEND_BATCH_MESSAGE, header, body=body)
            response = await client.request(broker, cmd, timeout=10)
            assert response.code == ResponseCode.SUCCESS, response.remark

    asyncio.run(run())


def test_sync_push_and_pull(standalone: Standalone, unique: Callable[[str], str]) -> None:
    topic = unique("T")
    send(standalone.broker_addr, topic, 5)
    got: list[bytes] = []
    done = threading.Event()

    def listener(msgs: list[ReceivedMessage]) -> ConsumeResult:
        time.sleep(0.001)  # a blocking listener is fine: it runs in a worker thread
        got.extend(m.body for m in msgs)
        if len(got) >= 5:
            done.set()
        return ConsumeResult.SUCCESS

    with SyncPushConsumer(
        unique("G"), namesrv_addr=standalone.namesrv_addr, listener=listener,
        subscriptions={topic: "*"}, consume_from=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
    ):  # fmt: skip
        assert done.wait(30)
    assert sorted(got) == [f"m{i}".encode() for i in range(5)]

    with SyncPullConsumer(
        unique("G"), namesrv_addr=standalone.namesrv_addr,
        consume_from=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
    ) as pull:  # fmt: skip
        pull.subscribe(topic)
        pull.start()
        polled: list[ReceivedMessage] = []
        deadline = time.monotonic() + 20
        while len(polled) < 5 and time.monotonic() < deadline:
            polled += pull.poll(timeout=1)
        pull.commit()
    assert [m.queue_offset for m in polled] == [0, 1, 2, 3, 4]
