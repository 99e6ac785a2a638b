"""Integration fixtures: real third-party RocketMQ clients, installed on demand."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ALIONS_DIR = Path(__file__).parent / "alions"


@pytest.fixture(scope="session")
def alions() -> Path:
    """The ali-ons client (pure JavaScript), installed with `npm ci` from the lockfile.

    Without node it is skipped locally, but fails in CI (CI=true), where node is present.
    """
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if os.environ.get("CI"):
            pytest.fail("node and npm are required for the interop tests in CI")
        pytest.skip("node/npm not installed")
    if not (ALIONS_DIR / "node_modules" / "ali-ons").is_dir():
        subprocess.run(  # noqa: S603 - npm from PATH, fixed arguments
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=ALIONS_DIR,
            check=True,
            timeout=600,
        )
    return ALIONS_DIR
