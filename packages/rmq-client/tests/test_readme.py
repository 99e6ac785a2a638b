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
    """Producers and every kind of consumer have an example that runs (below)."""
    assert len(BLOCKS) >= 7
    text = README.read_text()
    needed = ["PushConsumer(", "orderly=True", "BROADCASTING", "PullConsumer("]
    needed += ["SyncPushConsumer(", "SyncPullConsumer(", "## What does not work yet"]
    assert [n for n in needed if n not in text] == []
    # Every example ends with the output it prints (checked below).
    assert all(re.search(r"# (.+)\n*$", block) for block in BLOCKS)


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
