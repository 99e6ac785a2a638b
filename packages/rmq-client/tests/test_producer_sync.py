"""Synchronous facades (SyncProducer, SyncAdmin) from plain threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from rmq_client import Message, SendResult, SendStatus
from rmq_client._sync import LoopThread
from rmq_client.sync import SyncAdmin, SyncProducer

Unique = Callable[[str], str]


def test_sync_producer_and_admin(namesrv_addr: str, unique: Unique) -> None:
    topic = unique("T")
    with (
        SyncAdmin(namesrv_addr) as admin,
        SyncProducer(unique("PG"), namesrv_addr=namesrv_addr) as producer,
    ):
        admin.create_topic(topic, queue_nums=2)
        result = producer.send(Message(topic, b"sync"))
        assert result.status is SendStatus.SEND_OK
        called = threading.Event()
        seen: list[SendResult | None] = []

        def callback(r: SendResult | None, e: BaseException | None) -> None:
            seen.append(r)
            called.set()

        future = producer.send_async(Message(topic, b"async"), callback=callback)
        assert future.result(5).status is SendStatus.SEND_OK
        assert called.wait(5)
        producer.send_oneway(Message(topic, b"oneway"))
        batch = producer.send_batch([Message(topic, b"b%d" % i) for i in range(10)])
        assert len(batch[0].msg_id.split(",")) == 10
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda i: producer.send(Message(topic, b"%d" % i)), range(20)))
        assert all(r.status is SendStatus.SEND_OK for r in results)
        assert admin.query_message_by_id(result.offset_msg_id).body == b"sync"
        assert sum(o.max_offset for o in admin.topic_status(topic).values()) >= 32
    assert LoopThread._current is None  # the last facade stopped the loop thread


def test_call_from_loop_thread_is_refused() -> None:
    runner = LoopThread.acquire()
    try:

        async def inner() -> None:
            async def nothing() -> None:
                pass

            with pytest.raises(RuntimeError, match="deadlock"):
                runner.call(nothing())

        runner.call(inner(), timeout=5)
    finally:
        runner.release()
