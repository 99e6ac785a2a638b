"""Message trace end to end against a real ``rmq standalone`` (conftest.py): a traced
Producer and PushConsumer write Java-format records to the trace topic, and
Admin.query_message_trace / message_consumed_by read them back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from rmq_client import Admin, LocalTransactionState, Message, Producer
from rmq_client.consumer import ConsumeResult, PushConsumer
from rmq_client.trace import TRACE_TOPIC, MessageTrace, TraceMessageType, decode_records
from rmq_client.trace._query import TrackType
from rmq_protocol.codec.body import ConsumeFromWhere
from rmq_protocol.codec.message import MessageExt


class Standalone(Protocol):
    namesrv_addr: str
    broker_addr: str


async def wait_for_trace(
    admin: Admin,
    msg_id: str,
    ready: Callable[[MessageTrace], bool],
    *,
    trace_topic: str = TRACE_TOPIC,
    timeout: float = 30.0,
) -> MessageTrace:
    """Query the trace until ``ready`` holds (trace records are sent in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        trace = await admin.query_message_trace(msg_id, trace_topic=trace_topic)
        if ready(trace) or time.monotonic() > deadline:
            return trace
        await asyncio.sleep(0.2)


async def test_traced_send_and_consume_are_queryable_by_msg_id(
    standalone: Standalone, unique: Callable[[str], str]
) -> None:
    topic, pgroup, cgroup = unique("T"), unique("PG"), unique("CG")
    ns = standalone.namesrv_addr
    async with Admin(ns) as admin:
        await admin.create_topic(topic, queue_nums=2)
        await admin.create_topic(TRACE_TOPIC, queue_nums=1)  # as an operator would
        async with Producer(pgroup, namesrv_addr=ns, enable_trace=True) as producer:
            result = await producer.send(
                Message(topic, b"traced body", tags="TagA", keys=["order-1", "order-2"])
            )
        got: list[MessageExt] = []
        consumed = asyncio.Event()

        def listener(msgs: list[MessageExt]) -> ConsumeResult:
            time.sleep(0.05)  # a measurable cost (a plain listener runs on the loop)
            got.extend(msgs)
            consumed.set()
            return ConsumeResult.SUCCESS

        consumer = PushConsumer(
            cgroup, namesrv_addr=ns, listener=listener, enable_trace=True,
            consume_from=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
        )  # fmt: skip
        consumer.subscribe(topic)
        async with consumer:
            async with asyncio.timeout(30):
                await consumed.wait()
            trace = await wait_for_trace(
                admin, result.msg_id, lambda t: bool(t.pub) and bool(t.consumed_by)
            )
            # The message's offset is committed: the group consumed it.
            await consumer.persist_offsets()
            [msg] = got
            tracks = {t.group: t for t in await admin.message_consumed_by(msg)}
            assert tracks[cgroup].track_type is TrackType.CONSUMED
            assert tracks[cgroup].consumer_offset == msg.queue_offset + 1
        tracks = {t.group: t for t in await admin.message_consumed_by(msg)}
        assert tracks[cgroup].track_type is TrackType.NOT_ONLINE

    [pub] = trace.pub
    assert (pub.group, pub.topic, pub.msg_id, pub.success) == (pgroup, topic, result.msg_id, True)
    assert (pub.tags, pub.keys, pub.body_length) == ("TagA", "order-1 order-2", 11)
    assert pub.store_host == standalone.broker_addr
    assert pub.offset_msg_id == result.offset_msg_id
    assert pub.msg_type is TraceMessageType.NORMAL
    assert pub.region_id == "DefaultRegion"
    assert 0 <= pub.cost_ms < 10_000
    [attempt] = trace.attempts[cgroup]
    assert (attempt.success, attempt.retry_times, attempt.context_code) == (True, 0, 0)
    assert attempt.cost_ms is not None
    assert 40 <= attempt.cost_ms < 10_000
    assert pub.timestamp <= attempt.began
    assert trace.retries(cgroup) == 0
    assert not trace.dlq_groups
    # The trace messages are indexed by the business keys too (Java's transKey).
    async with Admin(ns) as admin:
        by_key = await admin.query_messages(TRACE_TOPIC, "order-1")
    records = [r for m in by_key for r in decode_records(m.body)]
    assert {type(r).__name__ for r in records if r.msg_id == result.msg_id} == {
        "PubTrace", "SubBeforeTrace", "SubAfterTrace",
    }  # fmt: skip


async def test_failed_consumption_shows_a_retry_in_the_trace(
    standalone: Standalone, unique: Callable[[str], str]
) -> None:
    topic, cgroup, trace_topic = unique("T"), unique("CG"), unique("TRACE")
    ns = standalone.namesrv_addr
    async with Admin(ns) as admin:
        await admin.create_topic(topic, queue_nums=1)
        await admin.create_topic(trace_topic, queue_nums=1)
        async with Producer(
            unique("PG"), namesrv_addr=ns, enable_trace=True, trace_topic=trace_topic
        ) as producer:
            result = await producer.send(Message(topic, b"fails once"))
        calls: list[int] = []
        retried = asyncio.Event()

        async def listener(msgs: list[MessageExt]) -> ConsumeResult:
            calls.append(msgs[0].reconsume_times)
            if len(calls) == 1:
                return ConsumeResult.RECONSUME_LATER
            retried.set()
            return ConsumeResult.SUCCESS

        consumer = PushConsumer(
            cgroup, namesrv_addr=ns, listener=listener, enable_trace=True,
            trace_topic=trace_topic, consume_from=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
        )  # fmt: skip
        consumer.subscribe(topic)
        async with consumer:
            # The retry comes back after delay level 3 (10 s).
            async with asyncio.timeout(60):
                await retried.wait()
        trace = await wait_for_trace(
            admin, result.msg_id,
            lambda t: len(t.attempts.get(cgroup, [])) == 2
            and all(a.success is not None for a in t.attempts[cgroup]),
            trace_topic=trace_topic,
        )  # fmt: skip
    assert calls == [0, 1]
    first, second = trace.attempts[cgroup]
    assert (first.success, first.retry_times, first.context_code) == (False, 0, 4)  # FAILED
    assert (second.success, second.retry_times, second.context_code) == (True, 1, 0)
    assert trace.retries(cgroup) == 1
    assert trace.consumed_by == [cgroup]
    assert len(trace.pub) == 1


async def test_message_past_max_reconsume_is_seen_in_the_dlq(
    standalone: Standalone, unique: Callable[[str], str]
) -> None:
    topic, cgroup = unique("T"), unique("CG")
    ns = standalone.namesrv_addr
    async with Admin(ns) as admin:
        await admin.create_topic(topic, queue_nums=1)
        await admin.create_topic(TRACE_TOPIC, queue_nums=1)
        async with Producer(unique("PG"), namesrv_addr=ns, enable_trace=True) as producer:
            result = await producer.send(Message(topic, b"poison"))
        called = asyncio.Event()

        def listener(msgs: list[MessageExt]) -> ConsumeResult:
            called.set()
            raise ValueError("cannot handle this")

        consumer = PushConsumer(
            cgroup, namesrv_addr=ns, listener=listener, enable_trace=True,
            max_reconsume_times=0, consume_from=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
        )  # fmt: skip
        consumer.subscribe(topic)
        async with consumer:
            async with asyncio.timeout(30):
                await called.wait()
            trace = await wait_for_trace(admin, result.msg_id, lambda t: bool(t.dlq_groups))
    [attempt] = trace.attempts[cgroup]
    assert (attempt.success, attempt.context_code) == (False, 2)  # EXCEPTION
    assert trace.dlq_groups == {cgroup}
    assert trace.consumed_by == []


class CommitAll:
    def execute_local_transaction(self, message: Message, arg: object) -> LocalTransactionState:
        return LocalTransactionState.COMMIT_MESSAGE

    def check_local_transaction(self, message: MessageExt) -> LocalTransactionState:
        return LocalTransactionState.COMMIT_MESSAGE


async def test_transactional_send_traces_the_half_message_and_its_commit(
    standalone: Standalone, unique: Callable[[str], str]
) -> None:
    topic, pgroup = unique("T"), unique("PG")
    ns = standalone.namesrv_addr
    async with Admin(ns) as admin:
        await admin.create_topic(topic, queue_nums=1)
        await admin.create_topic(TRACE_TOPIC, queue_nums=1)
        async with Producer(
            pgroup, namesrv_addr=ns, enable_trace=True, transaction_listener=CommitAll()
        ) as producer:
            sent = await producer.send_message_in_transaction(
                Message(topic, b"tx body", tags="TX", keys="tx-1")
            )
        trace = await wait_for_trace(
            admin, sent.send_result.msg_id, lambda t: bool(t.pub and t.end_transactions)
        )
    [pub] = trace.pub
    assert (pub.msg_type, pub.group, pub.success) == (TraceMessageType.TRANS_HALF, pgroup, True)
    [end] = trace.end_transactions
    assert (end.transaction_state, end.from_transaction_check) == ("COMMIT_MESSAGE", False)
    assert (end.group, end.topic, end.tags, end.keys) == (pgroup, topic, "TX", "tx-1")
    assert end.msg_type is TraceMessageType.TRANS_COMMIT
    assert end.store_host == standalone.broker_addr
    assert end.transaction_id == sent.send_result.transaction_id
