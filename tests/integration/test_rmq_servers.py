"""Real clients against a real rmq NameServer and rmq Broker (no stand-ins).

The same producer and consumer drivers as the FakeCluster tests (ali-ons, and the C++
client librocketmq 2.1.0), but the servers are rmq-namesrv and rmq-broker on free
ports with a store in tmp_path (conftest's ``servers``): the clients route through the
NameServer the broker registered with, send into the store and consume with push
consumers (heartbeats, rebalance, QUERY_CONSUMER_OFFSET, long-polling pulls, offset
commits).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rmq_broker import Broker
from rmq_namesrv import NameServer
from rmq_protocol.codec.body import TopicConfig

if TYPE_CHECKING:
    from conftest import RunClient

HERE = Path(__file__).parent


async def _create_topic(broker: Broker, topic: str, queues: int = 4) -> None:
    """What `mqadmin updateTopic` does (ali-ons never falls back to TBW102)."""
    broker.controller.topics.update(
        TopicConfig(topic_name=topic, read_queue_nums=queues, write_queue_nums=queues)
    )
    await broker.register_now()


def _node() -> str:
    node = shutil.which("node")
    assert node is not None
    return node


async def test_alions_produce_and_consume(
    alions: Path, servers: tuple[NameServer, Broker], run_client: RunClient
) -> None:
    namesrv, broker = servers
    topic, count = "TopicAlionsReal", 20
    await _create_topic(broker, topic)
    sent = await run_client(_node(), "producer.js", namesrv.address, topic, str(count), cwd=alions)
    assert sent.returncode == 0, sent.stderr[-3000:]
    results = sent.results
    assert [r["sendStatus"] for r in results] == ["SEND_OK"] * count
    assert {r["brokerName"] for r in results} == {"broker-a"}
    store = broker.controller.store
    assert sum(store.get_max_offset_in_queue(topic, q) for q in range(4)) == count

    got = await run_client(_node(), "consumer.js", namesrv.address, topic, str(count), cwd=alions)
    assert got.returncode == 0, got.stderr[-3000:]
    received = got.results
    assert sorted(str(r["body"]) for r in received) == sorted(
        f"hello from ali-ons #{i}" for i in range(count)
    )
    assert {r["tags"] for r in received} == {"TagA"}
    assert sorted(str(r["keys"]) for r in received) == sorted(f"key-{i}" for i in range(count))
    assert {r["topic"] for r in received} == {topic}
    # the consumer committed its progress (UPDATE_CONSUMER_OFFSET); it exits as soon as
    # it has every message, so the last acknowledgements may not be committed yet
    offsets = broker.controller.offsets.query_offsets("CID_rmq_interop", topic)
    assert offsets
    assert all(0 < o <= store.get_max_offset_in_queue(topic, q) for q, o in offsets.items())


@pytest.fixture
def librocketmq() -> None:
    pytest.importorskip("rocketmq.client", reason="pip install rocketmq-python-cvs==2.1.0.3")


async def test_cpp_produce_via_tbw102_and_consume(
    librocketmq: None, servers: tuple[NameServer, Broker], run_client: RunClient
) -> None:
    namesrv, broker = servers
    topic, count = "TopicCppReal", 10
    assert broker.controller.topics.select(topic) is None  # the TBW102 path creates it
    sent = await run_client(
        sys.executable, "cpp_producer.py", namesrv.address, topic, str(count), cwd=HERE
    )
    assert sent.returncode == 0, sent.stderr[-3000:]
    results = sent.results
    assert [r["status"] for r in results] == ["0"] * count  # SendStatus.OK
    created = broker.controller.topics.select(topic)
    assert created is not None
    assert created.write_queue_nums == 4

    got = await run_client(
        sys.executable, "cpp_consumer.py", namesrv.address, topic, str(count), cwd=HERE
    )
    assert got.returncode == 0, got.stderr[-3000:]
    received = got.results
    assert sorted(str(r["body"]) for r in received) == sorted(
        f"hello from librocketmq #{i}" for i in range(count)
    )
    assert {r["tags"] for r in received} == {"TagA"}
    assert {r["origin"] for r in received} == {"librocketmq"}
    assert sorted(str(r["msgId"]) for r in received) == sorted(str(r["msgId"]) for r in results)


async def test_alions_produce_cpp_consume(
    alions: Path, librocketmq: None, servers: tuple[NameServer, Broker], run_client: RunClient
) -> None:
    namesrv, broker = servers
    topic, count = "TopicMixedReal", 8
    await _create_topic(broker, topic)
    sent = await run_client(_node(), "producer.js", namesrv.address, topic, str(count), cwd=alions)
    assert sent.returncode == 0, sent.stderr[-3000:]
    got = await run_client(
        sys.executable, "cpp_consumer.py", namesrv.address, topic, str(count), cwd=HERE
    )
    assert got.returncode == 0, got.stderr[-3000:]
    assert sorted(str(r["body"]) for r in got.results) == sorted(
        f"hello from ali-ons #{i}" for i in range(count)
    )
