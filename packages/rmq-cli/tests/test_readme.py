"""Every ```python block of the package README runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_an_example() -> None:
    assert BLOCKS


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index: int) -> None:
    proc = subprocess.run(  # noqa: S603 - our own interpreter running our README
        [sys.executable, "-c", BLOCKS[index]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    expected = re.search(r"# (\S+ \d+)\n*$", BLOCKS[index])
    if expected is not None:
        assert proc.stdout.strip() == expected.group(1)
