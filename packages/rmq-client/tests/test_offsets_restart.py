"""Committed offsets survive a consumer restart and a broker restart (a private
``rmq standalone`` stopped and started again on the same data directory)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from rmq_client import Admin, Message, Producer, ReceivedMessage
from rmq_client.consumer import ConsumeResult, PushConsumer
from rmq_protocol.codec.body import ConsumeFromWhere

Unique = Callable[[str], str]


class Server(Protocol):
    """conftest's Standalone (test modules do not import conftest)."""

    namesrv_addr: str
    data_dir: Path

    def stop(self, *, timeout: float = ...) -> int: ...


async def consume(namesrv_addr: str, group: str, topic: str, count: int) -> list[bytes]:
    """Run a member of ``group`` until ``count`` messages came, and a little longer
    (to catch any extra); the offsets are committed when it closes."""
    got: list[bytes] = []
    enough = asyncio.Event()

    async def listener(msgs: list[ReceivedMessage]) -> ConsumeResult:
        got.extend(m.body for m in msgs)
        if len(got) >= count:
            enough.set()
        return ConsumeResult.SUCCESS

    consumer = PushConsumer(
        group, namesrv_addr=namesrv_addr, listener=listener,
        # FIRST_OFFSET: a group whose offsets were lost would start again at 0.
        consume_from=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
    )  # fmt: skip
    consumer.subscribe(topic)
    async with consumer:
        async with asyncio.timeout(30):
            await enough.wait()
        await asyncio.sleep(0.5)
    return got


async def send(namesrv_addr: str, topic: str, bodies: list[bytes]) -> None:
    async with Producer("offsets_restart_pg", namesrv_addr=namesrv_addr) as producer:
        await producer.send_batch([Message(topic, b) for b in bodies])


async def test_offsets_survive_consumer_and_broker_restart(
    start_standalone: Callable[..., Server], unique: Unique
) -> None:
    topic, group = unique("T"), unique("G")
    first = start_standalone()
    addr = first.namesrv_addr
    async with Admin(addr) as admin:
        await admin.create_topic(topic, queue_nums=2)

    await send(addr, topic, [b"a%d" % i for i in range(20)])
    assert sorted(await consume(addr, group, topic, 20)) == sorted(b"a%d" % i for i in range(20))

    # Consumer restart: only what came after.
    await send(addr, topic, [b"b%d" % i for i in range(5)])
    assert sorted(await consume(addr, group, topic, 5)) == sorted(b"b%d" % i for i in range(5))

    # Broker restart on the same files (SIGTERM: a clean shutdown persists offsets).
    assert first.stop() == 0
    second = start_standalone("--data-dir", str(first.data_dir))
    addr = second.namesrv_addr
    await send(addr, topic, [b"c%d" % i for i in range(5)])
    assert sorted(await consume(addr, group, topic, 5)) == sorted(b"c%d" % i for i in range(5))
