"""The real ali-ons producer talks to rmq-protocol's transport and codec.

Our RemotingServer plays NameServer and Broker just far enough for a producer's
conversation (route lookup, heartbeat, SEND_MESSAGE_V2, unregister): the client's
bytes must decode into our typed headers, bodies and properties, and our answers
must be understood by the client (it prints the SendResult it parsed).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from rmq_protocol.codec.codes import LanguageCode, RequestCode
from rmq_protocol.codec.properties import decode_properties
from rmq_protocol.transport import RemotingServer

if TYPE_CHECKING:
    from conftest import FakeCluster, RunClient


def _node() -> str:
    node = shutil.which("node")
    assert node is not None
    return node


async def test_alions_producer_sends_through_our_codec(
    alions: Path, cluster: tuple[FakeCluster, RemotingServer], run_client: RunClient
) -> None:
    fake, namesrv = cluster
    run = await run_client(_node(), "producer.js", namesrv.address, fake.topic, "3", cwd=alions)
    assert run.returncode == 0, run.stderr
    results = run.results

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
    alions: Path, cluster: tuple[FakeCluster, RemotingServer], run_client: RunClient
) -> None:
    fake, namesrv = cluster
    run = await run_client(_node(), "producer.js", namesrv.address, "NoSuchTopic", "1", cwd=alions)
    assert run.returncode != 0
    assert "No topic route info in name server for the topic: NoSuchTopic" in run.stderr
    assert fake.sends == []
