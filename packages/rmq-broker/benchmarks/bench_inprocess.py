"""The broker's own cost per message, without sockets or a second process.

Run: ``python benchmarks/bench_inprocess.py send|sendrmq|batch|pull [N]``.

A real :class:`~rmq_broker.Broker` (real store in a temporary directory, ASYNC_FLUSH)
is started in this process; its request path is driven through a
:class:`~rmq_protocol.transport.Connection` whose transport only counts the bytes
written: frames built with ``bench_broker``'s request builders (1 KiB bodies, TAGS,
UNIQ_KEY and WAIT) are fed to ``Connection.data_received`` 64 requests per read
(``send``: SEND_MESSAGE_V2 with a JSON header; ``sendrmq``: the same with a ROCKETMQ
binary header), 8 batches of 64 per read (``batch``), or 16 pulls of 32 per read from 8
queues (``pull``, after a backlog of batches), with one loop iteration between reads, as
the socket would. Everything the broker does for a request is measured: frame split,
header decode, processor, store, response encode, write coalescing. Printed: the
process's and the loop thread's CPU per message.

On a shared machine CPU time per message is still noisy (±20 %); for decisions count
instructions instead: run it twice under callgrind with different N and divide the
difference of the totals by the difference of the N (startup cancels out)::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python bench_inprocess.py send 1024
    valgrind --tool=callgrind --callgrind-out-file=/dev/null python bench_inprocess.py send 3072
    # (Collected_2 - Collected_1) / 2048 = instructions per message
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_broker as bb

from rmq_broker import Broker, BrokerConfig, BrokerSettings
from rmq_broker.config import PERM_READ, PERM_WRITE
from rmq_protocol.codec.body import TopicConfig
from rmq_protocol.codec.codes import ResponseCode, SerializeType
from rmq_protocol.codec.command import RemotingCommand, encode_command
from rmq_protocol.codec.frame import FrameDecoder
from rmq_protocol.transport import Connection, run
from rmq_store import StoreConfig

KINDS = ("send", "sendrmq", "batch", "pull")


class CountingTransport:
    """Enough of ``asyncio.Transport`` for a Connection; counts what is written."""

    def __init__(self) -> None:
        self.written = 0
        self.writes = 0
        self.last = b""

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def write(self, data: bytes) -> None:
        self.written += len(data)
        self.writes += 1
        self.last = data

    def writelines(self, parts: list[bytes]) -> None:
        self.written += sum(map(len, parts))
        self.writes += 1
        self.last = b"".join(parts)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def frames(commands: list[RemotingCommand], kind: SerializeType, per_read: int) -> list[bytes]:
    encoded = [
        encode_command(c._replace(serialize_type=kind), opaque=i) for i, c in enumerate(commands)
    ]
    return [b"".join(encoded[i : i + per_read]) for i in range(0, len(encoded), per_read)]


async def main(kind: str, count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-inprocess-") as root:
        await measure(kind, count, Path(root))


async def measure(kind: str, count: int, root: Path) -> None:
    settings = BrokerSettings(
        broker=BrokerConfig(
            listen_port=0, bind_address="127.0.0.1", broker_ip1="127.0.0.1", broker_name="b"
        ),
        store=StoreConfig(store_path_root_dir=root, mapped_file_size_commit_log=1 << 28),
    )
    async with Broker(settings) as broker:
        for topic in ("BenchSendV2", "BenchBatch"):
            broker.controller.topics.update(
                TopicConfig(
                    topic_name=topic,
                    read_queue_nums=bb.QUEUES,
                    write_queue_nums=bb.QUEUES,
                    perm=PERM_READ | PERM_WRITE,
                )
            )
        registry = broker._server.registry if broker._server else None
        conn = Connection(registry)
        transport = CountingTransport()
        conn.connection_made(transport)  # type: ignore[arg-type]
        body = b"x" * 1024
        serialize = SerializeType.ROCKETMQ if kind == "sendrmq" else SerializeType.JSON
        if kind in ("send", "sendrmq"):
            sends = [bb.send_request("BenchSendV2", i % bb.QUEUES, i, body) for i in range(1024)]
            reads, per_read = frames(sends, serialize, 64), 64
        else:
            batches = [
                bb.batch_request("BenchBatch", i % bb.QUEUES, i * 64, body) for i in range(64)
            ]
            reads, per_read = frames(batches, serialize, 8), 8 * bb.BATCH_SIZE

        async def feed(messages: int) -> int:
            done = index = 0
            while done < messages:
                conn.data_received(reads[index % len(reads)])
                index += 1
                done += per_read
                await asyncio.sleep(0)
            return done

        cursors = [0] * bb.QUEUES

        async def pulls(messages: int) -> int:
            done = 0
            while done < messages:
                requests: list[bytes] = []
                for queue in range(bb.QUEUES):
                    for _ in range(bb.PULL_DEPTH):
                        pull = bb.pull_request("BenchBatch", queue, cursors[queue])
                        requests.append(encode_command(pull, opaque=len(requests)))
                        cursors[queue] += bb.PULL_BATCH
                conn.data_received(b"".join(requests))
                done += bb.PULL_BATCH * len(requests)
                await asyncio.sleep(0)
            return done

        if kind == "pull":
            await feed(max(count, 16384) + 8192)  # the backlog, and some to spare
            await pulls(1024)
            measured = pulls
        else:
            await feed(2048 if per_read == 64 else 4096)  # warm-up
            measured = feed
        transport.written = 0
        cpu, loop_cpu = time.process_time(), time.thread_time()
        done = await measured(count)
        cpu, loop_cpu = time.process_time() - cpu, time.thread_time() - loop_cpu
        print(
            f"{kind}: {done:,} messages; CPU per message: process {1e6 * cpu / done:.2f} µs, "
            f"event-loop thread {1e6 * loop_cpu / done:.2f} µs; {transport.written / done:.0f} "
            f"bytes written per message in {transport.writes} writes"
        )
        decoder = FrameDecoder()
        decoder.feed(transport.last)
        last = decoder.next_command()
        conn.abort()
        if last is None or last.code != ResponseCode.SUCCESS:
            raise SystemExit(f"the last response is not SUCCESS: {last}")


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in KINDS:
        sys.exit(f"usage: bench_inprocess.py {'|'.join(KINDS)} [N]")
    run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20_000))
