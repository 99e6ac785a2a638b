"""Runtime info, topic and consumer statistics, connection lists, against a real broker."""

from __future__ import annotations

import datetime
import time
from typing import TYPE_CHECKING

from rmq_broker import Broker
from rmq_broker.processors.admin_stats import Counters, StatsSampler, human_readable_bytes
from rmq_protocol.codec.body import (
    ConsumerConnection,
    ConsumeStats,
    KVTable,
    MessageQueue,
    ProducerConnection,
    TopicStatsTable,
)
from rmq_protocol.codec.codes import LanguageCode, RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import (
    GetConsumerConnectionListRequestHeader,
    GetConsumeStatsRequestHeader,
    GetProducerConnectionListRequestHeader,
    GetTopicStatsInfoRequestHeader,
    UpdateConsumerOffsetRequestHeader,
)
from rmq_protocol.transport import RemotingClient

if TYPE_CHECKING:
    from conftest import Builders, Send


def test_human_readable_bytes_as_java() -> None:
    assert human_readable_bytes(0) == "0 B"
    assert human_readable_bytes(1023) == "1023 B"
    assert human_readable_bytes(1536) == "1.5 KiB"
    assert human_readable_bytes(3 * 1024**3) == "3.0 GiB"


def test_sampler_tps_and_midnight() -> None:
    counters = [0, 0, 0]
    now = [100.0]
    day = [datetime.date(2024, 1, 1)]

    def read() -> Counters:
        put, found, miss = counters
        return Counters(
            put=put, get_found=found, get_miss=miss, transferred=0, put_user=put, get_user=0
        )

    sampler = StatsSampler(read, monotonic=lambda: now[0], today=lambda: day[0])

    def put(sample: Counters) -> int:
        return sample.put

    assert sampler.tps(put) == "  "  # Java: empty until the window is filled
    for _ in range(10):
        now[0] += 1.0
        counters[0] += 50
        sampler.sample()
    assert sampler.tps(put) == "50.0  "
    assert sampler.put_total_today_morning == 0
    day[0] = datetime.date(2024, 1, 2)
    sampler.sample()
    assert (sampler.put_total_yesterday_morning, sampler.put_total_today_morning) == (0, 500)


async def test_runtime_info(broker: Broker, client: RemotingClient, send: Send) -> None:
    for _ in range(3):
        assert (await send("TopicRuntime")).code == ResponseCode.SUCCESS
    response = await client.request(
        broker.address, RemotingCommand.request(RequestCode.GET_BROKER_RUNTIME_INFO), timeout=5
    )
    assert response.code == ResponseCode.SUCCESS
    table = KVTable.from_json(response.body).table
    stats = broker.controller.store.statistics()
    assert table["msgPutTotalTodayNow"] == "3"
    assert table["putMessageTimesTotal"] == "3"
    assert table["commitLogMinOffset"] == "0"
    assert table["commitLogMaxOffset"] == str(stats.max_phy_offset)
    assert int(table["commitLogMaxOffset"]) > 0
    assert table["bootTimestamp"] == str(broker.controller.started_ms)
    assert table["brokerVersionDesc"].startswith("V")
    assert int(table["brokerVersion"]) > 0
    assert 0.0 <= float(table["commitLogDiskRatio"]) <= 1.0
    assert abs(int(table["earliestMessageTimeStamp"]) - time.time() * 1000) < 60_000
    assert table["putTps"].count(" ") == 2
    assert table["timerReadBehind"] == "0"
    assert table["sendThreadPoolQueueCapacity"] == "10000"
    assert table["runtime"].startswith("[ 0 days, 0 hours, ")
    assert table["commitLogDirCapacity"].startswith("Total : ")


async def test_topic_stats(broker: Broker, client: RemotingClient, send: Send) -> None:
    before = int(time.time() * 1000)
    for queue_id in (0, 0, 1):
        assert (await send("TopicStats", queue_id=queue_id)).code == ResponseCode.SUCCESS
    request = RemotingCommand.request(
        RequestCode.GET_TOPIC_STATS_INFO, GetTopicStatsInfoRequestHeader(topic="TopicStats")
    )
    response = await client.request(broker.address, request, timeout=5)
    assert response.code == ResponseCode.SUCCESS
    table = TopicStatsTable.from_json(response.body).offset_table
    assert len(table) == 4  # created with 4 queues
    q0 = table[MessageQueue("TopicStats", "broker-a", 0)]
    q1 = table[MessageQueue("TopicStats", "broker-a", 1)]
    q2 = table[MessageQueue("TopicStats", "broker-a", 2)]
    assert (q0.min_offset, q0.max_offset) == (0, 2)
    assert (q1.min_offset, q1.max_offset) == (0, 1)
    assert (q2.max_offset, q2.last_update_timestamp) == (0, 0)
    assert q0.last_update_timestamp >= before

    missing = RemotingCommand.request(
        RequestCode.GET_TOPIC_STATS_INFO, GetTopicStatsInfoRequestHeader(topic="NoSuchTopic")
    )
    response = await client.request(broker.address, missing, timeout=5)
    assert (response.code, response.remark) == (
        ResponseCode.TOPIC_NOT_EXIST,
        "topic[NoSuchTopic] not exist",
    )


async def test_consume_stats(
    broker: Broker, client: RemotingClient, send: Send, build: Builders
) -> None:
    for _ in range(3):
        assert (await send("TopicConsume", queue_id=0)).code == ResponseCode.SUCCESS
    commit = RemotingCommand.request(
        RequestCode.UPDATE_CONSUMER_OFFSET,
        UpdateConsumerOffsetRequestHeader(
            consumer_group="CID_stats", topic="TopicConsume", queue_id=0, commit_offset=2
        ),
    )
    assert (await client.request(broker.address, commit, timeout=5)).code == 0

    async def stats(topic: str | None = None, topic_list: str | None = None) -> ConsumeStats:
        header = GetConsumeStatsRequestHeader(
            consumer_group="CID_stats", topic=topic, topic_list=topic_list
        )
        request = RemotingCommand.request(RequestCode.GET_CONSUME_STATS, header)
        response = await client.request(broker.address, request, timeout=5)
        assert response.code == ResponseCode.SUCCESS
        return ConsumeStats.from_json(response.body)

    # no topic: the topics the group has offsets on
    for result in (await stats(), await stats(topic="TopicConsume")):
        table = result.offset_table
        assert len(table) == 4
        q0 = table[MessageQueue("TopicConsume", "broker-a", 0)]
        assert (q0.broker_offset, q0.consumer_offset, q0.pull_offset) == (3, 2, 2)
        expected = broker.controller.store.get_message_store_timestamp("TopicConsume", 0, 1)
        assert q0.last_timestamp == expected
        q1 = table[MessageQueue("TopicConsume", "broker-a", 1)]
        assert (q1.broker_offset, q1.consumer_offset, q1.last_timestamp) == (0, 0, 0)
        assert result.consume_tps == 0.0

    # a group subscribed to other topics only: Java leaves the topic out
    beat = build.heartbeat("c-1", consumer_group="CID_stats", topic="TopicOther")
    assert (await client.request(broker.address, beat, timeout=5)).code == 0
    assert (await stats()).offset_table == {}
    # an explicit topicList (5.x) skips that check; unknown topics are skipped
    listed = await stats(topic_list="TopicConsume;NoSuchTopic")
    assert len(listed.offset_table) == 4


async def test_connection_lists(broker: Broker, client: RemotingClient, build: Builders) -> None:
    consumer_group = RemotingCommand.request(
        RequestCode.GET_CONSUMER_CONNECTION_LIST,
        GetConsumerConnectionListRequestHeader(consumer_group="CID_conn"),
    )
    response = await client.request(broker.address, consumer_group, timeout=5)
    assert (response.code, response.remark) == (
        ResponseCode.CONSUMER_NOT_ONLINE,
        "the consumer group[CID_conn] not online",
    )
    producer_group = RemotingCommand.request(
        RequestCode.GET_PRODUCER_CONNECTION_LIST,
        GetProducerConnectionListRequestHeader(producer_group="PID_conn"),
    )
    response = await client.request(broker.address, producer_group, timeout=5)
    assert (response.code, response.remark) == (
        ResponseCode.SYSTEM_ERROR,
        "the producer group[PID_conn] not exist",
    )

    beat = build.heartbeat(
        "10.0.0.1@42", consumer_group="CID_conn", producer_group="PID_conn", topic="TopicConn"
    )
    assert (await client.request(broker.address, beat, timeout=5)).code == 0

    response = await client.request(broker.address, consumer_group, timeout=5)
    assert response.code == ResponseCode.SUCCESS
    consumers = ConsumerConnection.from_json(response.body)
    (member,) = consumers.connection_set
    assert member.client_id == "10.0.0.1@42"
    assert member.language is LanguageCode.PYTHON  # what RemotingClient sends
    assert member.client_addr.startswith("127.0.0.1:")
    assert set(consumers.subscription_table) == {"TopicConn"}
    assert consumers.consume_type is not None
    assert consumers.consume_type.name == "CONSUME_PASSIVELY"

    response = await client.request(broker.address, producer_group, timeout=5)
    assert response.code == ResponseCode.SUCCESS
    (producer,) = ProducerConnection.from_json(response.body).connection_set
    assert producer.client_id == "10.0.0.1@42"
    assert producer.client_addr == member.client_addr
