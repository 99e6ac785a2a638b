"""Shared fixtures for rmq-cli tests (test modules never import each other).

``rmq`` runs for real, as a subprocess of this interpreter (``python -m rmq_cli``), on
free ports (``--namesrv-port 0 --broker-port 0``) with its data under tmp_path.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import IO

import pytest

from rmq_protocol.codec.codes import RequestCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import PullMessageRequestHeader, SendMessageRequestHeaderV2
from rmq_protocol.codec.properties import encode_properties

# Test servers use 64 MiB commit-log segments instead of the 1 GiB default: the store
# reserves a segment's blocks up front (posix_fallocate), and a suite of ~20 servers with
# 1 GiB each would need ~20 GiB of free disk. A test's own ``-c FILE`` keeps its value.
TEST_SEGMENT_BYTES = 64 * 1024 * 1024


def with_test_segments(args: tuple[str, ...], data_dir: Path) -> tuple[str, ...]:
    """``args`` with a ``-c`` file that sets mappedFileSizeCommitLog (unless it does)."""
    args = tuple(args)
    given = args.index("-c") if "-c" in args else None
    text = Path(args[given + 1]).read_text() if given is not None else ""
    if "mappedFileSizeCommitLog" in text:
        return args
    conf = data_dir.parent / f"{data_dir.name}-test-broker.conf"
    conf.write_text(f"{text.rstrip()}\nmappedFileSizeCommitLog={TEST_SEGMENT_BYTES}\n")
    rest = args[:given] + args[given + 2 :] if given is not None else args
    return ("-c", str(conf), *rest)


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """In-process servers (test_run_standalone) run on asyncio's loop and, when installed,
    on uvloop; tests of subprocesses only need one loop of their own."""
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
        "asyncio": asyncio.new_event_loop
    }
    if item.path.name != "test_run_standalone.py":
        return factories
    try:
        import uvloop
    except ImportError:
        return factories
    factories["uvloop"] = uvloop.new_event_loop
    return factories


READY_TIMEOUT = 60.0  # seconds for the servers to start (first start compiles bytecode)
_LISTENING = re.compile(r"(NameServer|Broker) .*?listening on (\S+?):(\d+)")


RunRmq = Callable[..., subprocess.CompletedProcess[str]]


def _run_rmq(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-m", "rmq_cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def rmq() -> RunRmq:
    """``rmq(*args)``: ``rmq ARGS`` run to completion (``python -m rmq_cli``)."""
    return _run_rmq


@dataclasses.dataclass
class Running:
    """An ``rmq standalone`` process that said it is ready."""

    proc: asyncio.subprocess.Process
    lines: list[str]  # what it printed on stdout so far
    stderr_path: Path
    namesrv_addr: str
    broker_addr: str

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    async def stop(self, sig: signal.Signals = signal.SIGTERM, *, timeout: float = 30) -> int:
        """Send ``sig``, wait for the exit; the exit code."""
        self.proc.send_signal(sig)
        async with asyncio.timeout(timeout):
            rest, _ = await self.proc.communicate()
        self.lines += rest.decode().splitlines()
        assert self.proc.returncode is not None
        return self.proc.returncode


StartStandalone = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start_standalone(tmp_path: Path) -> AsyncIterator[StartStandalone]:
    """``await start_standalone(*extra_args)``: ``rmq standalone`` on free ports with
    ``--data-dir tmp_path/data``, returned once it printed that it is ready. Killed at the
    end of the test if still running."""
    started: list[asyncio.subprocess.Process] = []
    logs: list[IO[bytes]] = []

    async def start(*args: str, data_dir: Path | None = None) -> Running:
        stderr_path = tmp_path / f"standalone-{len(started)}.stderr"
        log = stderr_path.open("wb")
        logs.append(log)
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
            str(data_dir or tmp_path / "data"),
            *with_test_segments(args, data_dir or tmp_path / "data"),
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
        )
        started.append(proc)
        assert proc.stdout is not None
        lines: list[str] = []
        addresses: dict[str, str] = {}
        async with asyncio.timeout(READY_TIMEOUT):
            while not any(line.startswith("rmq standalone: ready") for line in lines):
                raw = await proc.stdout.readline()
                if not raw:
                    await proc.wait()
                    pytest.fail(
                        f"rmq standalone exited ({proc.returncode}) before it was ready:\n"
                        + stderr_path.read_text()[-3000:]
                    )
                line = raw.decode().rstrip("\n")
                lines.append(line)
                if match := _LISTENING.search(line):
                    addresses[match.group(1)] = f"{match.group(2)}:{match.group(3)}"
        return Running(proc, lines, stderr_path, addresses["NameServer"], addresses["Broker"])

    yield start
    for proc in started:
        if proc.returncode is None:
            proc.kill()
        await proc.communicate()
    for log in logs:
        log.close()


def send_request(
    topic: str, body: bytes, *, tags: str, keys: str, queue_id: int = 0
) -> RemotingCommand:
    """A SEND_MESSAGE_V2 as the Java client builds it (TBW102 as the default topic)."""
    properties = {"WAIT": "true", "TAGS": tags, "KEYS": keys}
    header = SendMessageRequestHeaderV2(
        producer_group="PID_rmq_cli_test",
        topic=topic,
        default_topic="TBW102",
        default_topic_queue_nums=4,
        queue_id=queue_id,
        sys_flag=0,
        born_timestamp=1_700_000_000_000,
        flag=0,
        properties=encode_properties(properties),
        reconsume_times=0,
        unit_mode=False,
        batch=False,
    )
    return RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, header, body=body)


def pull_request(topic: str, queue_id: int, offset: int, *, group: str) -> RemotingCommand:
    """A PULL_MESSAGE with its own subscription (sysFlag 0x4) and no suspension."""
    return RemotingCommand.request(
        RequestCode.PULL_MESSAGE,
        PullMessageRequestHeader(
            consumer_group=group,
            topic=topic,
            queue_id=queue_id,
            queue_offset=offset,
            max_msg_nums=32,
            sys_flag=0x4,
            commit_offset=0,
            suspend_timeout_millis=0,
            subscription="*",
            sub_version=0,
            expression_type="TAG",
        ),
    )


@dataclasses.dataclass(frozen=True)
class Builders:
    """Request builders for tests (test modules cannot import conftest at run time)."""

    send: Callable[..., RemotingCommand] = send_request
    pull: Callable[..., RemotingCommand] = pull_request


@pytest.fixture
def build() -> Builders:
    return Builders()
