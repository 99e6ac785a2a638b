"""Event-loop selection (uvloop when it is installed, asyncio's loop otherwise) and the
signal handling every server entry point shares."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["loop_factory", "run", "serve_until_signalled", "uvloop_available"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


def uvloop_available() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def loop_factory(*, use_uvloop: bool | None = None) -> Callable[[], asyncio.AbstractEventLoop]:
    """A loop factory: uvloop's if ``use_uvloop`` (default: when installed).

    Raises:
        ImportError: ``use_uvloop=True`` but uvloop is not installed
            (``pip install rmq-protocol[uvloop]``).
    """
    if use_uvloop is None:
        use_uvloop = uvloop_available()
    if use_uvloop:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
        return factory
    return asyncio.new_event_loop


def run(main: Coroutine[Any, Any, _T], *, use_uvloop: bool | None = None) -> _T:
    """``asyncio.run(main)`` on uvloop when available (or as ``use_uvloop`` says)."""
    with asyncio.Runner(loop_factory=loop_factory(use_uvloop=use_uvloop)) as runner:
        return runner.run(main)


async def serve_until_signalled(serve: Coroutine[Any, Any, None], *, name: str) -> None:
    """Run ``serve`` until it ends or SIGINT/SIGTERM arrives.

    The first signal cancels ``serve`` (a graceful shutdown: it stops what it started)
    and this returns normally once it has finished; a second signal exits the process at
    once with status 128 + the signal number. ``name`` prefixes that last message.
    """
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    received: list[signal.Signals] = []

    def on_signal(sig: signal.Signals) -> None:
        received.append(sig)
        if len(received) > 1:
            sys.stderr.write(f"{name}: {sig.name} again: exiting now, without a clean shutdown\n")
            sys.stderr.flush()
            os._exit(128 + sig.value)
        logger.info("%s: shutting down gracefully (again to exit at once)", sig.name)
        if main is not None:
            main.cancel()

    handled = (signal.SIGINT, signal.SIGTERM)
    for sig in handled:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await serve
    except asyncio.CancelledError:
        if not received:
            raise
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
