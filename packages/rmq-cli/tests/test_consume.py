"""``rmq consume`` end to end: ``rmq produce`` into a real standalone, then consume."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import RunRmq, StartStandalone


async def test_consume_count_json_expression_and_resume(
    start_standalone: StartStandalone, rmq: RunRmq
) -> None:
    server = await start_standalone()
    addr = server.namesrv_addr
    for tags in ("A", "B"):
        proc = await asyncio.to_thread(
            rmq, "produce", "-n", addr, "-t", "CliConsume", "--count", "6", "--size", "8",
            "--tags", tags, "--keys", "k{n}", "--property", "source=cli",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    base = ("consume", "-n", addr, "-t", "CliConsume", "-g", "cli-g", "--expression", "A")
    proc = await asyncio.to_thread(rmq, *base, "--from", "first", "--count", "4", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 4
    assert {r["tags"] for r in rows} == {"A"}
    assert rows[0]["properties"]["source"] == "cli"
    assert rows[0]["bodyEncoding"] == "text"
    assert {"msgId", "queueId", "queueOffset", "keys", "reconsumeTimes", "bornTimestamp",
            "storeTimestamp", "body"} <= set(rows[0])  # fmt: skip
    assert "received 4 messages" in proc.stderr

    # The same group goes on where it stopped: the two remaining A messages.
    proc = await asyncio.to_thread(rmq, *base, "--timeout", "3")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert all(line.split()[4] == "A" for line in lines)
    first = {r["msgId"] for r in rows}
    # Exactly the rest: the stop after --count committed every message it printed, also
    # when the pull that brought the 4th message brought the next one too (that one is
    # held past --count, then cancelled, uncommitted).
    assert len(lines) == 2, lines
    assert not {line.split()[3] for line in lines} & first, lines


async def test_consume_stops_cleanly_on_sigint(start_standalone: StartStandalone) -> None:
    server = await start_standalone()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rmq_cli", "consume", "-n", server.namesrv_addr,
        "-t", "CliIdle", "-g", "cli-idle",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    ready = b"rmq consume: consuming CliIdle as cli-idle from "
    try:
        async with asyncio.timeout(60):  # started: it says so once its consumer runs
            while not (line := await proc.stderr.readline()).startswith(ready):
                assert line, "rmq consume ended before it said it was consuming"
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            _, err = await proc.communicate()
    finally:
        if proc.returncode is None:  # a failed step above: do not leave it running
            proc.kill()
            await proc.wait()
    assert proc.returncode == 130, err
    assert b"received 0 messages" in err


def test_parse_start() -> None:
    from rmq_cli._consume import _parse_start

    assert _parse_start("first") == ("first", None)
    assert _parse_start("LAST") == ("last", None)
    assert _parse_start("1700000000000") == ("timestamp", 1700000000.0)
    assert _parse_start("2024-01-01T00:00:00+00:00") == ("timestamp", 1704067200.0)
