"""Consumer commands: updateSubGroup, deleteSubGroup, consumerProgress, consumerConnection."""

from __future__ import annotations

import argparse
import time
from typing import Final

from rmq_cli.admin._common import (
    Output,
    add_broker_addr,
    add_cluster,
    command,
    format_time,
    parse_bool,
)
from rmq_client import Admin, ClientError
from rmq_protocol.codec.body import SubscriptionGroupConfig

RETRY_GROUP_TOPIC_PREFIX: Final = "%RETRY%"  # MixAll.RETRY_GROUP_TOPIC_PREFIX
DLQ_GROUP_TOPIC_PREFIX: Final = "%DLQ%"  # MixAll.DLQ_GROUP_TOPIC_PREFIX


def _group(p: argparse.ArgumentParser) -> None:
    p.add_argument("-g", "--groupName", dest="group", required=True, help="consumer group name")


def _update_args(p: argparse.ArgumentParser) -> None:
    _group(p)
    add_cluster(p, "create the group on the masters of this cluster")
    add_broker_addr(p, "create the group on this broker only (host:port)")
    p.add_argument("-s", "--consumeEnable", dest="consume_enable", type=parse_bool, default=True)
    p.add_argument(
        "-d", "--consumeBroadcastEnable", dest="broadcast", type=parse_bool, default=True
    )
    p.add_argument("-o", "--consumeMessageOrderly", dest="orderly", type=parse_bool, default=False)
    p.add_argument("-q", "--retryQueueNums", dest="retry_queues", type=int, default=1)
    p.add_argument("-r", "--retryMaxTimes", dest="retry_max", type=int, default=16)


@command("updateSubGroup", "Consumer", "create or update a consumer group", _update_args)
async def update_sub_group(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    if args.broker_addr:
        config = SubscriptionGroupConfig(
            group_name=args.group,
            retry_max_times=args.retry_max,
            retry_queue_nums=args.retry_queues,
            consume_broadcast_enable=args.broadcast,
            consume_message_orderly=args.orderly,
            consume_enable=args.consume_enable,
        )
        await admin.create_subscription_group_at(args.broker_addr, config)
        masters = [args.broker_addr]
    else:
        await admin.create_subscription_group(
            args.group,
            cluster=args.cluster,
            retry_max_times=args.retry_max,
            retry_queue_nums=args.retry_queues,
            consume_broadcast_enable=args.broadcast,
            consume_message_orderly=args.orderly,
            consume_enable=args.consume_enable,
        )
        masters = await admin.master_addrs(args.cluster)
    out.result(
        {"group": args.group, "brokers": masters},
        lambda: out.line(
            f"create subscription group {args.group} on {', '.join(masters)} success."
        ),
    )
    return 0


def _delete_args(p: argparse.ArgumentParser) -> None:
    _group(p)
    add_cluster(p, "delete the group from this cluster")
    add_broker_addr(p, "delete the group from this broker only (host:port; wins over -c)")
    p.add_argument(
        "-r",
        "--removeOffset",
        dest="remove_offset",
        type=parse_bool,
        default=False,
        help="also forget the group's offsets",
    )


@command("deleteSubGroup", "Consumer", "delete a consumer group", _delete_args)
async def delete_sub_group(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    """mqadmin's DeleteSubscriptionGroupCommand: ``-b`` deletes the group from one broker;
    otherwise from the masters of the cluster (``-c``; every cluster when omitted), and
    then the group's ``%RETRY%`` and ``%DLQ%`` topics from those brokers and the
    NameServers. As in mqadmin, a topic that cannot be deleted does not fail the command
    (the group is gone already): the reason is printed instead."""
    group = args.group
    topics: dict[str, str | None] = {}  # retry/DLQ topic -> None (deleted) or the error
    if args.broker_addr:  # mqadmin: -b wins over -c
        brokers = await admin.delete_subscription_group(
            group, broker_addr=args.broker_addr, clean_offset=args.remove_offset
        )
    else:
        brokers = await admin.delete_subscription_group(
            group, cluster=args.cluster, clean_offset=args.remove_offset
        )
        for prefix in (RETRY_GROUP_TOPIC_PREFIX, DLQ_GROUP_TOPIC_PREFIX):
            topic = prefix + group
            try:
                await admin.delete_topic(topic, cluster=args.cluster)
            except ClientError as exc:
                topics[topic] = str(exc)
            else:
                topics[topic] = None
    where = f" in cluster [{args.cluster}]" if args.cluster and not args.broker_addr else ""

    def text() -> None:
        out.lines(
            f"delete subscription group [{group}] from broker [{addr}]{where} success."
            for addr in brokers
        )
        for topic, error in topics.items():
            if error is None:
                out.line(f"delete topic [{topic}]{where} success.")
            else:
                out.line(f"delete topic [{topic}]{where} failed: {error}")

    out.result(
        {
            "group": group,
            "deleted": True,
            "offsetsRemoved": args.remove_offset,
            "brokers": brokers,
            "topicsDeleted": [t for t, error in topics.items() if error is None],
            "topicErrors": {t: error for t, error in topics.items() if error is not None},
        },
        text,
    )
    return 0


def _progress_args(p: argparse.ArgumentParser) -> None:
    _group(p)
    p.add_argument("-t", "--topicName", dest="topic", default=None, help="only this topic")


@command(
    "consumerProgress",
    "Consumer",
    "a group's offsets and lag (messages and seconds) per queue",
    _progress_args,
)
async def consumer_progress(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    progress = await admin.consumer_progress(args.group, topic=args.topic)
    now = time.time()
    records: list[dict[str, object]] = []
    for q in progress.queues:
        known = q.consumer_offset >= 0
        lag: int | None = max(q.broker_offset - q.consumer_offset, 0) if known else None
        age: float | None
        if lag is None:
            age = None
        elif lag == 0:
            age = 0.0
        else:
            oldest = await admin.query_message_by_queue_offset(q.queue, q.consumer_offset)
            age = max(now - oldest.store_timestamp / 1000, 0.0) if oldest else None
        records.append(
            {
                "topic": q.queue.topic,
                "brokerName": q.queue.broker_name,
                "queueId": q.queue.queue_id,
                "brokerOffset": q.broker_offset,
                "consumerOffset": q.consumer_offset if known else None,
                "lag": lag,
                "lagSeconds": None if age is None else round(age, 3),
                "lastTimestamp": int(q.last_timestamp * 1000) or None,
            }
        )
    known_lags = [r["lag"] for r in records if isinstance(r["lag"], int)]
    ages = [r["lagSeconds"] for r in records if isinstance(r["lagSeconds"], float)]
    total_lag = sum(known_lags) if len(known_lags) == len(records) else None
    max_age = max(ages) if ages and len(ages) == len(records) else (None if records else 0.0)
    summary = {
        "group": args.group,
        "consumeTps": round(progress.consume_tps, 2),
        "totalLag": total_lag,
        "maxLagSeconds": max_age,
        "queues": records,
    }

    def text() -> None:
        out.table(
            (
                "#Topic",
                "#Broker Name",
                "#QID",
                "#Broker Offset",
                "#Consumer Offset",
                "#Lag",
                "#Lag (s)",
                "#LastTime",
            ),
            [
                (
                    r["topic"],
                    r["brokerName"],
                    r["queueId"],
                    r["brokerOffset"],
                    _or_unknown(r["consumerOffset"]),
                    _or_unknown(r["lag"]),
                    _seconds(r["lagSeconds"]),
                    format_time(q.last_timestamp) if q.last_timestamp else "unknown",
                )
                for r, q in zip(records, progress.queues, strict=True)
            ],
        )
        out.line()
        out.line(f"Consume TPS: {progress.consume_tps:.2f}")
        out.line(f"Consume Diff Total: {_or_unknown(total_lag)}")
        out.line(f"Oldest unconsumed message age (s): {_seconds(max_age)}")

    out.result(summary, text)
    return 0


def _or_unknown(value: object) -> str:
    return "unknown" if value is None or value == -1 else str(value)


def _seconds(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, float) else "unknown"


def _connection_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-g", "--consumerGroup", dest="group", required=True, help="consumer group name")


@command(
    "consumerConnection", "Consumer", "the online clients of a consumer group", _connection_args
)
async def consumer_connection(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    cc = await admin.consumer_connections(args.group)
    conns = [
        {
            "clientId": c.client_id,
            "clientAddr": c.client_addr,
            "language": c.language.name if c.language else None,
            "version": c.version,
        }
        for c in cc.connection_set
    ]
    subs = [
        {"topic": topic, "subExpression": s.sub_string, "expressionType": s.expression_type}
        for topic, s in sorted(cc.subscription_table.items())
    ]
    record = {
        "group": args.group,
        "connections": conns,
        "subscriptions": subs,
        "consumeType": cc.consume_type.value if cc.consume_type else None,
        "messageModel": cc.message_model.value if cc.message_model else None,
        "consumeFromWhere": cc.consume_from_where.value if cc.consume_from_where else None,
    }

    def text() -> None:
        out.table(
            ("#", "#ClientId", "#ClientAddr", "#Language", "#Version"),
            [
                (i, c["clientId"], c["clientAddr"], c["language"], c["version"])
                for i, c in enumerate(conns, 1)
            ],
        )
        out.line()
        out.line("Below is subscription:")
        out.table(
            ("#", "#Topic", "#SubExpression"),
            [(i, s["topic"], s["subExpression"]) for i, s in enumerate(subs, 1)],
        )
        out.line()
        out.line(f"ConsumeType: {record['consumeType']}")
        out.line(f"MessageModel: {record['messageModel']}")
        out.line(f"ConsumeFromWhere: {record['consumeFromWhere']}")

    out.result(record, text)
    return 0
