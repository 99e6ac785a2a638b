"""Push consumer throughput: drain a stored backlog to a no-op listener.

    python packages/rmq-client/benchmarks/bench_consumer.py            # 500,000 messages
    python packages/rmq-client/benchmarks/bench_consumer.py --quick    # 50,000 messages

Starts ``rmq standalone`` (a subprocess, on free ports, data in a temporary directory),
stores the backlog with SEND_BATCH_MESSAGE (1 KiB bodies, 8 queues), then times a
PushConsumer (defaults: 20 consumers, batch 1, pull batch 32, CONSUME_FROM_FIRST_OFFSET)
from start until the listener has seen every message. Target (issue 5): ≥ 150,000 msgs/s
on the 2-core CI machine. The client and the broker share the machine.

Then a push consumer of the ``rocketmq==0.4.4`` C++-wrapper client (another group, its
default settings, a no-op callback) drains the same backlog from the same broker, in a
subprocess (``_compare.py`` says where it is looked for; when it is missing the reason
is printed and its row is skipped), and the ratio rmq-client / rocketmq 0.4.4 is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _compare import find_rocketmq044, ratio, run_rocketmq044

from rmq_client._instance import ClientConfig
from rmq_client.consumer import ConsumeResult, PushConsumer
from rmq_protocol.codec.body import ConsumeFromWhere
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import SendMessageRequestHeaderV2
from rmq_protocol.codec.message import BatchEntry, MessageExt, encode_batch
from rmq_protocol.transport import RemotingClient

QUEUES = 8
_LISTENING = re.compile(r"(NameServer|Broker) .*?listening on (\S+?):(\d+)")


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter
        [sys.executable, "-m", "rmq_cli", "standalone", "--namesrv-port", "0",
         "--broker-port", "0", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    addrs: dict[str, str] = {}
    for raw in proc.stdout:
        line = raw.decode(errors="replace")
        if m := _LISTENING.search(line):
            addrs[m.group(1)] = f"{m.group(2)}:{m.group(3)}"
        if line.startswith("rmq standalone: ready"):
            break
    if len(addrs) < 2:
        proc.kill()
        raise SystemExit("rmq standalone did not start")
    return proc, addrs["NameServer"], addrs["Broker"]


async def fill(broker: str, topic: str, count: int, size: int) -> None:
    body = b"x" * size
    async with RemotingClient() as client:
        sent = 0
        while sent < count:
            jobs = []
            for queue_id in range(QUEUES):
                n = min(256, count - sent)
                if n <= 0:
                    break
                entries = [BatchEntry(body=body) for _ in range(n)]
                sent += n
                header = SendMessageRequestHeaderV2(
                    producer_group="bench", topic=topic, default_topic="TBW102",
                    default_topic_queue_nums=QUEUES, queue_id=queue_id, sys_flag=0,
                    born_timestamp=int(time.time() * 1000), flag=0, batch=True,
                )  # fmt: skip
                cmd = RemotingCommand.request(
                    RequestCode.SEND_BATCH_MESSAGE, header, body=encode_batch(entries)
                )
                jobs.append(client.request(broker, cmd, timeout=30))
            for response in await asyncio.gather(*jobs):
                if response.code != ResponseCode.SUCCESS:
                    raise SystemExit(f"send failed: {response.code} {response.remark}")


async def drain(namesrv: str, topic: str, count: int) -> float:
    seen = 0
    done = asyncio.Event()

    def listener(msgs: list[MessageExt]) -> ConsumeResult:
        nonlocal seen
        seen += len(msgs)
        if seen >= count:
            done.set()
        return ConsumeResult.SUCCESS

    consumer = PushConsumer(
        "bench_consumer_group",
        config=ClientConfig(namesrv_addr=namesrv),
        listener=listener,
        consume_from=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
    )
    consumer.subscribe(topic)
    start = time.perf_counter()
    async with consumer:
        await done.wait()
        elapsed = time.perf_counter() - start
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="50,000 messages")
    parser.add_argument("--count", type=int, default=None, help="messages (default 500,000)")
    parser.add_argument("--size", type=int, default=1024, help="body bytes")
    parser.add_argument("--no-044", action="store_true", help="skip the rocketmq 0.4.4 row")
    args = parser.parse_args()
    count = args.count or (50_000 if args.quick else 500_000)
    with tempfile.TemporaryDirectory(prefix="rmq-bench-consumer-") as tmp:
        proc, namesrv, broker = start_server(Path(tmp))
        try:
            topic = "BenchConsumer"
            t = time.perf_counter()
            asyncio.run(fill(broker, topic, count, args.size))
            fill_s = time.perf_counter() - t
            print(f"stored {count} messages in {fill_s:.1f} s")
            before = os.times()
            elapsed = asyncio.run(drain(namesrv, topic, count))
            after = os.times()
            user, system = after.user - before.user, after.system - before.system
            cpu = user + system
            print(
                f"rmq-client     push consumer drained {count:,} messages in {elapsed:.2f} s: "
                f"{count / elapsed:>9,.0f} msgs/s, client CPU {cpu / count * 1e6:.1f} us/msg "
                f"(user {user / count * 1e6:.1f} + sys {system / count * 1e6:.1f}) "
                "(target >= 150,000 msgs/s)",
                flush=True,
            )
            if not args.no_044:
                compare(namesrv, topic, count, count / elapsed)
        finally:
            proc.terminate()
            proc.wait()


def compare(namesrv: str, topic: str, count: int, ours: float) -> None:
    """Drain the same backlog with rocketmq 0.4.4's push consumer; the ratio."""
    target, why = find_rocketmq044()
    print(why, flush=True)
    if target is None:
        return
    timeout = max(120.0, count / 2000)  # 0.4.4 drained about 16k msgs/s on this machine
    result = run_rocketmq044(
        target, "drain", namesrv, topic, "bench_consumer_044", count, timeout,
        timeout=timeout + 60,
    )  # fmt: skip
    if isinstance(result, str):
        print(f"rocketmq 0.4.4 push consumer skipped: {result}")
        return
    done, seconds = result["done"], result["seconds"]
    print(
        f"rocketmq 0.4.4 push consumer drained {int(done):,} messages in {seconds:.2f} s: "
        f"{done / seconds:>9,.0f} msgs/s, client CPU {result['cpu'] / max(done, 1) * 1e6:.1f} "
        f"us/msg{'' if done >= count else f' (stopped after {timeout:g} s)'}",
        flush=True,
    )
    print(f"ratio  drain  rmq-client / rocketmq 0.4.4: {ratio(ours, done / seconds)}")


if __name__ == "__main__":
    main()
