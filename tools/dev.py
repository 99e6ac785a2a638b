"""Bootstrap an isolated tool environment and run the project's checks.

    python3 tools/dev.py test    # every package's tests (+ integration when present)
    python3 tools/dev.py lint    # ruff check + ruff format --check
    python3 tools/dev.py type    # mypy --strict on sources and tests

Needs only Python >= 3.11 and the standard library: it creates ``.venv-dev/``
with tox in it on first use, and tox builds one environment per package that
installs the local packages by path. ``--env NAME[,NAME]`` picks tox envs and the
other arguments go to pytest, e.g. ``python3 tools/dev.py test --env protocol -k frame``.
"""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-dev"
TOX_REQUIREMENT = "tox>=4.20,<5"


def _venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _ensure_tox() -> Path:
    python = _venv_python()
    if not python.exists():
        print(f"dev: creating {VENV.relative_to(ROOT)} (first run only)", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    probe = subprocess.run([python, "-m", "tox", "--version"], capture_output=True, check=False)
    if probe.returncode != 0:
        subprocess.run(
            [
                python,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                TOX_REQUIREMENT,
            ],
            check=True,
        )
    return python


def _test_envs() -> list[str]:
    """Package envs whose package exists, then integration when it has tests."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "tox.ini")
    envs = []
    for section in parser.sections():
        if not section.startswith("testenv:"):
            continue
        name = section.removeprefix("testenv:")
        if (ROOT / "packages" / f"rmq-{name}").is_dir():
            envs.append(name)
    if (ROOT / "tests" / "integration").is_dir():
        envs.append("integration")
    return envs


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"test", "lint", "type"}:
        print(__doc__, file=sys.stderr)
        return 2
    command, extra = argv[0], argv[1:]
    envs = _test_envs() if command == "test" else [command]
    if "--env" in extra:
        at = extra.index("--env")
        if at + 1 >= len(extra):
            print("dev: --env needs a name, e.g. --env protocol", file=sys.stderr)
            return 2
        envs = extra[at + 1].split(",")
        extra = extra[:at] + extra[at + 2 :]
    python = _ensure_tox()
    tox = [str(python), "-m", "tox", "run", "-e", ",".join(envs)]
    if extra:
        tox += ["--", *extra]
    return subprocess.run(tox, cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
