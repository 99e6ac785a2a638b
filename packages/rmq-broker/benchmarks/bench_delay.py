"""Delivery lateness of delay-level messages.

Run: ``python benchmarks/bench_delay.py [--messages 10000] [--level 1] [--quick]``.

Starts a :class:`rmq_broker.Broker` in this process (127.0.0.1, free port, store in a
temporary directory, no NameServer, ``messageDelayLevel`` = ``1s 5s``) and sends it
``--messages`` SEND_MESSAGE_V2 requests with ``DELAY=<level>`` over a real socket
(64 in flight, 128-byte bodies), then waits until the schedule service has moved them
all to their real topic. Lateness of a message = the wall-clock time its copy was
stored in the real topic minus its due time (its store time in ``SCHEDULE_TOPIC_XXXX``
plus the level's delay), measured by the broker for every message; printed as
p50/p99/max, with the send rate and the whole run's duration. The sender shares the
broker's event loop (so delivery competes with a sending load, as in a busy broker).
``--quick`` sends 500 (tests/test_bench_smoke.py style smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from rmq_broker import Broker, BrokerConfig, BrokerSettings
from rmq_broker.schedule import lateness_percentile
from rmq_protocol.codec import properties as props
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import SendMessageRequestHeaderV2
from rmq_protocol.transport import RemotingClient
from rmq_store import StoreConfig

IN_FLIGHT = 64
BODY = b"x" * 128


async def run(messages: int, level: int, data_dir: Path) -> int:
    settings = BrokerSettings(
        broker=BrokerConfig(
            listen_port=0, bind_address="127.0.0.1", broker_ip1="127.0.0.1", broker_name="bench"
        ),
        store=StoreConfig(
            store_path_root_dir=data_dir,
            mapped_file_size_commit_log=64 * 1024 * 1024,
            message_delay_level="1s 5s",
        ),
    )
    async with Broker(settings) as broker, RemotingClient() as client:
        semaphore = asyncio.Semaphore(IN_FLIGHT)
        failures: list[str] = []

        async def send_one(i: int) -> None:
            header = SendMessageRequestHeaderV2(
                producer_group="bench", topic="DelayBench", default_topic="TBW102",
                default_topic_queue_nums=8, queue_id=i % 8, sys_flag=0,
                born_timestamp=int(time.time() * 1000), flag=0,
                properties=props.encode_properties(
                    {props.DELAY_TIME_LEVEL: str(level), props.UNIQ_KEY: f"bench-{i}",
                     props.WAIT_STORE_MSG_OK: "true"}
                ),
            )  # fmt: skip
            try:
                cmd = RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, header, body=BODY)
                response = await client.request(broker.address, cmd, timeout=30)
                if response.code != ResponseCode.SUCCESS:
                    failures.append(f"{response.code} {response.remark}")
            finally:
                semaphore.release()

        started = time.perf_counter()
        async with asyncio.TaskGroup() as tasks:
            for i in range(messages):
                await semaphore.acquire()
                tasks.create_task(send_one(i))
        sent = time.perf_counter() - started
        if failures:
            print(f"{len(failures)} sends failed, first: {failures[0]}", file=sys.stderr)
            return 1
        schedule = broker.schedule
        async with asyncio.timeout(60 + 5 * level):
            while schedule.statistics().delivered < messages:  # noqa: ASYNC110
                await asyncio.sleep(0.05)  # a benchmark: polling its own counter is fine
        total = time.perf_counter() - started
        stats = schedule.statistics()
        lateness = stats.lateness_ms[-messages:]
        delivered = sum(
            broker.controller.store.get_max_offset_in_queue("DelayBench", q) for q in range(8)
        )
    print(f"python: {sys.version.split()[0]}  cpus: {os.cpu_count()}  load: {os.getloadavg()}")
    print(
        f"delay level {level}: {messages} messages sent in {sent:.2f} s "
        f"({messages / sent:,.0f} msgs/s, {IN_FLIGHT} in flight); all delivered after "
        f"{total:.2f} s; {delivered} in the real topic"
    )
    print(
        f"lateness after due: p50 {lateness_percentile(lateness, 0.5)} ms, "
        f"p99 {lateness_percentile(lateness, 0.99)} ms, max {max(lateness, default=0)} ms"
    )
    return 0 if delivered == messages else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--level", type=int, default=1, choices=(1, 2))
    parser.add_argument("--quick", action="store_true", help="500 messages: a smoke run")
    args = parser.parse_args()
    messages = 500 if args.quick else args.messages
    with tempfile.TemporaryDirectory(prefix="bench-delay-") as tmp:
        return asyncio.run(run(messages, args.level, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
