"""serve_until_signalled: the signal handling every server entry point shares."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from rmq_protocol.transport import serve_until_signalled


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_first_signal_shuts_the_service_down_gracefully(sig: signal.Signals) -> None:
    started, cleaned_up = asyncio.Event(), asyncio.Event()

    async def service() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cleaned_up.set()

    async def signal_when_started() -> None:
        await started.wait()
        os.kill(os.getpid(), sig)

    async with asyncio.timeout(10):
        sender = asyncio.create_task(signal_when_started())
        await serve_until_signalled(service(), name="test")  # returns: no CancelledError
        await sender
    assert cleaned_up.is_set()


async def test_a_service_that_ends_returns_and_handlers_are_removed() -> None:
    async def service() -> None:
        await asyncio.sleep(0)

    await serve_until_signalled(service(), name="test")
    loop = asyncio.get_running_loop()
    assert not loop.remove_signal_handler(signal.SIGTERM)  # nothing left installed


async def test_cancellation_without_a_signal_propagates() -> None:
    async def service() -> None:
        await asyncio.Event().wait()

    task = asyncio.create_task(serve_until_signalled(service(), name="test"))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
