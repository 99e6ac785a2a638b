"""Every ```python block of the README runs as written, against the session's server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_examples() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index: int, namesrv_addr: str) -> None:
    proc = subprocess.run(  # noqa: S603 - our own interpreter running our README
        [sys.executable, "-c", BLOCKS[index]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "RMQ_NAMESRV": namesrv_addr},
    )
    assert proc.returncode == 0, proc.stderr
    expected = re.search(r"# (.+)\n*$", BLOCKS[index])
    if expected is not None:
        assert proc.stdout.strip() == expected.group(1)
