"""Timer-message delivery times under load: 1,000 messages with TIMER_DELIVER_MS spread
over 1-3 s, sent as fast as one connection allows; none may arrive before its time, and
(generous margin, shared 2-core machine) none more than the precision + 2 s after it.

``pytest -s`` prints the figures the broker README quotes.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING

from rmq_broker import Broker
from rmq_broker.schedule import lateness_percentile
from rmq_protocol.codec import properties as props
from rmq_protocol.codec.message import decode_message
from rmq_protocol.transport import RemotingClient

if TYPE_CHECKING:
    from conftest import Builders

COUNT = 1000
TOPIC = "TopicTimerLate"


async def test_timer_lateness_under_load(
    broker: Broker, client: RemotingClient, build: Builders
) -> None:
    rng = random.Random(6)
    store = broker.controller.store
    arrived = asyncio.Event()

    def on_arrival(topic: str, queue_id: int, offset: int, tags_code: int) -> None:
        if topic == TOPIC:
            arrived.set()

    store.add_arrival_listener(on_arrival)
    started = time.monotonic()
    for i in range(COUNT):
        deliver_ms = time.time_ns() // 1_000_000 + rng.randrange(1000, 3000)
        request = build.send(
            TOPIC, str(i).encode(), properties={props.TIMER_DELIVER_MS: str(deliver_ms)}
        )
        response = await client.request(broker.address, request, timeout=10)
        assert response.code == 0, response.remark
    send_s = time.monotonic() - started
    async with asyncio.timeout(60):
        while store.get_max_offset_in_queue(TOPIC, 0) < COUNT:
            await arrived.wait()
            arrived.clear()
    late: list[int] = []
    while len(late) < COUNT:
        result = store.get_messages(TOPIC, 0, len(late), max_count=32)
        assert result.messages
        for view in result.messages:
            message, _ = decode_message(view)
            view.release()
            deliver_ms = int(message.properties[props.TIMER_DELIVER_MS])
            late.append(message.store_timestamp - deliver_ms)
    assert len(late) == COUNT
    assert min(late) >= 0, "a timer message arrived before its TIMER_DELIVER_MS"
    assert max(late) < 1000 + 2000
    timer = broker.schedule.timer
    assert timer is not None
    after_due = timer.statistics().lateness_ms
    print(  # noqa: T201 - the figures for the README
        f"\n{COUNT} timer messages sent in {send_s:.1f} s; store time minus TIMER_DELIVER_MS: "
        f"min {min(late)} p50 {lateness_percentile(late, 0.5)} "
        f"p99 {lateness_percentile(late, 0.99)} max {max(late)} ms; after the due "
        f"boundary: p50 {lateness_percentile(after_due, 0.5)} "
        f"p99 {lateness_percentile(after_due, 0.99)} max {max(after_due)} ms"
    )
