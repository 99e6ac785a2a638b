"""Graceful shutdown of a real ``python -m rmq_broker`` process.

First SIGTERM: parked pulls are answered, requests in flight finish, the store is
flushed, offsets and metadata are written, the broker unregisters from the NameServer
and the process exits 0. A second SIGTERM during that shutdown exits at once (143).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rmq_namesrv import NameServer
from rmq_protocol.codec.body import KVTable, SubscriptionGroupConfig, SubscriptionGroupWrapper
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand, encode_command
from rmq_protocol.codec.fastjson import loads
from rmq_protocol.codec.frame import FrameDecoder
from rmq_protocol.codec.headers import (
    GetRouteInfoRequestHeader,
    SendMessageResponseHeader,
    UpdateConsumerOffsetRequestHeader,
)
from rmq_protocol.codec.message import decode_messages
from rmq_protocol.transport import RemotingClient

if TYPE_CHECKING:
    from conftest import Builders

_BOOT = "The broker[broker-s, "


def _conf(tmp_path: Path, namesrv_addr: str, *extra: str) -> Path:
    path = tmp_path / "broker.conf"
    lines = [
        "listenPort=0",
        "bindAddress=127.0.0.1",
        "brokerIP1=127.0.0.1",
        "brokerName=broker-s",
        f"namesrvAddr={namesrv_addr}",
        f"storePathRootDir={tmp_path / 'store'}",
        "mappedFileSizeCommitLog=1048576",
        "maxHashSlotNum=1000",
        "maxIndexNum=4000",
        *extra,
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


class _Process:
    """A broker process; its stderr is collected so that the pipe never fills."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.stderr: list[str] = []
        self._line = asyncio.Event()
        self.address = ""
        self._collect = asyncio.ensure_future(self._read_stderr())

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        async for line in self.proc.stderr:
            self.stderr.append(line.decode(errors="replace"))
            self._line.set()

    async def booted(self) -> str:
        assert self.proc.stdout is not None
        async with asyncio.timeout(60):
            line = (await self.proc.stdout.readline()).decode()
        assert line.startswith(_BOOT), (line, "".join(self.stderr))
        self.address = line[len(_BOOT) :].split("]", 1)[0]
        return self.address

    async def wait_stderr(self, text: str, *, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not any(text in line for line in self.stderr):
                self._line.clear()
                await self._line.wait()

    async def aclose(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        with contextlib.suppress(asyncio.CancelledError):
            self._collect.cancel()
            await self._collect


@contextlib.asynccontextmanager
async def _broker_process(conf: Path) -> AsyncIterator[_Process]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rmq_broker",
        "-c",
        str(conf),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    process = _Process(proc)
    try:
        yield process
    finally:
        await process.aclose()


@pytest.mark.parametrize("flush", ["SYNC_FLUSH", "ASYNC_FLUSH"])
async def test_sigterm_answers_flushes_persists_unregisters(
    tmp_path: Path, namesrv: NameServer, client: RemotingClient, build: Builders, flush: str
) -> None:
    conf = _conf(tmp_path, namesrv.address, f"flushDiskType={flush}")
    store = tmp_path / "store"
    async with _broker_process(conf) as broker:
        address = await broker.booted()
        offsets = []
        for i in range(5):
            sent = await client.request(
                address, build.send("TopicDown", f"m{i}".encode()), timeout=5
            )
            assert sent.code == ResponseCode.SUCCESS, sent.remark
            offsets.append(sent.decode_header(SendMessageResponseHeader).queue_offset)
        assert offsets == [0, 1, 2, 3, 4]
        commit = RemotingCommand.request(
            RequestCode.UPDATE_CONSUMER_OFFSET,
            UpdateConsumerOffsetRequestHeader(
                consumer_group="CID_down", topic="TopicDown", queue_id=0, commit_offset=3
            ),
        )
        assert (await client.request(address, commit, timeout=5)).code == ResponseCode.SUCCESS
        group = SubscriptionGroupConfig(group_name="CID_down", retry_max_times=2)
        create = RemotingCommand.request(
            RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, body=group.to_json()
        )
        assert (await client.request(address, create, timeout=5)).code == ResponseCode.SUCCESS

        route = RemotingCommand.request(
            RequestCode.GET_ROUTEINFO_BY_TOPIC, GetRouteInfoRequestHeader(topic="TopicDown")
        )
        async with asyncio.timeout(10):  # registered at once after the topic was created
            while (await client.request(namesrv.address, route, timeout=5)).code:  # noqa: ASYNC110
                await asyncio.sleep(0.05)

        # A pull parked for 30 s is in flight when the signal comes: it must be answered.
        parked = asyncio.ensure_future(
            client.request(
                address,
                build.pull(
                    "TopicDown", 0, 5, group="CID_down", sys_flag=0x2 | 0x4, suspend_ms=30_000
                ),
                timeout=40,
            )
        )
        runtime = RemotingCommand.request(RequestCode.GET_BROKER_RUNTIME_INFO)

        async def parked_pulls() -> str:
            info = await client.request(address, runtime, timeout=5)
            return KVTable.from_json(info.body).table["pullThreadPoolQueueSize"]

        async with asyncio.timeout(10):  # parked: the broker counts it (another process)
            while await parked_pulls() != "1":  # noqa: ASYNC110 - another process
                await asyncio.sleep(0.02)
        assert not parked.done()
        broker.proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            pulled = await parked
            code = await broker.proc.wait()
        assert pulled.code == ResponseCode.PULL_NOT_FOUND
        assert code == 0, "".join(broker.stderr)

    # unregistered: the NameServer has no route for the broker's topic any more
    assert (await client.request(namesrv.address, route, timeout=5)).code == (
        ResponseCode.TOPIC_NOT_EXIST
    )
    # offsets and groups written at shutdown; a clean shutdown leaves no abort file
    offsets_file = loads((store / "config" / "consumerOffset.json").read_bytes())
    assert isinstance(offsets_file, dict)
    assert offsets_file["offsetTable"] == {"TopicDown@CID_down": {"0": 3}}
    groups = SubscriptionGroupWrapper.from_json(
        (store / "config" / "subscriptionGroup.json").read_bytes()
    )
    assert groups.subscription_group_table["CID_down"] == group
    assert not (store / "abort").exists()

    # every message survived: a restarted broker serves all five
    async with _broker_process(conf) as again:
        address = await again.booted()
        pulled = await client.request(address, build.pull("TopicDown", 0, 0), timeout=5)
        assert pulled.code == ResponseCode.SUCCESS
        assert [m.body for m in decode_messages(pulled.body)] == [
            f"m{i}".encode() for i in range(5)
        ]
        again.proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            assert await again.proc.wait() == 0


async def test_second_sigterm_exits_at_once(tmp_path: Path) -> None:
    """A NameServer that answers REGISTER_BROKER but never UNREGISTER_BROKER makes the
    graceful shutdown wait ``registerBrokerTimeoutMills`` (20 s); the second SIGTERM must
    not wait for it."""
    unregistering = asyncio.Event()

    async def half_namesrv(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = FrameDecoder()
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                decoder.feed(data)
                while (command := decoder.next_command()) is not None:
                    if command.code == RequestCode.UNREGISTER_BROKER:
                        unregistering.set()  # and never answer
                    elif command.code == RequestCode.REGISTER_BROKER:
                        response = RemotingCommand.response_to(command, ResponseCode.SUCCESS)
                        writer.write(encode_command(response))
        writer.close()

    server = await asyncio.start_server(half_namesrv, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    conf = _conf(tmp_path, f"127.0.0.1:{port}", "registerBrokerTimeoutMills=20000")
    async with server, _broker_process(conf) as broker:
        await broker.booted()
        broker.proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            await unregistering.wait()
        assert broker.proc.returncode is None  # still shutting down gracefully
        loop = asyncio.get_running_loop()
        start = loop.time()
        broker.proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(5):
            code = await broker.proc.wait()
        assert code == 128 + signal.SIGTERM.value
        assert loop.time() - start < 5
        await broker.wait_stderr("again: exiting now", timeout=5)
