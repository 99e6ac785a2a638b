"""benchmarks/bench_inprocess.py still runs: each kind on a few thousand messages, the
broker answering SUCCESS (the script exits non-zero otherwise)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_inprocess.py"


@pytest.mark.parametrize("kind", ["send", "sendrmq", "batch", "pull"])
def test_bench_inprocess_runs_and_reports_cpu_per_message(kind: str) -> None:
    run = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(BENCHMARK), kind, "2048"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    found = re.search(
        rf"^{kind}: ([\d,]+) messages; CPU per message: process ([\d.]+) µs, "
        r"event-loop thread ([\d.]+) µs; (\d+) bytes written",
        run.stdout,
        re.MULTILINE,
    )
    assert found is not None, run.stdout
    assert int(found.group(1).replace(",", "")) >= 2048
    assert float(found.group(2)) > 0
    assert int(found.group(4)) > 0  # every request was answered with something


def test_bench_inprocess_refuses_an_unknown_kind() -> None:
    run = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(BENCHMARK), "nonsense"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode != 0
    assert "usage: bench_inprocess.py send|sendrmq|batch|pull" in run.stderr


def test_bench_phases_runs_every_phase() -> None:
    script = BENCHMARK.parent / "bench_phases.py"
    run = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(script), "1024"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    phases = re.findall(r"^(\w+): (\d+) operations, event-loop CPU ([\d.]+) µs", run.stdout, re.M)
    assert [name for name, _, _ in phases] == [
        "decode", "header", "props", "process", "newmsg", "store", "full64",
        "pullstore", "pullstore2", "pullproc", "pullfull16",
    ], run.stdout  # fmt: skip
    assert all(int(ops) > 0 and float(us) > 0 for _, ops, us in phases)
