"""Throughput of the message codec: decode_messages, encode_message, encode_batch.

Run: ``python benchmarks/bench_message.py [--rounds N] [--profile]``, or
``python benchmarks/bench_message.py --callgrind`` for instructions per message (needs
valgrind; repeatable on a shared machine, where the rates move by 2x).

A pull body of 32 records (topic ``TopicTest``, 3 properties: TAGS, KEYS,
UNIQ_KEY) is decoded repeatedly, for 100-byte and 1 KiB bodies. Each figure is
the best of several rounds (the least disturbed by other processes).
Properties are parsed lazily, on first access: the "+ read properties" line
also reads them once per message.

``--callgrind`` runs each operation in a child under ``valgrind --tool=callgrind`` twice,
with N and 3N repetitions, and prints (difference of the totals) / (2N x messages): the
start-up and set-up cost cancel out.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import re
import shutil
import subprocess
import sys
import timeit
from collections.abc import Callable

from rmq_protocol.codec.message import (
    BatchEntry,
    HostPort,
    MessageExt,
    decode_batch,
    decode_batch_messages,
    decode_messages,
    encode_batch,
    encode_message,
)
from rmq_protocol.codec.msgid import UniqueIdGenerator
from rmq_protocol.codec.properties import KEYS, TAGS, UNIQ_KEY, encode_properties

BATCH = 32


def sample(body_size: int, index: int) -> MessageExt:
    """One typical stored message."""
    return MessageExt(
        queue_id=index % 4,
        queue_offset=1000 + index,
        commit_log_offset=4096 * index,
        born_timestamp=1_700_000_000_000 + index,
        born_host=HostPort("10.0.0.1", 50000),
        store_timestamp=1_700_000_000_123 + index,
        store_host=HostPort("10.0.0.2", 10911),
        body=bytes(range(256)) * (body_size // 256) + bytes(body_size % 256),
        topic="TopicTest",
        properties={
            TAGS: "TagA",
            KEYS: f"order-{index}",
            UNIQ_KEY: f"0A0000010D0A0000000000000000{index:04X}",
        },
    )


def rate(fn: Callable[[], object], items: int, rounds: int) -> float:
    """Best items per second over ``rounds`` timed rounds of about 0.2 s each."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    best = min(timer.repeat(repeat=rounds, number=number))
    return items * number / best


def operations(body_size: int) -> dict[str, Callable[[], object]]:
    """The measured operations, each handling :data:`BATCH` messages per call."""
    messages = [sample(body_size, i) for i in range(BATCH)]
    pull_body = b"".join(encode_message(m) for m in messages)
    entries = [BatchEntry(m.body, 0, dict(m.properties)) for m in messages]
    batch_body = encode_batch(entries)
    ids = UniqueIdGenerator("10.0.0.1", 4242, 0x1234ABCD)
    now = 1_700_000_000_000

    def decode_touch() -> None:
        for m in decode_messages(pull_body):
            _ = m.properties

    def next_id() -> None:
        for _ in range(BATCH):
            ids.next_id(now)

    def properties() -> None:
        for entry in entries:
            encode_properties(entry.properties)

    def next_ids() -> None:
        ids.next_ids(now, BATCH)

    host = HostPort("10.0.0.1", 50000)
    store = HostPort("10.0.0.2", 10911)

    def batch_messages() -> None:
        decode_batch_messages(batch_body, "TopicTest", 1, 0, now, host, store, 0, "DELAY", True)

    return {
        "decode_messages": lambda: decode_messages(pull_body),
        "decode_messages+properties": decode_touch,
        "encode_message": lambda: [encode_message(m) for m in messages],
        "encode_batch": lambda: encode_batch(entries),
        "encode_properties": properties,
        "decode_batch": lambda: decode_batch(batch_body),
        "decode_batch_messages": batch_messages,
        "next_id": next_id,
        "next_ids": next_ids,
    }


def child(name: str, body_size: int, repeat: int) -> None:
    """Run one operation ``repeat`` times (after one warm-up call): the callgrind subject."""
    operation = operations(body_size)[name] if name != "empty" else lambda: None
    operation()
    for _ in range(repeat):
        operation()


def instructions(name: str, body_size: int, repeat: int) -> int:
    """Instructions callgrind counts for one :func:`child` run."""
    valgrind = shutil.which("valgrind") or "valgrind"
    out = subprocess.run(  # noqa: S603 - our own script under valgrind
        [
            valgrind,
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--child",
            name,
            "--body-size",
            str(body_size),
            "--repeat",
            str(repeat),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise RuntimeError(f"no callgrind total in:\n{out.stderr}")
    return int(found.group(1))


def callgrind(names: list[str], repeat: int) -> None:
    """Print instructions per message of each operation, 100 B and 1 KiB bodies."""
    if shutil.which("valgrind") is None:
        sys.exit("--callgrind needs valgrind (apt install valgrind)")
    for body_size in (100, 1024):
        for name in names:
            low = instructions(name, body_size, repeat)
            high = instructions(name, body_size, 3 * repeat)
            cost = (high - low) / (2 * repeat * BATCH)
            print(f"{body_size:>5} B body: {name:27} {cost:9,.0f} instructions/message", flush=True)


def main() -> None:
    """Print the rates (or the instruction counts)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="cProfile the 100 B decode")
    parser.add_argument(
        "--callgrind",
        nargs="*",
        metavar="OPERATION",
        help="instructions per message under callgrind (all operations, or those named)",
    )
    parser.add_argument("--repeat", type=int, default=100, help="calls per callgrind run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--body-size", type=int, default=100, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.body_size, args.repeat)
        return
    if args.callgrind is not None:
        callgrind(args.callgrind or list(operations(100)), args.repeat)
        return

    for body_size in (100, 1024):
        messages = [sample(body_size, i) for i in range(BATCH)]
        pull_body = b"".join(encode_message(m) for m in messages)
        assert b"".join(encode_message(m) for m in decode_messages(pull_body)) == pull_body

        def decode(body: bytes = pull_body) -> None:
            decode_messages(body)

        def decode_touch(body: bytes = pull_body) -> None:
            for m in decode_messages(body):
                _ = m.properties

        def encode(batch: list[MessageExt] = messages) -> None:
            for m in batch:
                encode_message(m)

        entries = [BatchEntry(m.body, 0, dict(m.properties)) for m in messages]

        def batch(items: list[BatchEntry] = entries) -> None:
            encode_batch(items)

        label = f"{body_size:>5} B body"
        print(f"{label}: decode_messages {rate(decode, BATCH, args.rounds):>10,.0f} msg/s")
        touched = rate(decode_touch, BATCH, args.rounds)
        print(f"{label}: decode_messages + read properties {touched:>10,.0f} msg/s")
        print(f"{label}: encode_message  {rate(encode, BATCH, args.rounds):>10,.0f} msg/s")
        print(f"{label}: encode_batch    {rate(batch, BATCH, args.rounds):>10,.0f} msg/s")

        if args.profile and body_size == 100:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(2000):
                decode()
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(8)


if __name__ == "__main__":
    main()
