"""MessageStore end to end: put, get, lookups, recovery, flushing, retention, replication."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from rmq_protocol.codec.hashing import tags_code
from rmq_protocol.codec.message import MAGIC_V2, HostPort, MessageExt, decode_message
from rmq_store.checkpoint import AbortMarker
from rmq_store.config import FlushDiskType, StoreConfig
from rmq_store.errors import DiskFullError, MessageTooLargeError, StoreError, StoreLockedError
from rmq_store.store import BoundaryType, GetMessageStatus, MessageStore

GOLDEN: Final = Path(__file__).resolve().parent / "data" / "golden-store"
BORN: Final = HostPort("127.0.0.1", 50000)
STORE_HOST: Final = HostPort("127.0.0.1", 10911)


class FakeClock:
    def __init__(self, now: int = 1_700_000_000_000, step: int = 1) -> None:
        self.now, self.step = now, step

    def __call__(self) -> int:
        self.now += self.step
        return self.now


def small_config(root: Path, **overrides: object) -> StoreConfig:
    values: dict[str, object] = {
        "store_path_root_dir": root,
        "mapped_file_size_commit_log": 64 * 1024,
        "mapped_file_size_consume_queue": 20 * 50,
        "max_hash_slot_num": 64,
        "max_index_num": 100,
        "flush_interval_commit_log": 50,
        "flush_interval_consume_queue": 50,
    }
    values.update(overrides)
    return StoreConfig(**values)  # type: ignore[arg-type]


def message(
    topic: str = "TopicTest",
    queue_id: int = 0,
    body: bytes = b"hello",
    *,
    tags: str | None = "TagA",
    keys: str | None = None,
    unique_key: str | None = None,
    **fields: object,
) -> MessageExt:
    properties = {"WAIT": "true"}
    if tags is not None:
        properties["TAGS"] = tags
    if keys is not None:
        properties["KEYS"] = keys
    if unique_key is not None:
        properties["UNIQ_KEY"] = unique_key
    extra = dict(fields.pop("properties", {}))  # type: ignore[call-overload]
    properties.update(extra)
    values: dict[str, object] = {
        "born_timestamp": 1_700_000_000_000,
        "born_host": BORN,
        "store_host": STORE_HOST,
        **fields,
    }
    return MessageExt(
        topic=topic,
        queue_id=queue_id,
        body=body,
        properties=properties,
        **values,  # type: ignore[arg-type]
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MessageStore]:
    with MessageStore.open(small_config(tmp_path / "store"), clock_ms=FakeClock()) as opened:
        yield opened


def decoded(view: memoryview) -> MessageExt:
    return decode_message(view, decompress=False, check_crc=True)[0]


# ---------------------------------------------------------------------- put and get


def test_put_then_get_round_trip(store: MessageStore) -> None:
    sent = message(keys="order-1 order-2", unique_key="UNIQ-1")
    result = store.put_message(sent)
    assert (result.phy_offset, result.queue_offset, result.count) == (0, 0, 1)
    assert result.msg_id == "7F00000100002A9F0000000000000000"
    got = store.get_messages("TopicTest", 0, 0)
    assert got.status is GetMessageStatus.FOUND
    assert (got.next_begin_offset, got.min_offset, got.max_offset) == (1, 0, 1)
    stored = decoded(got.messages[0])
    assert stored.body == b"hello"
    assert stored.properties == sent.properties
    assert (stored.queue_offset, stored.commit_log_offset) == (0, 0)
    assert stored.store_timestamp == result.store_timestamp
    assert stored.store_size == result.wrote_bytes == got.buffer_total_size
    assert store.look_message_by_offset(0) == stored


@pytest.mark.parametrize(
    "variant",
    [
        {"born_host": HostPort("::1", 50000)},
        {"store_host": HostPort("2001:db8::7", 10911)},
        {"magic": MAGIC_V2},
        {"topic": "T" * 200},
        {"body": b""},
        {"body": bytes(range(256)) * 40, "sys_flag": 0x1},  # flagged compressed, stored as is
        {"flag": -7, "reconsume_times": 3, "prepared_transaction_offset": 99},
        {"tags": None},
        {"properties": {"a": "é✓", "DELAY": "3"}},
        {"sys_flag": 0x8},  # transaction commit: visible
    ],
    ids=lambda v: ",".join(v),
)
def test_every_message_variant_round_trips(store: MessageStore, variant: dict[str, object]) -> None:
    sent = message(**variant)  # type: ignore[arg-type]
    store.put_message(sent)
    got = store.get_messages(sent.topic, 0, 0)
    assert got.status is GetMessageStatus.FOUND
    stored = decoded(got.messages[0])
    for name in ("topic", "body", "flag", "born_host", "store_host", "properties"):
        assert getattr(stored, name) == getattr(sent, name), name
    assert stored.sys_flag & ~0x30 == sent.sys_flag  # 0x30: the IPv6 host bits
    assert stored.reconsume_times == sent.reconsume_times
    assert stored.prepared_transaction_offset == sent.prepared_transaction_offset


def test_prepared_and_rollback_records_are_stored_but_not_queued(store: MessageStore) -> None:
    prepared = store.put_message(message(sys_flag=0x4, unique_key="HALF"))
    rollback = store.put_message(message(sys_flag=0xC, unique_key="BACK"))
    visible = store.put_message(message())
    assert prepared.queue_offset == rollback.queue_offset == 0
    assert visible.queue_offset == 0
    assert store.get_max_offset_in_queue("TopicTest", 0) == 1
    assert store.look_message_by_offset(prepared.phy_offset) is not None
    assert store.query_message("TopicTest", "HALF", max_num=5).phy_offsets == [prepared.phy_offset]
    assert store.query_message("TopicTest", "BACK", max_num=5).phy_offsets == []


def test_batch_gets_consecutive_offsets_under_one_call(store: MessageStore) -> None:
    batch = [message(body=f"m{i}".encode(), queue_id=i % 2) for i in range(10)]
    result = store.put_messages(batch)
    assert result.count == 10
    assert len(set(result.msg_ids)) == 10
    assert store.get_max_offset_in_queue("TopicTest", 0) == 5
    assert store.get_max_offset_in_queue("TopicTest", 1) == 5
    got = store.get_messages("TopicTest", 1, 0)
    assert [decoded(v).body for v in got.messages] == [f"m{i}".encode() for i in range(1, 10, 2)]
    assert got.queue_offsets == [0, 1, 2, 3, 4]


def test_get_statuses(store: MessageStore) -> None:
    assert store.get_messages("Nope", 0, 0).status is GetMessageStatus.NO_MATCHED_LOGIC_QUEUE
    for _ in range(3):
        store.put_message(message())
    one = store.get_messages("TopicTest", 0, 3)
    assert (one.status, one.next_begin_offset) == (GetMessageStatus.OFFSET_OVERFLOW_ONE, 3)
    badly = store.get_messages("TopicTest", 0, 9)
    assert (badly.status, badly.next_begin_offset) == (GetMessageStatus.OFFSET_OVERFLOW_BADLY, 3)
    found = store.get_messages("TopicTest", 0, 1)
    assert (found.status, found.next_begin_offset, len(found.messages)) == (
        GetMessageStatus.FOUND,
        3,
        2,
    )


def test_get_limits_count_and_bytes(store: MessageStore) -> None:
    for i in range(40):
        store.put_message(message(body=bytes(100), keys=f"k{i}"))
    assert len(store.get_messages("TopicTest", 0, 0, max_count=5).messages) == 5
    # maxTransferCountOnMessageInMemory (32) caps a pull whatever the caller asks.
    assert len(store.get_messages("TopicTest", 0, 0, max_count=100).messages) == 32
    size = store.get_messages("TopicTest", 0, 0, max_count=1).buffer_total_size
    got = store.get_messages("TopicTest", 0, 0, max_bytes=3 * size)
    assert len(got.messages) == 3
    assert got.next_begin_offset == 3
    # The first message always comes, even when it alone is over max_bytes.
    assert len(store.get_messages("TopicTest", 0, 0, max_bytes=1).messages) == 1


def test_tag_prefilter_and_message_filter(store: MessageStore) -> None:
    for i in range(10):
        store.put_message(message(tags="TagA" if i % 3 == 0 else "TagB", keys=str(i)))
    got = store.get_messages("TopicTest", 0, 0, tags_codes={tags_code("TagA")})
    assert [decoded(v).keys for v in got.messages] == [["0"], ["3"], ["6"], ["9"]]
    assert got.next_begin_offset == 10
    none = store.get_messages("TopicTest", 0, 0, tags_codes={tags_code("TagC")})
    assert none.status is GetMessageStatus.NO_MATCHED_MESSAGE
    assert none.next_begin_offset == 10  # filtered messages are skipped, not re-read
    odd = store.get_messages("TopicTest", 0, 0, message_filter=lambda m: int(m.keys[0]) % 2 == 1)
    assert [decoded(v).keys[0] for v in odd.messages] == ["1", "3", "5", "7", "9"]


def test_filtered_get_scans_a_bounded_window(tmp_path: Path) -> None:
    config = small_config(tmp_path, max_filter_message_size=200)  # 10 units
    with MessageStore.open(config, clock_ms=FakeClock()) as store:
        for _ in range(25):
            store.put_message(message(tags="TagB"))
        # RocketMQ scans max(maxFilterMessageSize, 20 · max_count) bytes of units.
        got = store.get_messages("TopicTest", 0, 0, max_count=4, tags_codes={tags_code("TagA")})
        assert got.status is GetMessageStatus.NO_MATCHED_MESSAGE
        assert got.next_begin_offset == 10


def test_message_too_large_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    with MessageStore.open(small_config(tmp_path, max_message_size=1000)) as store:
        with pytest.raises(MessageTooLargeError, match="1001 bytes exceeds the limit of 1000"):
            store.put_message(message(body=bytes(1001)))
        assert store.max_phy_offset == 0
        store.put_message(message(body=bytes(1000)))
        assert store.get_max_offset_in_queue("TopicTest", 0) == 1


def test_delay_topic_tags_code_is_the_delivery_time(store: MessageStore) -> None:
    result = store.put_message(message(topic="SCHEDULE_TOPIC_XXXX", properties={"DELAY": "3"}))
    got = store.get_messages("SCHEDULE_TOPIC_XXXX", 0, 0)
    assert got.status is GetMessageStatus.FOUND
    queue = store._queues[("SCHEDULE_TOPIC_XXXX", 0)]
    unit = queue.get(0)
    assert unit is not None
    assert unit.tags_code == result.store_timestamp + 10_000  # level 3 = 10 s


def test_segments_roll_and_reads_cross_them(store: MessageStore) -> None:
    bodies = [os.urandom(3000) for _ in range(60)]  # about 180 KiB: three 64 KiB segments
    for body in bodies:
        store.put_message(message(body=body))
    assert len(store.commit_log.segments) >= 3
    offset, seen = 0, []
    while True:
        got = store.get_messages("TopicTest", 0, offset, max_count=32)
        if got.status is not GetMessageStatus.FOUND:
            break
        seen += [decoded(v).body for v in got.messages]
        offset = got.next_begin_offset
    assert seen == bodies


# ---------------------------------------------------------------------- lookups


def test_query_by_key_and_unique_key(store: MessageStore) -> None:
    results = [
        store.put_message(message(keys=f"order-{i % 3} shared", unique_key=f"U{i}"))
        for i in range(9)
    ]
    by_key = store.query_message("TopicTest", "order-1", max_num=10)
    assert by_key.phy_offsets == [results[i].phy_offset for i in (7, 4, 1)]
    assert not by_key.more
    limited = store.query_message("TopicTest", "shared", max_num=4)
    assert len(limited.messages) == 4
    assert limited.more
    assert store.query_message("TopicTest", "U5", max_num=1).phy_offsets == [results[5].phy_offset]
    assert store.query_message("Other", "U5", max_num=1).phy_offsets == []
    window = store.query_message(
        "TopicTest",
        "shared",
        max_num=20,
        begin_ms=results[2].store_timestamp,
        end_ms=results[4].store_timestamp,
    )
    assert set(window.phy_offsets) <= {r.phy_offset for r in results}


def test_index_written_in_batches_is_complete_for_every_reader(tmp_path: Path) -> None:
    # Index records are written 256 at a time (D17); a query, a flush and a restart each
    # see every key, whether or not its batch was written yet.
    config = small_config(tmp_path, max_hash_slot_num=512, max_index_num=4000)
    store = MessageStore.open(config, start_services=False)
    results = [store.put_message(message(keys=f"k{i}", unique_key=f"U{i}")) for i in range(300)]
    assert store.query_message("TopicTest", "k299", max_num=2).phy_offsets == [
        results[299].phy_offset
    ]
    results.append(store.put_message(message(keys="late")))
    store.flush()
    assert store.index.files[-1].end_phy_offset == results[-1].phy_offset
    store.close()
    with MessageStore.open(config, start_services=False) as reopened:
        for i in (0, 255, 256, 299):
            found = reopened.query_message("TopicTest", f"U{i}", max_num=2).phy_offsets
            assert found == [results[i].phy_offset]
        assert reopened.query_message("TopicTest", "late", max_num=2).phy_offsets == [
            results[-1].phy_offset
        ]


def test_query_drops_hash_collisions(store: MessageStore) -> None:
    # "Aa" and "BB" have the same Java hashCode, so their index keys collide.
    store.put_message(message(keys="Aa"))
    store.put_message(message(keys="BB"))
    found = store.query_message("TopicTest", "BB", max_num=10)
    assert [decoded(v).keys for v in found.messages] == [["BB"]]


def test_offsets_by_time_and_earliest_time(tmp_path: Path) -> None:
    store = MessageStore.open(small_config(tmp_path), clock_ms=FakeClock(step=10))
    stamps = [store.put_message(message()).store_timestamp for _ in range(10)]
    assert store.get_earliest_message_time() == stamps[0]
    assert store.get_earliest_message_time("TopicTest", 0) == stamps[0]
    assert store.get_message_store_timestamp("TopicTest", 0, 4) == stamps[4]
    assert store.get_offset_in_queue_by_time("TopicTest", 0, stamps[4]) == 4
    assert store.get_offset_in_queue_by_time("TopicTest", 0, stamps[4] + 1) == 5
    assert store.get_offset_in_queue_by_time("TopicTest", 0, 0) == 0
    assert store.get_offset_in_queue_by_time("TopicTest", 0, stamps[-1] + 1) == 10
    upper = store.get_offset_in_queue_by_time("TopicTest", 0, stamps[4] + 1, BoundaryType.UPPER)
    assert upper == 4
    assert store.get_commit_log_offset_in_queue("TopicTest", 0, 0) == 0
    assert store.get_offset_in_queue_by_time("Nope", 0, 5) == 0
    store.close()


# ---------------------------------------------------------------------- lifecycle and recovery


def test_second_open_is_refused(store: MessageStore) -> None:
    with pytest.raises(StoreLockedError):
        MessageStore.open(store.config)


def test_reopen_after_clean_close(tmp_path: Path) -> None:
    config = small_config(tmp_path)
    with MessageStore.open(config, clock_ms=FakeClock()) as store:
        for i in range(30):
            store.put_message(message(body=os.urandom(2500), queue_id=i % 3, keys=f"k{i}"))
        end = store.max_phy_offset
    assert not AbortMarker.was_present(tmp_path)
    with MessageStore.open(config, clock_ms=FakeClock()) as store:
        assert not store.recovery.abnormal
        assert store.recovery.redispatched == 0
        assert store.max_phy_offset == end
        assert [store.get_max_offset_in_queue("TopicTest", q) for q in range(3)] == [10, 10, 10]
        assert store.put_message(message(queue_id=1)).queue_offset == 10
        assert len(store.query_message("TopicTest", "k7", max_num=3).messages) == 1


def _crash_copy(source: Path, target: Path) -> None:
    """What a killed process leaves behind: the files as they are, and ``abort``."""
    shutil.copytree(source, target)
    (target / "lock").unlink(missing_ok=True)
    AbortMarker.create(target)


def test_torn_tail_after_a_crash_is_cut_and_queues_follow(tmp_path: Path) -> None:
    config = small_config(tmp_path / "a")
    with MessageStore.open(config, clock_ms=FakeClock()) as store:
        results = [store.put_message(message(keys=f"k{i}")) for i in range(20)]
    crashed = tmp_path / "b"
    _crash_copy(tmp_path / "a", crashed)
    segment = crashed / "commitlog" / "00000000000000000000"
    last = results[-1]
    with segment.open("r+b") as f:  # the last record half written, its queue unit present
        f.seek(last.phy_offset + last.wrote_bytes // 2)
        f.write(bytes(last.wrote_bytes))
    with MessageStore.open(small_config(crashed), clock_ms=FakeClock()) as store:
        info = store.recovery
        assert info.abnormal
        assert info.max_offset == last.phy_offset
        assert info.consume_queue_units_dropped == 1
        assert store.get_max_offset_in_queue("TopicTest", 0) == 19
        assert store.query_message("TopicTest", "k19", max_num=1).messages == []
        assert len(store.query_message("TopicTest", "k18", max_num=1).messages) == 1
        again = store.put_message(message(keys="k19"))
        assert (again.phy_offset, again.queue_offset) == (last.phy_offset, 19)


@pytest.mark.parametrize("abort", [True, False], ids=["crash", "clean"])
def test_lost_consume_queues_are_rebuilt(tmp_path: Path, abort: bool) -> None:
    config = small_config(tmp_path)
    with MessageStore.open(config, clock_ms=FakeClock()) as store:
        for i in range(50):
            store.put_message(message(body=os.urandom(2000), queue_id=i % 2, tags=f"T{i % 4}"))
    shutil.rmtree(tmp_path / "consumequeue")
    shutil.rmtree(tmp_path / "index", ignore_errors=True)
    if abort:
        AbortMarker.create(tmp_path)
    with MessageStore.open(config, clock_ms=FakeClock()) as store:
        assert store.recovery.redispatched == 50
        assert store.get_max_offset_in_queue("TopicTest", 1) == 25
        got = store.get_messages("TopicTest", 1, 0, tags_codes={tags_code("T1")})
        assert len(got.messages) == 13


# ---------------------------------------------------------------------- flushing


def test_sync_flush_acknowledges_only_durable_writes(tmp_path: Path) -> None:
    config = small_config(tmp_path, flush_disk_type=FlushDiskType.SYNC_FLUSH)
    with MessageStore.open(config) as store:
        errors: list[BaseException] = []

        def writer(n: int) -> None:
            try:
                for i in range(50):
                    result = store.put_message(message(body=f"{n}-{i}".encode(), queue_id=n % 4))
                    assert store.flushed_offset >= result.end_offset
            except BaseException as exc:  # noqa: BLE001 - reported by the assert below
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        stats = store.statistics()
        assert stats.put_messages == 800
        # Group commit: far fewer fsyncs than acknowledged writes.
        assert 0 < stats.flush.flushes < 800


def test_async_flush_runs_in_the_background(tmp_path: Path) -> None:
    with MessageStore.open(small_config(tmp_path)) as store:
        result = store.put_message(message())
        assert store.flush_future(result.end_offset).result(timeout=5) >= result.end_offset


def test_an_event_loop_awaits_durability_without_blocking(tmp_path: Path) -> None:
    config = small_config(tmp_path, flush_disk_type=FlushDiskType.SYNC_FLUSH)

    async def main(store: MessageStore) -> int:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        async with asyncio.timeout(10):
            for _ in range(20):
                result = store.append_messages([message()])
                flushed = await asyncio.wrap_future(store.flush_future(result.end_offset))
                assert flushed >= result.end_offset
        stop.set()
        await task
        return ticks

    with MessageStore.open(config) as store:
        assert asyncio.run(main(store)) > 20


def test_flush_listener_is_called_once_per_flush(tmp_path: Path) -> None:
    with MessageStore.open(small_config(tmp_path)) as store:
        seen: list[int] = []
        done = threading.Event()

        def listener(offset: int) -> None:
            seen.append(offset)
            if offset >= end:
                done.set()

        end = store.append_messages([message() for _ in range(5)]).end_offset
        store.add_flush_listener(listener)
        assert done.wait(5)
        assert seen[-1] >= end


def test_checkpoint_records_flushed_times(tmp_path: Path) -> None:
    clock = FakeClock()
    with MessageStore.open(small_config(tmp_path), clock_ms=clock) as store:
        last = store.put_message(message(keys="k")).store_timestamp
        store.flush()
        assert store.checkpoint.physic_msg_timestamp == last
        assert store.checkpoint.logics_msg_timestamp == last
        assert store.checkpoint.index_msg_timestamp == last


# ---------------------------------------------------------------------- retention


def test_retention_deletes_expired_segments_and_follows_in_queues(tmp_path: Path) -> None:
    clock = FakeClock()
    config = small_config(tmp_path, delete_when="04")
    store = MessageStore.open(config, clock_ms=clock, start_services=False)
    try:
        for i in range(100):
            store.put_message(message(body=os.urandom(3000), keys=f"k{i}"))
        segments = list(store.commit_log.segments)
        assert len(segments) >= 5
        clock.now = int(time.mktime((2026, 11, 21, 4, 30, 0, 0, 0, -1)) * 1000)
        report = store.run_retention()
        assert report.deleted_segments == []  # nothing older than 72 h yet
        old = (clock.now - 73 * 3_600_000) / 1000
        for segment in segments[:2]:
            os.utime(segment.path, (old, old))
        os.utime(segments[-1].path, (old, old))  # the segment being written stays anyway
        clock.now = int(time.mktime((2026, 11, 21, 12, 0, 0, 0, 0, -1)) * 1000)
        assert store.run_retention().deleted_segments == []  # not deleteWhen
        report = store.run_retention(manual=True)
        assert report.deleted_segments == [s.path for s in segments[:2]]
        assert store.min_phy_offset == segments[2].file_from_offset
        low = store.get_min_offset_in_queue("TopicTest", 0)
        assert low > 0
        unit = store._queues[("TopicTest", 0)].get(low)
        assert unit is not None
        assert unit.commit_log_offset >= store.min_phy_offset
        too_small = store.get_messages("TopicTest", 0, 0)
        assert (too_small.status, too_small.next_begin_offset) == (
            GetMessageStatus.OFFSET_TOO_SMALL,
            low,
        )
        assert store.get_messages("TopicTest", 0, low).status is GetMessageStatus.FOUND
        assert store.query_message("TopicTest", "k0", max_num=1).messages == []
    finally:
        store.close()


def test_retention_at_delete_when_hour(tmp_path: Path) -> None:
    clock = FakeClock()
    store = MessageStore.open(small_config(tmp_path), clock_ms=clock, start_services=False)
    try:
        for _ in range(50):
            store.put_message(message(body=os.urandom(3000)))
        first = store.commit_log.segments[0]
        clock.now = int(time.mktime((2026, 11, 21, 4, 5, 0, 0, 0, -1)) * 1000)
        old = (clock.now - 80 * 3_600_000) / 1000
        os.utime(first.path, (old, old))
        assert store.run_retention().deleted_segments == [first.path]
    finally:
        store.close()


def test_disk_full_refuses_writes_and_resumes(tmp_path: Path) -> None:
    usage = {"ratio": 0.5}
    store = MessageStore.open(
        small_config(tmp_path), disk_used_ratio=lambda _: usage["ratio"], start_services=False
    )
    try:
        store.put_message(message())
        usage["ratio"] = 0.95
        report = store.run_retention()
        assert report.writes_refused
        with pytest.raises(DiskFullError, match=r"95\.0% full, past the 90% limit"):
            store.put_message(message())
        assert store.get_messages("TopicTest", 0, 0).status is GetMessageStatus.FOUND
        usage["ratio"] = 0.6
        assert not store.run_retention().writes_refused
        assert store.put_message(message()).queue_offset == 1
    finally:
        store.close()


def test_unexpired_segments_survive_a_full_disk_by_default(tmp_path: Path) -> None:
    store = MessageStore.open(
        small_config(tmp_path), disk_used_ratio=lambda _: 0.88, start_services=False
    )
    try:
        for _ in range(50):
            store.put_message(message(body=os.urandom(3000)))
        assert store.run_retention().deleted_segments == []
    finally:
        store.close()


# ---------------------------------------------------------------------- replication


@pytest.mark.parametrize("chunk", [1000, 4096, 70_000])
def test_replication_hooks_copy_a_store(tmp_path: Path, chunk: int) -> None:
    with (
        MessageStore.open(small_config(tmp_path / "master"), clock_ms=FakeClock()) as master,
        MessageStore.open(small_config(tmp_path / "slave"), clock_ms=FakeClock()) as slave,
    ):
        arrivals: list[tuple[str, int, int, int]] = []
        slave.add_arrival_listener(lambda *a: arrivals.append(a))
        for i in range(60):
            master.put_message(message(body=os.urandom(2000), queue_id=i % 2, keys=f"k{i}"))
        offset = 0
        while (data := master.get_commit_log_data(offset)) is not None:
            piece = data[:chunk]
            offset = slave.append_to_commit_log(offset, piece)
            if len(piece) == len(data) and offset % master.config.mapped_file_size_commit_log:
                continue
        assert slave.max_phy_offset == master.max_phy_offset
        assert len(arrivals) == 60
        for queue_id in (0, 1):
            ours = master.get_messages("TopicTest", queue_id, 0, max_count=32)
            theirs = slave.get_messages("TopicTest", queue_id, 0, max_count=32)
            assert [bytes(v) for v in ours.messages] == [bytes(v) for v in theirs.messages]
        assert len(slave.query_message("TopicTest", "k33", max_num=2).messages) == 1


# ---------------------------------------------------------------------- the golden store


def _golden_expected() -> dict[str, object]:
    data: dict[str, object] = json.loads((GOLDEN / "expected.json").read_text())
    return data


def _golden_config(root: Path) -> StoreConfig:
    sizes = json.loads((GOLDEN / "store.json").read_text())
    return StoreConfig(
        store_path_root_dir=root,
        mapped_file_size_commit_log=sizes["mappedFileSizeCommitLog"],
        mapped_file_size_consume_queue=sizes["mappedFileSizeConsumeQueue"],
        max_hash_slot_num=sizes["maxHashSlotNum"],
        max_index_num=sizes["maxIndexNum"],
    )


@pytest.mark.parametrize("variant", ["clean", "torn"])
def test_golden_store_reads_exactly(tmp_path: Path, variant: str) -> None:
    root = tmp_path / variant
    shutil.copytree(GOLDEN / variant, root)
    (root / "lock").unlink()
    expected = _golden_expected()
    messages: list[dict[str, object]] = expected["messages"]  # type: ignore[assignment]
    with MessageStore.open(_golden_config(root), start_services=False) as store:
        assert store.recovery.abnormal is (variant == "torn")
        assert store.max_phy_offset == 73271
        if variant == "torn":
            assert store.recovery.truncated_bytes == 575
        queues: dict[str, dict[str, int]] = expected["queues"]  # type: ignore[assignment]
        for name, facts in queues.items():
            topic, queue_id = name.split("/")
            assert store.get_min_offset_in_queue(topic, int(queue_id)) == facts["minOffset"]
            assert store.get_max_offset_in_queue(topic, int(queue_id)) == facts["maxOffset"]
        for want in messages:
            topic, queue_id = str(want["topic"]), int(want["queueId"])  # type: ignore[call-overload]
            got = store.get_messages(topic, queue_id, int(want["queueOffset"]), max_count=1)  # type: ignore[call-overload]
            assert got.status is GetMessageStatus.FOUND
            stored = decoded(got.messages[0])
            assert stored.commit_log_offset == want["physicalOffset"]
            assert stored.store_timestamp == want["storeTimestamp"]
            assert stored.body == base64.b64decode(str(want["bodyBase64"]))
            assert stored.properties == want["properties"]
            assert stored.offset_msg_id == want["offsetMsgId"]
            unique = want["uniqKey"]
            if unique:
                found = store.query_message(topic, str(unique), max_num=4)
                assert found.phy_offsets == [want["physicalOffset"]]
        # A store that was read can be written: the next offsets follow on.
        result = store.put_message(message())
        assert result.phy_offset == 73271
        assert result.queue_offset == 20


def test_a_failed_batch_leaves_queue_offsets_as_they_were(tmp_path: Path) -> None:
    # Segments of 64 KiB; a batch that needs a new segment fails to create it (the
    # directory is read-only to the store for a moment), and nothing of it is kept.
    with MessageStore.open(small_config(tmp_path), clock_ms=FakeClock()) as store:
        store.put_message(message(body=os.urandom(60_000)))
        real_new_segment = store.commit_log._new_segment

        def failing(start: int) -> object:
            raise OSError(5, "I/O error")

        store.commit_log._new_segment = failing  # type: ignore[method-assign,assignment]
        with pytest.raises(StoreError, match="I/O error"):
            store.put_messages([message(body=os.urandom(3000)) for _ in range(3)])
        store.commit_log._new_segment = real_new_segment  # type: ignore[method-assign]
        result = store.put_messages([message() for _ in range(3)])
        assert result.queue_offset == 1
        assert store.get_max_offset_in_queue("TopicTest", 0) == 4
