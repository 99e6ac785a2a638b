"""Transactional messages: half messages, END_TRANSACTION, check-back, restarts."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rmq_broker import Broker
from rmq_broker.config import BrokerConfig, BrokerSettings, load_broker_settings
from rmq_broker.transaction import HALF_TOPIC, OP_TOPIC, SYS_TRANS_GROUP
from rmq_protocol.codec import properties as props
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import (
    CheckTransactionStateRequestHeader,
    EndTransactionRequestHeader,
    SendMessageRequestHeaderV2,
    SendMessageResponseHeader,
)
from rmq_protocol.codec.message import MessageExt, decode_message, decode_messages
from rmq_protocol.codec.msgid import decode_offset_msg_id
from rmq_protocol.codec.properties import encode_properties
from rmq_protocol.transport import Connection, ProcessorRegistry, RemotingClient

if TYPE_CHECKING:
    from conftest import Builders

TOPIC = "TopicTx"
GROUP = "PID_tx"
COMMIT, ROLLBACK, UNKNOWN = 8, 12, 0
_uniq = itertools.count()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def half_request(
    body: bytes, *, queue_id: int = 1, group: str = GROUP, born_ms: int | None = None
) -> RemotingCommand:
    """A transactional SEND_MESSAGE_V2 as the Java client builds it."""
    properties = {
        "WAIT": "true",
        props.UNIQ_KEY: f"7F00000100002A9F0000000000{next(_uniq):06X}",
        props.TRANSACTION_PREPARED: "true",
        props.PRODUCER_GROUP: group,
        props.TAGS: "tx",
    }
    header = SendMessageRequestHeaderV2(
        producer_group=group,
        topic=TOPIC,
        default_topic="TBW102",
        default_topic_queue_nums=4,
        queue_id=queue_id,
        sys_flag=0x4,
        born_timestamp=_now_ms() if born_ms is None else born_ms,
        flag=0,
        properties=encode_properties(properties),
        reconsume_times=0,
        unit_mode=False,
        batch=False,
    )
    return RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, header, body=body)


@dataclasses.dataclass
class Half:
    queue_offset: int
    commit_log_offset: int
    msg_id: str  # UNIQ_KEY


async def send_half(client: RemotingClient, broker: Broker, body: bytes, **kwargs: object) -> Half:
    response = await client.request(broker.address, half_request(body, **kwargs), timeout=5)  # type: ignore[arg-type]
    assert response.code == ResponseCode.SUCCESS, response.remark
    header = response.decode_header(SendMessageResponseHeader)
    assert header.queue_id == 0  # the half queue, not the queue asked for
    _, _, phy = decode_offset_msg_id(header.msg_id)
    assert header.transaction_id is not None
    return Half(header.queue_offset, phy, header.transaction_id)


def end_request(
    half: Half, kind: int, *, group: str = GROUP, oneway: bool = False, check: bool = False
) -> RemotingCommand:
    return RemotingCommand.request(
        RequestCode.END_TRANSACTION,
        EndTransactionRequestHeader(
            topic=TOPIC,
            producer_group=group,
            tran_state_table_offset=half.queue_offset,
            commit_log_offset=half.commit_log_offset,
            commit_or_rollback=kind,
            from_transaction_check=check,
            msg_id=half.msg_id,
            transaction_id=half.msg_id,
        ),
        oneway=oneway,
    )


async def end(client: RemotingClient, broker: Broker, half: Half, kind: int) -> RemotingCommand:
    return await client.request(broker.address, end_request(half, kind), timeout=5)


def visible(broker: Broker, queue_id: int = 1) -> list[MessageExt]:
    """What consumers of TOPIC can read on ``queue_id``."""
    store = broker.controller.store
    result = store.get_messages(TOPIC, queue_id, 0, max_count=100)
    out = [decode_message(view)[0] for view in result.messages]
    for view in result.messages:
        view.release()
    return out


def open_transactions(broker: Broker) -> int:
    return broker.transactions.pending


def op_bodies(broker: Broker) -> list[bytes]:
    store = broker.controller.store
    result = store.get_messages(OP_TOPIC, 0, 0, max_count=100)
    out = [decode_message(view)[0] for view in result.messages]
    for view in result.messages:
        view.release()
    assert all(m.tags == "d" for m in out)
    return [m.body for m in out]


@pytest.fixture
async def client() -> AsyncIterator[RemotingClient]:
    async with RemotingClient() as remoting:
        yield remoting


async def test_half_message_is_invisible_until_commit(
    broker: Broker, client: RemotingClient
) -> None:
    half = await send_half(client, broker, b"order-1")
    store = broker.controller.store
    assert store.get_max_offset_in_queue(TOPIC, 1) == 0
    assert store.get_max_offset_in_queue(HALF_TOPIC, 0) == 1
    assert broker.transactions.pending == 1
    stored = decode_message(store.read_message(half.commit_log_offset) or b"")[0]
    assert stored.topic == HALF_TOPIC
    assert stored.queue_id == 0
    assert stored.properties[props.REAL_TOPIC] == TOPIC
    assert stored.properties[props.REAL_QUEUE_ID] == "1"
    assert stored.sys_flag & 0xC == 0

    response = await end(client, broker, half, COMMIT)
    assert response.code == ResponseCode.SUCCESS, response.remark
    [message] = visible(broker)
    assert message.body == b"order-1"
    assert message.sys_flag & 0xC == 0x8
    assert message.prepared_transaction_offset == half.commit_log_offset
    assert props.REAL_TOPIC not in message.properties
    assert message.properties[props.UNIQ_KEY] == half.msg_id
    assert message.tags == "tx"
    assert op_bodies(broker) == [str(half.queue_offset).encode()]
    assert broker.transactions.pending == 0
    # a repeated commit or a late rollback changes nothing
    assert (await end(client, broker, half, COMMIT)).code == ResponseCode.SUCCESS
    assert (await end(client, broker, half, ROLLBACK)).code == ResponseCode.SUCCESS
    assert len(visible(broker)) == 1
    assert len(op_bodies(broker)) == 1
    assert broker.transactions.commits == 1


async def test_rollback_and_oneway_end(broker: Broker, client: RemotingClient) -> None:
    first = await send_half(client, broker, b"a")
    second = await send_half(client, broker, b"b")
    await client.send_oneway(broker.address, end_request(second, ROLLBACK, oneway=True), timeout=5)
    await client.send_oneway(broker.address, end_request(first, COMMIT, oneway=True), timeout=5)
    async with asyncio.timeout(5):
        while broker.transactions.pending:  # noqa: ASYNC110 - polled counters
            await asyncio.sleep(0.01)
    assert [m.body for m in visible(broker)] == [b"a"]
    assert sorted(op_bodies(broker)) == [b"0", b"1"]
    assert broker.transactions.rollbacks == 1
    # unknown leaves the transaction open
    third = await send_half(client, broker, b"c")
    assert (await end(client, broker, third, UNKNOWN)).code == ResponseCode.SUCCESS
    assert open_transactions(broker) == 1


async def test_end_transaction_refusals(broker: Broker, client: RemotingClient) -> None:
    half = await send_half(client, broker, b"x")
    wrong_group = await client.request(
        broker.address, end_request(half, COMMIT, group="PID_other"), timeout=5
    )
    assert (wrong_group.code, wrong_group.remark) == (
        ResponseCode.SYSTEM_ERROR,
        "The producer group wrong",
    )
    moved = dataclasses.replace(half, queue_offset=half.queue_offset + 5)
    response = await end(client, broker, moved, COMMIT)
    assert (response.code, response.remark) == (
        ResponseCode.SYSTEM_ERROR,
        "The transaction state table offset wrong",
    )
    for phy in (half.commit_log_offset + 1, 10**9, -1):
        lost = dataclasses.replace(half, commit_log_offset=phy)
        response = await end(client, broker, lost, COMMIT)
        assert (response.code, response.remark) == (
            ResponseCode.SYSTEM_ERROR,
            "Find prepared transaction message failed",
        )
    response = await end(client, broker, half, 5)
    assert response.code == ResponseCode.INVALID_PARAMETER
    assert "commitOrRollback 5" in (response.remark or "")
    assert visible(broker) == []
    assert broker.transactions.pending == 1


async def test_reject_transaction_message(settings: BrokerSettings, build: Builders) -> None:
    async with (
        Broker(build.with_broker(settings, reject_transaction_message=True)) as broker,
        RemotingClient() as client,
    ):
        response = await client.request(broker.address, half_request(b"x"), timeout=5)
        assert response.code == ResponseCode.NO_PERMISSION
        assert "sending transaction message is forbidden" in (response.remark or "")


class Producer:
    """A raw producer connection that records CHECK_TRANSACTION_STATE requests."""

    def __init__(self, answer: int | None) -> None:
        self.answer = answer
        self.checks: asyncio.Queue[tuple[CheckTransactionStateRequestHeader, MessageExt]] = (
            asyncio.Queue()
        )
        registry = ProcessorRegistry()
        registry.register(RequestCode.CHECK_TRANSACTION_STATE, self._on_check)
        self.client = RemotingClient(registry)
        self.address = ""

    def _on_check(self, request: RemotingCommand, conn: Connection) -> None:
        header = request.decode_header(CheckTransactionStateRequestHeader)
        [message] = decode_messages(request.body)
        self.checks.put_nowait((header, message))
        if self.answer is not None:
            half = Half(
                header.tran_state_table_offset, header.commit_log_offset, header.msg_id or ""
            )
            asyncio.get_running_loop().create_task(
                self.client.send_oneway(
                    self.address, end_request(half, self.answer, oneway=True, check=True), timeout=5
                )
            )


async def test_check_back_commits_and_rollbacks(settings: BrokerSettings, build: Builders) -> None:
    fast = build.with_broker(settings, transaction_time_out=100, transaction_check_interval=300)
    for answer in (COMMIT, ROLLBACK):
        producer = Producer(answer)
        async with Broker(fast) as broker, producer.client, RemotingClient() as client:
            producer.address = broker.address
            beat = build.heartbeat("127.0.0.1@tx", consumer_group=None, producer_group=GROUP)
            assert (await producer.client.request(broker.address, beat, timeout=5)).code == 0
            before = len(visible(broker))
            half = await send_half(client, broker, b"checked")
            header, message = await asyncio.wait_for(producer.checks.get(), 10)
            # the check names the put-back copy and carries the message as sent
            assert header.tran_state_table_offset > half.queue_offset
            assert header.msg_id == half.msg_id == header.transaction_id
            assert header.offset_msg_id is not None
            assert decode_offset_msg_id(header.offset_msg_id)[2] == header.commit_log_offset
            assert (message.topic, message.queue_id, message.body) == (TOPIC, 1, b"checked")
            assert message.properties[props.TRANSACTION_CHECK_TIMES] == "1"
            async with asyncio.timeout(10):
                while broker.transactions.pending:  # noqa: ASYNC110 - polled counters
                    await asyncio.sleep(0.02)
            expected = [b"checked"] if answer == COMMIT else []
            assert [m.body for m in visible(broker)][before:] == expected
            # resolved: no further checks
            rounds = broker.transactions.rounds
            await broker.transactions.wait_rounds(rounds + 3, timeout=10)
            assert producer.checks.empty()
            assert broker.controller.offsets.query_offset(SYS_TRANS_GROUP, HALF_TOPIC, 0) == 2
        fast = dataclasses.replace(
            fast,
            store=dataclasses.replace(
                fast.store, store_path_root_dir=fast.store.store_path_root_dir / "again"
            ),
        )


async def test_check_max_discards(settings: BrokerSettings, build: Builders) -> None:
    fast = build.with_broker(
        settings, transaction_time_out=0, transaction_check_interval=50, transaction_check_max=3
    )
    producer = Producer(None)  # online, never answers
    async with Broker(fast) as broker, producer.client, RemotingClient() as client:
        beat = build.heartbeat("127.0.0.1@tx", consumer_group=None, producer_group=GROUP)
        await producer.client.request(broker.address, beat, timeout=5)
        await send_half(client, broker, b"forgotten")
        async with asyncio.timeout(10):
            while broker.transactions.discarded == 0:  # noqa: ASYNC110 - polled counters
                await asyncio.sleep(0.02)
        assert broker.transactions.checks_sent == 3
        assert producer.checks.qsize() == 3
        assert broker.transactions.pending == 0
        assert visible(broker) == []


async def test_unresolved_and_resolved_survive_restart(
    settings: BrokerSettings, build: Builders
) -> None:
    async with Broker(settings) as broker, RemotingClient() as client:
        committed = await send_half(client, broker, b"committed")
        rolled_back = await send_half(client, broker, b"rolled back")
        open_one = await send_half(client, broker, b"open")
        assert (await end(client, broker, committed, COMMIT)).code == 0
        assert (await end(client, broker, rolled_back, ROLLBACK)).code == 0
    async with Broker(settings) as broker, RemotingClient() as client:
        assert broker.transactions.pending == 1
        assert [m.body for m in visible(broker)] == [b"committed"]
        # answers for resolved ones are ignored; the open one commits once
        for half in (committed, rolled_back, open_one):
            assert (await end(client, broker, half, COMMIT)).code == 0
        assert [m.body for m in visible(broker)] == [b"committed", b"open"]
    async with Broker(settings) as broker, RemotingClient() as client:
        assert broker.transactions.pending == 0
        assert (await end(client, broker, open_one, COMMIT)).code == 0
        assert [m.body for m in visible(broker)] == [b"committed", b"open"]


async def test_check_progress_survives_restart(settings: BrokerSettings, build: Builders) -> None:
    fast = build.with_broker(settings, transaction_time_out=0, transaction_check_interval=50)
    async with Broker(fast) as broker, RemotingClient() as client:
        half = await send_half(client, broker, b"open")
        await broker.transactions.wait_rounds(2, timeout=10)  # put back, no producer online
        progress = broker.controller.offsets.query_offset(SYS_TRANS_GROUP, HALF_TOPIC, 0)
        assert progress >= 1
    slow = build.with_broker(settings, transaction_check_interval=600_000)
    async with Broker(slow) as broker, RemotingClient() as client:
        assert broker.controller.offsets.query_offset(SYS_TRANS_GROUP, HALF_TOPIC, 0) == progress
        assert broker.transactions.pending == 1
        # the producer answers for the original copy: committed once
        assert (await end(client, broker, half, COMMIT)).code == 0
        assert [m.body for m in visible(broker)] == [b"open"]
        assert broker.transactions.pending == 0


def test_check_defaults_are_the_spec_s(tmp_path: Path) -> None:
    """Spec §4.5: transactionTimeOut / transactionCheckInterval / transactionCheckMax are
    6 s / 30 s / 15 (Java 5.1.1+; 4.9 checked every 60 s); each is a broker.conf key."""
    config = BrokerConfig()
    assert (
        config.transaction_time_out,
        config.transaction_check_interval,
        config.transaction_check_max,
    ) == (6000, 30_000, 15)
    conf = tmp_path / "broker.conf"
    conf.write_text("transactionCheckInterval=60000\ntransactionTimeOut=2000\n")
    loaded = load_broker_settings(conf).broker
    assert (loaded.transaction_check_interval, loaded.transaction_time_out) == (60_000, 2000)
