"""Every send mode (sync, async, oneway, batch; asyncio and thread facades) end to end:
what a PushConsumer receives is exactly what was sent, and closing a producer
unregisters it cleanly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from rmq_client import Admin, Message, Producer, ReceivedMessage, SendStatus
from rmq_client.consumer import ConsumeResult, PushConsumer
from rmq_client.sync import SyncProducer
from rmq_protocol.codec.body import ConsumeFromWhere

Unique = Callable[[str], str]


def message(topic: str, mode: str, i: int) -> Message:
    return Message(
        topic,
        f"{mode}-{i}".encode(),
        tags=f"Tag{mode}",
        keys=[f"{mode}-key-{i}", "shared"],
        properties={"mode": mode, "i": str(i)},
    )


async def test_every_send_mode_arrives_intact(namesrv_addr: str, unique: Unique) -> None:
    topic = unique("T")
    async with Admin(namesrv_addr) as admin:
        await admin.create_topic(topic, queue_nums=4)
    n = 10
    async with Producer(unique("PG"), namesrv_addr=namesrv_addr) as producer:
        results = [await producer.send(message(topic, "sync", i)) for i in range(n)]
        callbacks: list[str] = []
        futures = [
            producer.send_async(
                message(topic, "async", i),
                callback=lambda r, e: callbacks.append("ok" if e is None else repr(e)),
            )
            for i in range(n)
        ]
        results += await asyncio.gather(*futures)
        for i in range(n):
            await producer.send_oneway(message(topic, "oneway", i))
        batch = await producer.send_batch([message(topic, "batch", i) for i in range(n)])
    assert all(r.status is SendStatus.SEND_OK for r in results + batch)
    assert callbacks == ["ok"] * n

    def sync_sends() -> None:
        with SyncProducer(unique("PG"), namesrv_addr=namesrv_addr) as sp:
            sp.send(message(topic, "thread", 0))
            sp.send_async(message(topic, "thread", 1)).result(timeout=10)
            sp.send_oneway(message(topic, "thread", 2))
            sp.send_batch([message(topic, "thread", 3), message(topic, "thread", 4)])

    await asyncio.to_thread(sync_sends)

    expected = {f"{m}-{i}" for m in ("sync", "async", "oneway", "batch") for i in range(n)}
    expected |= {f"thread-{i}" for i in range(5)}
    got: dict[str, ReceivedMessage] = {}
    done = asyncio.Event()

    async def listener(msgs: list[ReceivedMessage]) -> ConsumeResult:
        for m in msgs:
            got[m.body.decode()] = m
        if len(got) >= len(expected):
            done.set()
        return ConsumeResult.SUCCESS

    consumer = PushConsumer(
        unique("G"), namesrv_addr=namesrv_addr, listener=listener,
        consume_from=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
    )  # fmt: skip
    consumer.subscribe(topic)
    async with consumer:
        async with asyncio.timeout(30):
            await done.wait()
    assert set(got) == expected
    for body, m in got.items():
        mode, idx = body.split("-")
        assert m.tags == f"Tag{mode}"
        assert m.keys == [f"{mode}-key-{idx}", "shared"]
        assert m.properties["mode"] == mode
        assert m.properties["i"] == idx
    assert {m.queue_id for m in got.values()} == {0, 1, 2, 3}  # round robin over queues


async def test_close_unregisters_without_errors(
    namesrv_addr: str, unique: Unique, caplog: pytest.LogCaptureFixture
) -> None:
    """UNREGISTER_CLIENT (the group's and CLIENT_INNER_PRODUCER's) succeeds on close."""
    topic = unique("T")
    caplog.set_level(logging.INFO, logger="rmq_client")
    async with Producer(unique("PG"), namesrv_addr=namesrv_addr) as producer:
        await producer.send(Message(topic, b"x"))
    failures = [r.getMessage() for r in caplog.records if "UNREGISTER_CLIENT" in r.getMessage()]
    assert failures == []
    assert any("closed" in r.getMessage() for r in caplog.records)


def test_group_comes_first_and_addresses_are_refused_as_groups() -> None:
    with pytest.raises(ValueError, match=r"'127.0.0.1:9876' has characters outside"):
        Producer("127.0.0.1:9876", namesrv_addr="127.0.0.1:9876")
    with pytest.raises(ValueError, match="exactly one of namesrv_addr and config"):
        Producer("PG")
    with pytest.raises(ValueError, match="longer than 120"):
        PushConsumer("G" * 121, namesrv_addr="127.0.0.1:9876")
    assert Producer("PG", namesrv_addr="127.0.0.1:9876").group == "PG"
