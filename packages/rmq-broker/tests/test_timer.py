"""5.x timer messages (TIMER_DELIVER_MS / TIMER_DELAY_SEC / TIMER_DELAY_MS): the send-path
rewrite, refusals with Java's codes and remarks, delivery time and properties through the
raw protocol, and progress that survives a broker restart."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rmq_broker import Broker, BrokerSettings
from rmq_broker.timer import TIMER_TOPIC, TimerRefusal, effective_timer_precision, route_timer
from rmq_protocol.codec import properties as props
from rmq_protocol.codec.codes import ResponseCode
from rmq_protocol.codec.headers import PullMessageResponseHeader
from rmq_protocol.codec.message import MessageExt, SysFlag, decode_message, decode_messages
from rmq_protocol.transport import RemotingClient

if TYPE_CHECKING:
    from conftest import Builders

NOW = 1_700_000_000_300  # ms, not a multiple of 1000
MAX_SEC = 3 * 24 * 3600
ILLEGAL = (
    "timer message illegal, the delay time should not be bigger than the max delay {}ms; or "
    "if set del msg, the delay time should be bigger than the current time"
)


def route(properties: dict[str, str], *, sys_flag: int = 0, **changes: object) -> object:
    options: dict[str, object] = {
        "now_ms": NOW,
        "wheel_enable": True,
        "max_delay_sec": MAX_SEC,
        "precision_ms": 1000,
    }
    options.update(changes)
    return route_timer(properties, "Real", 3, sys_flag, **options)  # type: ignore[arg-type]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# ---------------------------------------------------------------------- route_timer


@pytest.mark.parametrize(
    ("key", "value", "out"),
    [
        (props.TIMER_DELIVER_MS, str(NOW + 2000), NOW + 2000 - 300),  # floored
        (props.TIMER_DELIVER_MS, "1700000003000", 1_700_000_002_000),  # exact: one step lower
        (props.TIMER_DELAY_SEC, "5", NOW + 5000 - 300),
        (props.TIMER_DELAY_MS, "1500", NOW + 1500 - 800),
    ],
)
def test_route_timer_rewrites_to_the_timer_topic(key: str, value: str, out: int) -> None:
    properties = {key: value, props.TAGS: "a"}
    assert route(properties) == (TIMER_TOPIC, 0)
    assert properties == {
        key: value,
        props.TAGS: "a",
        props.TIMER_OUT_MS: str(out),
        props.REAL_TOPIC: "Real",
        props.REAL_QUEUE_ID: "3",
    }


def test_route_timer_reads_sec_then_ms_then_deliver() -> None:
    properties = {
        props.TIMER_DELIVER_MS: str(NOW + 60_000),
        props.TIMER_DELAY_MS: "30000",
        props.TIMER_DELAY_SEC: "10",
    }
    route(properties)
    assert properties[props.TIMER_OUT_MS] == str((NOW + 10_000) // 1000 * 1000)
    properties = {props.TIMER_DELIVER_MS: str(NOW + 60_000), props.TIMER_DELAY_MS: "30000"}
    route(properties)
    assert properties[props.TIMER_OUT_MS] == str((NOW + 30_000) // 1000 * 1000)


def test_route_timer_precision_snaps_as_java() -> None:
    assert [effective_timer_precision(v) for v in (1, 100, 150, 200, 499, 500, 999, 5000)] == [
        100, 100, 100, 200, 200, 500, 500, 1000,
    ]  # fmt: skip
    properties = {props.TIMER_DELIVER_MS: str(NOW + 1234)}
    route(properties, precision_ms=150)
    assert properties[props.TIMER_OUT_MS] == str(NOW + 1200)


def test_route_timer_leaves_other_messages() -> None:
    assert route({props.TAGS: "a"}) == ("Real", 3)
    past = {props.TIMER_DELIVER_MS: str(NOW - 1)}
    assert route(past) == ("Real", 3)
    assert past == {props.TIMER_DELIVER_MS: str(NOW - 1)}
    assert route({props.TIMER_DELAY_SEC: "0"}) == ("Real", 3)
    delivered = {props.TIMER_DELIVER_MS: str(NOW + 5000), props.TIMER_OUT_MS: "1"}
    assert route(delivered) == ("Real", 3)
    half = {props.TIMER_DELAY_SEC: "5"}
    assert route(half, sys_flag=int(SysFlag.TRANSACTION_PREPARED_TYPE)) == ("Real", 3)
    committed = {props.TIMER_DELAY_SEC: "5"}
    assert route(committed, sys_flag=int(SysFlag.TRANSACTION_COMMIT_TYPE)) == (TIMER_TOPIC, 0)


def test_route_timer_a_delay_level_wins_and_drops_the_timer_properties() -> None:
    properties = {
        props.DELAY_TIME_LEVEL: "2",
        props.TIMER_DELAY_SEC: "5",
        props.TIMER_DELAY_MS: "5",
        props.TIMER_DELIVER_MS: "5",
    }
    assert route(properties) == ("Real", 3)
    assert properties == {props.DELAY_TIME_LEVEL: "2"}


@pytest.mark.parametrize(
    "properties",
    [
        {props.TIMER_DELAY_SEC: str(MAX_SEC + 1)},
        {props.TIMER_DELAY_MS: str(MAX_SEC * 1000 + 1)},
        {props.TIMER_DELIVER_MS: str(NOW + MAX_SEC * 1000 + 1)},
        {props.TIMER_DELIVER_MS: "soon"},
        {props.TIMER_DELAY_SEC: " 5"},
        {props.TIMER_DELAY_MS: "1.5"},
        {props.TIMER_DELIVER_MS: "99999999999999999999"},
        {props.TIMER_DELIVER_MS: str(NOW), props.TIMER_DEL_UNIQKEY: "k"},
    ],
)
def test_route_timer_refusals_are_javas(properties: dict[str, str]) -> None:
    before = dict(properties)
    assert route(properties) == TimerRefusal(
        ResponseCode.MESSAGE_ILLEGAL, ILLEGAL.format(MAX_SEC * 1000)
    )
    assert properties == before


def test_route_timer_at_most_the_max_delay_is_accepted() -> None:
    assert route({props.TIMER_DELAY_SEC: str(MAX_SEC)}) == (TIMER_TOPIC, 0)


def test_route_timer_wheel_disabled() -> None:
    assert route({props.TIMER_DELAY_SEC: "5"}, wheel_enable=False) == TimerRefusal(
        ResponseCode.SYSTEM_ERROR,
        "accurate timer message is not enabled, timerWheelEnable is false",
    )


# ---------------------------------------------------------------------- end to end


def topic_messages(broker: Broker, topic: str, queue_id: int = 0) -> list[MessageExt]:
    result = broker.controller.store.get_messages(topic, queue_id, 0, max_count=1000)
    out = [decode_message(view)[0] for view in result.messages]
    for view in result.messages:
        view.release()
    return out


async def wait_count(broker: Broker, topic: str, count: int, *, timeout: float = 15) -> None:
    arrived = asyncio.Event()

    def on_arrival(arrived_topic: str, queue: int, offset: int, tags_code: int) -> None:
        if arrived_topic == topic:
            arrived.set()

    broker.controller.store.add_arrival_listener(on_arrival)
    async with asyncio.timeout(timeout):
        while len(topic_messages(broker, topic)) < count:
            await arrived.wait()
            arrived.clear()


def with_broker(settings: BrokerSettings, **changes: object) -> BrokerSettings:
    broker = dataclasses.replace(settings.broker, **changes)  # type: ignore[arg-type]
    return dataclasses.replace(settings, broker=broker)


async def test_timer_message_arrives_at_its_time_through_a_long_poll(
    broker: Broker, client: RemotingClient, build: Builders
) -> None:
    deliver_ms = now_ms() + 2000
    request = build.send(
        "TopicTimer",
        b"at two seconds",
        queue_id=1,
        tags="TagT",
        properties={props.TIMER_DELIVER_MS: str(deliver_ms), props.UNIQ_KEY: "7F0000010001"},
    )
    response = await client.request(broker.address, request, timeout=5)
    assert response.code == ResponseCode.SUCCESS, response.remark
    assert broker.controller.store.get_max_offset_in_queue("TopicTimer", 1) == 0
    assert broker.controller.store.get_max_offset_in_queue(TIMER_TOPIC, 0) == 1
    pull = build.pull("TopicTimer", 1, 0, sys_flag=0x6, suspend_ms=15_000)
    answer = await client.request(broker.address, pull, timeout=20)
    arrived_ms = now_ms()
    assert answer.code == ResponseCode.SUCCESS, (answer.code, answer.remark)
    (message,) = decode_messages(answer.body)
    # never early; Java's wheel delivers at the next precision boundary (<= 1 s later)
    assert arrived_ms >= deliver_ms
    assert message.store_timestamp >= deliver_ms
    assert message.store_timestamp - deliver_ms < 1000 + 1500  # precision + margin
    assert message.body == b"at two seconds"
    assert (message.topic, message.queue_id, message.queue_offset) == ("TopicTimer", 1, 0)
    got = message.properties
    assert got[props.TAGS] == "TagT"
    assert got[props.TIMER_DELIVER_MS] == str(deliver_ms)
    out_ms = int(got[props.TIMER_OUT_MS])
    assert out_ms % 1000 == 0
    assert deliver_ms - 1000 <= out_ms < deliver_ms
    assert int(got[props.TIMER_ENQUEUE_MS]) < deliver_ms
    assert deliver_ms <= int(got[props.TIMER_DEQUEUE_MS]) <= message.store_timestamp
    assert got[props.WAIT_STORE_MSG_OK] == "false"
    assert props.REAL_TOPIC not in got
    assert props.REAL_QUEUE_ID not in got
    assert props.TIMER_ROLL_TIMES not in got
    assert got[props.UNIQ_KEY] == "7F0000010001"
    header = answer.decode_header(PullMessageResponseHeader)
    assert header.next_begin_offset == 1
    stats = broker.schedule.timer.statistics() if broker.schedule.timer else None
    assert stats is not None
    assert (stats.delivered, stats.waiting, stats.commit_offset) == (1, 0, 1)


async def test_timer_delay_sec_and_ms(
    broker: Broker, client: RemotingClient, build: Builders
) -> None:
    sent_ms = now_ms()
    for key, value in ((props.TIMER_DELAY_SEC, "1"), (props.TIMER_DELAY_MS, "1500")):
        request = build.send("TopicTimerRel", key.encode(), properties={key: value})
        response = await client.request(broker.address, request, timeout=5)
        assert response.code == ResponseCode.SUCCESS, response.remark
    await wait_count(broker, "TopicTimerRel", 2)
    first, second = topic_messages(broker, "TopicTimerRel")
    assert first.body == props.TIMER_DELAY_SEC.encode()
    assert first.store_timestamp >= sent_ms + 1000
    assert second.store_timestamp >= sent_ms + 1500
    assert second.store_timestamp - sent_ms < 1500 + 1000 + 1500


async def test_a_time_not_in_the_future_is_stored_at_once(
    broker: Broker, client: RemotingClient, build: Builders
) -> None:
    past = str(now_ms() - 10)
    request = build.send("TopicTimerPast", b"now", properties={props.TIMER_DELIVER_MS: past})
    response = await client.request(broker.address, request, timeout=5)
    assert response.code == ResponseCode.SUCCESS
    (message,) = topic_messages(broker, "TopicTimerPast")
    assert message.properties[props.TIMER_DELIVER_MS] == past
    assert props.TIMER_OUT_MS not in message.properties


async def test_refused_above_timer_max_delay_sec(
    settings: BrokerSettings, client: RemotingClient, build: Builders
) -> None:
    async with Broker(with_broker(settings, timer_max_delay_sec=60)) as broker:
        too_far = build.send("TopicTimerMax", properties={props.TIMER_DELAY_SEC: "61"})
        response = await client.request(broker.address, too_far, timeout=5)
        assert response.code == ResponseCode.MESSAGE_ILLEGAL
        assert response.remark == ILLEGAL.format(60_000)
        garbage = build.send("TopicTimerMax", properties={props.TIMER_DELIVER_MS: "tomorrow"})
        response = await client.request(broker.address, garbage, timeout=5)
        assert response.code == ResponseCode.MESSAGE_ILLEGAL
        assert response.remark == ILLEGAL.format(60_000)
        assert broker.controller.store.get_max_offset_in_queue(TIMER_TOPIC, 0) == 0
        ok = build.send("TopicTimerMax", properties={props.TIMER_DELAY_SEC: "60"})
        assert (await client.request(broker.address, ok, timeout=5)).code == ResponseCode.SUCCESS
        assert broker.controller.store.get_max_offset_in_queue(TIMER_TOPIC, 0) == 1


async def test_default_max_is_three_days(
    broker: Broker, client: RemotingClient, build: Builders
) -> None:
    request = build.send("TopicTimerMax", properties={props.TIMER_DELAY_SEC: str(MAX_SEC + 1)})
    response = await client.request(broker.address, request, timeout=5)
    assert response.code == ResponseCode.MESSAGE_ILLEGAL
    assert response.remark == ILLEGAL.format(259_200_000)


async def test_wheel_disabled_refuses_and_has_no_timer_topic(
    settings: BrokerSettings, client: RemotingClient, build: Builders
) -> None:
    async with Broker(with_broker(settings, timer_wheel_enable=False)) as broker:
        assert broker.controller.topics.select(TIMER_TOPIC) is None
        request = build.send("TopicTimerOff", properties={props.TIMER_DELAY_SEC: "1"})
        response = await client.request(broker.address, request, timeout=5)
        assert response.code == ResponseCode.SYSTEM_ERROR
        assert response.remark == (
            "accurate timer message is not enabled, timerWheelEnable is false"
        )
        plain = build.send("TopicTimerOff")
        assert (await client.request(broker.address, plain, timeout=5)).code == 0


async def test_timer_topic_is_a_system_topic(broker: Broker) -> None:
    config = broker.controller.topics.select(TIMER_TOPIC)
    assert config is not None
    assert (config.read_queue_nums, config.write_queue_nums) == (1, 1)
    assert broker.controller.topics.is_system_topic(TIMER_TOPIC)


async def test_timer_progress_survives_a_restart(
    settings: BrokerSettings, client: RemotingClient, build: Builders
) -> None:
    path = Path(settings.store.store_path_root_dir) / "config" / "timerOffset.json"
    async with Broker(settings) as broker:
        first = build.send("TopicTimerRe", b"a", properties={props.TIMER_DELAY_MS: "500"})
        assert (await client.request(broker.address, first, timeout=5)).code == 0
        await wait_count(broker, "TopicTimerRe", 1)
        later_ms = now_ms() + 3000
        second = build.send(
            "TopicTimerRe", b"b", properties={props.TIMER_DELIVER_MS: str(later_ms)}
        )
        assert (await client.request(broker.address, second, timeout=5)).code == 0
        assert read_timer_topic(broker) == 1
    # stopped before "b" was due: "a" (offset 0) is done, "b" (offset 1) is not
    saved = json.loads(path.read_text())
    assert (saved["commitOffset"], saved["enqueueOffset"]) == (1, 2)
    # due at the precision boundary at or after later_ms; delivered up to just before it
    assert saved["deliveredUpToMs"] == (later_ms - 1) // 1000 * 1000 + 999
    async with Broker(settings) as broker:
        await wait_count(broker, "TopicTimerRe", 2)
        a, b = topic_messages(broker, "TopicTimerRe")
        assert (a.body, b.body) == (b"a", b"b")
        assert b.store_timestamp >= later_ms
        # "a" was skipped when the timer topic was read again (it would have been due
        # at once, so delivered before "b")
        timer = broker.schedule.timer
        assert timer is not None
        assert timer.statistics().delivered == 1
    saved = json.loads(path.read_text())
    assert (saved["commitOffset"], saved["enqueueOffset"]) == (2, 2)


def read_timer_topic(broker: Broker) -> int:
    """Let the timer read what arrived (the delivery loop would, a moment later)."""
    timer = broker.schedule.timer
    assert timer is not None
    timer.deliver_due()
    return timer.statistics().waiting


async def test_restart_after_a_crash_delivers_at_least_once(
    settings: BrokerSettings, client: RemotingClient, build: Builders
) -> None:
    path = Path(settings.store.store_path_root_dir) / "config" / "timerOffset.json"
    async with Broker(settings) as broker:
        request = build.send("TopicTimerCrash", b"x", properties={props.TIMER_DELAY_MS: "300"})
        assert (await client.request(broker.address, request, timeout=5)).code == 0
        await wait_count(broker, "TopicTimerCrash", 1)
    path.unlink()  # as if the broker died before it wrote its progress
    path.with_name(path.name + ".bak").unlink(missing_ok=True)
    async with Broker(settings) as broker:
        await wait_count(broker, "TopicTimerCrash", 2)
        assert [m.body for m in topic_messages(broker, "TopicTimerCrash")] == [b"x", b"x"]


async def test_bad_progress_file_is_a_typed_error(settings: BrokerSettings, tmp_path: Path) -> None:
    from rmq_broker.errors import MetadataFileError

    path = Path(settings.store.store_path_root_dir) / "config" / "timerOffset.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"commitOffset": 5, "enqueueOffset": 2, "deliveredUpToMs": 0}')
    with pytest.raises(MetadataFileError, match=r"commitOffset 5 is not in 0\.\.enqueueOffset 2"):
        async with Broker(settings):
            pass
