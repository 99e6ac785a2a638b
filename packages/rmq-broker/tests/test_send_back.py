"""CONSUMER_SEND_MSG_BACK (36): retry through the schedule, dead-letter queue, errors."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING

from rmq_broker import Broker, BrokerSettings
from rmq_broker.config import PERM_READ, PERM_WRITE
from rmq_protocol.codec import properties as props
from rmq_protocol.codec.body import SubscriptionGroupConfig
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import ConsumerSendMsgBackRequestHeader
from rmq_protocol.codec.message import MessageExt, decode_message
from rmq_protocol.transport import RemotingClient

if TYPE_CHECKING:
    from conftest import Builders, Send

GROUP = "CID_retry"


def send_back(
    offset: int,
    *,
    group: str = GROUP,
    delay_level: int = 0,
    max_reconsume_times: int | None = None,
    version: int = 435,
) -> RemotingCommand:
    header = ConsumerSendMsgBackRequestHeader(
        offset=offset,
        group=group,
        delay_level=delay_level,
        origin_msg_id="7F00000100002A9F0000000000000000",
        origin_topic="TopicTest",
        unit_mode=False,
        max_reconsume_times=max_reconsume_times,
    )
    return RemotingCommand.request(RequestCode.CONSUMER_SEND_MSG_BACK, header, version=version)


def messages(broker: Broker, topic: str, queue_id: int) -> list[MessageExt]:
    result = broker.controller.store.get_messages(topic, queue_id, 0, max_count=100)
    out = [decode_message(view)[0] for view in result.messages]
    for view in result.messages:
        view.release()
    return out


async def wait_messages(
    broker: Broker, topic: str, queue_id: int, count: int, *, timeout: float = 10
) -> None:
    """Wait until the queue holds ``count`` messages (woken by the store's arrivals)."""
    arrived = asyncio.Event()

    def on_arrival(arrived_topic: str, queue: int, offset: int, tags_code: int) -> None:
        if arrived_topic == topic:
            arrived.set()

    broker.controller.store.add_arrival_listener(on_arrival)
    async with asyncio.timeout(timeout):
        while len(messages(broker, topic, queue_id)) < count:
            await arrived.wait()
            arrived.clear()


async def stored_offset(broker: Broker, send: Send) -> int:
    response = await send("TopicTest", b"failing", tags="TagA")
    assert response.code == ResponseCode.SUCCESS
    return messages(broker, "TopicTest", 0)[-1].commit_log_offset


async def test_send_back_goes_to_retry_through_the_schedule(
    broker: Broker, client: RemotingClient, send: Send
) -> None:
    offset = await stored_offset(broker, send)
    original = messages(broker, "TopicTest", 0)[-1]
    response = await client.request(broker.address, send_back(offset), timeout=5)
    assert response.code == ResponseCode.SUCCESS, response.remark
    retry = broker.controller.topics.select(f"%RETRY%{GROUP}")
    assert retry is not None
    assert retry.read_queue_nums == retry.write_queue_nums == 1  # retryQueueNums
    assert retry.perm == PERM_READ | PERM_WRITE
    # delay level 0 + reconsumeTimes 0 -> level 3 -> SCHEDULE_TOPIC_XXXX queue 2
    (scheduled,) = messages(broker, "SCHEDULE_TOPIC_XXXX", 2)
    assert scheduled.properties[props.REAL_TOPIC] == f"%RETRY%{GROUP}"
    assert scheduled.properties[props.REAL_QUEUE_ID] == "0"
    assert scheduled.properties[props.DELAY_TIME_LEVEL] == "3"
    assert scheduled.properties[props.RETRY_TOPIC] == "TopicTest"
    assert scheduled.properties[props.ORIGIN_MESSAGE_ID] == original.offset_msg_id
    assert scheduled.properties[props.WAIT_STORE_MSG_OK] == "false"
    assert scheduled.properties[props.TAGS] == "TagA"
    assert scheduled.properties[props.UNIQ_KEY] == original.properties[props.UNIQ_KEY]
    assert scheduled.reconsume_times == 1
    assert scheduled.body == b"failing"
    assert scheduled.born_timestamp == original.born_timestamp


async def test_retry_is_delivered_when_due_and_keeps_origin(
    settings: BrokerSettings, client: RemotingClient, build: Builders
) -> None:
    fast = dataclasses.replace(settings.store, message_delay_level="1s 1s 1s 1s 1s 1s")
    async with Broker(dataclasses.replace(settings, store=fast)) as broker:
        request = build.send("TopicTest", b"x")
        assert (await client.request(broker.address, request, timeout=5)).code == 0
        first = messages(broker, "TopicTest", 0)[0]
        response = await client.request(
            broker.address, send_back(first.commit_log_offset), timeout=5
        )
        assert response.code == ResponseCode.SUCCESS
        retry_topic = f"%RETRY%{GROUP}"
        await wait_messages(broker, retry_topic, 0, 1)
        (retried,) = messages(broker, retry_topic, 0)
        assert props.DELAY_TIME_LEVEL not in retried.properties
        assert retried.reconsume_times == 1
        assert retried.properties[props.RETRY_TOPIC] == "TopicTest"
        # a second failure: the retry copy goes back again, origin and topic kept
        response = await client.request(
            broker.address, send_back(retried.commit_log_offset), timeout=5
        )
        assert response.code == ResponseCode.SUCCESS
        await wait_messages(broker, retry_topic, 0, 2)
        second = messages(broker, retry_topic, 0)[1]
        assert second.reconsume_times == 2
        assert second.properties[props.RETRY_TOPIC] == "TopicTest"
        assert second.properties[props.ORIGIN_MESSAGE_ID] == first.offset_msg_id
        assert broker.schedule.statistics().delivered == 2


async def test_dead_letter_after_max_reconsume_times(
    broker: Broker, client: RemotingClient, send: Send
) -> None:
    offset = await stored_offset(broker, send)
    # maxReconsumeTimes from the header (client version >= 3.4.9): 0 -> DLQ at once
    response = await client.request(
        broker.address, send_back(offset, max_reconsume_times=0), timeout=5
    )
    assert response.code == ResponseCode.SUCCESS, response.remark
    dlq = broker.controller.topics.select(f"%DLQ%{GROUP}")
    assert dlq is not None
    assert (dlq.read_queue_nums, dlq.write_queue_nums) == (1, 1)
    assert dlq.perm == PERM_READ | PERM_WRITE  # Java 4.9.4+ / 5.x (4.9.0: write only)
    (dead,) = messages(broker, f"%DLQ%{GROUP}", 0)
    assert dead.reconsume_times == 1
    assert dead.properties[props.RETRY_TOPIC] == "TopicTest"
    assert dead.properties[props.DELAY_TIME_LEVEL] == "0"
    assert props.REAL_TOPIC not in dead.properties
    assert messages(broker, "SCHEDULE_TOPIC_XXXX", 2) == []


async def test_group_retry_max_times_and_old_clients(
    broker: Broker, client: RemotingClient, send: Send
) -> None:
    broker.controller.groups.update(SubscriptionGroupConfig(group_name=GROUP, retry_max_times=0))
    offset = await stored_offset(broker, send)
    # a client older than 3.4.9: its header value is ignored, the group's 0 applies
    response = await client.request(
        broker.address, send_back(offset, max_reconsume_times=16, version=100), timeout=5
    )
    assert response.code == ResponseCode.SUCCESS
    assert len(messages(broker, f"%DLQ%{GROUP}", 0)) == 1
    # a newer client: the header's 16 wins
    response = await client.request(
        broker.address, send_back(offset, max_reconsume_times=16), timeout=5
    )
    assert response.code == ResponseCode.SUCCESS
    assert len(messages(broker, "SCHEDULE_TOPIC_XXXX", 2)) == 1


async def test_negative_delay_level_is_dead_letter(
    broker: Broker, client: RemotingClient, send: Send
) -> None:
    offset = await stored_offset(broker, send)
    response = await client.request(broker.address, send_back(offset, delay_level=-1), timeout=5)
    assert response.code == ResponseCode.SUCCESS
    assert len(messages(broker, f"%DLQ%{GROUP}", 0)) == 1


async def test_requested_delay_level_is_used(
    broker: Broker, client: RemotingClient, send: Send
) -> None:
    offset = await stored_offset(broker, send)
    response = await client.request(broker.address, send_back(offset, delay_level=5), timeout=5)
    assert response.code == ResponseCode.SUCCESS
    (scheduled,) = messages(broker, "SCHEDULE_TOPIC_XXXX", 4)
    assert scheduled.properties[props.DELAY_TIME_LEVEL] == "5"


async def test_errors(settings: BrokerSettings, client: RemotingClient, build: Builders) -> None:
    strict = build.with_broker(settings, auto_create_subscription_group=False)
    async with Broker(strict) as broker:
        response = await client.request(broker.address, send_back(0, group="CID_nobody"), timeout=5)
        assert response.code == ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST
        assert response.remark is not None
        assert response.remark.startswith("subscription group not exist, CID_nobody")
        broker.controller.groups.update(SubscriptionGroupConfig(group_name=GROUP))
        response = await client.request(broker.address, send_back(987_654_321), timeout=5)
        assert response.code == ResponseCode.SYSTEM_ERROR
        assert response.remark == "look message by offset failed, 987654321"
        broker.controller.groups.update(
            SubscriptionGroupConfig(group_name="CID_noretry", retry_queue_nums=0)
        )
        response = await client.request(
            broker.address, send_back(0, group="CID_noretry"), timeout=5
        )
        assert response.code == ResponseCode.SUCCESS
        assert broker.controller.topics.select("%RETRY%CID_noretry") is None
    readonly = build.with_broker(settings, broker_permission=PERM_READ)
    async with Broker(readonly) as broker:
        response = await client.request(broker.address, send_back(0), timeout=5)
        assert response.code == ResponseCode.NO_PERMISSION
        assert response.remark == "the broker[127.0.0.1] sending message is forbidden"
