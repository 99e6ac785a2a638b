"""Instructions (or CPU) per message of each phase of a send and a pull, in one process.

Run: ``python benchmarks/bench_phases.py [N]`` (N sends, default 2048; N/8 pulls).

A real broker and store (temporary directory, ASYNC_FLUSH) in this process; SEND_MESSAGE_V2
frames built by ``bench_broker``'s request builders (1 KiB bodies, TAGS, UNIQ_KEY, WAIT).
Each phase runs alone over pre-built inputs, inside one ``functools.reduce`` call:

* ``decode``: frame split + ``decode_command``; ``header``: the typed header;
  ``props``: ``decode_properties``; ``newmsg``: ``new_message``; ``store``: the store's
  ``append_messages`` of one message; ``process``: the send processor (header,
  checks, properties, message, store, answer); ``full64``: 64 frames per
  ``Connection.data_received`` (everything; printed per message);
* after a backlog of batches: ``pullstore`` / ``pullstore2``: the store's read of 32
  messages (first and second read of the same offsets), ``pullproc``: the pull
  processor including its response write, ``pullfull16``: 16 pull frames per
  ``data_received`` (printed per pull request).

Printed: event-loop CPU per operation. For instruction counts (the stable measure on a
shared machine) run it under callgrind with one profile dump per phase::

    valgrind --tool=callgrind --zero-before=functools_reduce \\
        --dump-after=functools_reduce --callgrind-out-file=/tmp/phases.out \\
        python benchmarks/bench_phases.py 2048
    # /tmp/phases.out.<k>: the k-th phase printed; its "summary:" line / the phase's
    # operations = instructions per operation (full64: / 64 more, per message)
"""

from __future__ import annotations

import asyncio
import functools
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_broker as bb
import bench_inprocess as bi

from rmq_broker import Broker, BrokerConfig, BrokerSettings
from rmq_broker.config import PERM_READ, PERM_WRITE
from rmq_broker.processors._common import new_message
from rmq_protocol.codec.body import TopicConfig
from rmq_protocol.codec.codes import RequestCode, ResponseCode, SerializeType
from rmq_protocol.codec.command import RemotingCommand, encode_command
from rmq_protocol.codec.frame import FrameDecoder
from rmq_protocol.codec.headers import SendMessageRequestHeaderV2
from rmq_protocol.codec.properties import decode_properties
from rmq_protocol.transport import Connection, run
from rmq_store import StoreConfig

results: list[tuple[str, int, float]] = []


def phase(name: str, step: Callable[[int], Any], count: int) -> None:
    start = time.thread_time()
    functools.reduce(lambda _, i: step(i), range(count), None)
    results.append((name, count, (time.thread_time() - start) / count * 1e6))


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-phases-") as root:
        settings = BrokerSettings(
            broker=BrokerConfig(
                listen_port=0, bind_address="127.0.0.1", broker_ip1="127.0.0.1", broker_name="b"
            ),
            store=StoreConfig(store_path_root_dir=Path(root), mapped_file_size_commit_log=1 << 28),
        )
        async with Broker(settings) as broker:
            await measure(broker, count)


async def measure(broker: Broker, count: int) -> None:
    controller = broker.controller
    for topic in ("BenchSendV2", "BenchBatch"):
        controller.topics.update(
            TopicConfig(
                topic_name=topic,
                read_queue_nums=bb.QUEUES,
                write_queue_nums=bb.QUEUES,
                perm=PERM_READ | PERM_WRITE,
            )
        )
    assert broker._server is not None
    registry = broker._server.registry
    conn = Connection(registry)
    transport = bi.CountingTransport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    send = registry.processor_for(RequestCode.SEND_MESSAGE_V2)
    pull = registry.processor_for(RequestCode.PULL_MESSAGE)
    assert send is not None
    assert pull is not None
    body = b"x" * 1024
    sends = [bb.send_request("BenchSendV2", i % bb.QUEUES, i, body) for i in range(1024)]
    frames = bi.frames(sends, SerializeType.JSON, 1)
    reads = bi.frames(sends, SerializeType.JSON, 64)
    for read in reads:  # warm-up
        conn.data_received(read)
        await asyncio.sleep(0)
    decoder = FrameDecoder()

    def decode(i: int) -> RemotingCommand | None:
        decoder.feed(frames[i % 1024])
        return decoder.next_command()

    commands = [decode(i) for i in range(1024)]
    assert all(c is not None for c in commands)
    requests: list[RemotingCommand] = commands  # type: ignore[assignment]
    headers = [SendMessageRequestHeaderV2.from_ext_fields(c.ext_fields) for c in requests]
    props = [decode_properties(h.properties or "") for h in headers]
    born, store_host = controller.born_host(conn), controller.store_host
    store = controller.store
    messages = [
        new_message("BenchSendV2", i % 8, 0, 0, 1, born, store_host, 0, body, props[i % 1024])
        for i in range(count)
    ]
    phase("decode", decode, count)

    def header(i: int) -> SendMessageRequestHeaderV2:
        return SendMessageRequestHeaderV2.from_ext_fields(requests[i % 1024].ext_fields)

    def message(i: int) -> object:
        return new_message(
            "BenchSendV2", i & 7, 0, 0, 1, born, store_host, 0, body, props[i % 1024]
        )

    phase("header", header, count)
    phase("props", lambda i: decode_properties(headers[i % 1024].properties or ""), count)
    phase("process", lambda i: send(requests[i % 1024], conn), count)
    phase("newmsg", message, count)
    phase("store", lambda i: store.append_messages([messages[i]]), count)
    phase("full64", lambda i: conn.data_received(reads[i % 16]), count // 64)
    await asyncio.sleep(0.05)
    succeeded(transport, "send")
    # pulls, from a backlog of batches
    batches = bi.frames(
        [bb.batch_request("BenchBatch", i % 8, i * 64, body) for i in range(64)],
        SerializeType.JSON,
        8,
    )
    for k in range(count // 8 + 64):
        conn.data_received(batches[k % len(batches)])
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    pulls = count // 8

    def pull_frame(i: int) -> bytes:
        return encode_command(bb.pull_request("BenchBatch", i % 8, i // 8 * 32), opaque=i)

    pull_commands: list[RemotingCommand] = []
    for i in range(pulls):
        decoder.feed(pull_frame(i))
        command = decoder.next_command()
        assert command is not None
        pull_commands.append(command)
    phase("pullstore", lambda i: store.get_messages("BenchBatch", i % 8, i // 8 * 32), pulls)
    phase("pullstore2", lambda i: store.get_messages("BenchBatch", i % 8, i // 8 * 32), pulls)
    phase("pullproc", lambda i: pull(pull_commands[i], conn), pulls)
    raw = [pull_frame(i) for i in range(pulls)]
    pull_reads = [b"".join(raw[j : j + 16]) for j in range(0, pulls, 16)]
    phase("pullfull16", lambda i: conn.data_received(pull_reads[i]), len(pull_reads))
    await asyncio.sleep(0.05)
    succeeded(transport, "pull")


def succeeded(transport: bi.CountingTransport, what: str) -> None:
    """The last response written must be SUCCESS (else the phases measured refusals)."""
    decoder = FrameDecoder()
    decoder.feed(transport.last)
    last = decoder.next_command()
    if last is None or last.code != ResponseCode.SUCCESS:
        raise SystemExit(f"the last {what} response is not SUCCESS: {last}")


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
    if n < 1024 or n % 128:
        sys.exit("usage: bench_phases.py [N]  (N a multiple of 128, at least 1024)")
    run(main(n))
    for name, ops, us in results:
        print(f"{name}: {ops} operations, event-loop CPU {us:.2f} µs per operation")
