"""NameServer commands: getNamesrvConfig, wipeWritePerm, addWritePerm, updateKvConfig,
deleteKvConfig."""

from __future__ import annotations

import argparse

from rmq_cli.admin._common import Output, command
from rmq_client import Admin


def _no_args(p: argparse.ArgumentParser) -> None:
    del p


@command("getNamesrvConfig", "NameServer", "every NameServer's configuration", _no_args)
async def get_namesrv_config(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    configs = await admin.namesrv_config()

    def text() -> None:
        for addr, config in configs.items():
            out.line(f"============{addr}============")
            out.pairs(sorted(config.items()))

    out.result(configs, text)
    return 0


def _broker_name(p: argparse.ArgumentParser) -> None:
    p.add_argument("-b", "--brokerName", dest="broker_name", required=True, help="broker name")


@command("wipeWritePerm", "NameServer", "make a broker read-only in the NameServers", _broker_name)
async def wipe_write_perm(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    counts = await admin.wipe_write_perm(args.broker_name)
    out.result(
        {"brokerName": args.broker_name, "topics": counts},
        lambda: out.lines(
            f"wipe write perm of broker[{args.broker_name}] in name server[{addr}] OK, {n} topics"
            for addr, n in counts.items()
        ),
    )
    return 0


@command("addWritePerm", "NameServer", "give a broker its write permission back", _broker_name)
async def add_write_perm(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    counts = await admin.add_write_perm(args.broker_name)
    out.result(
        {"brokerName": args.broker_name, "topics": counts},
        lambda: out.lines(
            f"add write perm of broker[{args.broker_name}] in name server[{addr}] OK, {n} topics"
            for addr, n in counts.items()
        ),
    )
    return 0


def _kv_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-s", "--namespace", required=True, help="namespace")
    p.add_argument("-k", "--key", required=True, help="key")


def _kv_update_args(p: argparse.ArgumentParser) -> None:
    _kv_args(p)
    p.add_argument("-v", "--value", required=True, help="value")


@command("updateKvConfig", "NameServer", "set a NameServer KV config entry", _kv_update_args)
async def update_kv_config(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    await admin.put_kv_config(args.namespace, args.key, args.value)
    out.result(
        {"namespace": args.namespace, "key": args.key, "value": args.value},
        lambda: out.line(f"update kv config {args.namespace}/{args.key} success."),
    )
    return 0


@command("deleteKvConfig", "NameServer", "delete a NameServer KV config entry", _kv_args)
async def delete_kv_config(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    await admin.delete_kv_config(args.namespace, args.key)
    out.result(
        {"namespace": args.namespace, "key": args.key, "deleted": True},
        lambda: out.line(f"delete kv config {args.namespace}/{args.key} success."),
    )
    return 0
