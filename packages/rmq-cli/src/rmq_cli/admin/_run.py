"""Running one admin command: an Admin for its lifetime, errors turned into one line."""

from __future__ import annotations

import argparse
from typing import Final, TextIO

from rmq_cli.admin._common import Command, CommandError, Output
from rmq_client import Admin, BrokerError, ClientConfig, ClientError
from rmq_protocol.codec.codes import code_name
from rmq_protocol.transport import run

__all__ = ["describe_error", "run_command"]

EXIT_FAILED: Final = 1


def describe_error(exc: BaseException) -> str:
    """The one line ``rmq admin`` prints for a failure (without ``error: ``)."""
    if isinstance(exc, BrokerError):
        what = code_name(exc.request, response=False) if exc.request is not None else "request"
        where = f"broker {exc.broker}, " if exc.broker else ""
        remark = " ".join((exc.remark or "no remark").split())  # one line
        name = code_name(exc.code, response=True) if exc.code is not None else "?"
        return f"{what} refused with {name} ({where}code {exc.code}: {remark})"
    if isinstance(exc, ClientError) and exc.broker and exc.broker not in str(exc):
        return f"{exc} (broker {exc.broker})"
    return " ".join(str(exc).split()) or type(exc).__name__


def run_command(cmd: Command, args: argparse.Namespace, *, out: TextIO, err: TextIO) -> int:
    async def go() -> int:
        config = ClientConfig(namesrv_addr=args.namesrv_addr, instance_name=f"rmq-admin-{cmd.name}")
        async with Admin(config=config, timeout=args.timeout) as admin:
            return await cmd.run(admin, args, Output(out, as_json=args.json))

    try:
        return run(go())
    except (CommandError, ClientError, ValueError, TimeoutError, OSError) as exc:
        out.flush()
        err.write(f"error: {describe_error(exc)}\n")
        return EXIT_FAILED
