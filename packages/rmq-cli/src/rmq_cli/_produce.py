"""``rmq produce``: send messages with rmq-client and report throughput and latency.

::

    rmq produce -n 127.0.0.1:9876 -t TopicTest --count 100000 --size 256 --concurrency 32
    echo hello | rmq produce -n 127.0.0.1:9876 -t TopicTest
    rmq produce -n … -t TopicTest --batch 64 --count 1000000
    rmq produce -n … -t Orders --sharding-key order-42 --property source=cli --tags A

Modes: ``sync`` (each of ``--concurrency`` tasks awaits its send), ``async``
(``send_async`` with at most ``--concurrency`` in flight) and ``oneway``. With
``--batch K`` each send is one SEND_BATCH_MESSAGE of K messages (sync mode). On a
terminal a progress line is redrawn in place; when the output is piped, a plain
progress line is printed every second. Ctrl-C stops sending, waits for the sends in
flight and prints the summary (exit code 130). Exit code 1 if any send failed.

rmq-client is imported when the command runs, so ``import rmq_cli`` stays free of it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, TextIO

if TYPE_CHECKING:
    from collections.abc import Callable

    from rmq_client import Message, MessageQueueSelector, Producer, SendResult

__all__ = ["add_produce_parser", "produce"]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130


def add_produce_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
) -> None:
    """Add the ``produce`` subcommand to ``commands``."""
    p = commands.add_parser(
        "produce",
        parents=parents,
        help="send messages and report throughput and latency",
        description="Send messages to a topic with rmq-client and print how many were sent, "
        "how many failed, msgs/s and latency percentiles.",
    )
    p.add_argument("-n", "--namesrvAddr", dest="namesrv_addr", required=True, metavar="ADDRS")
    p.add_argument("-t", "--topic", required=True)
    p.add_argument("--count", type=_positive, default=1, help="messages to send (default 1)")
    p.add_argument(
        "--size",
        type=_positive,
        default=None,
        metavar="BYTES",
        help="body size (default 128, or the body read from stdin when piped)",
    )
    p.add_argument(
        "--body-file", type=Path, default=None, metavar="FILE", help="body from FILE ('-' = stdin)"
    )
    p.add_argument("--tags", default=None)
    p.add_argument("--keys", default=None, help="keys (space-separated; {n} = message number)")
    p.add_argument(
        "--property", action="append", default=[], metavar="K=V", help="user property (repeatable)"
    )
    p.add_argument(
        "--batch",
        type=_positive,
        default=1,
        metavar="K",
        help="messages per SEND_BATCH_MESSAGE (sync mode)",
    )
    p.add_argument("--mode", choices=("sync", "async", "oneway"), default="sync")
    p.add_argument(
        "--concurrency",
        type=_positive,
        default=1,
        metavar="C",
        help="sending tasks (sync, oneway) or sends in flight (async)",
    )
    p.add_argument("--sharding-key", default=None, help="send every message to this key's queue")
    p.add_argument("--delay-level", type=int, default=0, metavar="L", help="delay level 1..18")
    p.add_argument("-g", "--group", default="rmq_cli_produce", help="producer group")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds per send")  # fmt: skip


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not >= 1")
    return value


@dataclass
class _Stats:
    sent: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds per send call
    errors: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def fail(self, exc: BaseException, count: int) -> None:
        self.failed += count
        name = f"{type(exc).__name__}: {exc}"[:200]
        self.errors[name] = self.errors.get(name, 0) + 1

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.sent / elapsed if elapsed > 0 else 0.0


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    index = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[index]


def _read_body(args: argparse.Namespace, stdin: TextIO) -> bytes:
    if args.body_file is not None:
        if str(args.body_file) == "-":
            return bytes(stdin.buffer.read())
        return bytes(args.body_file.read_bytes())
    if args.size is None and not stdin.isatty():
        data = bytes(stdin.buffer.read())
        if data:
            return data
    size = args.size or 128
    pattern = b"rmq produce 0123456789 abcdefghijklmnopqrstuvwxyz "
    return (pattern * (size // len(pattern) + 1))[:size]


def _properties(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--property {item!r} is not K=V")
        out[key] = value
    return out


def produce(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Run ``rmq produce``; the exit code."""
    import logging

    from rmq_protocol.transport import run

    if not getattr(args, "verbose", False):
        logging.getLogger("rmq_client").setLevel(logging.WARNING)

    out = out or sys.stdout
    try:
        body = _read_body(args, sys.stdin)
        properties = _properties(args.property)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"rmq produce: {exc}\n")
        return EXIT_USAGE
    if not body:
        sys.stderr.write("rmq produce: the message body is empty\n")
        return EXIT_USAGE
    return run(_produce(args, body, properties, out))


async def _produce(
    args: argparse.Namespace, body: bytes, properties: dict[str, str], out: TextIO
) -> int:
    from rmq_client import ClientError, HashSelector, Message, Producer

    stats = _Stats()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    keyed = args.keys is not None and "{n}" in args.keys

    def message(n: int) -> Message:
        return Message(
            args.topic,
            body,
            tags=args.tags,
            keys=args.keys.replace("{n}", str(n)) if keyed else args.keys,
            properties=properties,
            delay_level=args.delay_level,
            sharding_key=args.sharding_key,
        )

    selector = HashSelector() if args.sharding_key is not None else None
    total = args.count
    next_n = 0

    def take(k: int) -> range:
        nonlocal next_n
        if stop.is_set() or next_n >= total:
            return range(0)
        start, next_n = next_n, min(next_n + k, total)
        return range(start, next_n)

    progress = loop.create_task(_progress(stats, total, stop, out))
    try:
        async with Producer(
            args.group, namesrv_addr=args.namesrv_addr, send_timeout=args.timeout
        ) as p:
            try:
                if args.mode == "async":
                    await _run_async(p, message, selector, stats, take, args.concurrency)
                else:
                    await asyncio.gather(
                        *(
                            _worker(p, message, selector, stats, take, args)
                            for _ in range(args.concurrency)
                        )
                    )
            finally:
                interrupted = stop.is_set()
                stop.set()
                await progress
    except ClientError as exc:
        progress.cancel()
        sys.stderr.write(f"rmq produce: {type(exc).__name__}: {exc}\n")
        return EXIT_FAILED
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)
    _summary(stats, out, interrupted=interrupted)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if stats.failed else EXIT_OK


async def _worker(
    producer: Producer,
    make: Callable[[int], Message],
    selector: MessageQueueSelector | None,
    stats: _Stats,
    grab: Callable[[int], range],
    args: argparse.Namespace,
) -> None:
    from rmq_client import ClientError

    batch = args.batch if args.mode == "sync" else 1
    while numbers := grab(batch):
        started = time.monotonic()
        try:
            if batch > 1:
                await producer.send_batch([make(n) for n in numbers])
            elif args.mode == "oneway":
                await producer.send_oneway(make(numbers[0]), selector=selector)
            else:
                await producer.send(make(numbers[0]), selector=selector)
        except (ClientError, ValueError) as exc:
            stats.fail(exc, len(numbers))
        else:
            stats.sent += len(numbers)
        stats.latencies.append(time.monotonic() - started)


async def _run_async(
    producer: Producer,
    message: Callable[[int], Message],
    selector: MessageQueueSelector | None,
    stats: _Stats,
    take: Callable[[int], range],
    concurrency: int,
) -> None:
    slots = asyncio.Semaphore(concurrency)
    pending: set[asyncio.Future[SendResult]] = set()
    while numbers := take(1):
        await slots.acquire()
        started = time.monotonic()
        future = producer.send_async(message(numbers[0]), selector=selector)

        def done(f: asyncio.Future[SendResult], started: float = started) -> None:
            slots.release()
            stats.latencies.append(time.monotonic() - started)
            if f.cancelled():
                stats.failed += 1
            elif (exc := f.exception()) is not None:
                stats.fail(exc, 1)
            else:
                stats.sent += 1

        future.add_done_callback(done)
        pending.add(future)
        future.add_done_callback(pending.discard)
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)


async def _progress(stats: _Stats, total: int, stop: asyncio.Event, out: TextIO) -> None:
    tty = out.isatty()
    interval = 0.2 if tty else 1.0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await stop.wait()
        if stop.is_set():
            break
        line = f"sent {stats.sent}/{total}  failed {stats.failed}  {stats.rate():,.0f} msgs/s"
        if tty:
            out.write(f"\r{line}\x1b[K")
        else:
            out.write(f"progress: {line}\n")
        out.flush()
    if tty:
        out.write("\r\x1b[K")
        out.flush()


def _summary(stats: _Stats, out: TextIO, *, interrupted: bool) -> None:
    elapsed = time.monotonic() - stats.started
    lat = sorted(stats.latencies)
    ms = [_percentile(lat, q) * 1000 for q in (0.5, 0.9, 0.99)]
    worst = lat[-1] * 1000 if lat else math.nan
    if interrupted:
        out.write("interrupted\n")
    out.write(f"sent {stats.sent}\n")
    out.write(f"failed {stats.failed}\n")
    out.write(f"elapsed {elapsed:.3f} s\n")
    out.write(f"throughput {stats.sent / elapsed if elapsed > 0 else 0:.0f} msgs/s\n")
    out.write(f"latency ms p50 {ms[0]:.2f} p90 {ms[1]:.2f} p99 {ms[2]:.2f} max {worst:.2f}\n")
    for error, count in sorted(stats.errors.items(), key=lambda e: -e[1])[:5]:
        out.write(f"error x{count}: {error}\n")
    out.flush()
