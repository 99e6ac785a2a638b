"""Cluster commands: clusterList (topicClusterList is with the topic commands)."""

from __future__ import annotations

import argparse

from rmq_cli.admin._common import CommandError, Output, command
from rmq_client import Admin, ClientError


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--clusterName", dest="cluster", default=None, help="only this cluster")
    p.add_argument(
        "-m",
        "--moreStats",
        dest="more",
        action="store_true",
        help="also print message totals (today, yesterday)",
    )


def _tps(value: str | None) -> str:
    """The 10-second figure of a ``"<10 s> <60 s> <600 s>"`` TPS string."""
    parts = (value or "").split()
    if not parts:
        return "-"
    first = parts[0]
    try:
        return f"{float(first):.2f}"
    except ValueError:
        return first


@command("clusterList", "Cluster", "the clusters, their brokers and their load", _args)
async def cluster_list(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    info = await admin.cluster_info()
    if args.cluster is not None and args.cluster not in info.cluster_addr_table:
        known = ", ".join(sorted(info.cluster_addr_table)) or "none"
        raise CommandError(f"cluster {args.cluster!r} unknown to the NameServer (known: {known})")
    records: list[dict[str, object]] = []
    for cluster, names in sorted(info.cluster_addr_table.items()):
        if args.cluster is not None and cluster != args.cluster:
            continue
        for name in sorted(names):
            data = info.broker_addr_table.get(name)
            if data is None:
                continue
            for bid, addr in sorted(data.broker_addrs.items()):
                try:
                    runtime: dict[str, str] | None = await admin.broker_runtime_info(addr)
                except ClientError:
                    runtime = None
                r = runtime or {}
                records.append(
                    {
                        "cluster": cluster,
                        "brokerName": name,
                        "brokerId": bid,
                        "addr": addr,
                        "version": r.get("brokerVersionDesc"),
                        "putTps": r.get("putTps"),
                        "getTransferredTps": r.get("getTransferedTps", r.get("getTotalTps")),
                        "commitLogDiskRatio": r.get("commitLogDiskRatio"),
                        "msgPutTotalTodayNow": r.get("msgPutTotalTodayNow"),
                        "msgPutTotalYesterdayMorning": r.get("msgPutTotalYesterdayMorning"),
                        "reachable": runtime is not None,
                    }
                )

    def text() -> None:
        headers = [
            "#Cluster Name",
            "#Broker Name",
            "#BID",
            "#Addr",
            "#Version",
            "#InTPS",
            "#OutTPS",
            "#Disk",
        ]
        if args.more:
            headers += ["#InTotalToday", "#InTotalYest"]
        rows = []
        for r in records:
            row: list[object] = [
                r["cluster"],
                r["brokerName"],
                r["brokerId"],
                r["addr"],
                r["version"] or "-",
                _tps(_str(r["putTps"])),
                _tps(_str(r["getTransferredTps"])),
                _ratio(_str(r["commitLogDiskRatio"])),
            ]
            if args.more:
                row += [r["msgPutTotalTodayNow"] or "-", r["msgPutTotalYesterdayMorning"] or "-"]
            rows.append(row)
        out.table(headers, rows)

    out.result(records, text)
    return 0


def _ratio(value: str | None) -> str:
    try:
        return f"{float(value or ''):.2f}"
    except ValueError:
        return value or "-"


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
