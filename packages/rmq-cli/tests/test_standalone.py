"""``rmq standalone`` as a real process: real requests, then a graceful stop on a signal."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rmq_protocol.codec.body import TopicRouteData
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import (
    GetRouteInfoRequestHeader,
    PullMessageResponseHeader,
    SendMessageResponseHeader,
    UpdateConsumerOffsetRequestHeader,
)
from rmq_protocol.codec.message import decode_messages
from rmq_protocol.transport import RemotingClient

if TYPE_CHECKING:
    from conftest import Builders, StartStandalone

TOPIC = "TopicRmqCli"
GROUP = "CID_rmq_cli"


async def _route(client: RemotingClient, namesrv: str, topic: str) -> RemotingCommand:
    ask = RemotingCommand.request(
        RequestCode.GET_ROUTEINFO_BY_TOPIC, GetRouteInfoRequestHeader(topic=topic)
    )
    return await client.request(namesrv, ask, timeout=5)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_serves_then_stops_cleanly(
    tmp_path: Path, start_standalone: StartStandalone, build: Builders, sig: signal.Signals
) -> None:
    running = await start_standalone()
    store = tmp_path / "data" / "store"
    assert f"rmq standalone: message store in {store}" in running.lines
    assert f"rmq standalone: NameServer files in {tmp_path / 'data' / 'namesrv'}" in running.lines
    assert running.namesrv_addr.startswith("127.0.0.1:")
    assert running.broker_addr.startswith("127.0.0.1:")
    assert (store / "abort").exists()  # running

    async with RemotingClient() as client:
        # the NameServer routes TBW102 to the broker in the same process
        response = await _route(client, running.namesrv_addr, "TBW102")
        assert response.code == ResponseCode.SUCCESS, response.remark
        route = TopicRouteData.from_json(response.body)
        assert [b.broker_addrs[0] for b in route.broker_datas] == [running.broker_addr]
        assert route.queue_datas[0].perm == 7  # autoCreateTopicEnable: TBW102 is inheritable

        # SEND_MESSAGE_V2 to a new topic: created from TBW102
        bodies = [f"standalone #{i}".encode() for i in range(3)]
        for i, body in enumerate(bodies):
            sent = await client.request(
                running.broker_addr, build.send(TOPIC, body, tags="TagA", keys=f"k{i}"), timeout=5
            )
            assert sent.code == ResponseCode.SUCCESS, sent.remark
            header = sent.decode_header(SendMessageResponseHeader)
            assert (header.queue_id, header.queue_offset) == (0, i)

        # PULL_MESSAGE returns them intact
        pulled = await client.request(
            running.broker_addr, build.pull(TOPIC, 0, 0, group=GROUP), timeout=5
        )
        assert (pulled.code, pulled.remark) == (ResponseCode.SUCCESS, "FOUND")
        assert pulled.decode_header(PullMessageResponseHeader).next_begin_offset == 3
        messages = decode_messages(pulled.body)
        assert [m.body for m in messages] == bodies
        assert [m.properties["TAGS"] for m in messages] == ["TagA"] * 3
        assert [m.properties["KEYS"] for m in messages] == ["k0", "k1", "k2"]

        # the consumer's progress, for the broker to persist at shutdown
        commit = RemotingCommand.request(
            RequestCode.UPDATE_CONSUMER_OFFSET,
            UpdateConsumerOffsetRequestHeader(
                consumer_group=GROUP, topic=TOPIC, queue_id=0, commit_offset=3
            ),
        )
        committed = await client.request(running.broker_addr, commit, timeout=5)
        assert committed.code == ResponseCode.SUCCESS

        # the new topic's route, now that the broker registered it
        response = await _route(client, running.namesrv_addr, TOPIC)
        assert response.code == ResponseCode.SUCCESS

    assert await running.stop(sig) == 0, running.stderr[-3000:]
    assert running.lines[-1] == "rmq standalone: stopped"
    stderr = running.stderr
    assert f"{sig.name}: shutting down gracefully" in stderr
    # broker first (it unregisters from the NameServer still serving), then the NameServer
    assert "unregistered broker from name server" in stderr
    assert stderr.index("broker stopped") < stderr.index("NameServer stopped")
    assert "Traceback" not in stderr
    assert not (store / "abort").exists()  # a clean shutdown
    offsets = json.loads((store / "config" / "consumerOffset.json").read_text())
    assert offsets["offsetTable"][f"{TOPIC}@{GROUP}"] == {"0": 3}
    topics = json.loads((store / "config" / "topics.json").read_text())
    assert TOPIC in topics["topicConfigTable"]


async def test_restart_keeps_the_messages(
    tmp_path: Path, start_standalone: StartStandalone, build: Builders
) -> None:
    first = await start_standalone()
    async with RemotingClient() as client:
        sent = await client.request(
            first.broker_addr, build.send(TOPIC, b"kept", tags="T", keys="k"), timeout=5
        )
        assert sent.code == ResponseCode.SUCCESS
    assert await first.stop() == 0

    second = await start_standalone()
    async with RemotingClient() as client:
        pulled = await client.request(
            second.broker_addr, build.pull(TOPIC, 0, 0, group=GROUP), timeout=5
        )
        assert pulled.code == ResponseCode.SUCCESS
        assert [m.body for m in decode_messages(pulled.body)] == [b"kept"]
    assert await second.stop() == 0
    assert "recovered (normal shutdown)" in second.stderr


async def test_config_file_sets_broker_keys(
    tmp_path: Path, start_standalone: StartStandalone, build: Builders
) -> None:
    conf = tmp_path / "broker.conf"
    conf.write_text(
        "brokerName=broker-cli\nbrokerClusterName=ClusterCli\nnamesrvAddr=10.0.0.1:9876\n"
        "mappedFileSizeCommitLog=1048576\n"
    )
    running = await start_standalone("-c", str(conf))
    assert any(
        line.startswith("rmq standalone: Broker broker-cli (cluster ClusterCli) listening on")
        for line in running.lines
    )
    # namesrvAddr of the file is ignored: the broker registers beside it
    assert f"registered with {running.namesrv_addr}" in "\n".join(running.lines)
    async with RemotingClient() as client:
        response = await _route(client, running.namesrv_addr, "broker-cli")  # broker topic
        assert response.code == ResponseCode.SUCCESS
        sent = await client.request(
            running.broker_addr, build.send(TOPIC, b"x", tags="T", keys="k"), timeout=5
        )
        assert sent.code == ResponseCode.SUCCESS
    assert await running.stop() == 0
    assert "namesrvAddr=10.0.0.1:9876 is ignored" in running.stderr
    commitlog = tmp_path / "data" / "store" / "commitlog"
    assert [f.stat().st_size for f in commitlog.iterdir()] == [1048576]


async def test_verbose_logs_debug(start_standalone: StartStandalone) -> None:
    running = await start_standalone("-v")
    assert await running.stop() == 0
    assert " DEBUG " in running.stderr


async def test_second_instance_on_the_same_store_fails(
    tmp_path: Path, start_standalone: StartStandalone
) -> None:
    running = await start_standalone()
    # the same data directory, other ports: the store's lock refuses it (exit code 1)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rmq_cli",
        "standalone",
        "--namesrv-port",
        "0",
        "--broker-port",
        "0",
        "--data-dir",
        str(tmp_path / "data"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode == 1, err.decode()[-3000:]
    assert err.decode().splitlines()[-1].startswith("StoreLockedError: store directory")
    assert "Traceback" not in err.decode()
    assert "rmq standalone: ready" not in out.decode()
    assert await running.stop() == 0
