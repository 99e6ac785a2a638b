"""Signals: the first SIGINT/SIGTERM shuts down gracefully, a second exits at once.

A real server stops in milliseconds, too fast to send a second signal into its shutdown;
so the process here runs the CLI's signal handling around a service whose shutdown never
ends by itself.
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

SLOW_SHUTDOWN = """
import asyncio, sys
from rmq_cli._cli import _configure_logging, _serve

async def service():
    try:
        print("serving", flush=True)
        await asyncio.get_running_loop().create_future()
    except asyncio.CancelledError:
        print("shutting down", flush=True)
        await asyncio.get_running_loop().create_future()  # a shutdown that hangs

_configure_logging(verbose=False)
sys.exit(_serve(service))
"""

QUICK_SHUTDOWN = SLOW_SHUTDOWN.replace(
    "        await asyncio.get_running_loop().create_future()  # a shutdown that hangs\n", ""
)


def _start(code: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "serving\n"
    return proc


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_second_signal_exits_at_once(sig: signal.Signals) -> None:
    proc = _start(SLOW_SHUTDOWN)
    try:
        assert proc.stdout is not None
        proc.send_signal(sig)
        assert proc.stdout.readline() == "shutting down\n"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 128 + sig.value
        assert f"rmq: {sig.name} again: exiting now, without a clean shutdown" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_first_signal_is_a_graceful_exit_0() -> None:
    proc = _start(QUICK_SHUTDOWN)
    try:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert out == "shutting down\n"
        assert "SIGTERM: shutting down gracefully (again to exit at once)" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
