"""HEART_BEAT dialects, consumer groups, NOTIFY_CONSUMER_IDS_CHANGED, locks, expiry."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from rmq_broker import Broker
from rmq_broker.client_manager import RebalanceLockManager, build_subscription
from rmq_protocol.codec.body import (
    GetConsumerListByGroupResponseBody,
    LockBatchRequestBody,
    LockBatchResponseBody,
    MessageQueue,
    UnlockBatchRequestBody,
)
from rmq_protocol.codec.codes import LanguageCode, RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.hashing import java_string_hash
from rmq_protocol.codec.headers import (
    GetConsumerListByGroupRequestHeader,
    NotifyConsumerIdsChangedRequestHeader,
    UnregisterClientRequestHeader,
)
from rmq_protocol.transport import Connection, ProcessorRegistry, RemotingClient

if TYPE_CHECKING:
    from conftest import Builders

# HEART_BEAT bodies as the clients of captures.md send them
JAVA_BODY = (
    b'{"clientID":"192.0.2.2@28379#894748368009","consumerDataSet":[{"consumeFromWhere":'
    b'"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"CID_java",'
    b'"messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":'
    b'[2598919],"expressionType":"TAG","subString":"TagA","subVersion":1700000000000,"tagsSet":'
    b'["TagA"],"topic":"TopicTest"},{"classFilterMode":false,"codeSet":[],"expressionType":"TAG",'
    b'"subString":"*","subVersion":1700000000001,"tagsSet":[],"topic":"%RETRY%CID_java"}],'
    b'"unitMode":false}],"heartbeatFingerprint":0,"producerDataSet":[{"groupName":'
    b'"CLIENT_INNER_PRODUCER"}],"withoutSub":false}'
)
CPP_BODY = (
    b'{"clientID":"127.0.0.1@29369#DEFAULT","consumerDataSet":[{"consumeFromWhere":0,'
    b'"consumeType":1,"groupName":"CID_cpp","messageModel":1,"subscriptionDataSet":[{"expressionType":'
    b'"TAG","subString":"TagA || TagB","subVersion":"1700000000000","topic":"TopicTest"}],'
    b'"unitMode":false}],"producerDataSet":[{"groupName":"PID_cpp"}]}\n'
)
ALIONS_BODY = (
    b'{"clientID":"192.0.2.2@30202","producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"}],'
    b'"consumerDataSet":[{"groupName":"CID_alions","consumeType":"CONSUME_PASSIVELY",'
    b'"messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","unitMode":false,'
    b'"subscriptionDataSet":[{"topic":"TopicTest","subString":"*","classFilterMode":false,'
    b'"tagsSet":[],"codeSet":[],"subVersion":1700000000000}]}]}'
)


def _raw_heartbeat(
    body: bytes, language: LanguageCode, *, null_ext: bool = False
) -> RemotingCommand:
    return RemotingCommand.request(
        RequestCode.HEART_BEAT, body=body, language=language, ext_fields=None if null_ext else {}
    )


@pytest.mark.parametrize(
    ("body", "language", "group", "codes"),
    [
        (JAVA_BODY, LanguageCode.JAVA, "CID_java", (java_string_hash("TagA"),)),
        (
            CPP_BODY,
            LanguageCode.CPP,
            "CID_cpp",
            (java_string_hash("TagA"), java_string_hash("TagB")),
        ),
        (ALIONS_BODY, LanguageCode.JAVA, "CID_alions", ()),
    ],
)
async def test_heartbeat_dialects(
    broker: Broker,
    client: RemotingClient,
    body: bytes,
    language: LanguageCode,
    group: str,
    codes: tuple[int, ...],
) -> None:
    response = await client.request(broker.address, _raw_heartbeat(body, language), timeout=5)
    assert response.code == ResponseCode.SUCCESS
    assert response.ext_fields == {"IS_SUPPORT_HEART_BEAT_V2": "true", "IS_SUB_CHANGE": "true"}
    controller = broker.controller
    info = controller.clients.consumer_group(group)
    assert info is not None
    assert len(info.channels) == 1
    sub = info.find_subscription("TopicTest")
    assert sub is not None
    assert sub.code_set == codes
    assert next(iter(info.channels.values())).language is language
    retry = controller.topics.select(f"%RETRY%{group}")
    assert retry is not None
    assert retry.write_queue_nums == 1
    assert controller.groups.get(group) is not None


async def test_heartbeat_with_null_ext_fields(broker: Broker, client: RemotingClient) -> None:
    """rocketmq-nodejs sends "extFields":null on HEART_BEAT."""
    request = _raw_heartbeat(CPP_BODY, LanguageCode.CPP, null_ext=True)
    response = await client.request(broker.address, request, timeout=5)
    assert response.code == ResponseCode.SUCCESS
    assert "PID_cpp" in broker.controller.clients.producers


async def test_consumer_list_unregister_and_notify(broker: Broker, build: Builders) -> None:
    notified: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def next_notifications(count: int) -> list[tuple[str, str]]:
        async with asyncio.timeout(5):
            return sorted([await notified.get() for _ in range(count)])

    def registry(name: str) -> ProcessorRegistry:
        reg = ProcessorRegistry()

        def on_notify(cmd: RemotingCommand, conn: Connection) -> None:
            header = cmd.decode_header(NotifyConsumerIdsChangedRequestHeader)
            notified.put_nowait((name, header.consumer_group))

        reg.register(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, on_notify)
        return reg

    async with RemotingClient(registry("c1")) as c1, RemotingClient(registry("c2")) as c2:
        assert (await c1.request(broker.address, build.heartbeat("client-1"), timeout=5)).code == 0
        assert await next_notifications(1) == [("c1", "CID_test")]
        # the same client again: no membership change, no notification
        assert (await c1.request(broker.address, build.heartbeat("client-1"), timeout=5)).code == 0
        assert (await c2.request(broker.address, build.heartbeat("client-2"), timeout=5)).code == 0
        assert await next_notifications(2) == [("c1", "CID_test"), ("c2", "CID_test")]
        assert notified.empty()

        ask = RemotingCommand.request(
            RequestCode.GET_CONSUMER_LIST_BY_GROUP,
            GetConsumerListByGroupRequestHeader(consumer_group="CID_test"),
        )
        response = await c1.request(broker.address, ask, timeout=5)
        assert response.code == ResponseCode.SUCCESS
        ids = GetConsumerListByGroupResponseBody.from_json(response.body).consumer_id_list
        assert sorted(ids) == ["client-1", "client-2"]

        bye = RemotingCommand.request(
            RequestCode.UNREGISTER_CLIENT,
            UnregisterClientRequestHeader(client_id="client-2", consumer_group="CID_test"),
        )
        assert (await c2.request(broker.address, bye, timeout=5)).code == ResponseCode.SUCCESS
        assert await next_notifications(1) == [("c1", "CID_test")]
        response = await c1.request(broker.address, ask, timeout=5)
        assert GetConsumerListByGroupResponseBody.from_json(response.body).consumer_id_list == (
            "client-1",
        )
        # a connection that closes leaves its groups at once
        group = broker.controller.clients.consumer_group("CID_test")
        assert group is not None
        (server_side,) = group.channels
        c1.close_connection(broker.address)
        await asyncio.wait_for(server_side.wait_closed(), 5)
        assert broker.controller.clients.consumer_group("CID_test") is None
        response = await c2.request(broker.address, ask, timeout=5)
    assert response.code == ResponseCode.SYSTEM_ERROR
    assert response.remark == "no consumer for this group, CID_test"


async def test_producer_heartbeat_and_unregister(
    broker: Broker, client: RemotingClient, build: Builders
) -> None:
    beat = build.heartbeat("p-1", consumer_group=None, producer_group="PID_x")
    assert (await client.request(broker.address, beat, timeout=5)).code == 0
    assert "PID_x" in broker.controller.clients.producers
    bye = RemotingCommand.request(
        RequestCode.UNREGISTER_CLIENT,
        UnregisterClientRequestHeader(client_id="p-1", producer_group="PID_x"),
    )
    assert (await client.request(broker.address, bye, timeout=5)).code == 0
    assert "PID_x" not in broker.controller.clients.producers


async def test_silent_clients_expire(
    broker: Broker, client: RemotingClient, build: Builders
) -> None:
    beat = build.heartbeat("c-old", producer_group="PID_old")
    assert (await client.request(broker.address, beat, timeout=5)).code == 0
    controller = broker.controller
    assert broker.scan_not_active_clients() == 0
    for info in controller.clients.consumers["CID_test"].channels.values():
        info.last_update_ms -= 121_000
    for info in controller.clients.producers["PID_old"].values():
        info.last_update_ms -= 121_000
    assert broker.scan_not_active_clients() == 1  # one connection, closed
    assert controller.clients.consumer_group("CID_test") is None
    assert "PID_old" not in controller.clients.producers


async def test_lock_and_unlock_batch(broker: Broker, client: RemotingClient) -> None:
    queues = tuple(MessageQueue("TopicTest", "broker-a", i) for i in range(3))

    async def lock(client_id: str, mqs: tuple[MessageQueue, ...]) -> tuple[MessageQueue, ...]:
        body = LockBatchRequestBody(consumer_group="CID_order", client_id=client_id, mq_set=mqs)
        request = RemotingCommand.request(RequestCode.LOCK_BATCH_MQ, body=body.to_json())
        response = await client.request(broker.address, request, timeout=5)
        assert response.code == ResponseCode.SUCCESS
        return LockBatchResponseBody.from_json(response.body).lock_ok_mq_set

    assert sorted(await lock("c1", queues[:2])) == list(queues[:2])
    assert await lock("c2", queues) == (queues[2],)
    body = UnlockBatchRequestBody(consumer_group="CID_order", client_id="c1", mq_set=queues[:1])
    request = RemotingCommand.request(RequestCode.UNLOCK_BATCH_MQ, body=body.to_json())
    assert (await client.request(broker.address, request, timeout=5)).code == ResponseCode.SUCCESS
    assert await lock("c2", queues) == (queues[0], queues[2])


def test_locks_expire_after_60_seconds() -> None:
    now = [0]
    locks = RebalanceLockManager(clock_ms=lambda: now[0])
    mq = MessageQueue("T", "b", 0)
    assert locks.try_lock_batch("g", [mq], "c1") == [mq]
    now[0] = 59_000
    assert locks.try_lock_batch("g", [mq], "c2") == []
    assert locks.try_lock_batch("g", [mq], "c1") == [mq]  # refreshed
    now[0] = 59_000 + 60_001
    assert locks.try_lock_batch("g", [mq], "c2") == [mq]
    assert not locks.is_lock_all_expired("g")


def test_subscription_building() -> None:
    sub = build_subscription("T", " TagA || TagB ||  ")
    assert sub.tags_set == ("TagA", "TagB")
    assert sub.code_set == (java_string_hash("TagA"), java_string_hash("TagB"))
    assert build_subscription("T", "").sub_string == "*"
    assert build_subscription("T", None).sub_string == "*"
    assert build_subscription("T", "a > 1", "SQL92").expression_type == "SQL92"
