"""Committed transactional messages with a delay level or a 5.x timer: through the raw
protocol, the half message waits in the half topic, the commit (END_TRANSACTION, also as
a check answer) routes the message as a plain send with those properties, and the wait
counts from the commit."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time

import pytest

from rmq_broker import Broker, BrokerSettings
from rmq_broker.timer import TIMER_TOPIC
from rmq_broker.topic_config import SCHEDULE_TOPIC
from rmq_broker.transaction import HALF_TOPIC
from rmq_protocol.codec import properties as props
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import (
    EndTransactionRequestHeader,
    SendMessageRequestHeaderV2,
    SendMessageResponseHeader,
)
from rmq_protocol.codec.message import MessageExt, TransactionType, decode_message, transaction_type
from rmq_protocol.codec.msgid import decode_offset_msg_id
from rmq_protocol.codec.properties import encode_properties
from rmq_protocol.transport import RemotingClient

TOPIC = "TopicTxDelay"
GROUP = "PID_tx_delay"
QUEUE = 2
COMMIT, ROLLBACK = 8, 12
_uniq = itertools.count()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def fast(settings: BrokerSettings, **broker_changes: object) -> BrokerSettings:
    """Delay levels 1 s and 2 s; broker keys changed as asked."""
    store = dataclasses.replace(settings.store, message_delay_level="1s 2s")
    broker = dataclasses.replace(settings.broker, **broker_changes)  # type: ignore[arg-type]
    return dataclasses.replace(settings, store=store, broker=broker)


@dataclasses.dataclass(frozen=True)
class Half:
    queue_offset: int
    commit_log_offset: int
    msg_id: str


async def send_half(
    client: RemotingClient, broker: Broker, extra: dict[str, str]
) -> RemotingCommand:
    """A transactional SEND_MESSAGE_V2 (sysFlag 0x4, TRAN_MSG) with ``extra`` properties."""
    properties = {
        props.WAIT_STORE_MSG_OK: "true",
        props.UNIQ_KEY: f"7F00000100002A9F00000000AB{next(_uniq):06X}",
        props.TRANSACTION_PREPARED: "true",
        props.PRODUCER_GROUP: GROUP,
        props.TAGS: "later",
        **extra,
    }
    header = SendMessageRequestHeaderV2(
        producer_group=GROUP,
        topic=TOPIC,
        default_topic="TBW102",
        default_topic_queue_nums=4,
        queue_id=QUEUE,
        sys_flag=0x4,
        born_timestamp=now_ms(),
        flag=0,
        properties=encode_properties(properties),
        reconsume_times=0,
        unit_mode=False,
        batch=False,
    )
    request = RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, header, body=b"tx body")
    return await client.request(broker.address, request, timeout=5)


async def stored_half(client: RemotingClient, broker: Broker, extra: dict[str, str]) -> Half:
    response = await send_half(client, broker, extra)
    assert response.code == ResponseCode.SUCCESS, response.remark
    header = response.decode_header(SendMessageResponseHeader)
    _, _, phy = decode_offset_msg_id(header.msg_id)
    assert header.transaction_id is not None
    return Half(header.queue_offset, phy, header.transaction_id)


async def end(
    client: RemotingClient, broker: Broker, half: Half, kind: int, *, check: bool = False
) -> None:
    request = RemotingCommand.request(
        RequestCode.END_TRANSACTION,
        EndTransactionRequestHeader(
            topic=TOPIC,
            producer_group=GROUP,
            tran_state_table_offset=half.queue_offset,
            commit_log_offset=half.commit_log_offset,
            commit_or_rollback=kind,
            from_transaction_check=check,
            msg_id=half.msg_id,
            transaction_id=half.msg_id,
        ),
    )
    response = await client.request(broker.address, request, timeout=5)
    assert response.code == ResponseCode.SUCCESS, response.remark


def messages(broker: Broker, topic: str, queue_id: int) -> list[MessageExt]:
    result = broker.controller.store.get_messages(topic, queue_id, 0, max_count=100)
    out = [decode_message(view)[0] for view in result.messages]
    for view in result.messages:
        view.release()
    return out


async def wait_visible(broker: Broker, *, timeout: float = 15) -> MessageExt:
    """The first message of TOPIC queue QUEUE, waiting for it to arrive."""
    arrived = asyncio.Event()

    def on_arrival(topic: str, queue_id: int, queue_offset: int, tags_code: int) -> None:
        if topic == TOPIC:
            arrived.set()

    broker.controller.store.add_arrival_listener(on_arrival)
    async with asyncio.timeout(timeout):
        while not (got := messages(broker, TOPIC, QUEUE)):
            await arrived.wait()
            arrived.clear()
    return got[0]


def assert_committed_copy(message: MessageExt, half: Half) -> None:
    assert (message.topic, message.queue_id, message.body) == (TOPIC, QUEUE, b"tx body")
    assert transaction_type(message.sys_flag) is TransactionType.COMMIT_TYPE
    assert message.properties[props.UNIQ_KEY] == half.msg_id
    assert message.properties[props.TAGS] == "later"


@pytest.mark.parametrize("from_check", [False, True])
async def test_committed_half_with_a_delay_level_waits_the_level(
    settings: BrokerSettings, client: RemotingClient, from_check: bool
) -> None:
    async with Broker(fast(settings)) as broker:
        half = await stored_half(client, broker, {props.DELAY_TIME_LEVEL: "2"})
        # the half message itself is in the half topic, not in the schedule topic
        (stored,) = messages(broker, HALF_TOPIC, 0)
        assert stored.properties[props.DELAY_TIME_LEVEL] == "2"
        assert stored.properties[props.REAL_TOPIC] == TOPIC
        assert messages(broker, SCHEDULE_TOPIC, 1) == []
        committed_at = time.monotonic()
        await end(client, broker, half, COMMIT, check=from_check)
        assert messages(broker, TOPIC, QUEUE) == []
        (scheduled,) = messages(broker, SCHEDULE_TOPIC, 1)  # level 2 -> queue 1
        assert scheduled.properties[props.REAL_TOPIC] == TOPIC
        assert scheduled.properties[props.REAL_QUEUE_ID] == str(QUEUE)
        delivered = await wait_visible(broker)
        assert time.monotonic() - committed_at >= 1.9  # the level's 2 s, from the commit
        assert_committed_copy(delivered, half)
        assert props.DELAY_TIME_LEVEL not in delivered.properties
        # Java's messageTimeup keeps REAL_TOPIC / REAL_QID on the delivered message
        assert delivered.properties[props.REAL_TOPIC] == TOPIC
        assert broker.schedule.statistics().delivered == 1


async def test_rolled_back_delayed_half_is_never_scheduled(
    settings: BrokerSettings, client: RemotingClient
) -> None:
    async with Broker(fast(settings)) as broker:
        half = await stored_half(client, broker, {props.DELAY_TIME_LEVEL: "1"})
        await end(client, broker, half, ROLLBACK)
        assert messages(broker, SCHEDULE_TOPIC, 0) == []
        assert messages(broker, TOPIC, QUEUE) == []


async def test_committed_half_with_timer_deliver_ms_arrives_at_its_time(
    settings: BrokerSettings, client: RemotingClient
) -> None:
    async with Broker(fast(settings)) as broker:
        deliver_ms = now_ms() + 2500
        half = await stored_half(client, broker, {props.TIMER_DELIVER_MS: str(deliver_ms)})
        assert messages(broker, TIMER_TOPIC, 0) == []
        await end(client, broker, half, COMMIT)
        assert messages(broker, TOPIC, QUEUE) == []
        (timed,) = messages(broker, TIMER_TOPIC, 0)
        assert timed.properties[props.REAL_TOPIC] == TOPIC
        assert int(timed.properties[props.TIMER_OUT_MS]) < deliver_ms
        delivered = await wait_visible(broker)
        assert delivered.store_timestamp >= deliver_ms  # never early
        assert delivered.store_timestamp - deliver_ms < 1000 + 1500  # precision + margin
        assert_committed_copy(delivered, half)
        assert delivered.properties[props.TIMER_DELIVER_MS] == str(deliver_ms)
        assert props.REAL_TOPIC not in delivered.properties  # Java's convertMessage drops it


async def test_a_relative_timer_counts_from_the_commit(
    settings: BrokerSettings, client: RemotingClient
) -> None:
    async with Broker(fast(settings)) as broker:
        half = await stored_half(client, broker, {props.TIMER_DELAY_MS: "1000"})
        await asyncio.sleep(1.5)  # the scenario: the transaction takes longer than the delay
        committed_ms = now_ms()
        await end(client, broker, half, COMMIT)
        assert messages(broker, TOPIC, QUEUE) == []  # counted from the half: would be due
        delivered = await wait_visible(broker)
        assert delivered.store_timestamp >= committed_ms + 1000
        assert_committed_copy(delivered, half)


async def test_a_timer_the_commit_would_refuse_is_refused_at_the_half(
    settings: BrokerSettings, client: RemotingClient
) -> None:
    async with Broker(fast(settings, timer_max_delay_sec=60)) as broker:
        response = await send_half(client, broker, {props.TIMER_DELAY_SEC: "61"})
        assert response.code == ResponseCode.MESSAGE_ILLEGAL
        assert response.remark is not None
        assert "max delay 60000ms" in response.remark
        response = await send_half(client, broker, {props.TIMER_DELAY_SEC: "soon"})
        assert response.code == ResponseCode.MESSAGE_ILLEGAL
        assert messages(broker, HALF_TOPIC, 0) == []
    async with Broker(fast(settings, timer_wheel_enable=False)) as broker:
        response = await send_half(client, broker, {props.TIMER_DELAY_SEC: "5"})
        assert (response.code, response.remark) == (
            ResponseCode.SYSTEM_ERROR,
            "accurate timer message is not enabled, timerWheelEnable is false",
        )
        # a delay level needs no wheel: accepted, and the level wins over TIMER_*
        await stored_half(client, broker, {props.DELAY_TIME_LEVEL: "1"})
