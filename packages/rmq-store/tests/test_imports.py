"""rmq-store is synchronous and uses only rmq_protocol.codec (STYLE.md dependency table)."""

from __future__ import annotations

import subprocess
import sys


def test_store_loads_no_event_loop_sockets_or_transport() -> None:
    code = (
        "import sys, rmq_store, rmq_store.store, rmq_store.flush, rmq_store.index_service; "
        "print('\\n'.join(sorted(sys.modules)))"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert not {"asyncio", "socket", "selectors", "rmq_protocol.transport"} & set(out)
    assert {m.split(".")[0] for m in out if m.startswith("rmq")} == {"rmq_protocol", "rmq_store"}
