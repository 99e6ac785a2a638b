"""Every ```python block of the package README runs as written and prints what it says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_an_example() -> None:
    assert BLOCKS


def test_readme_examples_print_their_comments() -> None:
    for block in BLOCKS:
        proc = subprocess.run(  # noqa: S603 - our own interpreter running our README
            [sys.executable, "-c", block], capture_output=True, text=True, timeout=60, check=False
        )
        assert proc.returncode == 0, proc.stderr
        promised = [
            line.split("# ", 1)[1].split(":")[0].strip()
            for line in block.splitlines()
            if line.strip().startswith("print(") and "# " in line
        ]
        assert proc.stdout.splitlines() == promised


def test_benchmark_meets_its_floor() -> None:
    bench = README.parent / "benchmarks" / "bench_filter.py"
    proc = subprocess.run(  # noqa: S603 - our own benchmark
        [sys.executable, str(bench), "--count", "20000", "--min-rate", "200000"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "evaluations/s" in proc.stdout
