"""Consumer retry and the dead-letter queue with real clients against rmq servers.

ali-ons (node) and the C++ client librocketmq 2.1.0 (rocketmq-python-cvs) consume from
a real rmq NameServer and Broker, fail messages on purpose (the listener throws; the C++
wrapper answers RECONSUME_LATER for it), send them back with CONSUMER_SEND_MSG_BACK,
get them again from ``%RETRY%<group>`` after the delay level's time, and a message that
keeps failing past ``maxReconsumeTimes`` lands in ``%DLQ%<group>``.

The broker runs with every delay level at 1 s (``messageDelayLevel``) so that the retries
of a test take seconds, not the default 10 s, 30 s, 1 min, ...
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rmq_broker import Broker, BrokerConfig, BrokerSettings
from rmq_namesrv import NameServer, NamesrvConfig
from rmq_protocol.codec import properties as props
from rmq_protocol.codec.body import SubscriptionGroupConfig, TopicConfig
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import SendMessageRequestHeaderV2
from rmq_protocol.codec.message import MessageExt, decode_message
from rmq_protocol.transport import RemotingClient
from rmq_store import StoreConfig

if TYPE_CHECKING:
    from conftest import RunClient

HERE = Path(__file__).parent
FAST_LEVELS = " ".join(["1s"] * 18)


@pytest.fixture
async def fast_servers(tmp_path: Path) -> AsyncIterator[tuple[NameServer, Broker]]:
    """conftest's ``servers`` with every delay level at 1 s."""
    namesrv_config = NamesrvConfig(
        listen_port=0,
        bind_address="127.0.0.1",
        kv_config_path=tmp_path / "namesrv" / "kvConfig.json",
        config_store_path=tmp_path / "namesrv" / "namesrv.properties",
    )
    async with NameServer(namesrv_config) as namesrv:
        settings = BrokerSettings(
            broker=BrokerConfig(
                listen_port=0,
                bind_address="127.0.0.1",
                broker_ip1="127.0.0.1",
                broker_name="broker-a",
                namesrv_addr=namesrv.address,
            ),
            store=StoreConfig(
                store_path_root_dir=tmp_path / "store",
                mapped_file_size_commit_log=16 * 1024 * 1024,
                max_hash_slot_num=10_000,
                max_index_num=40_000,
                message_delay_level=FAST_LEVELS,
            ),
        )
        async with Broker(settings) as broker:
            yield namesrv, broker


async def _create_topics(
    broker: Broker, group: str, topic: str, *, retry_max_times: int = 16
) -> None:
    """The topic, the group (as `mqadmin updateSubGroup -r <retry_max_times>` makes it)
    and its retry topic, as an earlier heartbeat of the group would have made it (clients
    look routes up every 30 s)."""
    broker.controller.groups.update(
        SubscriptionGroupConfig(group_name=group, retry_max_times=retry_max_times)
    )
    topics = broker.controller.topics
    topics.update(TopicConfig(topic_name=topic, read_queue_nums=2, write_queue_nums=2))
    topics.update(TopicConfig(topic_name=f"%RETRY%{group}", read_queue_nums=1, write_queue_nums=1))
    await broker.register_now()


async def _send(broker: Broker, topic: str, bodies: list[str]) -> None:
    """Send over the raw protocol (SEND_MESSAGE_V2, as the Java client)."""
    async with RemotingClient() as client:
        for i, body in enumerate(bodies):
            uniq = f"7F00000100002A9F0000000000{i:06X}"
            header = SendMessageRequestHeaderV2(
                producer_group="PID_retry_interop",
                topic=topic,
                default_topic="TBW102",
                default_topic_queue_nums=4,
                queue_id=i % 2,
                sys_flag=0,
                born_timestamp=1_700_000_000_000,
                flag=0,
                properties=props.encode_properties(
                    {props.UNIQ_KEY: uniq, props.TAGS: "TagR", props.WAIT_STORE_MSG_OK: "true"}
                ),
                reconsume_times=0,
                unit_mode=False,
                batch=False,
            )
            request = RemotingCommand.request(
                RequestCode.SEND_MESSAGE_V2, header, body=body.encode()
            )
            response = await client.request(broker.address, request, timeout=5)
            assert response.code == ResponseCode.SUCCESS, response.remark


def _messages(broker: Broker, topic: str) -> list[MessageExt]:
    store = broker.controller.store
    out: list[MessageExt] = []
    queue_id = 0
    while store.get_max_offset_in_queue(topic, queue_id) > 0 or queue_id < 2:
        result = store.get_messages(topic, queue_id, 0, max_count=1000)
        out.extend(decode_message(view)[0] for view in result.messages)
        for view in result.messages:
            view.release()
        queue_id += 1
    return out


async def _wait_messages(broker: Broker, topic: str, count: int, *, timeout: float) -> None:
    arrived = asyncio.Event()

    def on_arrival(arrived_topic: str, queue: int, offset: int, tags_code: int) -> None:
        if arrived_topic == topic:
            arrived.set()

    broker.controller.store.add_arrival_listener(on_arrival)
    async with asyncio.timeout(timeout):
        while len(_messages(broker, topic)) < count:
            await arrived.wait()
            arrived.clear()


def _original_id(broker: Broker, topic: str, body: str) -> str:
    (original,) = [m for m in _messages(broker, topic) if m.body == body.encode()]
    return original.offset_msg_id


def _by_body(results: list[dict[str, object]], body: str) -> list[dict[str, object]]:
    return [r for r in results if r["body"] == body]


def _node() -> str:
    node = shutil.which("node")
    assert node is not None
    return node


async def test_alions_retry_then_dead_letter_queue(
    alions: Path, fast_servers: tuple[NameServer, Broker], run_client: RunClient
) -> None:
    namesrv, broker = fast_servers
    group, topic = "CID_retry_alions", "TopicRetryAlions"
    # ali-ons sends CONSUMER_SEND_MSG_BACK as version V3_0_6: the broker takes the
    # group's retryMaxTimes (the header's maxReconsumeTimes counts from V3_4_9 on)
    await _create_topics(broker, group, topic, retry_max_times=1)
    await _send(broker, topic, ["fail-once", "fail-always"])
    # fail-once: delivered (fails), again from %RETRY% (succeeds) = 2 deliveries;
    # fail-always with retryMaxTimes 1: delivered, retried once, then to %DLQ% = 2
    got = await run_client(
        _node(), "consumer_retry.js", namesrv.address, topic, group, "1", "4", cwd=alions
    )
    assert got.returncode == 0, got.stderr[-3000:]
    results = got.results
    once = _by_body(results, "fail-once")
    assert [(r["reconsumeTimes"], r["failed"]) for r in once] == [(0, True), (1, False)]
    # ali-ons restores the original topic of a retried message from RETRY_TOPIC
    assert [r["topic"] for r in once] == [topic, topic]
    assert once[1]["retryTopic"] == topic
    assert once[1]["storeTimestamp"] > once[0]["storeTimestamp"]  # type: ignore[operator]
    always = _by_body(results, "fail-always")
    assert [(r["reconsumeTimes"], r["failed"]) for r in always] == [(0, True), (1, True)]

    retried = _messages(broker, f"%RETRY%{group}")
    assert sorted(m.body for m in retried) == [b"fail-always", b"fail-once"]
    assert {m.properties[props.RETRY_TOPIC] for m in retried} == {topic}
    assert all(m.reconsume_times == 1 for m in retried)
    await _wait_messages(broker, f"%DLQ%{group}", 1, timeout=20)
    (dead,) = _messages(broker, f"%DLQ%{group}")
    assert dead.body == b"fail-always"
    assert dead.reconsume_times == 2
    assert dead.properties[props.RETRY_TOPIC] == topic
    # the offset message id of the message as first stored (which ali-ons reports)
    assert dead.properties[props.ORIGIN_MESSAGE_ID] == _original_id(broker, topic, "fail-always")
    assert always[0]["msgId"] == _original_id(broker, topic, "fail-always")
    assert always[1]["originMessageId"] == always[0]["msgId"]
    dlq = broker.controller.topics.select(f"%DLQ%{group}")
    assert dlq is not None
    assert (dlq.read_queue_nums, dlq.write_queue_nums, dlq.perm) == (1, 1, 6)


@pytest.fixture
def librocketmq() -> None:
    pytest.importorskip("rocketmq.client", reason="pip install rocketmq-python-cvs==2.1.0.3")


async def test_cpp_retry_then_dead_letter_queue(
    librocketmq: None, fast_servers: tuple[NameServer, Broker], run_client: RunClient
) -> None:
    namesrv, broker = fast_servers
    group, topic = "CID_retry_cpp", "TopicRetryCpp"
    await _create_topics(broker, group, topic)
    # the C++ client has no maxReconsumeTimes setting: it sends 16, so fail-always is
    # delivered 17 times (reconsume times 0..16) before the broker moves it to %DLQ%
    max_reconsume = 16
    await _send(broker, topic, ["fail-once", "fail-always"])
    deliveries = 2 + max_reconsume + 1
    got = await run_client(
        sys.executable,
        "cpp_consumer_retry.py",
        namesrv.address,
        topic,
        group,
        str(deliveries),
        cwd=HERE,
        timeout=150,
    )
    assert got.returncode == 0, (got.stdout[-2000:], got.stderr[-3000:])
    results = got.results
    once = _by_body(results, "fail-once")
    assert [(r["reconsumeTimes"], r["failed"]) for r in once] == [(0, True), (1, False)]
    assert once[1]["retryTopic"] == topic
    always = _by_body(results, "fail-always")
    assert [r["reconsumeTimes"] for r in always] == list(range(max_reconsume + 1))
    await _wait_messages(broker, f"%DLQ%{group}", 1, timeout=20)
    (dead,) = _messages(broker, f"%DLQ%{group}")
    assert dead.body == b"fail-always"
    assert dead.reconsume_times == max_reconsume + 1
    assert dead.properties[props.RETRY_TOPIC] == topic
    assert dead.properties[props.ORIGIN_MESSAGE_ID] == _original_id(broker, topic, "fail-always")
