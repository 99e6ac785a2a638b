"""Admin against rmq standalone: topics, groups, status, progress, queries, resets."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from rmq_client import Message, OffsetNotFoundError, Producer, TopicNotFoundError
from rmq_client._instance import ClientConfig, ClientInstance
from rmq_client.admin import Admin
from rmq_protocol.codec.body import (
    ConsumeFromWhere,
    ConsumeType,
    MessageModel,
    MessageQueue,
    SubscriptionData,
)

Unique = Callable[[str], str]


class FakeConsumer:
    """A ConsumerHandle that only shows up in heartbeats."""

    message_model = MessageModel.CLUSTERING
    consume_type = ConsumeType.CONSUME_PASSIVELY
    consume_from_where = ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET
    unit_mode = False

    def __init__(self, group: str, topic: str) -> None:
        self.group, self.topic = group, topic
        self.resets: list[dict[MessageQueue, int]] = []

    def subscriptions(self) -> list[SubscriptionData]:
        return [SubscriptionData(topic=self.topic, sub_string="*", sub_version=1)]

    def topics(self) -> set[str]:
        return {self.topic}

    def rebalance_soon(self) -> None:
        pass

    async def persist_offsets(self) -> None:
        pass

    async def reset_offsets(self, topic: str, offsets: dict[MessageQueue, int]) -> None:
        self.resets.append(offsets)

    def running_info(self) -> dict[str, object]:
        return {}


async def test_topics_status_and_messages(namesrv_addr: str, unique: Unique) -> None:
    topic = unique("T")
    async with Admin(namesrv_addr) as admin:
        info = await admin.cluster_info()
        assert info.broker_addr_table
        await admin.create_topic(topic, queue_nums=3)
        route = await admin.topic_route(topic)
        assert [q.write_queue_nums for q in route.queue_datas] == [3]
        async with Producer(unique("PG"), namesrv_addr=namesrv_addr) as producer:
            sent = [
                await producer.send(Message(topic, b"m%d" % i, keys=f"key{i % 2}"))
                for i in range(6)
            ]
        status = await admin.topic_status(topic)
        assert len(status) == 3
        assert sum(o.max_offset - o.min_offset for o in status.values()) == 6

        by_offset_id = await admin.query_message_by_id(sent[0].offset_msg_id)
        assert by_offset_id.body == b"m0"
        by_unique = await admin.query_message_by_id(sent[1].msg_id, topic=topic)
        assert by_unique.body == b"m1"
        keyed = await admin.query_messages(topic, "key1")
        assert sorted(m.body for m in keyed) == [b"m1", b"m3", b"m5"]
        assert await admin.query_messages(topic, "nokey") == []
        at = await admin.query_message_by_queue_offset(sent[2].queue, sent[2].queue_offset)
        assert at is not None
        assert at.body == b"m2"
        assert await admin.query_message_by_queue_offset(sent[2].queue, 10_000) is None
        with pytest.raises(OffsetNotFoundError):
            await admin.query_message_by_id("not-an-id")

        await admin.delete_topic(topic)
        with pytest.raises(TopicNotFoundError):
            await admin.topic_route(topic)


async def test_groups_progress_connections_and_reset(namesrv_addr: str, unique: Unique) -> None:
    topic, group = unique("T"), unique("CID")
    async with Admin(namesrv_addr) as admin:
        await admin.create_topic(topic, queue_nums=2)
        await admin.create_subscription_group(group, retry_max_times=3)
        async with Producer(unique("PG"), namesrv_addr=namesrv_addr) as producer:
            for i in range(4):
                await producer.send(Message(topic, b"%d" % i))
        # Nobody consumes: a reset writes offsets directly; from "the beginning of
        # time" every queue goes back to offset 0, from "now" to the end.
        offsets = await admin.reset_offsets_by_timestamp(group, topic, time.time() + 60)
        assert sum(offsets.values()) == 4
        progress = await admin.consumer_progress(group, topic=topic)
        assert progress.total_lag == 0
        assert {q.queue.topic for q in progress.queues} == {topic}
        await admin.reset_offsets_by_timestamp(group, topic, 0)
        progress = await admin.consumer_progress(group, topic=topic)
        assert progress.total_lag == 4
        assert [q.broker_offset for q in progress.queues] == [2, 2]

        # An online consumer (heartbeat with a subscription) shows up in connections.
        instance = ClientInstance.acquire(ClientConfig(namesrv_addr=namesrv_addr))
        await instance.start()
        try:
            await instance.topic_route(topic)
            instance.register_consumer(group, FakeConsumer(group, topic))
            await instance.send_heartbeat_to_all_brokers()
            connections = await admin.consumer_connections(group)
            assert [c.client_id for c in connections.connection_set] == [instance.client_id]
            assert topic in connections.subscription_table
            assert connections.message_model is MessageModel.CLUSTERING
            await instance.unregister_consumer(group)
        finally:
            await instance.release()
        await admin.delete_subscription_group(group)
