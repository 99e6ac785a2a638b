"""Dependency hygiene: rmq-cli uses the server packages, never the client (STYLE.md table)."""

from __future__ import annotations

import subprocess
import sys

import rmq_cli


def test_cli_loads_the_servers_and_no_client() -> None:
    code = "import sys, rmq_cli, rmq_cli.__main__; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert {m.split(".")[0] for m in out if m.startswith("rmq")} == {
        "rmq_protocol",
        "rmq_store",
        "rmq_filter",
        "rmq_namesrv",
        "rmq_broker",
        "rmq_cli",
    }
    assert "rmq_client" not in out


def test_public_names_resolve() -> None:
    for name in rmq_cli.__all__:
        assert getattr(rmq_cli, name) is not None, name
