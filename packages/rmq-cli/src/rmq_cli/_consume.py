"""``rmq consume``: receive messages with rmq-client's PushConsumer and print them.

::

    rmq consume -n 127.0.0.1:9876 -t TopicTest -g cli-group --from first --count 10
    rmq consume -n … -t TopicTest --expression "TagA || TagB" --json
    rmq consume -n … -t TopicTest --sql --expression "a > 5" --broadcast --orderly
    rmq consume -n … -t TopicTest --from 2024-05-01T12:00:00 --timeout 30

One line per message: ``topic queueId queueOffset msgId tags body`` (body as text, or
``base64:`` + base64 when it is not UTF-8), or with ``--json`` one JSON object per
message (msgId, topic, queueId, queueOffset, tags, keys, properties, reconsumeTimes,
bornTimestamp, storeTimestamp, body, bodyEncoding). ``--from`` is ``first``, ``last`` or
a timestamp (ISO 8601, or milliseconds since the epoch) and applies to a group without
stored offsets. Stops after ``--count`` messages, after ``--timeout`` seconds, or on
Ctrl-C / SIGTERM; offsets are committed before exit. On a terminal a live count is
shown on stderr. Exit code 0, 1 on a client error, 130 when interrupted.

rmq-client is imported when the command runs, so ``import rmq_cli`` stays free of it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime
import json
import signal
import sys
import time
from typing import TYPE_CHECKING, Final, TextIO

if TYPE_CHECKING:
    from rmq_client import ReceivedMessage

__all__ = ["add_consume_parser", "consume"]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130


def add_consume_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
) -> None:
    """Add the ``consume`` subcommand to ``commands``."""
    p = commands.add_parser(
        "consume",
        parents=parents,
        help="receive messages and print them",
        description="Consume a topic with a push consumer and print each message.",
    )
    p.add_argument("-n", "--namesrvAddr", dest="namesrv_addr", required=True, metavar="ADDRS")
    p.add_argument("-t", "--topic", required=True)
    p.add_argument("-g", "--group", default="rmq_cli_consumer", help="consumer group")
    p.add_argument("--expression", default="*", help="tag expression (or SQL92 with --sql)")
    p.add_argument("--sql", action="store_true", help="--expression is an SQL92 filter")
    p.add_argument("--broadcast", action="store_true", help="broadcasting (local offsets)")
    p.add_argument("--orderly", action="store_true", help="one message at a time per queue")
    p.add_argument(
        "--from",
        dest="start",
        default="last",
        metavar="first|last|TIMESTAMP",
        help="where a group without stored offsets starts (default last)",
    )
    p.add_argument("--count", type=int, default=0, help="stop after N messages (0 = no limit)")
    p.add_argument("--timeout", type=float, default=0.0, help="stop after SECONDS (0 = never)")
    p.add_argument("--json", action="store_true", help="one JSON object per message")


def _parse_start(text: str) -> tuple[str, float | None]:
    """``first``/``last``/timestamp → (where, seconds since the epoch or None).

    Raises:
        ValueError: not first, last, milliseconds or an ISO 8601 time.
    """
    low = text.strip().lower()
    if low in ("first", "last"):
        return low, None
    if low.isdigit():
        return "timestamp", int(low) / 1000
    try:
        when = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--from {text!r}: use first, last, milliseconds since the epoch or ISO 8601"
        ) from None
    return "timestamp", when.timestamp()


def _body(body: bytes) -> tuple[str, str]:
    try:
        return body.decode("utf-8"), "text"
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), "base64"


def format_message(msg: ReceivedMessage, *, as_json: bool) -> str:
    """One output line for ``msg``."""
    text, encoding = _body(msg.body)
    if as_json:
        return json.dumps(
            {
                "msgId": msg.msg_id,
                "topic": msg.topic,
                "queueId": msg.queue_id,
                "queueOffset": msg.queue_offset,
                "tags": msg.tags,
                "keys": msg.keys,
                "properties": msg.properties,
                "reconsumeTimes": msg.reconsume_times,
                "bornTimestamp": msg.born_timestamp,
                "storeTimestamp": msg.store_timestamp,
                "body": text,
                "bodyEncoding": encoding,
            },
            ensure_ascii=False,
        )
    shown = text if encoding == "text" else "base64:" + text
    return f"{msg.topic} {msg.queue_id} {msg.queue_offset} {msg.msg_id} {msg.tags or '-'} {shown}"


def consume(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Run ``rmq consume``; the exit code."""
    import logging

    from rmq_protocol.transport import run

    if not getattr(args, "verbose", False):
        logging.getLogger("rmq_client").setLevel(logging.WARNING)
    try:
        start = _parse_start(args.start)
    except ValueError as exc:
        sys.stderr.write(f"rmq consume: {exc}\n")
        return EXIT_USAGE
    return run(_consume(args, start, out or sys.stdout))


async def _consume(args: argparse.Namespace, start: tuple[str, float | None], out: TextIO) -> int:
    from rmq_client import ClientError
    from rmq_client.consumer import ConsumeOrderlyResult, ConsumeResult, PushConsumer
    from rmq_protocol.codec.body import ConsumeFromWhere, MessageModel

    stop = asyncio.Event()
    interrupted = False
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        nonlocal interrupted
        interrupted = True
        stop.set()

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, on_signal)
        loop.add_signal_handler(signal.SIGTERM, on_signal)
    count = 0
    limit = args.count if args.count > 0 else None
    tty = sys.stderr.isatty()
    began = time.monotonic()

    never: asyncio.Future[None] = loop.create_future()

    async def handle(msgs: list[ReceivedMessage]) -> None:
        nonlocal count
        if limit is not None and count + len(msgs) > limit:
            # Past --count: hold these messages (uncommitted, not sent back) until the
            # consumer closes and cancels this call; they stay for the next consumer.
            stop.set()
            await never
        for msg in msgs:
            out.write(format_message(msg, as_json=args.json) + "\n")
            count += 1
        out.flush()
        if tty:
            rate = count / max(time.monotonic() - began, 1e-9)
            sys.stderr.write(f"\rreceived {count}  {rate:,.0f} msgs/s\x1b[K")
        if limit is not None and count >= limit:
            stop.set()

    async def concurrent(msgs: list[ReceivedMessage]) -> ConsumeResult:
        await handle(msgs)
        return ConsumeResult.SUCCESS

    async def orderly(msgs: list[ReceivedMessage]) -> ConsumeOrderlyResult:
        await handle(msgs)
        return ConsumeOrderlyResult.SUCCESS

    where, timestamp = start
    consume_from = {
        "first": ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
        "last": ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET,
        "timestamp": ConsumeFromWhere.CONSUME_FROM_TIMESTAMP,
    }[where]
    consumer = PushConsumer(
        args.group,
        namesrv_addr=args.namesrv_addr,
        listener=orderly if args.orderly else concurrent,
        orderly=args.orderly,
        message_model=MessageModel.BROADCASTING if args.broadcast else MessageModel.CLUSTERING,
        consume_from=consume_from,
        consume_timestamp=timestamp,
        consume_concurrency=1,  # printing is serial anyway; keeps the output in pull order
        await_termination=0.2,  # a call held past --count is cancelled at once
    )
    try:
        consumer.subscribe(args.topic, args.expression, sql=args.sql)
        async with consumer:
            sys.stderr.write(
                f"rmq consume: consuming {args.topic} as {args.group} "
                f"from {args.namesrv_addr} (Ctrl-C stops)\n"
            )
            sys.stderr.flush()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(args.timeout if args.timeout > 0 else None):
                    await stop.wait()
    except (ClientError, ValueError) as exc:
        sys.stderr.write(f"rmq consume: {type(exc).__name__}: {exc}\n")
        return EXIT_FAILED
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)
        if tty:
            sys.stderr.write("\n")
    sys.stderr.write(f"rmq consume: received {count} messages\n")
    return EXIT_INTERRUPTED if interrupted else EXIT_OK
