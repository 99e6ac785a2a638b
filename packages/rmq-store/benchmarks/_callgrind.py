"""Instruction counts of a benchmark script run as a child under callgrind.

Shared by put_cost.py and read_cost.py: each runs ``SCRIPT --child MODE ...`` under
``valgrind --tool=callgrind`` and reads the total it prints.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys


def instructions(script: str, *args: str) -> int:
    """Instructions callgrind collected running ``python script args...``.

    Raises:
        subprocess.CalledProcessError: the child failed.
        RuntimeError: callgrind printed no total.
    """
    return run(script, *args)[0]


def run(script: str, *args: str) -> tuple[int, str]:
    """``(instructions, the child's standard output)`` of ``python script args...`` under
    callgrind (for a child that also reports what it did, e.g. how many messages).

    Raises:
        subprocess.CalledProcessError: the child failed.
        RuntimeError: callgrind printed no total.
    """
    valgrind = shutil.which("valgrind") or "valgrind"
    out = subprocess.run(  # noqa: S603 - our own script under valgrind
        [
            valgrind,
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            script,
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise RuntimeError(f"no callgrind total in:\n{out.stderr}")
    return int(found.group(1)), out.stdout
