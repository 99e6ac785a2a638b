"""``python -m rmq_broker``: config errors, ``-p``, and a real start, registration and stop."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from rmq_protocol.codec.body import decode_properties_text


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-m", "rmq_broker", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_print_config_items(tmp_path: Path) -> None:
    path = tmp_path / "broker.conf"
    path.write_text("brokerName=broker-p\nflushDiskType=SYNC_FLUSH\n")
    proc = run("-c", str(path), "-n", "127.0.0.1:9876", "-p")
    assert proc.returncode == 0, proc.stderr
    printed = decode_properties_text(proc.stdout)
    assert printed["brokerName"] == "broker-p"
    assert printed["flushDiskType"] == "SYNC_FLUSH"
    assert printed["namesrvAddr"] == "127.0.0.1:9876"
    assert printed["listenPort"] == "10911"


def test_config_error_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "broker.conf"
    path.write_text("brokerName=b\nlistenPrt=10911\n")
    proc = run("-c", str(path))
    assert proc.returncode == 2
    assert proc.stderr == (
        f"ConfigError: {path}:2: unknown key 'listenPrt'; did you mean 'listenPort'?\n"
    )


def test_serves_until_sigterm(tmp_path: Path) -> None:
    path = tmp_path / "broker.conf"
    path.write_text(
        "listenPort=0\nbindAddress=127.0.0.1\nbrokerName=broker-m\n"
        f"storePathRootDir={tmp_path / 'store'}\nmappedFileSizeCommitLog=1048576\n"
        "maxHashSlotNum=1000\nmaxIndexNum=4000\n"
    )
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter
        [sys.executable, "-m", "rmq_broker", "-c", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("The broker[broker-m, 127.0.0.1:"), line
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
    assert (tmp_path / "store" / "config" / "topics.json").exists()
    assert not (tmp_path / "store" / "abort").exists()  # a clean shutdown
