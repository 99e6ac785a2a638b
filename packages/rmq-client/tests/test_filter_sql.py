"""SQL92 subscriptions end to end: rmq-client's Producer and PushConsumer against a real
``rmq standalone`` with ``enablePropertyFilter=true`` (and refused without it)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from rmq_client import Message, Producer
from rmq_client._instance import ClientConfig
from rmq_client.consumer import ConsumeResult, PushConsumer
from rmq_protocol.codec.body import ConsumeFromWhere
from rmq_protocol.codec.message import MessageExt


class Standalone(Protocol):
    namesrv_addr: str
    broker_addr: str


StartStandalone = Callable[..., Standalone]
EXPRESSION = "region = 'eu' AND n BETWEEN 10 AND 29 AND kind IN ('a', 'b')"


def _expected(i: int) -> bool:
    return i % 3 != 0 and 10 <= i <= 29 and i % 4 in (0, 1)


def _props(i: int) -> dict[str, str]:
    props = {"region": "eu" if i % 3 else "us", "n": str(i), "kind": "abcd"[i % 4]}
    if i == 13:
        props["n"] = "thirteen"  # does not parse as an int: never matches
    return props


async def test_push_consumer_receives_only_matching_messages(
    start_standalone: StartStandalone, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    conf = tmp_path / "broker.conf"
    conf.write_text("enablePropertyFilter=true\n")
    server = start_standalone("-c", str(conf))
    topic, group = unique("T"), unique("G")
    config = ClientConfig(namesrv_addr=server.namesrv_addr, instance_name=unique("i"))
    async with Producer(unique("P"), config=config) as producer:
        for i in range(40):
            await producer.send(Message(topic, f"m{i}".encode(), properties=_props(i)), timeout=10)
    wanted = {f"m{i}".encode() for i in range(40) if _expected(i) and i != 13}
    got: list[MessageExt] = []
    done = asyncio.Event()

    async def listener(msgs: list[MessageExt]) -> ConsumeResult:
        got.extend(msgs)
        if {m.body for m in got} >= wanted:
            done.set()
        return ConsumeResult.SUCCESS

    consumer = PushConsumer(
        group, config=config, listener=listener,
        consume_from=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
    )  # fmt: skip
    consumer.subscribe(topic, EXPRESSION, sql=True)
    async with consumer:
        async with asyncio.timeout(60):
            await done.wait()
        # the consumer's offsets moved past the filtered-out messages: each of the
        # topic's 4 queues reaches its end (10 messages each)
        async with asyncio.timeout(30):
            while not _at_end(consumer, topic):  # noqa: ASYNC110
                await asyncio.sleep(0.1)
    assert sorted(m.body for m in got) == sorted(wanted)
    assert len(wanted) == 6


def _at_end(consumer: PushConsumer, topic: str) -> bool:
    offsets = {mq: o for mq, o in consumer.offsets().items() if mq.topic == topic}
    return len(offsets) == 4 and all(o == 10 for o in offsets.values())
