"""Throughput of the message codec: decode_messages, encode_message, encode_batch.

Run: ``python benchmarks/bench_message.py [--rounds N] [--profile]``.

A pull body of 32 records (topic ``TopicTest``, 3 properties: TAGS, KEYS,
UNIQ_KEY) is decoded repeatedly, for 100-byte and 1 KiB bodies. Each figure is
the best of several rounds (the least disturbed by other processes).
Properties are parsed lazily, on first access: the "+ read properties" line
also reads them once per message.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import timeit
from collections.abc import Callable

from rmq_protocol.codec.message import (
    BatchEntry,
    HostPort,
    MessageExt,
    decode_messages,
    encode_batch,
    encode_message,
)
from rmq_protocol.codec.properties import KEYS, TAGS, UNIQ_KEY

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


def main() -> None:
    """Print the rates."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="cProfile the 100 B decode")
    args = parser.parse_args()

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
