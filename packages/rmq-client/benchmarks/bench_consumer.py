"""Push consumer throughput: drain a stored backlog to a no-op listener.

    python packages/rmq-client/benchmarks/bench_consumer.py            # 500,000 messages
    python packages/rmq-client/benchmarks/bench_consumer.py --quick    # 50,000 messages

Starts ``rmq standalone`` (a subprocess, on free ports, data in a temporary directory),
stores the backlog with SEND_BATCH_MESSAGE (100-byte bodies, 8 queues), then times a
PushConsumer (defaults: 20 consumers, batch 1, pull batch 32, CONSUME_FROM_FIRST_OFFSET)
from start until the listener has seen every message. Target (issue 5): ≥ 150,000 msgs/s
on the 2-core CI machine. The client and the broker share the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


async def fill(broker: str, topic: str, count: int) -> None:
    body = b"x" * 100
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
    args = parser.parse_args()
    count = args.count or (50_000 if args.quick else 500_000)
    with tempfile.TemporaryDirectory(prefix="rmq-bench-consumer-") as tmp:
        proc, namesrv, broker = start_server(Path(tmp))
        try:
            topic = "BenchConsumer"
            t = time.perf_counter()
            asyncio.run(fill(broker, topic, count))
            fill_s = time.perf_counter() - t
            print(f"stored {count} messages in {fill_s:.1f} s")
            elapsed = asyncio.run(drain(namesrv, topic, count))
            print(
                f"push consumer drained {count} messages in {elapsed:.2f} s: "
                f"{count / elapsed:,.0f} msgs/s (target >= 150,000)"
            )
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
