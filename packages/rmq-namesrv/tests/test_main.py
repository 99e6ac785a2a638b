"""``python -m rmq_namesrv``: config errors, ``-p``, and a real start and graceful stop."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from rmq_protocol.codec.body import decode_properties_text


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-m", "rmq_namesrv", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_print_config_items(tmp_path: Path) -> None:
    path = tmp_path / "namesrv.properties"
    path.write_text("listenPort=9999\n")
    proc = run("-c", str(path), "-p")
    assert proc.returncode == 0, proc.stderr
    printed = decode_properties_text(proc.stdout)
    assert printed["listenPort"] == "9999"
    assert printed["configStorePath"] == str(path)


def test_config_error_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "namesrv.properties"
    path.write_text("listenPrt=9999\n")
    proc = run("-c", str(path))
    assert proc.returncode == 2
    assert proc.stderr == (
        f"ConfigError: {path}:1: unknown key 'listenPrt'; did you mean 'listenPort'?\n"
    )


def test_serves_until_sigterm(tmp_path: Path) -> None:
    path = tmp_path / "namesrv.properties"
    path.write_text(f"listenPort=0\nbindAddress=127.0.0.1\nkvConfigPath={tmp_path / 'kv.json'}\n")
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter
        [sys.executable, "-m", "rmq_namesrv", "-c", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("The Name Server boot success. address 127.0.0.1:"), line
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()
