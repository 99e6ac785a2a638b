"""Deleting a timer message with a TIMER_DEL_UNIQKEY marker (5.x ``TimerMessageStore``,
what RECALL_MESSAGE stores), through the raw protocol, and across a broker restart."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from rmq_broker import Broker, BrokerSettings
from rmq_broker.timer import TIMER_TOPIC, build_delete_key
from rmq_protocol.codec import properties as props
from rmq_protocol.codec.codes import ResponseCode
from rmq_protocol.codec.message import MessageExt, decode_message
from rmq_protocol.transport import RemotingClient

if TYPE_CHECKING:
    from conftest import Builders

TOPIC = "TopicRecall"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def delivered(broker: Broker) -> list[MessageExt]:
    result = broker.controller.store.get_messages(TOPIC, 0, 0, max_count=100)
    out = [decode_message(view)[0] for view in result.messages]
    for view in result.messages:
        view.release()
    return out


async def wait_delivered(broker: Broker, count: int, *, timeout: float = 15) -> list[MessageExt]:
    arrived = asyncio.Event()

    def on_arrival(topic: str, queue_id: int, queue_offset: int, tags_code: int) -> None:
        if topic == TOPIC:
            arrived.set()

    broker.controller.store.add_arrival_listener(on_arrival)
    async with asyncio.timeout(timeout):
        while len(got := delivered(broker)) < count:
            await arrived.wait()
            arrived.clear()
    return got


async def send_timer(
    client: RemotingClient,
    broker: Broker,
    build: Builders,
    body: bytes,
    uniq_key: str,
    deliver_ms: int,
    *,
    delete: str | None = None,
) -> None:
    properties = {props.UNIQ_KEY: uniq_key, props.TIMER_DELIVER_MS: str(deliver_ms)}
    if delete is not None:
        properties[props.TIMER_DEL_UNIQKEY] = delete
    request = build.send(TOPIC, body, queue_id=0, properties=properties)
    response = await client.request(broker.address, request, timeout=5)
    assert response.code == ResponseCode.SUCCESS, response.remark


async def send_timers(
    client: RemotingClient, broker: Broker, build: Builders, deliver_ms: int
) -> None:
    """A message to delete, a marker for it (as RECALL_MESSAGE builds one: same time,
    UNIQ_KEY = the message's), a message that stays, and a marker for another time."""
    await send_timer(client, broker, build, b"doomed", "UK-DOOMED", deliver_ms)
    await send_timer(client, broker, build, b"kept", "UK-KEPT", deliver_ms)
    await send_timer(
        client,
        broker,
        build,
        b"0",
        "UK-DOOMED",
        deliver_ms,
        delete=build_delete_key(TOPIC, "UK-DOOMED"),
    )
    # Java deletes within one wheel slot only: a marker for another time deletes nothing
    await send_timer(
        client,
        broker,
        build,
        b"0",
        "UK-KEPT",
        deliver_ms + 3000,
        delete=build_delete_key(TOPIC, "UK-KEPT"),
    )


def test_build_delete_key_is_javas() -> None:
    assert build_delete_key("T", "7F0000010001") == "T+7F0000010001"


async def test_a_delete_marker_cancels_the_message_it_names(
    broker: Broker, client: RemotingClient, build: Builders
) -> None:
    deliver_ms = now_ms() + 2000
    await send_timers(client, broker, build, deliver_ms)
    assert broker.controller.store.get_max_offset_in_queue(TIMER_TOPIC, 0) == 4
    (kept,) = await wait_delivered(broker, 1)
    assert kept.body == b"kept"
    assert kept.store_timestamp >= deliver_ms
    timer = broker.schedule.timer
    assert timer is not None
    stats = timer.statistics()
    # the doomed message's time came with the kept one's: decided in the same pass
    assert (stats.delivered, stats.deleted, stats.delete_markers) == (1, 1, 1)
    assert stats.waiting == 1  # the marker for the later time
    assert [m.body for m in delivered(broker)] == [b"kept"]


async def test_a_marker_for_another_time_deletes_nothing(
    broker: Broker, client: RemotingClient, build: Builders
) -> None:
    deliver_ms = now_ms() + 1500
    await send_timer(client, broker, build, b"stays", "UK-1", deliver_ms)
    await send_timer(
        client,
        broker,
        build,
        b"0",
        "UK-1",
        deliver_ms + 2000,
        delete=build_delete_key(TOPIC, "UK-1"),
    )
    (message,) = await wait_delivered(broker, 1)
    assert message.body == b"stays"
    timer = broker.schedule.timer
    assert timer is not None
    assert timer.statistics().deleted == 0


async def test_a_marker_for_a_past_time_is_refused(
    broker: Broker, client: RemotingClient, build: Builders
) -> None:
    request = build.send(
        TOPIC,
        b"0",
        properties={
            props.TIMER_DELIVER_MS: str(now_ms() - 1000),
            props.TIMER_DEL_UNIQKEY: build_delete_key(TOPIC, "UK"),
        },
    )
    response = await client.request(broker.address, request, timeout=5)
    assert response.code == ResponseCode.MESSAGE_ILLEGAL
    assert response.remark is not None
    assert "if set del msg, the delay time should be bigger than the current time" in (
        response.remark
    )


async def test_deletion_survives_a_restart(
    settings: BrokerSettings, client: RemotingClient, build: Builders
) -> None:
    deliver_ms = now_ms() + 3000
    async with Broker(settings) as broker:
        await send_timers(client, broker, build, deliver_ms)
    # stopped before the time came: the restarted broker reads the markers again
    async with Broker(settings) as broker:
        (kept,) = await wait_delivered(broker, 1)
        assert kept.body == b"kept"
        timer = broker.schedule.timer
        assert timer is not None
        assert timer.statistics().deleted == 1
        assert [m.body for m in delivered(broker)] == [b"kept"]
