"""One background event-loop thread shared by every synchronous facade.

The facades (:mod:`rmq_client.sync`) run the asyncio clients on this loop and block
the calling thread on the result::

    runner = LoopThread.acquire()       # starts the thread on first use
    result = runner.call(producer.send(msg), timeout=5)
    runner.release()                     # the last release stops the thread

The loop is uvloop's when installed. Calls from the loop thread itself are refused
(they would deadlock); callbacks a facade runs on the loop must not block.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, TypeVar, final

from rmq_protocol.transport import loop_factory

__all__ = ["Facade", "LoopThread"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


@final
class LoopThread:
    """A daemon thread running an event loop, reference counted. Thread-safe."""

    _lock: ClassVar = threading.Lock()
    _current: ClassVar[LoopThread | None] = None

    def __init__(self) -> None:
        self.loop = loop_factory()()
        self._refs = 0
        self._thread = threading.Thread(target=self._run, name="rmq-client-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            tasks = asyncio.all_tasks(self.loop)
            for task in tasks:
                task.cancel()
            if tasks:
                self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    @classmethod
    def acquire(cls) -> LoopThread:
        """The shared loop thread (+1 reference); started if there is none."""
        with cls._lock:
            runner = cls._current
            if runner is None or not runner._thread.is_alive():
                runner = cls._current = cls()
            runner._refs += 1
            return runner

    def release(self) -> None:
        """Drop one reference; the last one stops the loop and joins the thread."""
        with self._lock:
            self._refs -= 1
            if self._refs > 0:
                return
            if LoopThread._current is self:
                LoopThread._current = None
        if threading.current_thread() is self._thread:
            self.loop.call_soon(self.loop.stop)
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()

    def call(self, coro: Coroutine[Any, Any, _T], *, timeout: float | None = None) -> _T:
        """Run ``coro`` on the loop and wait for its result (``timeout`` seconds).

        Raises:
            RuntimeError: called from the loop thread itself.
            TimeoutError: no result within ``timeout`` (the coroutine is cancelled).
            Whatever ``coro`` raises.
        """
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError(
                "a synchronous rmq-client call from a callback on the client's loop would "
                "deadlock; use the asyncio API there"
            )
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no result within {timeout} s") from None

    def submit(self, coro: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        """Run ``coro`` on the loop; its concurrent future (does not wait)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call_soon(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the loop thread soon (thread-safe)."""
        self.loop.call_soon_threadsafe(fn)


class Facade:
    """Base of the synchronous facades: holds one reference to the loop thread (taken on
    construction, given back once by :meth:`_release` or :meth:`_shutdown`)."""

    def __init__(self) -> None:
        self._runner = LoopThread.acquire()
        self._closed = False

    def _call(self, coro: Coroutine[Any, Any, _T], timeout: float | None = None) -> _T:
        return self._runner.call(coro, timeout=timeout)

    def _build(self, factory: Callable[[], _T]) -> _T:
        """``factory()`` run on the loop thread (clients bind to the running loop)."""

        async def make() -> _T:
            return factory()

        return self._call(make())

    def _release(self) -> None:
        """Give the loop thread back without closing a client (a failed construction)."""
        if not self._closed:
            self._closed = True
            self._runner.release()

    def _shutdown(self, aclose: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Close the client with ``aclose`` on the loop, then give the loop back. Idempotent."""
        if self._closed:
            return
        try:
            self._call(aclose())
        finally:
            self._release()
