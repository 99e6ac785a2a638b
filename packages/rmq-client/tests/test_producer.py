"""Producer end to end against rmq standalone: every send mode, batches, selectors,
compression, retries on another broker, fault avoidance, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from rmq_client import (
    Admin,
    HashSelector,
    Message,
    MessageQueue,
    MessageTooLargeError,
    Producer,
    ReceivedMessage,
    SendResult,
    SendStatus,
)
from rmq_client._fault import FaultStrategy, not_available_duration
from rmq_client._instance import ClientInstance
from rmq_protocol.codec.body import BrokerData, QueueData, TopicRouteData
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.headers import PullMessageRequestHeader
from rmq_protocol.codec.message import SysFlag, decode_messages
from rmq_protocol.errors import LocalProtocolError

Unique = Callable[[str], str]


async def pull(
    instance: ClientInstance, mq: MessageQueue, offset: int = 0, *, decompress: bool = True
) -> list[ReceivedMessage]:
    """Every message of ``mq`` from ``offset`` (PULL_MESSAGE, own subscription)."""
    addr = await instance.find_broker_addr(mq.broker_name)
    out: list[ReceivedMessage] = []
    while True:
        header = PullMessageRequestHeader(
            consumer_group="CID_rmq_client_test",
            topic=mq.topic,
            queue_id=mq.queue_id,
            queue_offset=offset,
            max_msg_nums=32,
            sys_flag=0x4,
            commit_offset=0,
            suspend_timeout_millis=0,
            subscription="*",
            sub_version=0,
            expression_type="TAG",
        )
        cmd = instance.request(RequestCode.PULL_MESSAGE, header)
        response = await instance.invoke(addr, cmd, timeout=5)
        if response.code != ResponseCode.SUCCESS:
            return out
        batch = decode_messages(response.body, decompress=decompress)
        out += batch
        offset = batch[-1].queue_offset + 1


async def test_send_sync_stores_message_with_properties(namesrv_addr: str, unique: Unique) -> None:
    topic = unique("T")
    async with Producer(unique("PG"), namesrv_addr=namesrv_addr) as producer:
        msg = Message(topic, b"hello", tags="TagA", keys=["k1", "k2"], properties={"color": "red"})
        result = await producer.send(msg)
        assert result.status is SendStatus.SEND_OK
        assert result.queue.topic == topic
        assert len(result.msg_id) == 32
        assert len(result.offset_msg_id) == 32
        second = await producer.send(msg, queue=result.queue)
        assert second.queue == result.queue
        assert second.queue_offset == result.queue_offset + 1
        stored = await pull(producer.instance, result.queue, result.queue_offset)
        async with Admin(namesrv_addr) as admin:  # the first route triggered a heartbeat
            for _ in range(50):
                connections = await admin.producer_connections(producer.group)
                if connections.connection_set:
                    break
                await asyncio.sleep(0.05)
        assert [c.client_id for c in connections.connection_set] == [producer.instance.client_id]
    assert [m.body for m in stored] == [b"hello", b"hello"]
    first = stored[0]
    assert first.msg_id == result.msg_id
    assert first.offset_msg_id == result.offset_msg_id
    assert first.tags == "TagA"
    assert first.keys == ["k1", "k2"]
    assert first.properties["color"] == "red"
    assert first.properties["WAIT"] == "true"


async def test_async_oneway_and_compression(namesrv_addr: str, unique: Unique) -> None:
    topic = unique("T")
    big = bytes(range(256)) * 40  # 10 KiB: compressed
    async with Producer(unique("PG"), namesrv_addr=namesrv_addr) as producer:
        first = await producer.send(Message(topic, b"first"))
        mq = first.queue
        seen: list[tuple[SendResult | None, BaseException | None]] = []
        done = asyncio.Event()

        def callback(result: SendResult | None, error: BaseException | None) -> None:
            seen.append((result, error))
            done.set()

        future = producer.send_async(Message(topic, big), queue=mq, callback=callback)
        result = await future
        await asyncio.wait_for(done.wait(), 5)
        assert seen == [(result, None)]
        await producer.send_oneway(Message(topic, b"oneway"), queue=mq)
        for _ in range(100):  # oneway: no answer tells when it is stored
            if len(stored := await pull(producer.instance, mq)) == 3:
                break
            await asyncio.sleep(0.05)
        raw = await pull(producer.instance, mq, decompress=False)
    assert [m.body for m in stored] == [b"first", big, b"oneway"]
    assert raw[1].sys_flag & SysFlag.COMPRESSED
    assert len(raw[1].body) < len(big)


async def test_batch_split_by_size_keeps_order(namesrv_addr: str, unique: Unique) -> None:
    topic = unique("T")
    async with Producer(unique("PG"), namesrv_addr=namesrv_addr, max_message_size=2000) as producer:
        mq = (await producer.send(Message(topic, b"seed"))).queue
        messages = [Message(topic, b"m%03d" % i + b"." * 100, keys=f"k{i}") for i in range(40)]
        results = await producer.send_batch(messages, queue=mq)
        assert len(results) > 1  # 40 x ~150 bytes > 2000 bytes
        ids = ",".join(r.msg_id for r in results).split(",")
        assert len(ids) == 40
        stored = await pull(producer.instance, mq, 1)
        assert [m.body for m in stored] == [m.body for m in messages]
        assert [m.msg_id for m in stored] == ids
        with pytest.raises(MessageTooLargeError):
            await producer.send_batch([Message(topic, b"x" * 3000)])
        with pytest.raises(ValueError, match="one topic"):
            await producer.send_batch([Message(topic, b"a"), Message(topic + "x", b"b")])


async def test_hash_selector_is_stable(namesrv_addr: str, unique: Unique) -> None:
    topic = unique("T")
    async with Producer(unique("PG"), namesrv_addr=namesrv_addr) as producer:
        await producer.send(Message(topic, b"create"))
        selector = HashSelector()
        queues = {
            (await producer.send(Message(topic, b"x"), selector=selector, arg="order-1")).queue
            for _ in range(5)
        }
        assert len(queues) == 1
        keyed = await producer.send(Message(topic, b"y", sharding_key="order-1"), selector=selector)
        assert keyed.queue in queues


async def test_retry_on_another_broker_and_fault_avoidance(
    namesrv_addr: str, unique: Unique
) -> None:
    topic = unique("T")
    async with Producer(unique("PG"), namesrv_addr=namesrv_addr, send_timeout=5) as producer:
        real = await producer.send(Message(topic, b"create"))
        instance = producer.instance
        route = instance.cached_route(topic)  # TBW102's brokers until the broker registers it
        assert route is not None
        good = route.broker_datas[0]
        dead = BrokerData(
            cluster=good.cluster, broker_name="dead-broker", broker_addrs={0: "127.0.0.1:1"}
        )
        fake = TopicRouteData(
            queue_datas=(
                QueueData(broker_name="dead-broker", read_queue_nums=4, write_queue_nums=4, perm=6),
                *route.queue_datas,
            ),
            broker_datas=(dead, *route.broker_datas),
        )
        instance.update_route(topic, fake)
        results = [await producer.send(Message(topic, b"%d" % i)) for i in range(8)]
        assert {r.queue.broker_name for r in results} == {real.queue.broker_name}
        assert not producer.fault.is_available("dead-broker")
        instance.forget_route(topic)


def test_fault_tables_match_java() -> None:
    assert [not_available_duration(x) for x in (10, 60, 600, 2000, 3500, 6000, 20000)] == [
        0,
        0,
        2000,
        5000,
        6000,
        10000,
        30000,
    ]
    fault = FaultStrategy()
    queues = [MessageQueue("T", b, i) for b in ("a", "b") for i in range(2)]
    fault.update("a", 0, isolation=True)
    assert {fault.select(queues).broker_name for _ in range(8)} == {"b"}
    assert {fault.select(queues, "b").broker_name for _ in range(4)} == {"a"}  # only "a" left


async def test_send_errors_are_typed(namesrv_addr: str, unique: Unique) -> None:
    async with Producer(unique("PG"), namesrv_addr=namesrv_addr, max_message_size=100) as producer:
        with pytest.raises(MessageTooLargeError) as info:
            await producer.send(Message(unique("T"), b"x" * 101))
        assert info.value.size == 101
        with pytest.raises(ValueError, match="empty"):
            await producer.send(Message(unique("T"), b""))
        with pytest.raises(ValueError, match="set by the client"):
            await producer.send(Message(unique("T"), b"x", properties={"TAGS": "no"}))


async def test_properties_strings_of_plain_messages(namesrv_addr: str, unique: Unique) -> None:
    """Messages without user properties or keys take the cached properties string; what
    the broker stored is the full properties map, with a fresh UNIQ_KEY each time."""
    topic = unique("T")
    sent = [
        Message(topic, b"0"),
        Message(topic, b"1", tags="TagA"),
        Message(topic, b"2", tags="TagA"),  # the cached string again
        Message(topic, b"3", tags="TagB", wait_store_msg_ok=False, flag=7),
        Message(topic, b"4", tags=""),
        Message(topic, b"5", keys="k1", properties={"color": "red"}),  # the plain way
    ]
    async with Producer(unique("PG"), namesrv_addr=namesrv_addr) as producer:
        queue = (await producer.publish_queues(topic))[0]
        results = [await producer.send(m, queue=queue) for m in sent]
        with pytest.raises(LocalProtocolError):
            await producer.send(Message(topic, b"bad", tags="A\x01B"), queue=queue)
        with pytest.raises(LocalProtocolError):  # not cached: refused again
            await producer.send(Message(topic, b"bad", tags="A\x01B"), queue=queue)
        stored = await pull(producer.instance, queue, results[0].queue_offset)
    assert [m.body for m in stored] == [m.body for m in sent]
    assert len({r.msg_id for r in results}) == len(sent)
    for msg, result, got in zip(sent, results, stored, strict=True):
        want = {**msg.wire_properties(), "UNIQ_KEY": result.msg_id}
        assert {k: v for k, v in got.properties.items() if k != "CLUSTER"} == want  # broker's
        assert got.flag == msg.flag
        assert got.msg_id == result.msg_id
