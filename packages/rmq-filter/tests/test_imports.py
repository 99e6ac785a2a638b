"""rmq-filter depends on lark only: no rmq package, no asyncio (STYLE.md dependency table)."""

from __future__ import annotations

import subprocess
import sys


def test_filter_loads_no_event_loop_or_rmq_package() -> None:
    code = (
        "import sys, rmq_filter; rmq_filter.compile_sql(\"a = 'b'\"); "
        "print('\\n'.join(sorted(sys.modules)))"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert "asyncio" not in out
    assert {m.split(".")[0] for m in out if m.startswith("rmq")} == {"rmq_filter"}
