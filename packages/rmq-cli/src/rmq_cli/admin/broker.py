"""Broker commands: brokerStatus, getBrokerConfig, updateBrokerConfig."""

from __future__ import annotations

import argparse

from rmq_cli.admin._common import CommandError, Output, add_broker_addr, add_cluster, command
from rmq_client import Admin


async def _targets(admin: Admin, args: argparse.Namespace) -> list[str]:
    """``-b ADDR``, else the masters of ``-c CLUSTER`` (one of them is required)."""
    if args.broker_addr:
        return [args.broker_addr]
    if args.cluster:
        return await admin.master_addrs(args.cluster)
    raise CommandError("give -b BROKER_ADDR or -c CLUSTER_NAME")


def _target_args(p: argparse.ArgumentParser) -> None:
    add_broker_addr(p, "broker address (host:port)")
    add_cluster(p, "every master of this cluster")


@command("brokerStatus", "Broker", "a broker's runtime figures", _target_args)
async def broker_status(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    tables = {addr: await admin.broker_runtime_info(addr) for addr in await _targets(admin, args)}

    def text() -> None:
        for addr, table in tables.items():
            if len(tables) > 1:
                out.line(f"============{addr}============")
            out.pairs(sorted(table.items()))

    out.result(tables, text)
    return 0


@command("getBrokerConfig", "Broker", "a broker's configuration", _target_args)
async def get_broker_config(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    configs = {addr: await admin.broker_config(addr) for addr in await _targets(admin, args)}

    def text() -> None:
        for addr, config in configs.items():
            out.line(f"============{addr}============")
            out.pairs(sorted(config.items()))

    out.result(configs, text)
    return 0


def _update_args(p: argparse.ArgumentParser) -> None:
    _target_args(p)
    p.add_argument("-k", "--key", required=True, help="config key")
    p.add_argument("-v", "--value", required=True, help="config value")


@command(
    "updateBrokerConfig",
    "Broker",
    "change a broker config key at run time (needs enableUpdateBrokerConfig=true)",
    _update_args,
)
async def update_broker_config(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    addrs = await _targets(admin, args)
    for addr in addrs:
        await admin.update_broker_config(addr, {args.key: args.value})
    out.result(
        {"key": args.key, "value": args.value, "brokers": addrs},
        lambda: out.lines(
            f"update broker config {args.key}={args.value} on {addr} success." for addr in addrs
        ),
    )
    return 0
