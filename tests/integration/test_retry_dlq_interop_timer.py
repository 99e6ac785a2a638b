"""A 5.x timer message consumed by a real client: sent over the raw protocol with
TIMER_DELIVER_MS 2 s ahead, held by the rmq broker, and received by the ali-ons push
consumer (which knows nothing of timers) no earlier than its time, with the properties
a 5.x broker adds."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rmq_broker import Broker
from rmq_namesrv import NameServer
from rmq_protocol.codec import properties as props
from rmq_protocol.codec.body import TopicConfig
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import SendMessageRequestHeaderV2
from rmq_protocol.transport import RemotingClient

if TYPE_CHECKING:
    from conftest import RunClient


async def test_alions_receives_a_timer_message_at_its_time(
    alions: Path, servers: tuple[NameServer, Broker], run_client: RunClient
) -> None:
    namesrv, broker = servers
    topic = "TopicTimerAlions"
    broker.controller.topics.update(
        TopicConfig(topic_name=topic, read_queue_nums=1, write_queue_nums=1)
    )
    await broker.register_now()
    deliver_ms = time.time_ns() // 1_000_000 + 2000
    header = SendMessageRequestHeaderV2(
        producer_group="PID_timer_interop",
        topic=topic,
        default_topic="TBW102",
        default_topic_queue_nums=4,
        queue_id=0,
        sys_flag=0,
        born_timestamp=deliver_ms - 2000,
        flag=0,
        properties=props.encode_properties(
            {
                props.UNIQ_KEY: "7F00000100002A9F0000000000000077",
                props.TAGS: "TagT",
                props.TIMER_DELIVER_MS: str(deliver_ms),
            }
        ),
        reconsume_times=0,
        unit_mode=False,
        batch=False,
    )
    async with RemotingClient() as client:
        request = RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, header, body=b"timed")
        response = await client.request(broker.address, request, timeout=5)
    assert response.code == ResponseCode.SUCCESS, response.remark
    node = shutil.which("node")
    assert node is not None
    got = await run_client(node, "consumer.js", namesrv.address, topic, "1", cwd=alions)
    received_ms = time.time_ns() // 1_000_000
    assert got.returncode == 0, got.stderr[-3000:]
    (message,) = got.results
    assert message["body"] == "timed"
    assert received_ms >= deliver_ms
    store_ms = message["storeTimestamp"]
    assert isinstance(store_ms, int)
    assert deliver_ms <= store_ms < deliver_ms + 1000 + 2000  # precision + margin
    got_props = message["properties"]
    assert isinstance(got_props, dict)
    assert got_props[props.TIMER_DELIVER_MS] == str(deliver_ms)
    assert int(got_props[props.TIMER_OUT_MS]) == (deliver_ms - 1) // 1000 * 1000
    assert int(got_props[props.TIMER_DEQUEUE_MS]) >= deliver_ms
    assert props.TIMER_ENQUEUE_MS in got_props
    assert props.REAL_TOPIC not in got_props
