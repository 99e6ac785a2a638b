"""benchmarks/bench_broker.py still runs: every row once, on a few thousand messages
(``--quick``), against a broker subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_broker.py"


def test_bench_broker_quick_run_prints_every_row(tmp_path: Path) -> None:
    run = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(BENCHMARK), "--quick", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    for start in ("machine:", "python:", "broker:", "1. SEND_MESSAGE_V2, 64 in flight",
                  "2. SEND_BATCH_MESSAGE", "3. PULL_MESSAGE", "4. SEND_MESSAGE_V2, one in flight",
                  "5. long-polling wake-up"):  # fmt: skip
        assert any(line.startswith(start) for line in lines), (start, run.stdout)
    assert list(tmp_path.iterdir()) == []  # the broker's data directory is removed
