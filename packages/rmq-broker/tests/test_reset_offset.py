"""INVOKE_BROKER_TO_RESET_OFFSET (222) and CLONE_GROUP_OFFSET (314)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from rmq_broker import Broker
from rmq_protocol.codec.body import MessageQueue, ResetOffsetBody
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import CloneGroupOffsetRequestHeader, ResetOffsetRequestHeader
from rmq_protocol.transport import Connection, ProcessorRegistry, RemotingClient

if TYPE_CHECKING:
    from conftest import Builders, Send

TOPIC = "TopicReset"
GROUP = "CID_reset"


def _reset(timestamp: int, *, force: bool = True, group: str = GROUP) -> RemotingCommand:
    return RemotingCommand.request(
        RequestCode.INVOKE_BROKER_TO_RESET_OFFSET,
        ResetOffsetRequestHeader(group=group, topic=TOPIC, timestamp=timestamp, is_force=force),
    )


async def _fill(broker: Broker, send: Send) -> int:
    """Two messages in each of queues 0 and 1, a pause between; returns a time between."""
    for queue_id in (0, 1):
        assert (await send(TOPIC, b"old", queue_id=queue_id)).code == ResponseCode.SUCCESS
    await asyncio.sleep(0.05)
    middle = time.time_ns() // 1_000_000
    await asyncio.sleep(0.05)
    for queue_id in (0, 1):
        assert (await send(TOPIC, b"new", queue_id=queue_id)).code == ResponseCode.SUCCESS
    offsets = broker.controller.offsets
    for queue_id in range(4):
        offsets.commit_offset(
            GROUP, TOPIC, queue_id, broker.controller.store.get_max_offset_in_queue(TOPIC, queue_id)
        )
    return middle


async def test_reset_without_consumers_stores_offsets(
    broker: Broker, client: RemotingClient, send: Send
) -> None:
    middle = await _fill(broker, send)
    response = await client.request(broker.address, _reset(middle), timeout=5)
    assert response.code == ResponseCode.CONSUMER_NOT_ONLINE
    assert response.remark == (
        f"Consumer not online, so can not reset offset, Group: {GROUP} Topic: {TOPIC} "
        f"Timestamp: {middle}"
    )
    assert broker.controller.offsets.query_offsets(GROUP, TOPIC) == {0: 1, 1: 1, 2: 0, 3: 0}
    # to the end (-1), and not forced: a smaller committed offset stays
    await client.request(broker.address, _reset(-1), timeout=5)
    assert broker.controller.offsets.query_offsets(GROUP, TOPIC) == {0: 2, 1: 2, 2: 0, 3: 0}
    broker.controller.offsets.commit_offset(GROUP, TOPIC, 0, 0)
    await client.request(broker.address, _reset(middle, force=False), timeout=5)
    assert broker.controller.offsets.query_offsets(GROUP, TOPIC) == {0: 0, 1: 1, 2: 0, 3: 0}


async def test_reset_refusals(broker: Broker, client: RemotingClient, send: Send) -> None:
    response = await client.request(broker.address, _reset(0), timeout=5)
    assert (response.code, response.remark) == (
        ResponseCode.SYSTEM_ERROR,
        f"[reset-offset] reset offset failed, no topic in this broker. topic={TOPIC}",
    )
    await send(TOPIC, b"x")
    response = await client.request(broker.address, _reset(0, group="CID_none"), timeout=5)
    assert (response.code, response.remark) == (
        ResponseCode.SYSTEM_ERROR,
        "THe consumer group <CID_none> not exist",
    )


async def test_reset_notifies_online_consumers(broker: Broker, send: Send, build: Builders) -> None:
    middle = await _fill(broker, send)
    notices: asyncio.Queue[tuple[ResetOffsetRequestHeader, ResetOffsetBody]] = asyncio.Queue()

    def on_reset(request: RemotingCommand, conn: Connection) -> None:
        header = request.decode_header(ResetOffsetRequestHeader)
        notices.put_nowait((header, ResetOffsetBody.from_json(request.body)))

    registry = ProcessorRegistry()
    registry.register(RequestCode.RESET_CONSUMER_CLIENT_OFFSET, on_reset)
    async with RemotingClient(registry) as consumer:
        beat = build.heartbeat("127.0.0.1@c1", consumer_group=GROUP, topic=TOPIC)
        assert (await consumer.request(broker.address, beat, timeout=5)).code == 0
        response = await consumer.request(broker.address, _reset(middle), timeout=5)
        assert response.code == ResponseCode.SUCCESS, response.remark
        answered = ResetOffsetBody.from_json(response.body).offset_table
        expected = {
            MessageQueue(topic=TOPIC, broker_name="broker-a", queue_id=q): o
            for q, o in {0: 1, 1: 1, 2: 0, 3: 0}.items()
        }
        assert dict(answered) == expected
        header, body = await asyncio.wait_for(notices.get(), 5)
        assert (header.group, header.topic, header.timestamp, header.is_force) == (
            GROUP,
            TOPIC,
            middle,
            True,
        )
        assert dict(body.offset_table) == expected


async def test_clone_group_offset(broker: Broker, client: RemotingClient, send: Send) -> None:
    await _fill(broker, send)
    offsets = broker.controller.offsets
    request = RemotingCommand.request(
        RequestCode.CLONE_GROUP_OFFSET,
        CloneGroupOffsetRequestHeader(src_group=GROUP, dest_group="CID_copy", offline=True),
    )
    response = await client.request(broker.address, request, timeout=5)
    assert response.code == ResponseCode.SUCCESS
    assert offsets.query_offsets("CID_copy", TOPIC) == offsets.query_offsets(GROUP, TOPIC)
    assert offsets.query_offsets("CID_copy", TOPIC)[0] == 2
    # one topic; an unknown topic is skipped
    request = RemotingCommand.request(
        RequestCode.CLONE_GROUP_OFFSET,
        CloneGroupOffsetRequestHeader(src_group=GROUP, dest_group="CID_two", topic="NoSuchTopic"),
    )
    assert (await client.request(broker.address, request, timeout=5)).code == 0
    assert offsets.query_offsets("CID_two", "NoSuchTopic") == {}
