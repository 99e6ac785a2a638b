"""Producer commands: producerConnection."""

from __future__ import annotations

import argparse

from rmq_cli.admin._common import CommandError, Output, command
from rmq_client import Admin


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-g", "--producerGroup", dest="group", required=True, help="producer group name")
    p.add_argument("-t", "--topic", default=None, help="topic (accepted for mqadmin parity)")


@command("producerConnection", "Producer", "the online clients of a producer group", _args)
async def producer_connection(admin: Admin, args: argparse.Namespace, out: Output) -> int:
    pc = await admin.producer_connections(args.group)
    conns = [
        {
            "clientId": c.client_id,
            "clientAddr": c.client_addr,
            "language": c.language.name if c.language else None,
            "version": c.version,
        }
        for c in pc.connection_set
    ]
    if not conns:
        raise CommandError(f"producer group {args.group!r} has no online client")
    out.result(
        {"group": args.group, "connections": conns},
        lambda: out.table(
            ("#", "#ClientId", "#ClientAddr", "#Language", "#Version"),
            [
                (i, c["clientId"], c["clientAddr"], c["language"], c["version"])
                for i, c in enumerate(conns, 1)
            ],
        ),
    )
    return 0
