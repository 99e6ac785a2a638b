"""Dependency hygiene: rmq-namesrv uses rmq-protocol only (STYLE.md dependency table)."""

from __future__ import annotations

import subprocess
import sys

import rmq_namesrv


def test_namesrv_loads_no_store_broker_or_client() -> None:
    code = (
        "import sys, rmq_namesrv, rmq_namesrv.server, rmq_namesrv.__main__; "
        "print('\\n'.join(sorted(sys.modules)))"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert {m.split(".")[0] for m in out if m.startswith("rmq")} == {"rmq_protocol", "rmq_namesrv"}
    assert not {"rmq_store", "rmq_broker", "rmq_client"} & set(out)


def test_public_names_resolve() -> None:
    for name in rmq_namesrv.__all__:
        assert getattr(rmq_namesrv, name) is not None, name
