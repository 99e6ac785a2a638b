"""Message commands: queryMsgById, queryMsgByKey, queryMsgByUniqueKey, queryMsgByOffset,
queryMsgTraceById, printMsg, printMsgByQueue, sendMessage, consumeMessage."""

from __future__ import annotations

import argparse
import collections
import dataclasses
import enum
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from rmq_cli.admin._common import (
    CommandError,
    Output,
    command,
    format_time,
    message_record,
    parse_bool,
    parse_time,
)
from rmq_client import Admin, Message, MessageQueue, Producer

if TYPE_CHECKING:
    from rmq_client import ReceivedMessage

PULL_BATCH = 32


def _detail(out: Output, msg: ReceivedMessage, *, charset: str = "utf-8") -> None:
    """One message as mqadmin's queryMsgById prints it (``key: value`` lines)."""
    out.pairs(
        [
            ("OffsetID", msg.offset_msg_id),
            ("Topic", msg.topic),
            ("Tags", f"[{msg.tags or ''}]"),
            ("Keys", f"[{' '.join(msg.keys)}]"),
            ("Queue ID", msg.queue_id),
            ("Queue Offset", msg.queue_offset),
            ("CommitLog Offset", msg.commit_log_offset),
            ("Reconsume Times", msg.reconsume_times),
            ("Born Timestamp", format_time(msg.born_timestamp / 1000)),
            ("Store Timestamp", format_time(msg.store_timestamp / 1000)),
            ("Born Host", msg.born_host),
            ("Store Host", msg.store_host),
            ("System Flag", msg.sys_flag),
            ("Properties", dict(msg.properties)),
            ("Message Body", _decode(bytes(msg.body), charset)),
        ]
    )


def _decode(body: bytes, charset: str) -> str:
    try:
        return body.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return f"<{len(body)} bytes, not {charset} text>"


def _messages(out: Output, msgs: list[ReceivedMessage], **extra: object) -> None:
    out.result(
        {**extra, "messages": [message_record(m) for m in msgs]},
        lambda: out.table(
            ("#Message ID", "#QID", "#Offset", "#Store Time", "#Tags", "#Keys"),
            [
                (
                    m.msg_id,
                    m.queue_id,
                    m.queue_offset,
                    format_time(m.store_timestamp / 1000),
                    m.tags or "",
                    " ".join(m.keys),
                )
                for m in msgs
            ],
        ),
    )


# ---------------------------------------------------------------------- queries


def _by_id_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--msgId", dest="msg_id", required=True, help="message id")
    p.add_argument("-t", "--topic", default=None, help="topic (needed when the id is a unique key)")


@command("queryMsgById", "Message", "a message by its (offset) message id", _by_id_args)
async def query_msg_by_id(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    if args.topic:
        await admin.topic_route(args.topic)
    msg = await admin.query_message_by_id(args.msg_id, topic=args.topic)
    out.result(message_record(msg), lambda: _detail(out, msg))
    return 0


def _by_key_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--topic", required=True, help="topic")
    p.add_argument("-k", "--msgKey", dest="key", required=True, help="message key")
    p.add_argument("-b", "--beginTimestamp", dest="begin", type=parse_time, default=0.0)
    p.add_argument("-e", "--endTimestamp", dest="end", type=parse_time, default=None)
    p.add_argument(
        "-m",
        "--maxNum",
        dest="max_num",
        type=int,
        default=64,
        help="at most this many messages (default 64); you are told when more exist",
    )
    p.add_argument("-c", "--cluster", default=None, help="(accepted for mqadmin parity)")


@command("queryMsgByKey", "Message", "messages by business key (KEYS)", _by_key_args)
async def query_msg_by_key(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    if args.max_num <= 0:
        raise CommandError(f"-m/--maxNum must be positive, not {args.max_num}")
    found = await admin.query_messages(
        args.topic, args.key, max_num=args.max_num + 1, begin=args.begin, end=args.end
    )
    found.sort(key=lambda m: (-m.store_timestamp, m.commit_log_offset))
    more = len(found) > args.max_num
    shown = found[: args.max_num]
    _messages(out, shown, topic=args.topic, key=args.key, more=more)
    if more:
        out.line(
            f"(more than {args.max_num} messages have key {args.key!r}; showing the newest "
            f"{args.max_num}: raise -m or narrow -b/-e)"
        )
    return 0


def _by_unique_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--msgId", dest="msg_id", required=True, help="message id (UNIQ_KEY)")
    p.add_argument("-t", "--topic", required=True, help="the message's topic")
    p.add_argument("-a", "--showAll", dest="show_all", action="store_true", help="all copies")
    p.add_argument("-g", "--consumerGroup", dest="group", default=None, help="(accepted)")
    p.add_argument("-d", "--clientId", dest="client_id", default=None, help="(accepted)")
    p.add_argument("-c", "--cluster", default=None, help="(accepted for mqadmin parity)")


@command(
    "queryMsgByUniqueKey",
    "Message",
    "a message by its unique key (client msgId)",
    _by_unique_args,
)
async def query_msg_by_unique_key(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    found = await admin.query_messages(args.topic, args.msg_id, unique_key=True, max_num=32)
    if not found:
        raise CommandError(f"no message with unique key {args.msg_id} in topic {args.topic}")
    if not args.show_all:
        found = found[:1]
    if args.json:
        out.json([message_record(m) for m in found] if args.show_all else message_record(found[0]))
        return 0
    for i, msg in enumerate(found):
        if i:
            out.line()
        _detail(out, msg)
    return 0


def _by_offset_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--topic", required=True, help="topic")
    p.add_argument("-b", "--brokerName", dest="broker_name", required=True, help="broker name")
    p.add_argument("-i", "--queueId", dest="queue_id", type=int, required=True, help="queue id")
    p.add_argument("-o", "--offset", type=int, required=True, help="queue offset")


@command("queryMsgByOffset", "Message", "the message at a queue offset", _by_offset_args)
async def query_msg_by_offset(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    mq = MessageQueue(args.topic, args.broker_name, args.queue_id)
    msg = await admin.query_message_by_queue_offset(mq, args.offset)
    if msg is None:
        raise CommandError(
            f"no message at offset {args.offset} of {args.topic}/{args.broker_name}/{args.queue_id}"
        )
    out.result(message_record(msg), lambda: _detail(out, msg))
    return 0


def _trace_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--msgId", dest="msg_id", required=True, help="message id")
    p.add_argument("-t", "--traceTopic", dest="trace_topic", default="RMQ_SYS_TRACE_TOPIC")
    p.add_argument("-b", "--beginTimestamp", dest="begin", default=None)
    p.add_argument("-e", "--endTimestamp", dest="end", default=None)
    p.add_argument("-c", "--maxNum", dest="max_num", type=int, default=64)


@command("queryMsgTraceById", "Message", "a message's trace (sends and consumptions)", _trace_args)
async def query_msg_trace_by_id(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    query = getattr(admin, "query_message_trace", None)
    if query is None:
        raise CommandError(
            f"message trace is not available in this rmq-client (no trace support), so "
            f"the trace of {args.msg_id} cannot be read"
        )
    trace = await query(
        args.msg_id,
        trace_topic=args.trace_topic,
        max_num=args.max_num,
        begin=parse_time(args.begin) if args.begin else 0.0,
        end=parse_time(args.end) if args.end else None,
    )
    record = _plain(trace)
    out.result(record, lambda: out.pairs(_flat(record)))
    return 0


def _plain(value: object) -> object:
    """A trace (dataclasses, enums, tuples) as JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _flat(value: object, prefix: str = "") -> list[tuple[str, object]]:
    if isinstance(value, dict):
        return [
            item
            for k, v in value.items()
            for item in _flat(v, f"{prefix}.{k}" if prefix else str(k))
        ]
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [item for i, v in enumerate(value) for item in _flat(v, f"{prefix}[{i}]")]
    return [(prefix, value)]


# ---------------------------------------------------------------------- reading queues


async def _queues(admin: Admin, topic: str) -> dict[MessageQueue, tuple[int, int]]:
    return {mq: (o.min_offset, o.max_offset) for mq, o in (await admin.topic_status(topic)).items()}


async def _read(
    admin: Admin,
    mq: MessageQueue,
    low: int,
    high: int,
    *,
    begin: float | None,
    end: float | None,
    expression: str = "*",
    limit: int | None = None,
) -> AsyncIterator[ReceivedMessage]:
    """The messages of ``mq`` in offsets ``[low, high)`` stored within ``[begin, end]``."""
    offset = low
    if begin:
        offset = max(offset, await admin.search_offset(mq, begin))
    count = 0
    while offset < high:
        msgs, next_offset = await admin.pull_messages(
            mq, offset, max_nums=PULL_BATCH, expression=expression
        )
        for m in msgs:
            if m.queue_offset >= high:
                return
            if end is not None and m.store_timestamp / 1000 > end:
                return
            yield m
            count += 1
            if limit is not None and count >= limit:
                return
        if next_offset <= offset:
            return
        offset = next_offset


def _print_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--topic", required=True, help="topic")
    p.add_argument("-c", "--charsetName", dest="charset", default="utf-8", help="body charset")
    p.add_argument("-s", "--subExpression", dest="expression", default="*", help="tags filter")
    p.add_argument("-b", "--beginTimestamp", dest="begin", type=parse_time, default=None)
    p.add_argument("-e", "--endTimestamp", dest="end", type=parse_time, default=None)
    p.add_argument("-d", "--printBody", dest="print_body", type=parse_bool, default=True)


def _print_one(out: Output, msg: ReceivedMessage, charset: str, *, body: bool) -> None:
    text = _decode(bytes(msg.body), charset) if body else ""
    out.line(
        f"MSGID: {msg.msg_id} QID: {msg.queue_id} OFFSET: {msg.queue_offset} "
        f"STORE: {format_time(msg.store_timestamp / 1000)} TAGS: {msg.tags or ''} "
        f"KEYS: {' '.join(msg.keys)}" + (f" BODY: {text}" if body else "")
    )


@command("printMsg", "Message", "print every message of a topic (or a time range)", _print_args)
async def print_msg(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    collected: list[dict[str, object]] = []
    for mq, (low, high) in (await _queues(admin, args.topic)).items():
        out.line(
            f"minOffset={low}, maxOffset={high}, {mq.topic} {mq.broker_name} queue {mq.queue_id}"
        )
        async for msg in _read(
            admin, mq, low, high, begin=args.begin, end=args.end, expression=args.expression
        ):
            if args.json:
                collected.append(message_record(msg))
            else:
                _print_one(out, msg, args.charset, body=args.print_body)
    if args.json:
        out.json(collected)
    return 0


def _print_queue_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--topic", required=True, help="topic")
    p.add_argument("-a", "--brokerName", dest="broker_name", required=True, help="broker name")
    p.add_argument("-i", "--queueId", dest="queue_id", type=int, required=True, help="queue id")
    p.add_argument("-c", "--charsetName", dest="charset", default="utf-8", help="body charset")
    p.add_argument("-s", "--subExpression", dest="expression", default="*", help="tags filter")
    p.add_argument("-b", "--beginTimestamp", dest="begin", type=parse_time, default=None)
    p.add_argument("-e", "--endTimestamp", dest="end", type=parse_time, default=None)
    p.add_argument("-p", "--printMsg", dest="print_msg", type=parse_bool, default=False)
    p.add_argument("-d", "--printBody", dest="print_body", type=parse_bool, default=False)
    p.add_argument(
        "-f",
        "--calculate",
        dest="calculate",
        type=parse_bool,
        default=False,
        help="count the messages by tag",
    )


@command(
    "printMsgByQueue", "Message", "print or count the messages of one queue", _print_queue_args
)
async def print_msg_by_queue(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    mq = MessageQueue(args.topic, args.broker_name, args.queue_id)
    ranges = await _queues(admin, args.topic)
    if mq not in ranges:
        raise CommandError(
            f"topic {args.topic} has no queue {args.queue_id} on broker {args.broker_name}"
        )
    low, high = ranges[mq]
    tags: collections.Counter[str] = collections.Counter()
    collected: list[dict[str, object]] = []
    async for msg in _read(
        admin, mq, low, high, begin=args.begin, end=args.end, expression=args.expression
    ):
        tags[msg.tags or ""] += 1
        if args.json:
            collected.append(message_record(msg))
        elif args.print_msg:
            _print_one(out, msg, args.charset, body=args.print_body)
    if args.json:
        out.json({"messages": collected, "tags": dict(tags.most_common())})
        return 0
    if args.calculate or not args.print_msg:
        out.table(("#Tag", "#Count"), tags.most_common())
    return 0


# ---------------------------------------------------------------------- send / consume


def _send_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--topic", required=True, help="topic")
    p.add_argument("-p", "--body", required=True, help="message body (UTF-8 text)")
    p.add_argument("-k", "--key", default=None, help="message keys (space separated)")
    p.add_argument("-c", "--tags", default=None, help="message tag")
    p.add_argument("-b", "--broker", default=None, help="send to this broker (name)")
    p.add_argument("-i", "--qid", type=int, default=None, help="send to this queue (with -b)")
    p.add_argument("-m", "--msgTraceEnable", dest="trace", type=parse_bool, default=False)


@command("sendMessage", "Message", "send one message", _send_args)
async def send_message(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    if args.trace:
        raise CommandError("message trace is not available in rmq-client (-m true)")
    if (args.broker is None) != (args.qid is None):
        raise CommandError("give -b BROKER_NAME and -i QUEUE_ID together, or neither")
    queue = MessageQueue(args.topic, args.broker, args.qid) if args.broker is not None else None
    msg = Message(args.topic, args.body.encode(), tags=args.tags, keys=args.key)
    async with Producer("rmq_admin_producer", config=admin.config) as producer:
        result = await producer.send(msg, queue=queue)
    record = {
        "brokerName": result.queue.broker_name,
        "queueId": result.queue.queue_id,
        "queueOffset": result.queue_offset,
        "sendStatus": result.status.name,
        "msgId": result.msg_id,
        "offsetMsgId": result.offset_msg_id,
    }
    out.result(
        record,
        lambda: out.table(
            ("#Broker Name", "#QID", "#Send Result", "#MsgId"),
            [(result.queue.broker_name, result.queue.queue_id, result.status.name, result.msg_id)],
        ),
    )
    return 0


def _consume_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--topic", required=True, help="topic")
    p.add_argument("-b", "--brokerName", dest="broker_name", default=None, help="broker name")
    p.add_argument("-i", "--queueId", dest="queue_id", type=int, default=None, help="queue id")
    p.add_argument("-o", "--offset", type=int, default=None, help="queue offset (with -b, -i)")
    p.add_argument("-g", "--consumerGroup", dest="group", default=None, help="(accepted)")
    p.add_argument("-s", "--beginTimestamp", dest="begin", type=parse_time, default=None)
    p.add_argument("-e", "--endTimestamp", dest="end", type=parse_time, default=None)
    p.add_argument(
        "-c",
        "--MessageNumber",
        dest="count",
        type=int,
        default=128,
        help="how many messages (default 128)",
    )


@command(
    "consumeMessage",
    "Message",
    "read messages of a topic (no offsets committed)",
    _consume_args,
)
async def consume_message(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    if args.count <= 0:
        raise CommandError(f"-c/--MessageNumber must be positive, not {args.count}")
    if args.offset is not None and (args.broker_name is None or args.queue_id is None):
        raise CommandError("-o OFFSET needs -b BROKER_NAME and -i QUEUE_ID")
    ranges = await _queues(admin, args.topic)
    selected = {
        mq: r
        for mq, r in ranges.items()
        if (args.broker_name is None or mq.broker_name == args.broker_name)
        and (args.queue_id is None or mq.queue_id == args.queue_id)
    }
    if not selected:
        raise CommandError(
            f"topic {args.topic} has no queue matching broker {args.broker_name} queue "
            f"{args.queue_id}"
        )
    got: list[ReceivedMessage] = []
    started = time.monotonic()
    for mq, (low, high) in selected.items():
        start = low if args.offset is None else max(args.offset, low)
        reader = _read(
            admin, mq, start, high, begin=args.begin, end=args.end, limit=args.count - len(got)
        )
        got.extend([msg async for msg in reader])
        if len(got) >= args.count:
            break
    if args.json:
        out.json([message_record(m) for m in got])
        return 0
    for msg in got:
        _print_one(out, msg, "utf-8", body=True)
    out.line(f"consumed {len(got)} messages in {time.monotonic() - started:.2f} s")
    return 0
