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
from pathlib import Path
from typing import TYPE_CHECKING

from rmq_protocol.codec.codes import LanguageCode, RequestCode
from rmq_protocol.codec.properties import decode_properties
from rmq_protocol.transport import RemotingServer

if TYPE_CHECKING:
    from conftest import FakeCluster


async def _run_producer(
    alions: Path, namesrv: str, topic: str, count: int
) -> list[dict[str, object]]:
    node = shutil.which("node")
    assert node is not None
    proc = await asyncio.create_subprocess_exec(
        node,
        str(alions / "producer.js"),
        namesrv,
        topic,
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
    results = await _run_producer(alions, namesrv.address, fake.topic, 3)

    # What the client understood from our responses.
    assert [r["sendStatus"] for r in results] == ["SEND_OK"] * 3
    assert {r["brokerName"] for r in results} == {"broker-a"}
    assert [r["queueOffset"] for r in results] == [0, 1, 2]

    # What we decoded from the client's requests.
    assert len(fake.sends) == 3
    for i, (header, body) in enumerate(fake.sends):
        assert header.topic == fake.topic
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
