"""``rocketmq==0.4.4`` (PyPI; the C++ client 1.x inside) against a real rmq NameServer and
Broker: 1,000 messages with tags and keys through a topic created as ``mqadmin updateTopic``
creates it, a push consumer group, a second consumer taking a share of the queues, and a
send to a topic that does not exist yet (the TBW102 path).

The 1.x client sends SEND_MESSAGE (code 10) with long header names and integer enums in its
heartbeats (the 2.x client of test_rmq_servers.py sends SEND_MESSAGE_V2). Drivers run in
their own processes (rocketmq044_client.py): the library blocks and starts threads.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rmq_broker import Broker
from rmq_namesrv import NameServer
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import CreateTopicRequestHeader
from rmq_protocol.transport import RemotingClient

if TYPE_CHECKING:
    from conftest import ClientRun, RunClient

HERE = Path(__file__).parent
DRIVER = "rocketmq044_client.py"
GROUP = "CID_rmq_interop_rocketmq044"
COUNT = 1000


def _body(key: str) -> str:
    return f"rocketmq 0.4.4 ✓ {key} ünïcode"  # as the driver writes it


def _lines(run: ClientRun) -> list[dict[str, object]]:
    """The driver's JSON lines after the first (which names the library it loaded)."""
    return run.results[1:]


def _messages(run: ClientRun) -> list[dict[str, object]]:
    """What a consumer received (its other lines say what it loaded, that it started)."""
    return [r for r in run.results if "keys" in r]


def _check_library(run: ClientRun, rocketmq044: Path) -> None:
    first = run.results[0]
    assert Path(str(first["library"])).is_relative_to(rocketmq044), first


async def _create_topic(broker: Broker, topic: str, queues: int) -> None:
    """UPDATE_AND_CREATE_TOPIC, as ``mqadmin updateTopic -t topic -r N -w N`` sends it."""
    header = CreateTopicRequestHeader(
        topic=topic,
        default_topic="TBW102",
        read_queue_nums=queues,
        write_queue_nums=queues,
        perm=6,
        topic_filter_type="SINGLE_TAG",
        topic_sys_flag=0,
        order=False,
    )
    async with RemotingClient() as client:
        request = RemotingCommand.request(RequestCode.UPDATE_AND_CREATE_TOPIC, header)
        response = await client.request(broker.address, request, timeout=10)
    assert response.code == ResponseCode.SUCCESS, response.remark
    await broker.register_now()  # the route is at the NameServer before a client asks


def _check_received(received: list[dict[str, object]], topic: str, keys: list[str]) -> None:
    assert sorted(str(r["keys"]) for r in received) == sorted(keys)
    for record in received:
        key = str(record["keys"])
        index = int(key.rsplit("-", 1)[1])
        assert record["body"] == _body(key)
        assert record["tags"] == ("TagA" if index % 2 == 0 else "TagB")
        assert record["topic"] == topic
        assert record["origin"] == "rocketmq-0.4.4"


async def test_produce_1000_and_consume(
    rocketmq044: Path, servers: tuple[NameServer, Broker], run_client: RunClient
) -> None:
    namesrv, broker = servers
    topic = "TopicRocketmq044"
    await _create_topic(broker, topic, 4)
    env = {"PYTHONPATH": str(rocketmq044)}
    sent = await run_client(
        sys.executable, DRIVER, "produce", namesrv.address, topic, str(COUNT), cwd=HERE, env=env
    )
    assert sent.returncode == 0, sent.stderr[-3000:]
    _check_library(sent, rocketmq044)
    results = _lines(sent)
    assert [r["status"] for r in results] == [0] * COUNT  # SendStatus.SEND_OK
    assert len({r["msgId"] for r in results}) == COUNT
    store = broker.controller.store
    per_queue = [store.get_max_offset_in_queue(topic, q) for q in range(4)]
    assert sum(per_queue) == COUNT
    assert all(n > 0 for n in per_queue)  # the client spread them over the queues

    got = await run_client(
        sys.executable, DRIVER, "consume", namesrv.address, topic, GROUP, str(COUNT),
        cwd=HERE, env=env, timeout=120,
    )  # fmt: skip
    assert got.returncode == 0, got.stderr[-3000:]
    received = _messages(got)
    _check_received(received, topic, [f"key-{i}" for i in range(COUNT)])
    assert sorted(str(r["msgId"]) for r in received) == sorted(str(r["msgId"]) for r in results)
    # the consumer committed its progress, and unregistered at shutdown
    offsets = broker.controller.offsets.query_offsets(GROUP, topic)
    assert offsets
    assert all(0 < o <= per_queue[q] for q, o in offsets.items())
    group = broker.controller.clients.consumer_group(GROUP)
    assert group is None or not group.client_ids()


async def test_send_to_a_new_topic_via_tbw102(
    rocketmq044: Path, servers: tuple[NameServer, Broker], run_client: RunClient
) -> None:
    namesrv, broker = servers
    topic = "TopicRocketmq044New"
    assert broker.controller.topics.select(topic) is None
    env = {"PYTHONPATH": str(rocketmq044)}
    sent = await run_client(
        sys.executable, DRIVER, "produce", namesrv.address, topic, "10", cwd=HERE, env=env
    )
    assert sent.returncode == 0, sent.stderr[-3000:]
    assert [r["status"] for r in _lines(sent)] == [0] * 10
    created = broker.controller.topics.select(topic)
    assert created is not None
    assert created.write_queue_nums == 4  # the client's defaultTopicQueueNums
    assert namesrv.routes.pickup_topic_route_data(topic) is not None  # registered at once

    got = await run_client(
        sys.executable, DRIVER, "consume", namesrv.address, topic, GROUP, "10", cwd=HERE, env=env
    )
    assert got.returncode == 0, got.stderr[-3000:]
    _check_received(_messages(got), topic, [f"key-{i}" for i in range(10)])


class _Consumer:
    """A long-running consumer process: its JSON lines, read as they come."""

    def __init__(self, proc: asyncio.subprocess.Process, changed: asyncio.Event) -> None:
        self.proc = proc
        self.records: list[dict[str, object]] = []
        self.changed = changed  # set at every line (shared by the consumers of a test)

    async def read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            if raw.startswith(b"{"):
                self.records.append(json.loads(raw))
                self.changed.set()

    @property
    def messages(self) -> list[dict[str, object]]:
        return [r for r in self.records if "keys" in r]


StartConsumer = Callable[[str, str], Awaitable[_Consumer]]


@pytest.fixture
async def start_consumer(rocketmq044: Path, tmp_path: Path) -> AsyncIterator[StartConsumer]:
    """Start consumers that run until their stdin closes (closed, then waited, at the end)."""
    started: list[tuple[_Consumer, asyncio.Task[None]]] = []
    changed = asyncio.Event()

    async def start(namesrv: str, topic: str) -> _Consumer:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            DRIVER,
            "consume",
            namesrv,
            topic,
            GROUP,
            cwd=HERE,
            env={"HOME": str(tmp_path), "PYTHONPATH": str(rocketmq044)},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        consumer = _Consumer(proc, changed)
        started.append((consumer, asyncio.create_task(consumer.read())))
        return consumer

    yield start
    for consumer, reader in started:
        if consumer.proc.stdin is not None:
            consumer.proc.stdin.close()
        try:
            async with asyncio.timeout(30):
                await consumer.proc.wait()
        except TimeoutError:
            consumer.proc.kill()
            await consumer.proc.wait()
        await reader


async def _wait_for(condition: Callable[[], bool], *, timeout: float) -> None:
    """Poll ``condition()`` (state no event announces) until true."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - broker state: no event announces it
            await asyncio.sleep(0.05)


async def test_second_consumer_gets_a_share_of_the_queues(
    servers: tuple[NameServer, Broker],
    run_client: RunClient,
    rocketmq044: Path,
    start_consumer: StartConsumer,
) -> None:
    namesrv, broker = servers
    topic = "TopicRocketmq044Share"
    await _create_topic(broker, topic, 4)

    def members() -> int:
        group = broker.controller.clients.consumer_group(GROUP)
        return 0 if group is None else len(group.client_ids())

    first = await start_consumer(namesrv.address, topic)
    await _wait_for(lambda: members() == 1, timeout=30)
    second = await start_consumer(namesrv.address, topic)
    await _wait_for(lambda: members() == 2, timeout=30)  # NOTIFY_CONSUMER_IDS_CHANGED sent

    count = 400
    sent = await run_client(
        sys.executable, DRIVER, "produce", namesrv.address, topic, str(count), "share",
        cwd=HERE, env={"PYTHONPATH": str(rocketmq044)},
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr[-3000:]
    keys = [f"share-{i}" for i in range(count)]

    def union() -> set[str]:
        return {str(r["keys"]) for c in (first, second) for r in c.messages}

    async with asyncio.timeout(60):
        while union() != set(keys):
            first.changed.clear()
            await first.changed.wait()  # the event both consumers set
    assert first.messages
    assert second.messages  # the second consumer took some of the queues
    _check_received(
        list({str(r["keys"]): r for c in (first, second) for r in c.messages}.values()),
        topic,
        keys,
    )
    queues_first = {r["queueId"] for r in first.messages}
    queues_second = {r["queueId"] for r in second.messages}
    assert queues_first | queues_second == {0, 1, 2, 3}
