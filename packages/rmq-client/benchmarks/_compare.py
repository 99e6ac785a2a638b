"""The ``rocketmq==0.4.4`` comparison rows of bench_producer.py and bench_consumer.py.

rocketmq 0.4.4 (PyPI, a ctypes wrapper around the C++ client 1.x; manylinux1 x86_64
only) is not a dependency: tox's integration env installs it with ``pip install
--target .tox/integration/rocketmq-0.4.4`` (tox.ini). Its top-level package ``rocketmq``
collides with rocketmq-python-cvs's, so it runs in a subprocess (``_rocketmq044.py``)
with that directory first on PYTHONPATH. ``RMQ_ROCKETMQ044_DIR`` names another
directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["Row", "find_rocketmq044", "ratio", "run_rocketmq044"]

_HERE = Path(__file__).resolve().parent
_REPO = _HERE.parents[2]
_DRIVER = _HERE / "_rocketmq044.py"

Row = dict[str, float]


def find_rocketmq044() -> tuple[Path | None, str]:
    """The directory holding rocketmq 0.4.4, or None and why it is not there."""
    env = os.environ.get("RMQ_ROCKETMQ044_DIR")
    target = Path(env) if env else _REPO / ".tox" / "integration" / "rocketmq-0.4.4"
    if (target / "rocketmq" / "librocketmq.so").is_file():
        return target, f"rocketmq 0.4.4 from {target}"
    return None, (
        f"rocketmq==0.4.4 not found in {target} (no rocketmq/librocketmq.so): run "
        "`python3 tools/dev.py test --env integration` once, or `pip install --no-deps "
        "--target DIR rocketmq==0.4.4` and set RMQ_ROCKETMQ044_DIR=DIR; its rows are skipped"
    )


def run_rocketmq044(target: Path, *args: object, timeout: float) -> Row | str:
    """Run ``_rocketmq044.py ARGS``; its JSON result, or why it failed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(target), *filter(None, [env.get("PYTHONPATH")])])
    try:
        proc = subprocess.run(  # noqa: S603 - our own interpreter and script
            [sys.executable, str(_DRIVER), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"rocketmq 0.4.4 {args[0]} did not finish in {timeout:g} s"
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return f"rocketmq 0.4.4 {args[0]} failed (exit {proc.returncode}): {' | '.join(tail)}"
    result: Row = {k: v for k, v in json.loads(lines[-1]).items() if isinstance(v, int | float)}
    return result


def ratio(ours: float, theirs: float) -> str:
    """``ours / theirs`` as ``"2.31x"`` (``"-"`` when theirs is 0)."""
    return f"{ours / theirs:.2f}x" if theirs > 0 else "-"
