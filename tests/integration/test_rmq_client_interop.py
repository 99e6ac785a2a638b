"""rmq-client with real third-party clients, both ways, through a real rmq NameServer
and Broker (conftest's ``servers``).

* rmq-client's Producer sends; ali-ons's and the C++ client's (librocketmq 2.1.0) push
  consumers receive the bodies (one compressed by rmq-client: over 4 KiB), tags, keys
  and user properties intact.
* ali-ons's and the C++ client's producers send; rmq-client's PushConsumer receives
  the same.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rmq_broker import Broker
from rmq_client import Admin, Message, Producer, ReceivedMessage, SendResult
from rmq_client.consumer import ConsumeResult, PushConsumer
from rmq_namesrv import NameServer
from rmq_protocol.codec.body import ConsumeFromWhere

if TYPE_CHECKING:
    from conftest import RunClient

HERE = Path(__file__).parent
PADDING = "." * 6000  # message 0 is over the producer's 4 KiB compression threshold


def _node() -> str:
    node = shutil.which("node")
    assert node is not None
    return node


@pytest.fixture
def librocketmq() -> None:
    pytest.importorskip("rocketmq.client", reason="pip install rocketmq-python-cvs==2.1.0.3")


def _body(i: int) -> str:
    return f"hello from rmq-client #{i}" + (PADDING if i == 0 else "")


async def _produce_with_rmq_client(namesrv_addr: str, topic: str, count: int) -> list[SendResult]:
    """Create ``topic`` and send ``count`` messages."""
    async with Admin(namesrv_addr) as admin:
        await admin.create_topic(topic, queue_nums=4)
    async with Producer("PID_rmq_client_interop", namesrv_addr=namesrv_addr) as producer:
        results = [
            await producer.send(
                Message(
                    topic,
                    _body(i).encode(),
                    tags="TagA",
                    keys=f"key-{i}",
                    properties={"origin": "rmq-client"},
                )
            )
            for i in range(count)
        ]
    return results


async def _consume_with_rmq_client(
    namesrv_addr: str, topic: str, count: int
) -> list[ReceivedMessage]:
    got: list[ReceivedMessage] = []
    enough = asyncio.Event()

    async def listener(msgs: list[ReceivedMessage]) -> ConsumeResult:
        got.extend(msgs)
        if len(got) >= count:
            enough.set()
        return ConsumeResult.SUCCESS

    consumer = PushConsumer(
        "CID_rmq_client_interop", namesrv_addr=namesrv_addr, listener=listener,
        consume_from=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
    )  # fmt: skip
    consumer.subscribe(topic)
    async with consumer:
        async with asyncio.timeout(60):
            await enough.wait()
        await asyncio.sleep(0.3)  # no extra deliveries
    return got


async def test_rmq_client_to_alions(
    alions: Path, servers: tuple[NameServer, Broker], run_client: RunClient
) -> None:
    namesrv, _ = servers
    topic, count = "TopicRmqClientToAlions", 10
    sent = await _produce_with_rmq_client(namesrv.address, topic, count)
    got = await run_client(_node(), "consumer.js", namesrv.address, topic, str(count), cwd=alions)
    assert got.returncode == 0, got.stderr[-3000:]
    received = got.results
    assert sorted(str(r["body"]) for r in received) == sorted(_body(i) for i in range(count))
    assert {r["tags"] for r in received} == {"TagA"}
    assert sorted(str(r["keys"]) for r in received) == sorted(f"key-{i}" for i in range(count))
    assert {str(r["properties"]["origin"]) for r in received} == {"rmq-client"}  # type: ignore[index]
    # ali-ons names a message by its offset msg id (Java's consumers by the unique key)
    assert sorted(str(r["msgId"]) for r in received) == sorted(r.offset_msg_id for r in sent)


async def test_rmq_client_to_cpp(
    librocketmq: None, servers: tuple[NameServer, Broker], run_client: RunClient
) -> None:
    namesrv, _ = servers
    topic, count = "TopicRmqClientToCpp", 10
    sent = await _produce_with_rmq_client(namesrv.address, topic, count)
    got = await run_client(
        sys.executable, "cpp_consumer.py", namesrv.address, topic, str(count), cwd=HERE
    )
    assert got.returncode == 0, got.stderr[-3000:]
    received = got.results
    assert sorted(str(r["body"]) for r in received) == sorted(_body(i) for i in range(count))
    assert {r["tags"] for r in received} == {"TagA"}
    assert sorted(str(r["keys"]) for r in received) == sorted(f"key-{i}" for i in range(count))
    assert {r["origin"] for r in received} == {"rmq-client"}
    assert sorted(str(r["msgId"]) for r in received) == sorted(r.msg_id for r in sent)


async def test_alions_to_rmq_client(
    alions: Path, servers: tuple[NameServer, Broker], run_client: RunClient
) -> None:
    namesrv, _ = servers
    topic, count = "TopicAlionsToRmqClient", 10
    async with Admin(namesrv.address) as admin:  # ali-ons never falls back to TBW102
        await admin.create_topic(topic, queue_nums=4)
    sent = await run_client(_node(), "producer.js", namesrv.address, topic, str(count), cwd=alions)
    assert sent.returncode == 0, sent.stderr[-3000:]
    received = await _consume_with_rmq_client(namesrv.address, topic, count)
    assert sorted(m.body.decode() for m in received) == sorted(
        f"hello from ali-ons #{i}" for i in range(count)
    )
    assert {m.tags for m in received} == {"TagA"}
    assert sorted(k for m in received for k in m.keys) == sorted(f"key-{i}" for i in range(count))
    assert {m.topic for m in received} == {topic}
    assert sorted(m.msg_id for m in received) == sorted(str(r["msgId"]) for r in sent.results)


async def test_cpp_to_rmq_client(
    librocketmq: None, servers: tuple[NameServer, Broker], run_client: RunClient
) -> None:
    namesrv, _ = servers
    topic, count = "TopicCppToRmqClient", 10
    sent = await run_client(
        sys.executable, "cpp_producer.py", namesrv.address, topic, str(count), cwd=HERE
    )
    assert sent.returncode == 0, sent.stderr[-3000:]
    received = await _consume_with_rmq_client(namesrv.address, topic, count)
    assert sorted(m.body.decode() for m in received) == sorted(
        f"hello from librocketmq #{i}" for i in range(count)
    )
    assert {m.tags for m in received} == {"TagA"}
    assert sorted(k for m in received for k in m.keys) == sorted(f"key-{i}" for i in range(count))
    assert {m.properties.get("origin") for m in received} == {"librocketmq"}
    assert sorted(m.msg_id for m in received) == sorted(str(r["msgId"]) for r in sent.results)
