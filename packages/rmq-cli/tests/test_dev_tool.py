"""The README's run command: ``python3 tools/dev.py run standalone`` is wired to ``rmq``.

Only the wiring is tested here (``--help`` and ``run --dry-run``): creating .venv-run/
takes a minute and the network; the Quick start is run for real by hand and in review.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
DEV = REPO / "tools" / "dev.py"

pytestmark = pytest.mark.skipif(not DEV.exists(), reason="not in the rmq repository")


def _dev(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter running our own tool
        [sys.executable, str(DEV), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )


def test_help_lists_run() -> None:
    proc = _dev("--help")
    assert proc.returncode == 0
    assert "python3 tools/dev.py run standalone" in proc.stdout
    assert "python3 tools/dev.py test" in proc.stdout


def test_run_dry_run_installs_every_package_by_path_then_runs_rmq() -> None:
    proc = _dev("run", "--dry-run", "standalone", "-v", "--data-dir", "my data")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    run = lines[-1]
    assert run.startswith("would run: ")
    rmq, *args = shlex.split(run.removeprefix("would run: "))
    assert Path(rmq).parent.parent == REPO / ".venv-run"
    assert Path(rmq).stem == "rmq"
    assert args == ["standalone", "-v", "--data-dir", "my data"]
    install = next((line for line in lines if line.startswith("would install: ")), None)
    if install is None:  # .venv-run/ exists and is current
        assert f"{Path('.venv-run')}/ is up to date" in proc.stdout
        return
    words = shlex.split(install.removeprefix("would install: "))
    editable = [words[i + 1] for i, word in enumerate(words) if word == "-e"]
    packages = REPO / "packages"
    assert editable == [
        f"{packages / 'rmq-protocol'}[uvloop]",
        str(packages / "rmq-store"),
        str(packages / "rmq-namesrv"),
        str(packages / "rmq-filter"),
        str(packages / "rmq-broker"),
        str(packages / "rmq-client"),
        str(packages / "rmq-cli"),
    ]
    # nothing else to install: every rmq package comes from this checkout, by path
    assert not [w for w in words if w.startswith("rmq")]


def test_test_command_is_unchanged() -> None:
    proc = _dev("nonsense")
    assert proc.returncode == 2
    assert "python3 tools/dev.py test" in proc.stderr


def test_readme_quick_start_runs_then_tests() -> None:
    readme = (REPO / "README.md").read_text()
    quick_start = readme[readme.index("## Quick start") :]
    block = quick_start[quick_start.index("```sh\n") + 6 : quick_start.index("```\n", 5)]
    assert block.splitlines() == [
        "python3 tools/dev.py run standalone",
        "python3 tools/dev.py test",
    ]


def test_venv_run_is_ignored_by_git() -> None:
    assert ".venv-run/" in (REPO / ".gitignore").read_text().splitlines()
