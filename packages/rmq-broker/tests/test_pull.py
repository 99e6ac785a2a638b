"""PULL_MESSAGE: statuses, tag filtering, offsets, long polling."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from rmq_broker import Broker, BrokerSettings
from rmq_protocol.codec.codes import ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import PullMessageResponseHeader
from rmq_protocol.codec.message import decode_messages
from rmq_protocol.transport import RemotingClient

if TYPE_CHECKING:
    from conftest import Builders, Send

TOPIC = "TopicPull"


async def _pull(
    client: RemotingClient, broker: Broker, build: Builders, *args: object, **kwargs: object
) -> tuple[RemotingCommand, PullMessageResponseHeader | None]:
    response = await client.request(broker.address, build.pull(*args, **kwargs), timeout=10)
    header = None
    if response.code in (0, 19, 20, 21):
        header = response.decode_header(PullMessageResponseHeader)
    return response, header


async def test_found_then_not_found(
    broker: Broker, client: RemotingClient, send: Send, build: Builders
) -> None:
    for i in range(3):
        await send(TOPIC, f"m{i}".encode(), tags="TagA")
    response, header = await _pull(client, broker, build, TOPIC, 0, 0)
    assert response.code == ResponseCode.SUCCESS
    assert response.remark == "FOUND"
    assert header is not None
    assert (header.next_begin_offset, header.min_offset, header.max_offset) == (3, 0, 3)
    assert header.suggest_which_broker_id == 0
    messages = decode_messages(response.body)
    assert [m.body for m in messages] == [b"m0", b"m1", b"m2"]
    assert [m.queue_offset for m in messages] == [0, 1, 2]
    assert all(m.store_host.port == broker.port for m in messages)
    # at the end of the queue: PULL_NOT_FOUND (OFFSET_OVERFLOW_ONE)
    response, header = await _pull(client, broker, build, TOPIC, 0, 3)
    assert (response.code, response.remark) == (ResponseCode.PULL_NOT_FOUND, "OFFSET_OVERFLOW_ONE")
    assert header is not None
    assert header.next_begin_offset == 3
    # max messages per pull
    response, header = await _pull(client, broker, build, TOPIC, 0, 1, max_msg_nums=1)
    assert header is not None
    assert header.next_begin_offset == 2
    assert len(decode_messages(response.body)) == 1


async def test_found_answer_carries_exactly_the_response_headers_fields(
    broker: Broker, client: RemotingClient, send: Send, build: Builders
) -> None:
    # The FOUND answer's extFields are built without a header object: they must be what
    # PullMessageResponseHeader.to_ext_fields gives for the same values, key for key
    # (and in the same order), for the first and for a later pull.
    for i in range(4):
        await send(TOPIC, f"m{i}".encode(), tags="TagA", queue_id=1)
    for offset, expected in ((0, (4, 0, 4)), (2, (4, 0, 4))):
        response, header = await _pull(client, broker, build, TOPIC, 1, offset)
        assert (response.code, response.remark) == (ResponseCode.SUCCESS, "FOUND")
        assert header is not None
        assert (header.next_begin_offset, header.min_offset, header.max_offset) == expected
        assert response.ext_fields is not None
        assert list(response.ext_fields.items()) == list(header.to_ext_fields().items())
        assert (header.topic_sys_flag, header.group_sys_flag) == (0, 0)


async def test_offset_moved_and_empty_queue(
    broker: Broker, client: RemotingClient, send: Send, build: Builders
) -> None:
    await send(TOPIC, b"x")
    response, header = await _pull(client, broker, build, TOPIC, 0, 50)
    assert (response.code, response.remark) == (
        ResponseCode.PULL_OFFSET_MOVED,
        "OFFSET_OVERFLOW_BADLY",
    )
    assert header is not None
    assert header.next_begin_offset == 1
    # an empty queue: offset 0 is "not found", another offset has "moved"
    response, header = await _pull(client, broker, build, TOPIC, 3, 0)
    assert (response.code, response.remark) == (
        ResponseCode.PULL_NOT_FOUND,
        "NO_MATCHED_LOGIC_QUEUE",
    )
    response, header = await _pull(client, broker, build, TOPIC, 3, 5)
    assert (response.code, response.remark) == (
        ResponseCode.PULL_OFFSET_MOVED,
        "NO_MATCHED_LOGIC_QUEUE",
    )
    assert header is not None
    assert header.next_begin_offset == 0


async def test_tag_filtering(
    broker: Broker, client: RemotingClient, send: Send, build: Builders
) -> None:
    for tags in ("TagA", "TagB", "TagC", "TagA", None):
        await send(TOPIC, f"{tags}".encode(), tags=tags)
    response, header = await _pull(client, broker, build, TOPIC, 0, 0, subscription="TagA || TagC")
    assert response.code == ResponseCode.SUCCESS
    assert [m.tags for m in decode_messages(response.body)] == ["TagA", "TagC", "TagA"]
    assert header is not None
    assert header.next_begin_offset == 5
    response, _ = await _pull(client, broker, build, TOPIC, 0, 0, subscription="*")
    assert len(decode_messages(response.body)) == 5
    # nothing matches from here on: retry at once from the next offset
    response, header = await _pull(client, broker, build, TOPIC, 0, 4, subscription="TagB")
    assert (response.code, response.remark) == (
        ResponseCode.PULL_RETRY_IMMEDIATELY,
        "NO_MATCHED_MESSAGE",
    )
    assert header is not None
    assert header.next_begin_offset == 5


async def test_subscription_from_the_heartbeat(
    broker: Broker, client: RemotingClient, send: Send, build: Builders
) -> None:
    await send(TOPIC, b"a", tags="TagA")
    await send(TOPIC, b"b", tags="TagB")
    # no heartbeat yet and no subscription in the pull
    response, _ = await _pull(client, broker, build, TOPIC, 0, 0, sys_flag=0, subscription=None)
    assert response.code == ResponseCode.SUBSCRIPTION_NOT_EXIST
    assert response.remark is not None
    assert response.remark.startswith("the consumer's group info not exist\nSee ")
    beat = await client.request(
        broker.address, build.heartbeat("c1", topic=TOPIC, sub_string="TagB"), timeout=5
    )
    assert beat.code == ResponseCode.SUCCESS
    response, _ = await _pull(client, broker, build, TOPIC, 0, 0, sys_flag=0, subscription=None)
    assert [m.body for m in decode_messages(response.body)] == [b"b"]
    response, _ = await _pull(
        client, broker, build, "OtherTopic", 0, 0, sys_flag=0, subscription=None
    )
    assert response.code == ResponseCode.TOPIC_NOT_EXIST
    await send("OtherTopic", b"z")
    response, _ = await _pull(
        client, broker, build, "OtherTopic", 0, 0, sys_flag=0, subscription=None
    )
    assert response.code == ResponseCode.SUBSCRIPTION_NOT_EXIST
    assert response.remark is not None
    assert response.remark.startswith("the consumer's subscription not exist")
    response, _ = await _pull(
        client, broker, build, TOPIC, 0, 0, sys_flag=0, subscription=None, sub_version=99
    )
    assert (response.code, response.remark) == (
        ResponseCode.SUBSCRIPTION_NOT_LATEST,
        "the consumer's subscription not latest",
    )


async def test_sql92_is_not_supported(
    broker: Broker, client: RemotingClient, send: Send, build: Builders
) -> None:
    await send(TOPIC, b"a")
    response, _ = await _pull(
        client, broker, build, TOPIC, 0, 0, subscription="a > 1", expression_type="SQL92"
    )
    assert (response.code, response.remark) == (
        ResponseCode.SYSTEM_ERROR,
        "The broker does not support consumer to filter message by SQL92",
    )


async def test_request_checks(
    settings: BrokerSettings, broker: Broker, client: RemotingClient, send: Send, build: Builders
) -> None:
    response, _ = await _pull(client, broker, build, "NoSuchTopic", 0, 0)
    assert response.code == ResponseCode.TOPIC_NOT_EXIST
    assert response.remark is not None
    assert response.remark.startswith("topic[NoSuchTopic] not exist, apply first please! \nSee ")
    await send(TOPIC, b"a")
    response, _ = await _pull(client, broker, build, TOPIC, 4, 0)
    assert response.code == ResponseCode.INVALID_PARAMETER
    assert response.remark is not None
    assert response.remark.startswith(
        "queueId[4] is illegal, topic:[TopicPull] topicConfig.readQueueNums:[4] "
        "consumer:[/127.0.0.1:"
    )
    response, _ = await _pull(client, broker, build, TOPIC, 0, 0, group="bad group")
    assert response.code == ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST
    assert response.remark is not None
    assert response.remark.startswith("subscription group [bad group] does not exist, \nSee ")


async def test_commit_offset_piggyback(
    broker: Broker, client: RemotingClient, send: Send, build: Builders
) -> None:
    await send(TOPIC, b"a")
    offsets = broker.controller.offsets
    await _pull(client, broker, build, TOPIC, 0, 1, sys_flag=0x4 | 0x1, commit_offset=1)
    assert offsets.query_offset("CID_test", TOPIC, 0) == 1
    await _pull(client, broker, build, TOPIC, 0, 1, sys_flag=0x4, commit_offset=7)
    assert offsets.query_offset("CID_test", TOPIC, 0) == 1  # no flag: not stored


async def test_long_poll_is_woken_by_the_arrival(
    broker: Broker, client: RemotingClient, send: Send, build: Builders
) -> None:
    await send(TOPIC, b"first")  # the topic exists, offset 1 is next
    loop = asyncio.get_running_loop()
    pull = asyncio.ensure_future(
        _pull(client, broker, build, TOPIC, 0, 1, sys_flag=0x4 | 0x2, suspend_ms=15_000)
    )
    await broker.controller.holds.wait_held(timeout=5)
    assert not pull.done()
    sent_at = loop.time()
    ack = await send(TOPIC, b"second")
    acked_at = loop.time()
    response, header = await pull
    woken_at = loop.time()
    assert ack.code == ResponseCode.SUCCESS
    assert response.code == ResponseCode.SUCCESS
    assert [m.body for m in decode_messages(response.body)] == [b"second"]
    assert header is not None
    assert header.next_begin_offset == 2
    assert broker.controller.holds.woken == 1
    assert broker.controller.holds.expired == 0
    latency = woken_at - sent_at
    # woken by the arrival, far inside the 15 s suspension (about 1 ms on this machine)
    assert latency < 1.0, (
        f"woken {latency:.3f} s after the send (ack after {acked_at - sent_at:.3f} s)"
    )


async def test_long_poll_times_out_with_pull_not_found(
    broker: Broker, client: RemotingClient, send: Send, build: Builders
) -> None:
    await send(TOPIC, b"first")
    started = time.monotonic()
    response, _header = await _pull(
        client, broker, build, TOPIC, 0, 1, sys_flag=0x6, suspend_ms=300
    )
    elapsed = time.monotonic() - started
    assert (response.code, response.remark) == (ResponseCode.PULL_NOT_FOUND, "OFFSET_OVERFLOW_ONE")
    assert 0.25 <= elapsed < 3
    assert broker.controller.holds.expired == 1


async def test_long_poll_ignores_other_tags_and_queues(
    broker: Broker, client: RemotingClient, send: Send, build: Builders
) -> None:
    await send(TOPIC, b"first", tags="TagA")
    pull = asyncio.ensure_future(
        _pull(
            client, broker, build, TOPIC, 0, 1, sys_flag=0x6, suspend_ms=10_000, subscription="TagA"
        )
    )
    await broker.controller.holds.wait_held(timeout=5)
    await send(TOPIC, b"other tag", tags="TagB")
    await send(TOPIC, b"other queue", tags="TagA", queue_id=1)
    await asyncio.sleep(0.1)
    assert not pull.done()
    await send(TOPIC, b"match", tags="TagA")
    response, header = await pull
    assert [m.body for m in decode_messages(response.body)] == [b"match"]
    assert header is not None
    assert header.next_begin_offset == 3


async def test_long_poll_on_an_empty_queue(
    broker: Broker, client: RemotingClient, send: Send, build: Builders
) -> None:
    await send(TOPIC, b"q0", queue_id=0)
    pull = asyncio.ensure_future(
        _pull(client, broker, build, TOPIC, 2, 0, sys_flag=0x6, suspend_ms=10_000)
    )
    await broker.controller.holds.wait_held(timeout=5)
    await send(TOPIC, b"q2", queue_id=2)
    response, _ = await pull
    assert [m.body for m in decode_messages(response.body)] == [b"q2"]


async def test_held_pulls_are_answered_at_shutdown(
    settings: BrokerSettings, client: RemotingClient, build: Builders
) -> None:
    async with Broker(settings) as broker:
        await client.request(broker.address, build.send(TOPIC), timeout=5)
        pull = asyncio.ensure_future(
            client.request(
                broker.address, build.pull(TOPIC, 0, 1, sys_flag=0x6, suspend_ms=30_000), timeout=10
            )
        )
        await broker.controller.holds.wait_held(timeout=5)
    response = await asyncio.wait_for(pull, 5)
    assert response.code == ResponseCode.PULL_NOT_FOUND
