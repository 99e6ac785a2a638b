"""``rmq namesrv`` / ``rmq broker`` / ``rmq standalone``: options, ``-p``, errors, exit codes."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rmq_cli import __version__
from rmq_protocol.codec.body import decode_properties_text

if TYPE_CHECKING:
    from conftest import RunRmq


def _sections(text: str) -> dict[str, dict[str, str]]:
    """``-p`` output of ``rmq standalone``: ``# Section`` headers, then properties."""
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("# "):
            current = sections.setdefault(line.split()[1], [])
        else:
            current.append(line)
    return {name: decode_properties_text("\n".join(lines)) for name, lines in sections.items()}


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_console_script_is_installed() -> None:
    script = shutil.which("rmq", path=str(Path(sys.executable).parent))
    assert script is not None
    proc = subprocess.run(  # noqa: S603 - the script this package installs
        [script, "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert (proc.returncode, proc.stdout) == (0, f"rmq {__version__}\n")


def test_help_lists_the_commands(rmq: RunRmq) -> None:
    proc = rmq("--help")
    assert proc.returncode == 0
    for command in ("namesrv", "broker", "standalone"):
        assert command in proc.stdout


@pytest.mark.parametrize(
    "args",
    [[], ["serve"], ["standalone", "--broker-port", "70000"], ["broker", "-x"]],
    ids=["no-command", "unknown-command", "bad-port", "unknown-option"],
)
def test_usage_errors_exit_2(rmq: RunRmq, args: list[str]) -> None:
    proc = rmq(*args)
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: rmq")


# ---------------------------------------------------------------------- -p


def test_namesrv_print_config(rmq: RunRmq, tmp_path: Path) -> None:
    path = tmp_path / "namesrv.properties"
    path.write_text("listenPort=9999\norderMessageEnable=true\n")
    proc = rmq("namesrv", "-c", str(path), "-p")
    assert proc.returncode == 0, proc.stderr
    printed = decode_properties_text(proc.stdout)
    assert printed["listenPort"] == "9999"
    assert printed["orderMessageEnable"] == "true"
    assert printed["configStorePath"] == str(path)  # as mqnamesrv -c does
    assert rmq("namesrv", "--printConfigItem").returncode == 0


def test_broker_print_config(rmq: RunRmq, tmp_path: Path) -> None:
    path = tmp_path / "broker.conf"
    path.write_text("brokerName=broker-p\nflushDiskType=SYNC_FLUSH\nnamesrvAddr=10.0.0.1:9876\n")
    proc = rmq("broker", "-c", str(path), "-n", "127.0.0.1:9876;127.0.0.2:9876", "-p")
    assert proc.returncode == 0, proc.stderr
    printed = decode_properties_text(proc.stdout)
    assert printed["brokerName"] == "broker-p"
    assert printed["flushDiskType"] == "SYNC_FLUSH"  # a store key, from the same file
    assert printed["namesrvAddr"] == "127.0.0.1:9876;127.0.0.2:9876"  # -n wins
    assert printed["listenPort"] == "10911"
    no_file = decode_properties_text(rmq("broker", "-n", "127.0.0.1:1", "-p").stdout)
    assert no_file["namesrvAddr"] == "127.0.0.1:1"


def test_standalone_print_config_defaults(rmq: RunRmq) -> None:
    proc = rmq("standalone", "-p")
    assert proc.returncode == 0, proc.stderr
    sections = _sections(proc.stdout)
    home = Path.home()
    assert sections["NameServer"]["listenPort"] == "9876"
    assert sections["NameServer"]["bindAddress"] == "127.0.0.1"
    assert sections["NameServer"]["kvConfigPath"] == str(
        home / ".rmq" / "namesrv" / "kvConfig.json"
    )
    assert sections["Broker"]["listenPort"] == "10911"
    assert sections["Broker"]["bindAddress"] == "127.0.0.1"
    assert sections["Broker"]["namesrvAddr"] == "127.0.0.1:9876"
    assert sections["Broker"]["storePathRootDir"] == str(home / ".rmq" / "store")


def test_standalone_print_config_precedence(rmq: RunRmq, tmp_path: Path) -> None:
    path = tmp_path / "broker.toml"
    path.write_text(
        f'listenPort = 20911\nbindAddress = "0.0.0.0"\nstorePathRootDir = "{tmp_path / "s"}"\n'
    )
    sections = _sections(rmq("standalone", "-c", str(path), "--namesrv-port", "29876", "-p").stdout)
    assert sections["Broker"]["listenPort"] == "20911"  # the file over the default
    assert sections["Broker"]["storePathRootDir"] == str(tmp_path / "s")
    assert sections["NameServer"]["bindAddress"] == "0.0.0.0"  # noqa: S104 - the broker's
    assert sections["Broker"]["namesrvAddr"] == "127.0.0.1:29876"
    # options over the file
    args = ("--broker-port", "30911", "--data-dir", str(tmp_path / "d"), "-p")
    sections = _sections(rmq("standalone", "-c", str(path), *args).stdout)
    assert sections["Broker"]["listenPort"] == "30911"
    assert sections["Broker"]["storePathRootDir"] == str(tmp_path / "d" / "store")
    assert sections["NameServer"]["kvConfigPath"] == str(
        tmp_path / "d" / "namesrv" / "kvConfig.json"
    )


# ---------------------------------------------------------------------- config errors


@pytest.mark.parametrize("command", ["namesrv", "broker", "standalone"])
def test_unknown_key_exits_2_naming_file_and_line(
    rmq: RunRmq, tmp_path: Path, command: str
) -> None:
    path = tmp_path / "server.conf"
    path.write_text("# a comment\nlistenPrt=9999\n")
    proc = rmq(command, "-c", str(path))
    assert proc.returncode == 2
    assert proc.stderr == (
        f"ConfigError: {path}:2: unknown key 'listenPrt'; did you mean 'listenPort'?\n"
    )
    assert proc.stdout == ""


def test_bad_value_and_missing_file_exit_2(rmq: RunRmq, tmp_path: Path) -> None:
    path = tmp_path / "broker.conf"
    path.write_text("autoCreateTopicEnable=maybe\n")
    proc = rmq("standalone", "-c", str(path))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"ConfigError: {path}:1: autoCreateTopicEnable")
    proc = rmq("broker", "-c", str(tmp_path / "missing.conf"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("ConfigError: ")
    assert "missing.conf" in proc.stderr


# ---------------------------------------------------------------------- namesrv, broker


def _serve_then_sigterm(args: list[str], first_line: str) -> str:
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter
        [sys.executable, "-m", "rmq_cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(first_line), line
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err[-3000:]
        return err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_namesrv_serves_until_sigterm(tmp_path: Path) -> None:
    path = tmp_path / "namesrv.properties"
    path.write_text(f"listenPort=0\nbindAddress=127.0.0.1\nkvConfigPath={tmp_path / 'kv.json'}\n")
    err = _serve_then_sigterm(
        ["namesrv", "-c", str(path)], "The Name Server boot success. address 127.0.0.1:"
    )
    assert "SIGTERM: shutting down gracefully" in err
    assert "NameServer stopped" in err


def test_broker_serves_until_sigterm(tmp_path: Path) -> None:
    path = tmp_path / "broker.conf"
    path.write_text(
        "listenPort=0\nbindAddress=127.0.0.1\nbrokerName=broker-m\n"
        f"storePathRootDir={tmp_path / 'store'}\nmappedFileSizeCommitLog=1048576\n"
    )
    err = _serve_then_sigterm(["-v", "broker", "-c", str(path)], "The broker[broker-m, 127.0.0.1:")
    assert " DEBUG " in err  # -v before the command
    assert (tmp_path / "store" / "config" / "topics.json").exists()
    assert not (tmp_path / "store" / "abort").exists()


def test_port_in_use_exits_1(rmq: RunRmq, tmp_path: Path, busy_port: int) -> None:
    proc = rmq("standalone", "--namesrv-port", str(busy_port), "--data-dir", str(tmp_path / "data"))
    assert proc.returncode == 1
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("OSError: "), proc.stderr[-3000:]
    assert str(busy_port) in last
    assert "Traceback" not in proc.stderr
    # the broker port taken: the NameServer that did start is stopped again
    proc = rmq(
        "standalone",
        "--namesrv-port",
        "0",
        "--broker-port",
        str(busy_port),
        "--data-dir",
        str(tmp_path / "data"),
    )
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1].startswith("OSError: ")
    assert "NameServer stopped" in proc.stderr
    assert not (tmp_path / "data" / "store" / "abort").exists()
