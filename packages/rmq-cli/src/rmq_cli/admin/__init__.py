"""``rmq admin``: RocketMQ's ``mqadmin`` on rmq-client's :class:`~rmq_client.Admin`.

::

    rmq admin updateTopic -n 127.0.0.1:9876 -c DefaultCluster -t TopicTest -r 8 -w 8 -p 6
    rmq admin consumerProgress -n 127.0.0.1:9876 -g CID_demo --json
    rmq admin --help            # the commands, grouped as mqadmin groups them

Command names and short options are mqadmin's. Output is a table (or ``key : value``
lines) by default, one JSON document with ``--json``. Exit code 0; 1 with one line
``error: …`` on stderr when the command fails (a broker's refusal reads
``error: <what> (broker ADDR, code N: remark)``); 2 for a usage error.

The command modules import rmq-client; :func:`main` imports them when it runs, so
``import rmq_cli`` stays free of the client.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, TextIO

if TYPE_CHECKING:
    from rmq_cli.admin._common import Command

__all__ = ["main"]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2


def _commands() -> dict[str, Command]:
    from rmq_cli.admin import (  # noqa: F401 - importing registers the commands
        broker,
        cluster,
        consumer,
        message,
        namesrv,
        offset,
        producer,
        topic,
    )
    from rmq_cli.admin._common import COMMANDS

    return COMMANDS


def _usage(commands: dict[str, Command]) -> str:
    from rmq_cli.admin._common import GROUPS

    width = max(len(name) for name in commands)
    lines = [
        "usage: rmq admin COMMAND -n NAMESRV_ADDR [options] [--json]",
        "",
        "RocketMQ's mqadmin commands against rmq (or any RocketMQ) NameServers and brokers.",
        "`rmq admin COMMAND --help` shows a command's options.",
    ]
    for group in GROUPS:
        members = sorted((c for c in commands.values() if c.group == group), key=lambda c: c.name)
        if not members:
            continue
        lines += ["", f"{group}:"]
        lines += [f"  {c.name.ljust(width)}  {c.help}" for c in members]
    return "\n".join(lines) + "\n"


def _parser(cmd: Command) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"rmq admin {cmd.name}", description=f"{cmd.help} ({cmd.group} command)"
    )
    parser.add_argument(
        "-n",
        "--namesrvAddr",
        dest="namesrv_addr",
        required=True,
        metavar="ADDRS",
        help="NameServer address list, e.g. '127.0.0.1:9876;127.0.0.2:9876'",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="seconds per request (default 5)"
    )
    cmd.add_arguments(parser)
    return parser


def main(argv: Sequence[str], *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run ``rmq admin ARGV``; the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    commands = _commands()
    if not argv or argv[0] in ("-h", "--help", "help"):
        out.write(_usage(commands))
        return EXIT_OK if argv else EXIT_USAGE
    name, rest = argv[0], list(argv[1:])
    cmd = commands.get(name)
    if cmd is None:
        lowered = {n.lower(): n for n in commands}
        hint = lowered.get(name.lower())
        err.write(
            f"error: unknown admin command {name!r}"
            + (f" (did you mean {hint!r}?)" if hint else "; `rmq admin --help` lists them")
            + "\n"
        )
        return EXIT_USAGE
    try:
        args = _parser(cmd).parse_args(rest)
    except SystemExit as exc:  # argparse printed the usage or --help
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    from rmq_cli.admin._run import run_command

    return run_command(cmd, args, out=out, err=err)
