"""Real consumers decode the message records rmq-protocol encodes.

The fake Broker serves PULL_MESSAGE bodies built by ``encode_message`` (spec §3.1),
including zlib-compressed and non-ASCII bodies; the ali-ons and C++ push consumers
must hand every message to their listener with the fields we wrote.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rmq_protocol.codec.msgid import offset_msg_id
from rmq_protocol.transport import RemotingServer

if TYPE_CHECKING:
    from conftest import FakeCluster, RunClient

HERE = Path(__file__).parent

MESSAGES = [  # (queueId, body, properties, zlib)
    (0, "first ünïcode body", {"TAGS": "TagA", "KEYS": "k0", "origin": "rmq"}, False),
    (1, "second", {"TAGS": "TagA", "KEYS": "k1", "origin": "rmq"}, False),
    (0, "third, compressed " + "x" * 5000, {"TAGS": "TagB", "KEYS": "k2", "origin": "rmq"}, True),
    (1, "fourth 中文", {"TAGS": "TagA", "KEYS": "k3", "origin": "rmq"}, False),
    (0, "fifth " * 1000, {"TAGS": "TagC", "KEYS": "k4", "origin": "rmq"}, True),
]


def _store_all(fake: FakeCluster) -> list[dict[str, object]]:
    """Store MESSAGES; return what a consumer should report for each, by UNIQ_KEY."""
    expected = []
    commit_log_offset = 0
    for i, (queue_id, body, properties, zlib) in enumerate(MESSAGES):
        uniq = f"7F00000100002A9F00000000000000{i:02X}"
        queue_offset = len(fake.stored.get(queue_id, []))
        fake.store(queue_id, body.encode(), {**properties, "UNIQ_KEY": uniq}, zlib=zlib)
        assert fake.broker is not None
        expected.append(
            {
                "uniq": uniq,
                "offsetMsgId": offset_msg_id("127.0.0.1", fake.broker.port, commit_log_offset),
                "queueId": queue_id,
                "queueOffset": queue_offset,
                "commitLogOffset": commit_log_offset,
                "tags": properties["TAGS"],
                "keys": properties["KEYS"],
                "body": body,
            }
        )
        commit_log_offset += len(fake.stored[queue_id][-1])
    return expected


def _check(
    received: list[dict[str, object]], expected: list[dict[str, object]], id_key: str
) -> None:
    by_id = {str(r["msgId"]): r for r in received}
    assert len(by_id) == len(expected), received
    for want in expected:
        got = by_id[str(want[id_key])]
        assert got["topic"] == "TopicInterop"
        assert got["body"] == want["body"]
        assert got["tags"] == want["tags"]
        assert got["keys"] == want["keys"]
        assert got["queueId"] == want["queueId"]
        assert got["queueOffset"] == want["queueOffset"]
        assert got["commitLogOffset"] == want["commitLogOffset"]
        assert got["bornTimestamp"] == 1_700_000_000_000
        assert got["storeTimestamp"] == 1_700_000_000_123


async def test_alions_consumer_decodes_our_records(
    alions: Path, cluster: tuple[FakeCluster, RemotingServer], run_client: RunClient
) -> None:
    fake, namesrv = cluster
    expected = _store_all(fake)
    node = shutil.which("node")
    assert node is not None
    count = str(len(MESSAGES))
    run = await run_client(node, "consumer.js", namesrv.address, fake.topic, count, cwd=alions)
    assert run.returncode == 0, run.stderr[-3000:]
    received = run.results
    _check(received, expected, "offsetMsgId")  # ali-ons reports the offset msgId
    assert all(r["properties"]["origin"] == "rmq" for r in received)  # type: ignore[index]


async def test_cpp_consumer_decodes_our_records(
    cluster: tuple[FakeCluster, RemotingServer], run_client: RunClient
) -> None:
    pytest.importorskip("rocketmq.client", reason="pip install rocketmq-python-cvs==2.1.0.3")
    fake, namesrv = cluster
    expected = _store_all(fake)
    count = str(len(MESSAGES))
    run = await run_client(
        sys.executable, "cpp_consumer.py", namesrv.address, fake.topic, count, cwd=HERE
    )
    assert run.returncode == 0, run.stderr[-3000:]
    received = run.results
    _check(received, expected, "uniq")  # librocketmq reports the UNIQ_KEY
    assert all(r["origin"] == "rmq" for r in received)
