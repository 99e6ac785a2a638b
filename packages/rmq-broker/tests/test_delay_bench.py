"""benchmarks/bench_delay.py still runs (``--quick``: 500 delayed messages of level 1)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_delay.py"


def test_bench_delay_quick_run_delivers_everything() -> None:
    run = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(BENCHMARK), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "500 in the real topic" in run.stdout, run.stdout
    assert any(line.startswith("lateness after due: p50 ") for line in run.stdout.splitlines())
