"""Delay levels: the send-path rewrite, delivery with an injected clock, delayOffset.json."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rmq_broker import Broker, BrokerSettings
from rmq_broker.schedule import (
    ScheduleService,
    lateness_percentile,
    route_delayed,
    schedule_if_delayed,
)
from rmq_protocol.codec import properties as props
from rmq_protocol.codec.message import HostPort, MessageExt, SysFlag, decode_message
from rmq_protocol.transport import RemotingClient
from rmq_store import MessageStore, StoreConfig

if TYPE_CHECKING:
    from conftest import Builders

SCHEDULE = "SCHEDULE_TOPIC_XXXX"
LEVELS = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"


# ---------------------------------------------------------------------- route_delayed


def test_route_delayed_rewrites_to_the_level_queue() -> None:
    config = StoreConfig()
    properties = {props.DELAY_TIME_LEVEL: "3", props.TAGS: "a"}
    assert route_delayed(properties, "TopicTest", 5, 0, config) == (SCHEDULE, 2)
    assert properties[props.REAL_TOPIC] == "TopicTest"
    assert properties[props.REAL_QUEUE_ID] == "5"
    assert properties[props.DELAY_TIME_LEVEL] == "3"


@pytest.mark.parametrize("level", [None, "0", "-1", "x", ""])
def test_route_delayed_leaves_undelayed_messages(level: str | None) -> None:
    properties = {} if level is None else {props.DELAY_TIME_LEVEL: level}
    before = dict(properties)
    assert route_delayed(properties, "T", 1, 0, StoreConfig()) == ("T", 1)
    assert properties == before


def test_route_delayed_clamps_and_skips_half_messages() -> None:
    properties = {props.DELAY_TIME_LEVEL: "99"}
    assert route_delayed(properties, "T", 0, 0, StoreConfig()) == (SCHEDULE, 17)
    assert properties[props.DELAY_TIME_LEVEL] == "18"
    short = StoreConfig(message_delay_level="1s 2s")
    assert route_delayed({props.DELAY_TIME_LEVEL: "7"}, "T", 0, 0, short) == (SCHEDULE, 1)
    prepared = {props.DELAY_TIME_LEVEL: "2"}
    assert route_delayed(prepared, "T", 0, int(SysFlag.TRANSACTION_PREPARED_TYPE), short) == (
        "T",
        0,
    )
    committed = {props.DELAY_TIME_LEVEL: "2"}
    assert route_delayed(committed, "T", 0, int(SysFlag.TRANSACTION_COMMIT_TYPE), short) == (
        SCHEDULE,
        1,
    )


# ---------------------------------------------------------------------- the service


class FakeClock:
    """Wall-clock ms that only moves when told (``sync`` catches up with real time, so
    that store timestamps are not in its future)."""

    def __init__(self) -> None:
        self.now = time.time_ns() // 1_000_000

    def sync(self) -> None:
        self.now = time.time_ns() // 1_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MessageStore]:
    config = StoreConfig(
        store_path_root_dir=tmp_path / "store",
        mapped_file_size_commit_log=1024 * 1024,
        mapped_file_size_consume_queue=20 * 1000,
        message_delay_level=LEVELS,
    )
    with MessageStore.open(config) as opened:
        yield opened


def schedule_message(store: MessageStore, body: bytes, level: int, *, queue_id: int = 1) -> None:
    properties = {props.DELAY_TIME_LEVEL: str(level), props.TAGS: "T1", props.KEYS: "k"}
    topic, queue = route_delayed(properties, "Real", queue_id, 0, store.config)
    store.put_message(
        MessageExt(
            topic=topic,
            queue_id=queue,
            body=body,
            born_timestamp=123,
            born_host=HostPort("10.0.0.1", 5555),
            store_host=HostPort("127.0.0.1", 10911),
            reconsume_times=2,
            properties=properties,
        )
    )


def real(store: MessageStore, queue_id: int = 1) -> list[MessageExt]:
    result = store.get_messages("Real", queue_id, 0, max_count=1000)
    out = [decode_message(view)[0] for view in result.messages]
    for view in result.messages:
        view.release()
    return out


def service(store: MessageStore, path: Path, clock: FakeClock) -> ScheduleService:
    return ScheduleService(store, path, delay_table=store.config.delay_level_table, clock_ms=clock)


async def test_delivers_when_due_with_an_injected_clock(
    store: MessageStore, tmp_path: Path
) -> None:
    clock = FakeClock()
    svc = service(store, tmp_path / "delayOffset.json", clock)
    schedule_message(store, b"two-hours", 18)
    schedule_message(store, b"five-seconds", 2)
    clock.sync()
    due = svc.deliver_due()
    assert real(store) == []
    assert due is not None
    assert 4000 <= due - clock.now <= 5000
    clock.now += 4_000
    assert svc.deliver_due() is not None
    assert real(store) == []
    clock.now += 1_100
    svc.deliver_due()
    (delivered,) = real(store)
    assert delivered.body == b"five-seconds"
    assert delivered.queue_id == 1
    assert props.DELAY_TIME_LEVEL not in delivered.properties
    assert delivered.properties[props.REAL_TOPIC] == "Real"  # kept, as Java does
    assert delivered.properties[props.TAGS] == "T1"
    assert delivered.properties[props.WAIT_STORE_MSG_OK] == "false"
    assert delivered.reconsume_times == 2
    assert delivered.born_timestamp == 123
    assert delivered.born_host == HostPort("10.0.0.1", 5555)
    assert svc.offset(2) == 1
    assert svc.offset(18) == 0
    clock.now += 2 * 3_600_000
    svc.deliver_due()
    assert [m.body for m in real(store)] == [b"five-seconds", b"two-hours"]
    stats = svc.statistics()
    assert stats.delivered == 2
    assert stats.offsets == {2: 1, 18: 1}
    assert all(late >= 0 for late in stats.lateness_ms)


async def test_offsets_persist_in_javas_format_and_resume(
    store: MessageStore, tmp_path: Path
) -> None:
    path = tmp_path / "config" / "delayOffset.json"
    clock = FakeClock()
    svc = service(store, path, clock)
    for i in range(3):
        schedule_message(store, f"m{i}".encode(), 1)
    clock.sync()
    clock.now += 1_500
    svc.deliver_due()
    svc.persist()
    data = json.loads(path.read_text())
    assert data["offsetTable"] == {"1": 3}
    assert set(data["dataVersion"]) == {"counter", "stateVersion", "timestamp"}
    # more scheduled, delivered, but the process "crashes" before the next write
    schedule_message(store, b"m3", 1)
    clock.sync()
    clock.now += 1_500
    svc.deliver_due()
    assert len(real(store)) == 4
    # restart: resumes from the file; m3 is delivered again (at least once), m0..m2 not
    again = service(store, path, clock)
    again.load()
    assert again.offset(1) == 3
    again.deliver_due()
    assert [m.body for m in real(store)] == [b"m0", b"m1", b"m2", b"m3", b"m3"]


async def test_unquoted_keys_and_bad_files(store: MessageStore, tmp_path: Path) -> None:
    path = tmp_path / "delayOffset.json"
    path.write_text('{"offsetTable":{1:7,3:2}}')  # fastjson writes integer keys unquoted
    svc = service(store, path, FakeClock())
    svc.load()
    assert (svc.offset(1), svc.offset(3), svc.offset(2)) == (7, 2, 0)
    path.write_text('{"offsetTable":{"x":1}}')
    with pytest.raises(Exception, match=r"offsetTable\['x'\] = 1 is not a level and offset"):
        service(store, path, FakeClock()).load()


async def test_a_clock_gone_back_delivers_at_once(store: MessageStore, tmp_path: Path) -> None:
    clock = FakeClock()
    svc = service(store, tmp_path / "d.json", clock)
    schedule_message(store, b"m", 3)  # 10 s
    clock.now -= 60_000  # due is further away than the level's delay: Java delivers now
    svc.deliver_due()
    assert len(real(store)) == 1


def test_lateness_percentile() -> None:
    assert lateness_percentile([], 0.5) == 0
    samples = list(range(100))
    assert lateness_percentile(samples, 0.5) == 50
    assert lateness_percentile(samples, 0.99) == 99


# ---------------------------------------------------------------------- in the broker


def fast_levels(settings: BrokerSettings, levels: str) -> BrokerSettings:
    store = dataclasses.replace(settings.store, message_delay_level=levels)
    broker = dataclasses.replace(settings.broker, flush_delay_offset_interval=200)
    return dataclasses.replace(settings, store=store, broker=broker)


def topic_messages(broker: Broker, topic: str, queue_id: int = 0) -> list[MessageExt]:
    result = broker.controller.store.get_messages(topic, queue_id, 0, max_count=1000)
    out = [decode_message(view)[0] for view in result.messages]
    for view in result.messages:
        view.release()
    return out


async def wait_count(broker: Broker, topic: str, count: int, *, timeout: float = 10) -> None:
    arrived = asyncio.Event()

    def on_arrival(arrived_topic: str, queue: int, offset: int, tags_code: int) -> None:
        if arrived_topic == topic:
            arrived.set()

    broker.controller.store.add_arrival_listener(on_arrival)
    async with asyncio.timeout(timeout):
        while len(topic_messages(broker, topic)) < count:
            await arrived.wait()
            arrived.clear()


async def test_send_with_delay_level_is_held_then_delivered(
    settings: BrokerSettings, client: RemotingClient, build: Builders
) -> None:
    async with Broker(fast_levels(settings, "1s 3s")) as broker:
        sent_at = time.monotonic()
        request = build.send("TopicDelay", b"later", properties={props.DELAY_TIME_LEVEL: "1"})
        response = await client.request(broker.address, request, timeout=5)
        assert response.code == 0, response.remark
        assert topic_messages(broker, "TopicDelay") == []
        assert len(topic_messages(broker, SCHEDULE, 0)) == 1
        await wait_count(broker, "TopicDelay", 1)
        assert time.monotonic() - sent_at >= 0.9
        (delivered,) = topic_messages(broker, "TopicDelay")
        assert delivered.body == b"later"
        assert props.DELAY_TIME_LEVEL not in delivered.properties


async def test_delay_offsets_survive_a_restart_without_loss(
    settings: BrokerSettings, client: RemotingClient, build: Builders
) -> None:
    fast = fast_levels(settings, "1s 2s")
    path = Path(settings.store.store_path_root_dir) / "config" / "delayOffset.json"
    async with Broker(fast) as broker:
        first = build.send("TopicDelay", b"a", properties={props.DELAY_TIME_LEVEL: "1"})
        assert (await client.request(broker.address, first, timeout=5)).code == 0
        await wait_count(broker, "TopicDelay", 1)
        second = build.send("TopicDelay", b"b", properties={props.DELAY_TIME_LEVEL: "2"})
        assert (await client.request(broker.address, second, timeout=5)).code == 0
    # stopped before "b" was due: the file says where each level stands (a level the
    # service has not read from yet may be absent, which means offset 0)
    table = json.loads(path.read_text())["offsetTable"]
    assert table["1"] == 1
    assert table.get("2", 0) == 0
    async with Broker(fast) as broker:
        await wait_count(broker, "TopicDelay", 2)
        assert [m.body for m in topic_messages(broker, "TopicDelay")] == [b"a", b"b"]
        assert broker.schedule.offset(1) == 1
        assert broker.schedule.offset(2) == 1
    assert json.loads(path.read_text())["offsetTable"] == {"1": 1, "2": 1}


def test_schedule_if_delayed_copies_only_delayed_messages() -> None:
    plain = MessageExt(topic="T", queue_id=3, properties={props.TAGS: "a"})
    assert schedule_if_delayed(plain, StoreConfig()) is plain
    delayed = MessageExt(topic="T", queue_id=3, body=b"b", properties={props.DELAY_TIME_LEVEL: "2"})
    moved = schedule_if_delayed(delayed, StoreConfig())
    assert (moved.topic, moved.queue_id, moved.body) == (SCHEDULE, 1, b"b")
    assert moved.properties[props.REAL_QUEUE_ID] == "3"
    assert props.REAL_TOPIC not in delayed.properties  # the original is left alone
