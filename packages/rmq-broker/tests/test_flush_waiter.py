"""FlushWaiter: SYNC_FLUSH sends wait for the group commit on the event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from rmq_broker.flush_waiter import FlushWaiter
from rmq_protocol.codec.message import HostPort, MessageExt
from rmq_store import FlushDiskType, MessageStore, StoreConfig


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MessageStore]:
    config = StoreConfig(
        store_path_root_dir=tmp_path,
        flush_disk_type=FlushDiskType.SYNC_FLUSH,
        mapped_file_size_commit_log=1 << 20,
    )
    with MessageStore.open(config) as opened:
        yield opened


def _append(store: MessageStore) -> int:
    host = HostPort("127.0.0.1", 10911)
    message = MessageExt(
        topic="TopicFlush", queue_id=0, body=b"x" * 100, born_host=host, store_host=host
    )
    return store.append_messages([message]).end_offset


class _ReportingStore:
    """A real store whose flush reports the test sends (from a thread, as the flush
    thread would), so that the order and timing of group commits are the test's."""

    def __init__(self, store: MessageStore) -> None:
        self._store = store
        self.listeners: list[Callable[[int], None]] = []
        self.requested: list[int] = []

    @property
    def flushed_offset(self) -> int:
        return 0

    def add_flush_listener(self, listener: Callable[[int], None]) -> None:
        self.listeners.append(listener)

    def remove_flush_listener(self, listener: Callable[[int], None]) -> None:
        self.listeners.remove(listener)

    def flush_future(self, offset: int) -> concurrent.futures.Future[int]:
        self.requested.append(offset)
        return concurrent.futures.Future()

    async def report(self, flushed: int) -> None:
        thread = threading.Thread(target=lambda: [f(flushed) for f in self.listeners])
        thread.start()
        thread.join()
        await asyncio.sleep(0)  # the loop runs the call_soon_threadsafe callback
        await asyncio.sleep(0)


@pytest.fixture
async def reporting(store: MessageStore) -> _ReportingStore:
    return _ReportingStore(store)


@pytest.fixture
async def waiter(reporting: _ReportingStore) -> AsyncIterator[FlushWaiter]:
    """A waiter on the reporting store, 5 s timeout, closed after the test."""
    waiter = FlushWaiter(reporting, timeout=5)  # type: ignore[arg-type]
    yield waiter
    waiter.close()


async def test_a_group_commit_answers_every_send_below_it(store: MessageStore) -> None:
    waiter = FlushWaiter(store, timeout=5)  # the real store's flush thread and listener
    try:
        futures = [waiter.wait(_append(store)) for _ in range(20)]
        assert len(waiter) == 20
        assert all(await asyncio.wait_for(asyncio.gather(*futures), 5))
        assert len(waiter) == 0
        # durable already: answered at once, nothing waits
        assert waiter.wait(store.flushed_offset).result() is True
        assert len(waiter) == 0
    finally:
        waiter.close()


async def test_one_flush_request_per_loop_iteration(
    reporting: _ReportingStore, waiter: FlushWaiter
) -> None:
    futures = [waiter.wait(offset) for offset in (100, 200, 300)]
    await asyncio.sleep(0)
    assert reporting.requested == [300]  # the highest, once
    await reporting.report(200)
    assert [f.done() for f in futures] == [True, True, False]
    await reporting.report(300)
    assert all(f.result() for f in futures)


async def test_an_offset_out_of_order_is_answered_late_never_early(
    reporting: _ReportingStore, waiter: FlushWaiter
) -> None:
    high, low = waiter.wait(500), waiter.wait(100)
    await reporting.report(300)  # covers `low`, which waits behind `high`
    assert not high.done()
    assert not low.done()
    await reporting.report(500)
    assert high.result() is True
    assert low.result() is True
    # a later send below the reported offset needs no flush
    assert waiter.wait(400).result() is True


async def test_timeouts_answer_false_in_arrival_order(reporting: _ReportingStore) -> None:
    waiter = FlushWaiter(reporting, timeout=0.05)  # type: ignore[arg-type]
    try:
        first = waiter.wait(100)
        await asyncio.sleep(0.02)
        second = waiter.wait(200)
        assert await asyncio.wait_for(first, 1) is False
        assert not second.done()
        assert await asyncio.wait_for(second, 1) is False
        assert waiter.timeouts == 2
        assert len(waiter) == 0
        await reporting.report(200)  # late: nothing left to answer
        assert waiter.wait(150).result() is True
    finally:
        waiter.close()


async def test_close_answers_the_waiters_left_false(
    reporting: _ReportingStore, waiter: FlushWaiter
) -> None:
    pending = waiter.wait(100)
    waiter.close()
    assert pending.result() is False
    assert reporting.listeners == []
    assert waiter.wait(100).result() is False
