"""GET_BROKER_RUNTIME_INFO message totals and TPS figures, through the raw protocol
against a real broker (rmq_broker.stats, rmq_broker.processors.admin_stats)."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from rmq_broker import Broker, BrokerSettings
from rmq_broker.processors.admin_stats import Counters, StatsSampler, counter_reader
from rmq_protocol.codec.body import KVTable
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import PullMessageResponseHeader
from rmq_protocol.transport import RemotingClient

if TYPE_CHECKING:
    from conftest import Builders, Send

SCHEDULE_TOPIC = "SCHEDULE_TOPIC_XXXX"


async def runtime_info(client: RemotingClient, address: str) -> dict[str, str]:
    request = RemotingCommand.request(RequestCode.GET_BROKER_RUNTIME_INFO)
    response = await client.request(address, request, timeout=5)
    assert response.code == ResponseCode.SUCCESS
    return dict(KVTable.from_json(response.body).table)


async def pull(
    client: RemotingClient, broker: Broker, build: Builders, topic: str, queue_id: int, offset: int
) -> tuple[int, int]:
    """(response code, nextBeginOffset) of one pull."""
    response = await client.request(broker.address, build.pull(topic, queue_id, offset), timeout=5)
    header = response.decode_header(PullMessageResponseHeader)
    return response.code, header.next_begin_offset


def test_sampler_records_put_and_get_totals_at_midnight() -> None:
    values = {"put_user": 0, "get_user": 0, "transferred": 0}
    now = [0.0]
    day = [datetime.date(2024, 3, 1)]

    def read() -> Counters:
        return Counters(put=0, get_found=0, get_miss=0, **values)

    sampler = StatsSampler(read, monotonic=lambda: now[0], today=lambda: day[0])
    for _ in range(10):
        now[0] += 1.0
        values["transferred"] += 32
        sampler.sample()
    assert sampler.tps(lambda c: c.transferred) == "32.0  "
    values.update(put_user=100, get_user=40)
    sampler.sample()  # same day: nothing recorded
    assert (sampler.put_total_today_morning, sampler.get_total_today_morning) == (0, 0)
    day[0] = datetime.date(2024, 3, 2)
    sampler.sample()
    assert (sampler.put_total_today_morning, sampler.get_total_today_morning) == (100, 40)
    assert (sampler.put_total_yesterday_morning, sampler.get_total_yesterday_morning) == (0, 0)
    values.update(put_user=250, get_user=90)
    day[0] = datetime.date(2024, 3, 3)
    sampler.sample()
    assert (sampler.put_total_today_morning, sampler.get_total_today_morning) == (250, 90)
    assert (sampler.put_total_yesterday_morning, sampler.get_total_yesterday_morning) == (100, 40)


async def test_an_idle_broker_reports_java_defaults(broker: Broker, client: RemotingClient) -> None:
    table = await runtime_info(client, broker.address)
    for key in (
        "msgPutTotalTodayNow",
        "msgGetTotalTodayNow",
        "msgPutTotalTodayMorning",
        "msgPutTotalYesterdayMorning",
        "msgGetTotalTodayMorning",
        "msgGetTotalYesterdayMorning",
        "pageCacheLockTimeMills",
        "sendThreadPoolQueueSize",
        "pullThreadPoolQueueSize",
    ):
        assert table[key] == "0", key
    assert table["putMessageTimesTotal"] == "1"  # Java writes 1 while nothing was put
    assert table["putMessageAverageSize"] == "0.0"
    assert table["brokerActive"] == "true"
    # both spellings: 5.x tools read getTransferredTps, 4.x tools getTransferedTps
    assert table["getTransferredTps"] == table["getTransferedTps"]
    assert table["getTransferredTps"].count(" ") == 2


async def test_totals_move_with_sends_and_pulls(
    broker: Broker, client: RemotingClient, send: Send, build: Builders
) -> None:
    for _ in range(5):
        assert (await send("TopicTotals", queue_id=0)).code == ResponseCode.SUCCESS
    table = await runtime_info(client, broker.address)
    assert (table["msgPutTotalTodayNow"], table["msgGetTotalTodayNow"]) == ("5", "0")
    assert table["putMessageTimesTotal"] == "5"

    assert await pull(client, broker, build, "TopicTotals", 0, 0) == (ResponseCode.SUCCESS, 5)
    table = await runtime_info(client, broker.address)
    assert (table["msgPutTotalTodayNow"], table["msgGetTotalTodayNow"]) == ("5", "5")

    assert await pull(client, broker, build, "TopicTotals", 0, 2) == (ResponseCode.SUCCESS, 5)
    found_nothing = await pull(client, broker, build, "TopicTotals", 0, 5)
    assert found_nothing == (ResponseCode.PULL_NOT_FOUND, 5)
    table = await runtime_info(client, broker.address)
    assert table["msgGetTotalTodayNow"] == "8"  # 5 + 3; the empty pull adds nothing
    assert broker.stats.get_nums == 8


async def test_system_topics_are_not_in_the_totals(
    broker: Broker, client: RemotingClient, send: Send, build: Builders
) -> None:
    # A message with delay level 18 (2 h) is stored in SCHEDULE_TOPIC_XXXX, queue 17.
    delayed = await send("TopicDelayed", queue_id=0, properties={"DELAY": "18"})
    assert delayed.code == ResponseCode.SUCCESS
    assert (await send("TopicPlain", queue_id=0)).code == ResponseCode.SUCCESS
    table = await runtime_info(client, broker.address)
    assert table["putMessageTimesTotal"] == "2"  # the store counts both
    assert table["msgPutTotalTodayNow"] == "1"  # BROKER_PUT_NUMS_WITHOUT_SYSTEM_TOPIC

    assert await pull(client, broker, build, SCHEDULE_TOPIC, 17, 0) == (ResponseCode.SUCCESS, 1)
    table = await runtime_info(client, broker.address)
    assert table["msgGetTotalTodayNow"] == "0"  # BROKER_GET_NUMS_WITHOUT_SYSTEM_TOPIC
    assert broker.stats.get_nums == 1  # but transferred (getTransferredTps)


async def test_tps_figures_follow_sends_and_pulls(
    broker: Broker, send: Send, client: RemotingClient, build: Builders
) -> None:
    now = [0.0]
    sampler = StatsSampler(
        counter_reader(broker.controller.store, broker.stats), monotonic=lambda: now[0]
    )
    for second in range(10):
        for _ in range(3):
            assert (await send("TopicTps", queue_id=1)).code == ResponseCode.SUCCESS
        code, _ = await pull(client, broker, build, "TopicTps", 1, 3 * second)
        assert code == ResponseCode.SUCCESS
        now[0] += 2.0  # two seconds between samples: the rates are per second
        sampler.sample()
    assert sampler.tps(lambda c: c.put) == "1.5  "
    assert sampler.tps(lambda c: c.transferred) == "1.5  "
    assert sampler.tps(lambda c: c.get_found) == "0.5  "
    assert sampler.tps(lambda c: c.put_user) == "1.5  "


async def test_messages_stored_before_start_are_not_counted(
    settings: BrokerSettings, client: RemotingClient, build: Builders
) -> None:
    async with Broker(settings) as first:
        for _ in range(3):
            response = await client.request(
                first.address, build.send("TopicRestart", queue_id=0), timeout=5
            )
            assert response.code == ResponseCode.SUCCESS
        assert (await runtime_info(client, first.address))["msgPutTotalTodayNow"] == "3"
    async with Broker(settings) as second:
        assert (await runtime_info(client, second.address))["msgPutTotalTodayNow"] == "0"
        response = await client.request(
            second.address, build.send("TopicRestart", queue_id=0), timeout=5
        )
        assert response.code == ResponseCode.SUCCESS
        table = await runtime_info(client, second.address)
        assert table["msgPutTotalTodayNow"] == "1"


async def test_each_put_is_counted_once(broker: Broker, client: RemotingClient, send: Send) -> None:
    stats = broker.stats
    for _ in range(4):
        assert (await send("TopicAgain", queue_id=0)).code == ResponseCode.SUCCESS
    assert stats.scan_puts() == 4
    assert stats.scan_puts() == 0  # counted once
    assert stats.put_nums_user == 4
