"""benchmarks/bench_store.py still runs: every phase once on a few MB (``--quick``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_store.py"


def test_bench_store_quick_run_prints_every_figure(tmp_path: Path) -> None:
    run = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(BENCHMARK), "--quick", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    for start in ("1. batch append", "   raw sequential write", "2. single-message append",
                  "3. SYNC_FLUSH", "   event loop:", "   asyncio tasks, a future per group",
                  "   asyncio tasks, a future per writer", "   threads, put_message",
                  "4. get_messages", "5. abnormal recovery"):  # fmt: skip
        assert any(line.startswith(start) for line in lines), (start, run.stdout)
    assert list(tmp_path.iterdir()) == []  # the stores are removed
