"""``rmq produce`` end to end: a real ``rmq standalone`` and ``python -m rmq_cli produce``."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
from typing import TYPE_CHECKING

from rmq_client import Admin

if TYPE_CHECKING:
    from conftest import RunRmq, StartStandalone

_SUMMARY = re.compile(r"^sent (\d+)$", re.MULTILINE)


def _sent(stdout: str) -> int:
    match = _SUMMARY.search(stdout)
    assert match is not None, stdout
    return int(match.group(1))


async def _stored(namesrv_addr: str, topic: str) -> int:
    async with Admin(namesrv_addr) as admin:
        status = await admin.topic_status(topic)
    return sum(o.max_offset - o.min_offset for o in status.values())


async def test_produce_modes_and_summary(start_standalone: StartStandalone, rmq: RunRmq) -> None:
    server = await start_standalone()
    addr = server.namesrv_addr
    base = ("produce", "-n", addr, "-t", "CliTopic")
    runs = [
        (*base, "--count", "50", "--size", "64", "--tags", "A", "--keys", "k{n}",
         "--property", "source=cli", "--concurrency", "4"),
        (*base, "--count", "40", "--batch", "16"),
        (*base, "--count", "30", "--mode", "async", "--concurrency", "8"),
        (*base, "--count", "20", "--mode", "oneway", "--sharding-key", "order-1"),
    ]  # fmt: skip
    for args, count in zip(runs, (50, 40, 30, 20), strict=True):
        proc = await asyncio.to_thread(rmq, *args)
        assert proc.returncode == 0, proc.stderr
        assert _sent(proc.stdout) == count
        assert "failed 0" in proc.stdout
        assert re.search(r"throughput \d+ msgs/s", proc.stdout)
        assert re.search(r"latency ms p50 [\d.]+ p90 [\d.]+ p99 [\d.]+ max [\d.]+", proc.stdout)
    for _ in range(50):  # oneway sends are not acknowledged: wait until they are stored
        if await _stored(addr, "CliTopic") == 140:
            break
        await asyncio.sleep(0.1)
    assert await _stored(addr, "CliTopic") == 140
    async with Admin(addr) as admin:
        [msg] = await admin.query_messages("CliTopic", "k7")
    assert msg.tags == "A"
    assert msg.properties["source"] == "cli"
    assert len(msg.body) == 64


async def test_body_from_stdin_and_usage_errors(
    start_standalone: StartStandalone, rmq: RunRmq
) -> None:
    server = await start_standalone()
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "rmq_cli", "produce", "-n", server.namesrv_addr, "-t", "StdinT"],
        input=b"from stdin",
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert _sent(proc.stdout.decode()) == 1
    async with Admin(server.namesrv_addr) as admin:
        status = await admin.topic_status("StdinT")
        [queue] = [q for q, o in status.items() if o.max_offset > 0]
        msg = await admin.query_message_by_queue_offset(queue, 0)
    assert msg is not None
    assert msg.body == b"from stdin"
    bad = await asyncio.to_thread(
        rmq, "produce", "-n", server.namesrv_addr, "-t", "T", "--property", "novalue"
    )
    assert bad.returncode == 2
    assert "K=V" in bad.stderr


async def test_ctrl_c_stops_cleanly_with_a_summary(start_standalone: StartStandalone) -> None:
    server = await start_standalone()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rmq_cli", "produce", "-n", server.namesrv_addr, "-t", "IntT",
        "--count", "100000000", "--concurrency", "4",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    async with asyncio.timeout(60):
        line = await proc.stdout.readline()  # piped: a plain progress line every second
        assert line.startswith(b"progress: sent ")
        proc.send_signal(signal.SIGINT)
        out, err = await proc.communicate()
    assert proc.returncode == 130, err
    text = out.decode()
    assert "interrupted" in text
    assert _sent(text) > 0
    assert "failed 0" in text
