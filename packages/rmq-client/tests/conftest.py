"""Shared fixtures for rmq-client tests (test modules never import each other).

``standalone`` is one real ``rmq standalone`` (NameServer + Broker in one process, a
subprocess of this interpreter: ``python -m rmq_cli standalone``) on free ports, shared
by the whole session: tests use their own topic and group names (``unique``), so they
do not see each other's messages. ``start_standalone()`` starts a private one for a
test that needs a fresh server (stopped at the end of that test).

The server is a subprocess rather than a task on the test's loop: the client and the
broker then use both cores, as they would in production, and a session-scoped server
needs no session-scoped event loop.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

READY_TIMEOUT = 60.0  # seconds (a first start compiles bytecode)
_LISTENING = re.compile(r"(NameServer|Broker) .*?listening on (\S+?):(\d+)")


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


@dataclasses.dataclass
class Standalone:
    """A running ``rmq standalone``."""

    proc: subprocess.Popen[bytes]
    namesrv_addr: str
    broker_addr: str
    data_dir: Path
    stderr_path: Path
    lines: list[str]

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self, *, timeout: float = 30.0) -> int:
        """SIGTERM, wait; the exit code (killed after ``timeout`` seconds)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


def launch_standalone(data_dir: Path, *args: str) -> Standalone:
    """Start ``rmq standalone`` on free ports with its files in ``data_dir``; return it once
    it printed that it is ready."""
    data_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = data_dir / "standalone.stderr"
    log: IO[bytes] = stderr_path.open("wb")
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter
        [
            sys.executable,
            "-m",
            "rmq_cli",
            "standalone",
            "--namesrv-port",
            "0",
            "--broker-port",
            "0",
            "--data-dir",
            str(data_dir),
            *with_test_segments(args, data_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=log,
    )
    log.close()
    assert proc.stdout is not None
    lines: list[str] = []
    addresses: dict[str, str] = {}
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            lines.append(line)
            if match := _LISTENING.search(line):
                addresses[match.group(1)] = f"{match.group(2)}:{match.group(3)}"
            if line.startswith("rmq standalone: ready"):
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True, name="standalone-stdout").start()
    if not ready.wait(READY_TIMEOUT) or proc.poll() is not None or len(addresses) < 2:
        proc.kill()
        proc.wait()
        pytest.fail(
            f"rmq standalone did not become ready (exit {proc.returncode}):\n"
            + stderr_path.read_text(errors="replace")[-3000:]
        )
    return Standalone(
        proc, addresses["NameServer"], addresses["Broker"], data_dir, stderr_path, lines
    )


@pytest.fixture(scope="session")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    """One ``rmq standalone`` for the whole session (use ``unique`` names in it)."""
    server = launch_standalone(tmp_path_factory.mktemp("standalone"))
    yield server
    server.stop()


@pytest.fixture
def namesrv_addr(standalone: Standalone) -> str:
    """The session server's NameServer address, ``host:port``."""
    return standalone.namesrv_addr


StartStandalone = Callable[..., Standalone]


@pytest.fixture
def start_standalone(tmp_path: Path) -> Iterator[StartStandalone]:
    """``start_standalone(*extra_args)``: a private ``rmq standalone`` for this test."""
    started: list[Standalone] = []

    def start(*args: str) -> Standalone:
        server = launch_standalone(tmp_path / f"standalone-{len(started)}", *args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


_counter = itertools.count()


@pytest.fixture
def unique(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """``unique("T")``: a topic/group name no other test uses (``T_<test>_<n>``)."""
    base = re.sub(r"[^A-Za-z0-9_-]", "_", request.node.name)[:60]
    stamp = f"{os.getpid() % 10000}{int(time.time()) % 100000}"

    def make(prefix: str) -> str:
        return f"{prefix}_{base}_{stamp}_{next(_counter)}"

    return make
