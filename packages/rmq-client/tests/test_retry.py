"""Consumer retry end to end: CONSUMER_SEND_MSG_BACK, the schedule, the dead-letter queue.

A private ``rmq standalone`` whose delay levels are all 1 s, so that each retry (delay
level 3 + reconsumeTimes) comes back after about a second.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from rmq_client.consumer import ConsumeResult, PushConsumer
from rmq_protocol.codec import properties as props
from rmq_protocol.codec.body import ConsumeFromWhere
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import (
    GetMaxOffsetRequestHeader,
    GetMaxOffsetResponseHeader,
    SendMessageRequestHeaderV2,
)
from rmq_protocol.codec.message import MessageExt
from rmq_protocol.transport import RemotingClient


class Standalone(Protocol):
    namesrv_addr: str
    broker_addr: str


StartStandalone = Callable[..., Standalone]


def fast_retries(tmp_path: Path, start_standalone: StartStandalone) -> Standalone:
    conf = tmp_path / "broker.conf"
    conf.write_text("messageDelayLevel=" + " ".join(["1s"] * 18) + "\n")
    return start_standalone("-c", str(conf))


async def send(broker: str, topic: str, bodies: list[bytes]) -> None:
    async with RemotingClient() as client:
        for i, body in enumerate(bodies):
            header = SendMessageRequestHeaderV2(
                producer_group="retry-producer", topic=topic, default_topic="TBW102",
                default_topic_queue_nums=2, queue_id=i % 2, sys_flag=0,
                born_timestamp=int(time.time() * 1000), flag=0,
                properties=props.encode_properties({props.UNIQ_KEY: f"{topic}-{i}"}),
            )  # fmt: skip
            cmd = RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, header, body=body)
            response = await client.request(broker, cmd, timeout=10)
            assert response.code == ResponseCode.SUCCESS, response.remark


async def max_offset(broker: str, topic: str, queue_id: int = 0) -> int:
    async with RemotingClient() as client:
        cmd = RemotingCommand.request(
            RequestCode.GET_MAX_OFFSET, GetMaxOffsetRequestHeader(topic=topic, queue_id=queue_id)
        )
        response = await client.request(broker, cmd, timeout=10)
        if response.code != ResponseCode.SUCCESS:
            return 0
        return response.decode_header(GetMaxOffsetResponseHeader).offset


class Failing:
    """Fails ``body`` every time (or its first ``times`` deliveries); records deliveries."""

    def __init__(self, *, times: int | None = None) -> None:
        self.times = times
        self.deliveries: dict[bytes, list[MessageExt]] = collections.defaultdict(list)
        self.changed = asyncio.Event()

    async def __call__(self, msgs: list[MessageExt]) -> ConsumeResult:
        result = ConsumeResult.SUCCESS
        for m in msgs:
            self.deliveries[m.body].append(m)
            if self.times is None or len(self.deliveries[m.body]) <= self.times:
                result = ConsumeResult.RECONSUME_LATER
        self.changed.set()
        return result

    async def wait(self, condition: Callable[[], bool], *, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


async def test_failed_message_is_redelivered_through_send_back(
    tmp_path: Path, start_standalone: StartStandalone, unique: Callable[[str], str]
) -> None:
    server = fast_retries(tmp_path, start_standalone)
    topic, group = unique("T"), unique("G")
    await send(server.broker_addr, topic, [b"once", b"twice"])
    listener = Failing(times=2)
    consumer = PushConsumer(
        group, namesrv_addr=server.namesrv_addr, listener=listener,
        consume_from=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
    )  # fmt: skip
    consumer.subscribe(topic)
    async with consumer:
        await listener.wait(
            lambda: all(len(listener.deliveries[b]) >= 3 for b in (b"once", b"twice")),
            timeout=60,
        )
    for body in (b"once", b"twice"):
        first, *retries = listener.deliveries[body][:3]
        assert [m.reconsume_times for m in (first, *retries)] == [0, 1, 2]
        for m in retries:
            assert m.topic == topic  # restored from RETRY_TOPIC by the client
            assert m.properties[props.RETRY_TOPIC] == topic
            # the broker's send-back, not the client's fallback re-send (which would add
            # RECONSUME_TIME and use the UNIQ_KEY as ORIGIN_MESSAGE_ID)
            assert props.RECONSUME_TIME not in m.properties
            assert m.properties[props.ORIGIN_MESSAGE_ID] == first.offset_msg_id
            assert m.msg_id == first.msg_id  # UNIQ_KEY kept
    assert await max_offset(server.broker_addr, f"%DLQ%{group}") == 0


async def test_after_max_reconsume_times_the_message_is_dead_lettered(
    tmp_path: Path, start_standalone: StartStandalone, unique: Callable[[str], str]
) -> None:
    server = fast_retries(tmp_path, start_standalone)
    topic, group = unique("T"), unique("G")
    await send(server.broker_addr, topic, [b"poison"])
    listener = Failing()
    consumer = PushConsumer(
        group, namesrv_addr=server.namesrv_addr, listener=listener,
        consume_from=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, max_reconsume_times=2,
    )  # fmt: skip
    consumer.subscribe(topic)
    dlq = f"%DLQ%{group}"
    async with consumer:
        await listener.wait(lambda: len(listener.deliveries[b"poison"]) >= 3, timeout=60)
        async with asyncio.timeout(30):
            while await max_offset(server.broker_addr, dlq) < 1:  # noqa: ASYNC110
                await asyncio.sleep(0.1)  # the DLQ fills on the broker: nothing to wait on
        await asyncio.sleep(2.5)  # > one retry delay: a 4th delivery would have come
    deliveries = listener.deliveries[b"poison"]
    assert [m.reconsume_times for m in deliveries] == [0, 1, 2]
    assert await max_offset(server.broker_addr, dlq) == 1
