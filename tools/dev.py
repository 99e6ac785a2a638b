"""Bootstrap isolated environments to run rmq and the project's checks.

    python3 tools/dev.py run standalone   # start `rmq standalone` (NameServer + Broker)
    python3 tools/dev.py test    # every package's tests (+ integration when present)
    python3 tools/dev.py lint    # ruff check + ruff format --check
    python3 tools/dev.py type    # mypy --strict on sources and tests
    python3 tools/dev.py build-ext   # recompile the C speedups in place after a C edit

Needs only Python >= 3.11 and the standard library.

``run ARGS`` runs ``rmq ARGS`` (``rmq --help`` lists the commands) from ``.venv-run/``,
which it creates on first use and refreshes when a package's pyproject.toml changes,
with the local packages installed editable BY PATH (never from an index).
``run --dry-run ARGS`` prints what it would do and does nothing.

``test``/``lint``/``type`` create ``.venv-dev/`` with tox in it on first use, and tox
builds one environment per package that installs the local packages by path.
``--env NAME[,NAME]`` picks tox envs and the other arguments go to pytest, e.g.
``python3 tools/dev.py test --env protocol -k frame``.
"""

from __future__ import annotations

import configparser
import hashlib
import os
import shlex
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-dev"
TOX_REQUIREMENT = "tox>=4.20,<5"
RUN_VENV = ROOT / ".venv-run"
# What `run` installs, editable and by path (an unrelated "rmq-client" is on the public
# index: local packages must never come from there). Dependencies first.
RUN_PACKAGES = (
    ("rmq-protocol", "[uvloop]"),
    ("rmq-store", ""),
    ("rmq-namesrv", ""),
    ("rmq-filter", ""),
    ("rmq-broker", ""),
    ("rmq-client", ""),
    ("rmq-cli", ""),
)
RUN_STAMP = ".rmq-dev-run-stamp"  # inside RUN_VENV: what was installed


def _venv_python(venv_dir: Path = VENV) -> Path:
    return venv_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _venv_script(venv_dir: Path, name: str) -> Path:
    return (
        venv_dir
        / ("Scripts" if os.name == "nt" else "bin")
        / (name + (".exe" if os.name == "nt" else ""))
    )


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


def _run_install_args() -> list[str]:
    """pip arguments installing the RUN_PACKAGES editable, by path."""
    args = []
    for name, extras in RUN_PACKAGES:
        args += ["-e", f"{ROOT / 'packages' / name}{extras}"]
    return args


def _run_stamp() -> str:
    """Changes when `run` must reinstall: the package list, a pyproject.toml, Python."""
    digest = hashlib.sha256(repr((RUN_PACKAGES, sys.version)).encode())
    for name, _ in RUN_PACKAGES:
        digest.update((ROOT / "packages" / name / "pyproject.toml").read_bytes())
    return digest.hexdigest()


def _run(argv: list[str]) -> int:
    """`run [--dry-run] ARGS`: `rmq ARGS` from .venv-run/, created or refreshed first."""
    dry_run = bool(argv) and argv[0] == "--dry-run"
    if dry_run:
        argv = argv[1:]
    if sys.version_info < (3, 11):  # noqa: UP036 - python3 on PATH may be older
        print(f"dev: rmq needs Python >= 3.11, this is {sys.version.split()[0]}", file=sys.stderr)
        return 2
    python = _venv_python(RUN_VENV)
    rmq = _venv_script(RUN_VENV, "rmq")
    stamp_file = RUN_VENV / RUN_STAMP
    stamp = _run_stamp()
    fresh = python.exists() and stamp_file.exists() and stamp_file.read_text() == stamp
    install = [
        str(python),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        *_run_install_args(),
    ]
    check = [str(python), str(ROOT / "tools" / "assert_local_packages.py")]
    command = [str(rmq), *argv]
    if dry_run:
        where = RUN_VENV.relative_to(ROOT)
        if not python.exists():
            print(f"would create {where}/ (python -m venv)")
        print(f"would install: {shlex.join(install)}" if not fresh else f"{where}/ is up to date")
        print(f"would run: {shlex.join(command)}")
        return 0
    if not fresh:
        if not python.exists():
            print(f"dev: creating {RUN_VENV.relative_to(ROOT)}/ (first run only)", flush=True)
            venv.EnvBuilder(with_pip=True, clear=True).create(RUN_VENV)
        print("dev: installing rmq's packages (editable, from packages/)", flush=True)
        stamp_file.unlink(missing_ok=True)
        for step in (install, check):
            if subprocess.run(step, check=False).returncode != 0:
                print(
                    f"dev: `{shlex.join(step)}` failed (see above); installing needs the "
                    "package index for the dependencies (hatchling, orjson, uvloop)",
                    file=sys.stderr,
                )
                return 1
        stamp_file.write_text(stamp)
    sys.stdout.flush()
    if os.name == "nt":
        return subprocess.run(command, check=False).returncode
    os.execv(rmq, command)  # noqa: S606 - rmq itself then gets Ctrl-C and SIGTERM


def _build_ext() -> int:
    """Recompile every package's C modules in place, as an editable install does.

    Each package's own build hook (``hatch_build.py``) says which sources it has and how
    it compiles them; this only runs that with the current interpreter."""
    import runpy
    import sysconfig

    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    for hook_file in sorted(ROOT.glob("packages/*/hatch_build.py")):
        hook = runpy.run_path(str(hook_file))
        for source in hook["extension_sources"](hook_file.parent):
            target = source.with_name(source.stem + suffix)
            print(f"dev: {source.relative_to(ROOT)} -> {target.name}")
            try:
                hook["compile_speedups"](source, target)
            except (OSError, subprocess.CalledProcessError) as exc:
                print(f"dev: {source.name} did not compile: {exc}", file=sys.stderr)
                return 1
    return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    if argv and argv[0] == "run":
        return _run(argv[1:])
    if argv and argv[0] == "build-ext":
        return _build_ext()
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
