"""Offset commands: resetOffsetByTime, skipAccumulatedMessage, cloneGroupOffset,
getConsumerStatus."""

from __future__ import annotations

import argparse

from rmq_cli.admin._common import CommandError, Output, command, format_time, parse_bool, parse_time
from rmq_client import Admin, MessageQueue


def _group_topic(p: argparse.ArgumentParser) -> None:
    p.add_argument("-g", "--group", required=True, help="consumer group")
    p.add_argument("-t", "--topic", required=True, help="topic")


def _offsets(out: Output, group: str, topic: str, offsets: dict[MessageQueue, int]) -> None:
    out.result(
        {
            "group": group,
            "topic": topic,
            "offsets": [
                {"brokerName": mq.broker_name, "queueId": mq.queue_id, "offset": o}
                for mq, o in offsets.items()
            ],
        },
        lambda: out.table(
            ("#brokerName", "#queueId", "#offset"),
            [(mq.broker_name, mq.queue_id, o) for mq, o in offsets.items()],
        ),
    )


def _reset_args(p: argparse.ArgumentParser) -> None:
    _group_topic(p)
    p.add_argument(
        "-s",
        "--timestamp",
        type=parse_time,
        required=True,
        help="now, milliseconds since the epoch, yyyy-MM-dd#HH:mm:ss:SSS or ISO 8601",
    )
    p.add_argument("-f", "--force", type=parse_bool, default=True, help="(deprecated in mqadmin)")
    p.add_argument("-c", "--cluster", default=None, help="(accepted for mqadmin parity)")


@command(
    "resetOffsetByTime",
    "Offset",
    "move a group's offsets on a topic to a point in time",
    _reset_args,
)
async def reset_offset_by_time(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    offsets = await admin.reset_offsets_by_timestamp(
        args.group, args.topic, args.timestamp, force=args.force
    )
    out.line(
        f"reset offsets of group {args.group} on topic {args.topic} to "
        f"{format_time(args.timestamp)}:"
    )
    _offsets(out, args.group, args.topic, offsets)
    return 0


def _skip_args(p: argparse.ArgumentParser) -> None:
    _group_topic(p)
    p.add_argument("-f", "--force", type=parse_bool, default=True, help="(accepted, always on)")
    p.add_argument("-c", "--cluster", default=None, help="(accepted for mqadmin parity)")


@command(
    "skipAccumulatedMessage",
    "Offset",
    "move a group's offsets on a topic to the end (skip the backlog)",
    _skip_args,
)
async def skip_accumulated_message(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    offsets = await admin.skip_accumulated_messages(args.group, args.topic)
    _offsets(out, args.group, args.topic, offsets)
    return 0


def _clone_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-s", "--srcGroup", dest="src", required=True, help="source consumer group")
    p.add_argument("-d", "--destGroup", dest="dest", required=True, help="destination group")
    p.add_argument("-t", "--topic", required=True, help="topic")
    p.add_argument(
        "-o",
        "--offline",
        type=parse_bool,
        default=True,
        help="copy even if the running source group does not subscribe the topic (default "
        "true; false lets the broker skip such a topic, which is then an error)",
    )


@command(
    "cloneGroupOffset", "Offset", "copy one group's offsets on a topic to another", _clone_args
)
async def clone_group_offset(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    source = await _committed(admin, args.src, args.topic)
    if not source:
        raise CommandError(f"group {args.src!r} has no committed offset on topic {args.topic!r}")
    await admin.clone_group_offset(args.src, args.dest, args.topic, offline=args.offline)
    offsets = await _committed(admin, args.dest, args.topic)
    missing = sorted(mq for mq, o in source.items() if offsets.get(mq) != o)
    if missing:
        raise CommandError(
            f"the broker did not copy the offsets of {len(missing)} queue(s) of topic "
            f"{args.topic!r} from {args.src!r} to {args.dest!r} (first: queue "
            f"{missing[0].queue_id} of {missing[0].broker_name}); with -o false it skips a "
            "topic the running source group does not subscribe: use -o true"
        )
    out.line(f"clone group offset from {args.src} to {args.dest} on topic {args.topic}:")
    _offsets(out, args.dest, args.topic, offsets)
    return 0


async def _committed(admin: Admin, group: str, topic: str) -> dict[MessageQueue, int]:
    return await admin.committed_offsets(group, topic)


def _status_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-g", "--group", required=True, help="consumer group")
    p.add_argument("-t", "--topic", required=True, help="topic")
    p.add_argument(
        "-i", "--originClientId", dest="client_id", default=None, help="only this client id"
    )


@command(
    "getConsumerStatus",
    "Offset",
    "the offsets each running client of a group holds (asked through the broker)",
    _status_args,
)
async def get_consumer_status(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    table = await admin.consumer_status(args.group, args.topic, client_id=args.client_id)
    rows = [
        (client_id, mq.broker_name, mq.queue_id, offset)
        for client_id, offsets in sorted(table.items())
        for mq, offset in sorted(offsets.items())
    ]
    out.line(
        f"get consumer status from client. group={args.group}, topic={args.topic}, "
        f"originClientId={args.client_id or ''}"
    )
    out.result(
        {
            "group": args.group,
            "topic": args.topic,
            "clients": [
                {
                    "clientId": client_id,
                    "offsets": [
                        {"brokerName": mq.broker_name, "queueId": mq.queue_id, "offset": o}
                        for mq, o in sorted(offsets.items())
                    ],
                }
                for client_id, offsets in sorted(table.items())
            ],
        },
        lambda: out.table(("#clientId", "#brokerName", "#queueId", "#offset"), rows),
    )
    return 0
