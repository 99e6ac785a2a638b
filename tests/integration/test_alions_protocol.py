"""The real ali-ons producer talks to rmq-protocol's transport and codec.

Our RemotingServer plays NameServer and Broker just far enough for a producer's
conversation (route lookup, heartbeat, SEND_MESSAGE_V2, unregister): the client's
bytes must decode into our typed headers, bodies and properties, and our answers
must be understood by the client (it prints the SendResult it parsed).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rmq_protocol.codec.body import BrokerData, HeartbeatData, QueueData, TopicRouteData
from rmq_protocol.codec.codes import LanguageCode, RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import (
    GetRouteInfoRequestHeader,
    SendMessageRequestHeaderV2,
    SendMessageResponseHeader,
)
from rmq_protocol.codec.msgid import offset_msg_id
from rmq_protocol.codec.properties import decode_properties
from rmq_protocol.transport import Connection, ProcessorRegistry, RemotingServer, start_server

TOPIC = "TopicInterop"


@dataclass
class FakeCluster:
    """What the two servers saw."""

    broker: RemotingServer | None = None
    requests: list[tuple[str, RemotingCommand]] = field(default_factory=list)
    sends: list[tuple[SendMessageRequestHeaderV2, bytes]] = field(default_factory=list)
    heartbeats: list[HeartbeatData] = field(default_factory=list)  # ali-ons producers send none

    def namesrv_registry(self) -> ProcessorRegistry:
        registry = ProcessorRegistry()
        registry.register(RequestCode.GET_ROUTEINFO_BY_TOPIC, self.route)
        return registry

    def broker_registry(self) -> ProcessorRegistry:
        registry = ProcessorRegistry()
        registry.register(RequestCode.HEART_BEAT, self.heartbeat)
        registry.register(RequestCode.SEND_MESSAGE_V2, self.send)
        registry.register(RequestCode.UNREGISTER_CLIENT, self.ok)
        return registry

    def route(self, cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
        self.requests.append(("namesrv", cmd))
        topic = cmd.decode_header(GetRouteInfoRequestHeader).topic
        if topic != TOPIC or self.broker is None:
            return RemotingCommand.response_to(
                cmd,
                ResponseCode.TOPIC_NOT_EXIST,
                f"No topic route info in name server for the topic: {topic}",
            )
        route = TopicRouteData(
            queue_datas=(
                QueueData(broker_name="broker-a", read_queue_nums=4, write_queue_nums=4, perm=6),
            ),
            broker_datas=(
                BrokerData(
                    cluster="DefaultCluster",
                    broker_name="broker-a",
                    broker_addrs={0: self.broker.address},
                ),
            ),
        )
        return RemotingCommand.response_to(cmd, body=route.to_json(), language=LanguageCode.JAVA)

    def heartbeat(self, cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
        self.requests.append(("broker", cmd))
        self.heartbeats.append(HeartbeatData.from_json(cmd.body))
        return RemotingCommand.response_to(cmd)

    def send(self, cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
        self.requests.append(("broker", cmd))
        header = cmd.decode_header(SendMessageRequestHeaderV2)
        self.sends.append((header, bytes(cmd.body)))
        offset = len(self.sends) - 1
        assert self.broker is not None
        response = SendMessageResponseHeader(
            msg_id=offset_msg_id("127.0.0.1", self.broker.port, 1000 * offset),
            queue_id=header.queue_id,
            queue_offset=offset,
        )
        return RemotingCommand.response_to(
            cmd, header=response, ext_fields={"MSG_REGION": "DefaultRegion", "TRACE_ON": "true"}
        )

    def ok(self, cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
        self.requests.append(("broker", cmd))
        return RemotingCommand.response_to(cmd)


@pytest.fixture
async def cluster() -> AsyncIterator[tuple[FakeCluster, RemotingServer]]:
    fake = FakeCluster()
    async with (
        await start_server(fake.namesrv_registry()) as namesrv,
        await start_server(fake.broker_registry()) as broker,
    ):
        fake.broker = broker
        yield fake, namesrv


async def _run_producer(alions: Path, namesrv: str, count: int) -> list[dict[str, object]]:
    node = shutil.which("node")
    assert node is not None
    proc = await asyncio.create_subprocess_exec(
        node,
        str(alions / "producer.js"),
        namesrv,
        TOPIC,
        str(count),
        cwd=alions,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]


async def test_alions_producer_sends_through_our_codec(
    alions: Path, cluster: tuple[FakeCluster, RemotingServer]
) -> None:
    fake, namesrv = cluster
    results = await _run_producer(alions, namesrv.address, 3)

    # What the client understood from our responses.
    assert [r["sendStatus"] for r in results] == ["SEND_OK"] * 3
    assert {r["brokerName"] for r in results} == {"broker-a"}
    assert [r["queueOffset"] for r in results] == [0, 1, 2]

    # What we decoded from the client's requests.
    assert len(fake.sends) == 3
    for i, (header, body) in enumerate(fake.sends):
        assert header.topic == TOPIC
        assert header.producer_group == "PID_rmq_interop"
        assert header.default_topic == "TBW102"
        assert 0 <= header.queue_id < 4
        assert body == f"hello from ali-ons #{i}".encode()
        assert header.properties is not None
        properties = decode_properties(header.properties)
        assert properties["TAGS"] == "TagA"
        assert properties["KEYS"] == f"key-{i}"
        assert "UNIQ_KEY" not in properties  # ali-ons, unlike Java, sets no client msgId
    codes = [cmd.code for _, cmd in fake.requests]
    assert codes[0] == RequestCode.GET_ROUTEINFO_BY_TOPIC
    assert codes.count(RequestCode.SEND_MESSAGE_V2) == 3
    assert all(cmd.language == LanguageCode.JAVA for _, cmd in fake.requests)  # ali-ons says JAVA


async def test_alions_surfaces_our_topic_not_exist_remark(
    alions: Path, cluster: tuple[FakeCluster, RemotingServer]
) -> None:
    fake, namesrv = cluster
    node = shutil.which("node")
    assert node is not None
    proc = await asyncio.create_subprocess_exec(
        node,
        str(alions / "producer.js"),
        namesrv.address,
        "NoSuchTopic",
        "1",
        cwd=alions,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        _, err = await proc.communicate()
    assert proc.returncode != 0
    assert "No topic route info in name server for the topic: NoSuchTopic" in err.decode()
    assert fake.sends == []


if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip("interop tests run on POSIX")
