"""Dependency hygiene: rmq-broker uses rmq-protocol, rmq-store, rmq-filter (STYLE.md table)."""

from __future__ import annotations

import subprocess
import sys

import rmq_broker


def test_broker_loads_no_client_or_namesrv() -> None:
    code = (
        "import sys, rmq_broker, rmq_broker.broker, rmq_broker.__main__; "
        "print('\\n'.join(sorted(sys.modules)))"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert {m.split(".")[0] for m in out if m.startswith("rmq")} == {
        "rmq_protocol",
        "rmq_store",
        "rmq_filter",
        "rmq_broker",
    }
    assert not {"rmq_namesrv", "rmq_client"} & set(out)


def test_public_names_resolve() -> None:
    for name in rmq_broker.__all__:
        assert getattr(rmq_broker, name) is not None, name
