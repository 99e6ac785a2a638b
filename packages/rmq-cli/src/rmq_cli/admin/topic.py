"""Topic commands: updateTopic, deleteTopic, updateTopicPerm, topicList, topicRoute,
topicStatus, topicClusterList."""

from __future__ import annotations

import argparse
import json

from rmq_cli.admin._common import (
    CommandError,
    Output,
    add_broker_addr,
    add_cluster,
    add_topic,
    command,
    format_time,
    parse_bool,
)
from rmq_client import Admin

_PERMS = {2: "W", 4: "R", 6: "RW"}


def _perm(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value not in _PERMS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a permission (2 W, 4 R, 6 RW)")
    return value


def _update_topic_args(p: argparse.ArgumentParser) -> None:
    add_topic(p)
    add_cluster(p, "create the topic on the masters of this cluster")
    add_broker_addr(p, "create the topic on this broker only (host:port)")
    p.add_argument("-r", "--readQueueNums", dest="read_queues", type=int, default=8)
    p.add_argument("-w", "--writeQueueNums", dest="write_queues", type=int, default=8)
    p.add_argument("-p", "--perm", type=_perm, default=6, help="2 W, 4 R, 6 RW (default 6)")
    p.add_argument("-o", "--order", type=parse_bool, default=False, help="ordered topic")
    p.add_argument(
        "-a", "--attributes", default=None, help="attributes, e.g. +message.type=NORMAL,+a=b"
    )


def _attributes(text: str | None) -> dict[str, str] | None:
    if not text:
        return None
    out: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.strip().lstrip("+").partition("=")
        if not sep or not key:
            raise CommandError(f"attribute {item!r} is not +key=value")
        out[key] = value
    return out


@command("updateTopic", "Topic", "create or update a topic", _update_topic_args)
async def update_topic(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    if not 0 < args.read_queues <= 1024 or not 0 < args.write_queues <= 1024:
        raise CommandError(
            f"queue numbers must be 1..1024 (read {args.read_queues}, write {args.write_queues})"
        )
    if args.broker_addr:
        await admin.create_topic_at(
            args.broker_addr,
            args.topic,
            read_queue_nums=args.read_queues,
            write_queue_nums=args.write_queues,
            perm=args.perm,
            order=args.order,
            attributes=_attributes(args.attributes),
        )
        masters = [args.broker_addr]
    else:
        await admin.create_topic(
            args.topic,
            read_queue_nums=args.read_queues,
            write_queue_nums=args.write_queues,
            perm=args.perm,
            order=args.order,
            cluster=args.cluster,
            attributes=_attributes(args.attributes),
        )
        masters = await admin.master_addrs(args.cluster)
    record = {
        "topic": args.topic,
        "readQueueNums": args.read_queues,
        "writeQueueNums": args.write_queues,
        "perm": args.perm,
        "order": args.order,
        "brokers": masters,
    }
    out.result(
        record,
        lambda: out.line(
            f"create topic {args.topic} (read {args.read_queues}, write {args.write_queues}, "
            f"perm {_PERMS[args.perm]}) on {', '.join(masters)} success."
        ),
    )
    return 0


def _delete_topic_args(p: argparse.ArgumentParser) -> None:
    add_topic(p)
    add_cluster(p, "delete the topic from this cluster")


@command("deleteTopic", "Topic", "delete a topic from brokers and NameServers", _delete_topic_args)
async def delete_topic(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    await admin.delete_topic(args.topic, cluster=args.cluster)
    out.result(
        {"topic": args.topic, "deleted": True},
        lambda: out.line(f"delete topic [{args.topic}] from cluster [{args.cluster}] success."),
    )
    return 0


def _update_perm_args(p: argparse.ArgumentParser) -> None:
    add_topic(p)
    add_cluster(p, "only the brokers of this cluster")
    add_broker_addr(p, "only this master broker (host:port; takes precedence over -c)")
    p.add_argument("-p", "--perm", type=_perm, required=True, help="2 W, 4 R, 6 RW")


@command("updateTopicPerm", "Topic", "change a topic's permission", _update_perm_args)
async def update_topic_perm(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    if args.broker_addr:  # mqadmin: -b wins over -c
        before = await admin.update_topic_perm(args.topic, args.perm, broker_addr=args.broker_addr)
    else:
        before = await admin.update_topic_perm(args.topic, args.perm, cluster=args.cluster)
    rows = [(addr, _PERMS.get(old, str(old)), _PERMS[args.perm]) for addr, old in before.items()]
    out.result(
        {
            "topic": args.topic,
            "perm": args.perm,
            "brokers": {a: {"old": o} for a, o in before.items()},
        },
        lambda: out.table(("#Broker", "#Old Perm", "#New Perm"), rows),
    )
    return 0


def _topic_list_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-c",
        "--clusterModel",
        dest="cluster_model",
        action="store_true",
        help="also print each topic's cluster",
    )


@command("topicList", "Topic", "list the topics the NameServer knows", _topic_list_args)
async def topic_list(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    topics = await admin.topic_list()
    if not args.cluster_model:
        out.result(topics, lambda: out.lines(topics))
        return 0
    info = await admin.cluster_info()
    cluster_of = {
        name: cluster for cluster, names in info.cluster_addr_table.items() for name in names
    }
    rows: list[tuple[str, str]] = []
    for topic in topics:
        try:
            route = await admin.topic_route(topic)
        except Exception:  # noqa: BLE001 - a topic deleted meanwhile: no cluster
            rows.append(("-", topic))
            continue
        clusters = sorted({cluster_of.get(b.broker_name, b.cluster) for b in route.broker_datas})
        rows.append((",".join(clusters) or "-", topic))
    out.result(
        [{"cluster": c, "topic": t} for c, t in rows],
        lambda: out.table(("#Cluster Name", "#Topic"), rows),
    )
    return 0


def _route_args(p: argparse.ArgumentParser) -> None:
    add_topic(p)
    p.add_argument("-l", "--list", dest="as_list", action="store_true", help="list format")


@command("topicRoute", "Topic", "print a topic's route", _route_args)
async def topic_route(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    route = await admin.topic_route(args.topic)
    if args.json or not args.as_list:
        out.json(json.loads(route.to_json()))
        return 0
    addrs = {b.broker_name: b for b in route.broker_datas}
    rows = []
    for q in sorted(route.queue_datas, key=lambda q: q.broker_name):
        b = addrs.get(q.broker_name)
        rows.append(
            (
                b.cluster if b else "-",
                q.broker_name,
                b.broker_addrs.get(0, "-") if b else "-",
                q.read_queue_nums,
                q.write_queue_nums,
                _PERMS.get(q.perm, str(q.perm)),
            )
        )
    out.table(("#ClusterName", "#BrokerName", "#BrokerAddr", "#ReadQ", "#WriteQ", "#Perm"), rows)
    return 0


def _status_args(p: argparse.ArgumentParser) -> None:
    add_topic(p)
    add_cluster(p)


@command("topicStatus", "Topic", "min/max offset of every queue of a topic", _status_args)
async def topic_status(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    status = await admin.topic_status(args.topic)
    rows = [
        (
            mq.broker_name,
            mq.queue_id,
            o.min_offset,
            o.max_offset,
            format_time(o.last_update_timestamp / 1000),
        )
        for mq, o in status.items()
    ]
    out.result(
        [
            {
                "brokerName": mq.broker_name,
                "queueId": mq.queue_id,
                "minOffset": o.min_offset,
                "maxOffset": o.max_offset,
                "lastUpdateTimestamp": o.last_update_timestamp,
            }
            for mq, o in status.items()
        ],
        lambda: out.table(
            ("#Broker Name", "#QID", "#Min Offset", "#Max Offset", "#Last Updated"), rows
        ),
    )
    return 0


def _cluster_list_args(p: argparse.ArgumentParser) -> None:
    add_topic(p)


@command("topicClusterList", "Topic", "the clusters a topic is in", _cluster_list_args)
async def topic_cluster_list(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    route = await admin.topic_route(args.topic)
    info = await admin.cluster_info()
    names = {b.broker_name for b in route.broker_datas}
    clusters = sorted(c for c, members in info.cluster_addr_table.items() if names & set(members))
    out.result(clusters, lambda: out.lines(clusters))
    return 0
