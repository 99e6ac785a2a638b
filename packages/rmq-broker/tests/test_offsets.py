"""Consumer offsets, queue offsets, message lookups."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rmq_broker import Broker
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import (
    BoundaryType,
    GetEarliestMsgStoretimeRequestHeader,
    GetEarliestMsgStoretimeResponseHeader,
    GetMaxOffsetRequestHeader,
    GetMaxOffsetResponseHeader,
    GetMinOffsetRequestHeader,
    GetMinOffsetResponseHeader,
    QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader,
    QueryMessageRequestHeader,
    QueryMessageResponseHeader,
    SearchOffsetRequestHeader,
    SearchOffsetResponseHeader,
    SendMessageResponseHeader,
    UpdateConsumerOffsetRequestHeader,
    ViewMessageRequestHeader,
)
from rmq_protocol.codec.message import decode_messages
from rmq_protocol.codec.msgid import decode_offset_msg_id
from rmq_protocol.transport import RemotingClient

if TYPE_CHECKING:
    from conftest import Send

TOPIC = "TopicOffsets"


def _query(group: str, queue_id: int = 0, set_zero: bool | None = None) -> RemotingCommand:
    return RemotingCommand.request(
        RequestCode.QUERY_CONSUMER_OFFSET,
        QueryConsumerOffsetRequestHeader(
            consumer_group=group, topic=TOPIC, queue_id=queue_id, set_zero_if_not_found=set_zero
        ),
    )


async def test_query_consumer_offset_as_apache_rocketmq(
    broker: Broker, client: RemotingClient, send: Send
) -> None:
    # an empty queue, no stored offset: not found (the client starts from the max offset)
    await send(TOPIC, b"q1", queue_id=1)
    response = await client.request(broker.address, _query("CID_new", 0), timeout=5)
    assert (response.code, response.remark) == (
        ResponseCode.QUERY_NOT_FOUND,
        "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first",
    )
    # the queue starts at 0 and its first message is in memory: 0, so the backlog is consumed
    response = await client.request(broker.address, _query("CID_new", 1), timeout=5)
    assert response.code == ResponseCode.SUCCESS
    assert response.decode_header(QueryConsumerOffsetResponseHeader).offset == 0
    # ... unless the client says not to
    response = await client.request(broker.address, _query("CID_new", 1, False), timeout=5)
    assert (response.code, response.remark) == (
        ResponseCode.QUERY_NOT_FOUND,
        "Not found, do not set to zero, maybe this group boot first",
    )
    update = RemotingCommand.request(
        RequestCode.UPDATE_CONSUMER_OFFSET,
        UpdateConsumerOffsetRequestHeader(
            consumer_group="CID_new", topic=TOPIC, queue_id=1, commit_offset=1
        ),
    )
    assert (await client.request(broker.address, update, timeout=5)).code == ResponseCode.SUCCESS
    response = await client.request(broker.address, _query("CID_new", 1, False), timeout=5)
    assert response.decode_header(QueryConsumerOffsetResponseHeader).offset == 1


async def test_oneway_offset_update(broker: Broker, client: RemotingClient) -> None:
    update = RemotingCommand.request(
        RequestCode.UPDATE_CONSUMER_OFFSET,
        UpdateConsumerOffsetRequestHeader(
            consumer_group="CID_ow", topic=TOPIC, queue_id=2, commit_offset=9
        ),
        oneway=True,
    )
    await client.send_oneway(broker.address, update, timeout=5)
    response = await client.request(broker.address, _query("CID_ow", 2), timeout=5)
    assert response.decode_header(QueryConsumerOffsetResponseHeader).offset == 9


async def test_queue_offsets_and_times(broker: Broker, client: RemotingClient, send: Send) -> None:
    before = int(time.time() * 1000) - 1
    for i in range(3):
        await send(TOPIC, f"m{i}".encode())
    after = int(time.time() * 1000) + 1

    async def ask(code: int, header: object) -> RemotingCommand:
        request = RemotingCommand.request(code, header)  # type: ignore[arg-type]
        response = await client.request(broker.address, request, timeout=5)
        assert response.code == ResponseCode.SUCCESS, response.remark
        return response

    got = await ask(RequestCode.GET_MAX_OFFSET, GetMaxOffsetRequestHeader(topic=TOPIC, queue_id=0))
    assert got.decode_header(GetMaxOffsetResponseHeader).offset == 3
    got = await ask(RequestCode.GET_MIN_OFFSET, GetMinOffsetRequestHeader(topic=TOPIC, queue_id=0))
    assert got.decode_header(GetMinOffsetResponseHeader).offset == 0
    got = await ask(
        RequestCode.SEARCH_OFFSET_BY_TIMESTAMP,
        SearchOffsetRequestHeader(topic=TOPIC, queue_id=0, timestamp=before),
    )
    assert got.decode_header(SearchOffsetResponseHeader).offset == 0
    got = await ask(
        RequestCode.SEARCH_OFFSET_BY_TIMESTAMP,
        SearchOffsetRequestHeader(topic=TOPIC, queue_id=0, timestamp=after),
    )
    assert got.decode_header(SearchOffsetResponseHeader).offset == 3
    got = await ask(
        RequestCode.SEARCH_OFFSET_BY_TIMESTAMP,
        SearchOffsetRequestHeader(
            topic=TOPIC, queue_id=0, timestamp=after, boundary_type=BoundaryType.UPPER
        ),
    )
    assert got.decode_header(SearchOffsetResponseHeader).offset == 2
    got = await ask(
        RequestCode.GET_EARLIEST_MSG_STORETIME,
        GetEarliestMsgStoretimeRequestHeader(topic=TOPIC, queue_id=0),
    )
    assert before <= got.decode_header(GetEarliestMsgStoretimeResponseHeader).timestamp <= after
    got = await ask(
        RequestCode.GET_EARLIEST_MSG_STORETIME,
        GetEarliestMsgStoretimeRequestHeader(topic=TOPIC, queue_id=3),
    )
    assert got.decode_header(GetEarliestMsgStoretimeResponseHeader).timestamp == -1


async def test_view_message_by_id(broker: Broker, client: RemotingClient, send: Send) -> None:
    await send(TOPIC, b"first")
    sent = await send(TOPIC, b"second", tags="TagV")
    _, _, offset = decode_offset_msg_id(sent.decode_header(SendMessageResponseHeader).msg_id)
    request = RemotingCommand.request(
        RequestCode.VIEW_MESSAGE_BY_ID, ViewMessageRequestHeader(offset=offset)
    )
    response = await client.request(broker.address, request, timeout=5)
    assert response.code == ResponseCode.SUCCESS
    (message,) = decode_messages(response.body)
    assert (message.body, message.tags, message.commit_log_offset) == (b"second", "TagV", offset)
    request = RemotingCommand.request(
        RequestCode.VIEW_MESSAGE_BY_ID, ViewMessageRequestHeader(offset=offset + 10_000)
    )
    response = await client.request(broker.address, request, timeout=5)
    assert (response.code, response.remark) == (
        ResponseCode.SYSTEM_ERROR,
        f"can not find message by the offset, {offset + 10_000}",
    )


async def test_query_message_by_key(broker: Broker, client: RemotingClient, send: Send) -> None:
    await send(TOPIC, b"one", keys="order-1 shared")
    await send(TOPIC, b"two", keys="order-2 shared")
    query = QueryMessageRequestHeader(
        topic=TOPIC, key="shared", max_num=32, begin_timestamp=0, end_timestamp=2**62
    )
    response = await client.request(
        broker.address, RemotingCommand.request(RequestCode.QUERY_MESSAGE, query), timeout=5
    )
    assert response.code == ResponseCode.SUCCESS
    assert sorted(m.body for m in decode_messages(response.body)) == [b"one", b"two"]
    assert response.decode_header(QueryMessageResponseHeader).index_last_update_phyoffset >= 0
    one = query._replace(key="order-1")
    response = await client.request(
        broker.address, RemotingCommand.request(RequestCode.QUERY_MESSAGE, one), timeout=5
    )
    assert [m.body for m in decode_messages(response.body)] == [b"one"]
    missing = query._replace(key="nothing")
    response = await client.request(
        broker.address, RemotingCommand.request(RequestCode.QUERY_MESSAGE, missing), timeout=5
    )
    assert (response.code, response.remark) == (
        ResponseCode.QUERY_NOT_FOUND,
        "can not find message, maybe time range not correct",
    )


async def test_query_message_by_unique_key(
    broker: Broker, client: RemotingClient, send: Send
) -> None:
    sent = await send(TOPIC, b"uniq")
    uniq = sent.decode_header(SendMessageResponseHeader).transaction_id
    assert uniq is not None
    query = QueryMessageRequestHeader(
        topic=TOPIC,
        key=uniq,
        max_num=1,
        begin_timestamp=0,
        end_timestamp=2**62,
        unique_key_query=True,
    )
    response = await client.request(
        broker.address, RemotingCommand.request(RequestCode.QUERY_MESSAGE, query), timeout=5
    )
    assert [m.body for m in decode_messages(response.body)] == [b"uniq"]
