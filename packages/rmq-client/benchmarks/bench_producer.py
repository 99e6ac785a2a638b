"""Producer throughput against a real ``rmq standalone`` (started here unless -n is given).

    python packages/rmq-client/benchmarks/bench_producer.py            # both scenarios
    python packages/rmq-client/benchmarks/bench_producer.py --sync-messages 100000
    python packages/rmq-client/benchmarks/bench_producer.py --profile sync   # cProfile

Scenarios (issue 5 targets on the 2-core reference machine):

* ``sync``: 32 tasks each awaiting ``send`` of 1 KiB messages (target >= 20k msgs/s);
* ``batch``: ``send_batch`` of 1 KiB messages, 64 per request, from 4 tasks
  (target >= 120k msgs/s).

Then the same scenarios, same counts, against the same broker with the
``rocketmq==0.4.4`` C++-wrapper client (threads instead of tasks: ``send_sync`` and
``send_batch`` release the GIL), in a subprocess (``_compare.py`` says where it is
looked for; when it is missing the reason is printed and its rows are skipped), and the
ratio rmq-client / rocketmq 0.4.4 per scenario (issue 5 aims at 2x or more).

The broker runs in its own process (as in production), so client and broker each get
a core. Prints one line per scenario and client: messages, seconds, msgs/s, and the
client's own CPU time per message (meaningful even when other processes share the cores).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from _compare import Row, find_rocketmq044, ratio, run_rocketmq044

from rmq_client import Admin, Message, Producer
from rmq_protocol.transport import run

_LISTENING = re.compile(r"NameServer .*?listening on (\S+?):(\d+)")


def start_standalone(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter
        [sys.executable, "-m", "rmq_cli", "standalone", "--namesrv-port", "0",
         "--broker-port", "0", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    addr = ""
    for raw in proc.stdout:
        line = raw.decode()
        if m := _LISTENING.search(line):
            addr = f"{m.group(1)}:{m.group(2)}"
        if line.startswith("rmq standalone: ready"):
            break
    else:
        raise SystemExit("rmq standalone did not start")
    stdout = proc.stdout
    threading.Thread(target=lambda: stdout.read(), daemon=True).start()
    return proc, addr


async def bench_sync(addr: str, topic: str, total: int, tasks: int, size: int) -> float:
    body = b"x" * size
    async with Producer("bench_sync", namesrv_addr=addr) as producer:
        await producer.send(Message(topic, body))  # routes and connections warm
        left = total

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await producer.send(Message(topic, body))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(tasks)))
        return time.perf_counter() - started


async def bench_batch(
    addr: str, topic: str, total: int, tasks: int, size: int, per_batch: int
) -> float:
    body = b"x" * size
    async with Producer("bench_batch", namesrv_addr=addr) as producer:
        await producer.send_batch([Message(topic, body)] * per_batch)
        left = total

        async def worker() -> None:
            nonlocal left
            while left > 0:
                n = min(per_batch, left)
                left -= n
                await producer.send_batch([Message(topic, body)] * n)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(tasks)))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--namesrv", help="use this NameServer instead of starting one")
    parser.add_argument("--sync-messages", type=int, default=60_000)
    parser.add_argument("--sync-tasks", type=int, default=32)
    parser.add_argument("--batch-messages", type=int, default=400_000)
    parser.add_argument("--batch-tasks", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64, help="messages per request")
    parser.add_argument("--size", type=int, default=1024, help="body bytes")
    parser.add_argument("--only", choices=("sync", "batch"))
    parser.add_argument("--profile", choices=("sync", "batch"), help="cProfile one scenario")
    parser.add_argument("--no-044", action="store_true", help="skip the rocketmq 0.4.4 rows")
    args = parser.parse_args()

    proc = None
    tmp = tempfile.TemporaryDirectory(prefix="bench-producer-")
    addr = args.namesrv
    if addr is None:
        proc, addr = start_standalone(Path(tmp.name))
    topic = f"BenchProducer{int(time.time())}"

    async def setup() -> None:
        async with Admin(addr) as admin:
            await admin.create_topic(topic, queue_nums=8)

    run(setup())
    scenarios: dict[str, Callable[[], Coroutine[Any, Any, float]]] = {
        "sync": lambda: bench_sync(addr, topic, args.sync_messages, args.sync_tasks, args.size),
        "batch": lambda: bench_batch(
            addr, topic, args.batch_messages, args.batch_tasks, args.size, args.batch_size
        ),
    }
    counts = {"sync": args.sync_messages, "batch": args.batch_messages}
    ours: dict[str, float] = {}
    try:
        names = [args.profile] if args.profile else [args.only] if args.only else list(scenarios)
        for name in names:
            assert name is not None
            profiler = cProfile.Profile() if args.profile else None
            if profiler is not None:
                profiler.enable()
            before = os.times()
            seconds = run(scenarios[name]())
            after = os.times()
            user, system = after.user - before.user, after.system - before.system
            cpu = user + system
            if profiler is not None:
                profiler.disable()
                pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            ours[name] = counts[name] / seconds
            print(
                f"{name:6} {'rmq-client':15} {counts[name]:>9,} msgs {seconds:7.2f} s "
                f"{counts[name] / seconds:>10,.0f} msgs/s  "
                f"client CPU {cpu / counts[name] * 1e6:6.1f} us/msg "
                f"(user {user / counts[name] * 1e6:.1f} + sys {system / counts[name] * 1e6:.1f})",
                flush=True,
            )
        if not args.no_044 and not args.profile:
            compare(args, addr, topic, names, ours)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        tmp.cleanup()


def compare(
    args: argparse.Namespace, addr: str, topic: str, names: list[str], ours: dict[str, float]
) -> None:
    """The same scenarios with rocketmq 0.4.4, and the ratios."""
    target, why = find_rocketmq044()
    print(why, flush=True)
    if target is None:
        return
    theirs: dict[str, float] = {}
    for name in names:
        if name == "sync":
            count = args.sync_messages
            result: Row | str = run_rocketmq044(
                target, "sync", addr, topic, count, args.sync_tasks, args.size, timeout=600
            )
        else:
            count = args.batch_messages
            result = run_rocketmq044(
                target, "batch", addr, topic, count, args.batch_tasks, args.size,
                args.batch_size, timeout=600,
            )  # fmt: skip
        if isinstance(result, str):
            print(f"{name:6} {'rocketmq 0.4.4':15} skipped: {result}", flush=True)
            continue
        seconds, done = result["seconds"], result["done"]
        theirs[name] = done / seconds
        print(
            f"{name:6} {'rocketmq 0.4.4':15} {int(done):>9,} msgs {seconds:7.2f} s "
            f"{done / seconds:>10,.0f} msgs/s  "
            f"client CPU {result['cpu'] / max(done, 1) * 1e6:6.1f} us/msg  "
            f"failed {int(result['failed'])}",
            flush=True,
        )
    for name in names:
        if name in ours and name in theirs:
            print(f"ratio  {name:6} rmq-client / rocketmq 0.4.4: {ratio(ours[name], theirs[name])}")


if __name__ == "__main__":
    main()
