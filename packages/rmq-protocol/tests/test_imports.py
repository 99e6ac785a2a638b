"""Dependency hygiene: the codec loads no I/O machinery and no other rmq package."""

from __future__ import annotations

import subprocess
import sys

import pytest

import rmq_protocol
import rmq_protocol.codec
import rmq_protocol.transport


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return set(out.split())


@pytest.mark.parametrize(
    "statement",
    ["import rmq_protocol", "import rmq_protocol.codec", "import rmq_protocol.inspector"],
)
def test_codec_imports_no_event_loop_or_sockets(statement: str) -> None:
    loaded = _modules_after(statement)
    assert not {"asyncio", "socket", "selectors", "uvloop"} & loaded


def test_no_other_rmq_package_is_imported() -> None:
    loaded = _modules_after("import rmq_protocol.transport, rmq_protocol.inspector")
    assert {m.split(".")[0] for m in loaded if m.startswith("rmq")} == {"rmq_protocol"}


def test_public_names_resolve() -> None:
    for module in (rmq_protocol, rmq_protocol.codec, rmq_protocol.transport):
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{module.__name__}.{name}"
