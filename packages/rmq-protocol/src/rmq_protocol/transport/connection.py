"""One symmetric remoting connection over an asyncio transport.

Mirrors what Java splits over ``NettyRemotingAbstract`` (response table, request
dispatch), ``NettyEncoder``/``NettyDecoder`` and the idle handler: either side may
send requests on the same socket (the broker calls clients on the connection they
opened), responses are matched by ``opaque``.

Ownership and bounds:

* the connection owns the tasks of async processors it starts; :meth:`aclose`
  waits for them (graceful) or cancels them;
* requests we send are bounded by ``max_inflight`` (Java's
  ``clientAsyncSemaphoreValue``) and each waits at most its caller's timeout;
* requests the peer sends are bounded by ``max_concurrent_requests`` (async
  processors running at once); above it a request is answered SYSTEM_BUSY
  ``[OVERLOAD]…`` at once, as Java's rejecting thread pools do. Reading goes on,
  so responses to our own requests are never stuck behind a full server;
* writes are coalesced into groups (see ``_FLUSH_FRAMES``); while the transport's
  buffer is over its high-water mark, senders wait in ``drain`` (under their
  deadline) and the peer's new requests are held, not processed, so no pile of
  responses grows for a peer that does not read. Reading never stops, and
  responses to our own requests are always delivered (two peers that both fill
  their buffers must not deadlock). Past ``max_held_bytes`` of held requests new
  ones are answered SYSTEM_BUSY at once; a peer that keeps sending while reading
  nothing (our write buffer past ``max_held_bytes`` too) is disconnected.

Not safe for use from several event loops; all methods run on the loop that
created the connection.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import inspect
import itertools
import logging
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, Protocol, cast, final

from rmq_protocol.codec.codes import FLAG_ONEWAY, FLAG_RESPONSE, RequestCode, ResponseCode
from rmq_protocol.codec.command import (
    BytesLike,
    RemotingCommand,
    encode_command,
    encode_command_parts,
)
from rmq_protocol.codec.frame import DEFAULT_MAX_FRAME_SIZE, FrameDecoder
from rmq_protocol.errors import (
    ConnectionClosedError,
    ConnectionLostError,
    InvalidHeaderError,
    LocalProtocolError,
    RemoteProtocolError,
    RequestTimeoutError,
)

__all__ = [
    "Connection",
    "ConnectionConfig",
    "ConnectionStatistics",
    "Processor",
    "ProcessorRegistry",
]

logger = logging.getLogger(__name__)

ProcessorResult = RemotingCommand | bytes | None
Processor = Callable[[RemotingCommand, "Connection"], ProcessorResult | Awaitable[ProcessorResult]]
"""Handles one request. Returns the response (``None`` for none), directly or awaitably:
a command, or its encoded frame from :func:`~rmq_protocol.codec.command.encode_response`
(bytes, written as they are; the hot paths' way, with no command built).

A processor that can answer at once should return the response: no task is created.
"""

_OPAQUE_LIMIT: Final = 2**31
# Coalesced writes go out at the end of the loop iteration, or at once when this
# many frames or bytes are queued: small groups keep both peers busy instead of
# ping-ponging one big batch (64 in flight: 22k -> 33-40k requests/s, decisions D7).
# Pull responses (32 KiB of mapped records each) are frames too: the ones a read
# asked for leave in one writev, not one each (pull drain 215-289k -> 367-405k
# msgs/s, broker CPU 3.5-3.9 -> 2.3-2.6 us/msg, decisions D7).
_FLUSH_FRAMES: Final = 16
_FLUSH_BYTES: Final = 1024 * 1024
# A flush of at most this many bytes in at most _FLUSH_FRAMES parts is joined into
# one buffer (one copy, one write); bigger ones go out uncopied with writelines.
_JOIN_BYTES: Final = 64 * 1024
_BUSY_RESPONSE_SIZE: Final = 200  # about what one SYSTEM_BUSY answer costs in the write buffer
_CloseKind = type[ConnectionClosedError] | type[ConnectionLostError]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionConfig:
    """Per-connection limits. Times are seconds; sizes bytes."""

    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE  # com.rocketmq.remoting.frameMaxLength
    max_inflight: int = 65535  # clientAsyncSemaphoreValue: requests we await at once
    max_concurrent_requests: int = 65535  # peer requests in async processors; more: SYSTEM_BUSY
    idle_timeout: float | None = 120.0  # close after this long without reads or writes
    write_high_water: int = 4 * 1024 * 1024  # bytes buffered before writers wait
    write_low_water: int = 1024 * 1024
    max_held_bytes: int = 64 * 1024 * 1024  # peer requests held while writes are paused


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectionStatistics:
    """Counters of one connection."""

    requests_sent: int
    responses_received: int
    requests_received: int
    responses_sent: int
    timeouts: int
    rejected: int  # peer requests answered SYSTEM_BUSY for max_concurrent_requests
    inflight: int
    processing: int
    bytes_received: int
    bytes_sent: int
    writes: int  # transport writes: the frames of one loop iteration share one


class _Handler(Protocol):
    def processor_for(self, code: int) -> Processor | None: ...


@final
class ProcessorRegistry:
    """Processors keyed by request code (Java's ``registerProcessor``)."""

    __slots__ = ("_default", "_processors")

    def __init__(self) -> None:
        self._processors: dict[int, Processor] = {}
        self._default: Processor | None = None

    def register(self, code: int, processor: Processor) -> None:
        """Handle requests with ``code`` by ``processor`` (replacing any earlier one)."""
        self._processors[code] = processor

    def register_default(self, processor: Processor) -> None:
        """Handle every code that has no processor of its own."""
        self._default = processor

    def processor_for(self, code: int) -> Processor | None:
        return self._processors.get(code, self._default)

    @property
    def codes(self) -> Mapping[int, Processor]:
        return self._processors


@final
class Connection(asyncio.Protocol):
    """A remoting connection: send requests, answer the peer's requests.

    Create through :class:`~rmq_protocol.transport.RemotingClient` or
    :class:`~rmq_protocol.transport.RemotingServer`, or directly as the protocol of
    ``loop.create_connection`` / ``create_server``.
    """

    # Slots: 37 attributes are past the 30 an instance dict shares its keys for (3.11),
    # and a slot is read and written without a dict.
    __slots__ = (
        "__weakref__",
        "_busy_while_paused",
        "_bytes_received",
        "_bytes_sent",
        "_close_reason",
        "_closed",
        "_closing",
        "_config",
        "_deadlines",
        "_decoder",
        "_drain_waiters",
        "_expiry",
        "_expiry_at",
        "_flush_scheduled",
        "_handler",
        "_held",
        "_held_bytes",
        "_idle_handle",
        "_last_activity",
        "_loop",
        "_on_close",
        "_opaques",
        "_out",
        "_out_bytes",
        "_out_frames",
        "_pending",
        "_rejected",
        "_requests_received",
        "_requests_sent",
        "_responses_received",
        "_responses_sent",
        "_slot_waiters",
        "_tasks",
        "_timeouts",
        "_transport",
        "_write_paused",
        "_writes",
        "peer",
    )

    def __init__(
        self,
        handler: _Handler | None = None,
        *,
        config: ConnectionConfig | None = None,
        on_close: Callable[[Connection], None] | None = None,
    ) -> None:
        self._handler = handler
        self._config = config or ConnectionConfig()
        self._on_close = on_close
        self._loop = asyncio.get_running_loop()
        self._decoder = FrameDecoder(max_frame_size=self._config.max_frame_size)
        self._transport: asyncio.Transport | None = None
        self.peer = "?"
        self._opaques = itertools.cycle(range(_OPAQUE_LIMIT))
        self._pending: dict[int, asyncio.Future[RemotingCommand]] = {}
        # Request deadlines: one timer per connection, armed for the earliest deadline
        # and re-armed for the next when it fires (a timer armed and cancelled per
        # request cost ~5 % of a sync send), not one per request.
        self._deadlines: dict[int, tuple[float, int, float]] = {}  # opaque: (at, code, timeout)
        self._expiry: asyncio.TimerHandle | None = None
        self._expiry_at = math.inf
        self._slot_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._out: list[BytesLike] = []
        self._out_bytes = 0
        self._out_frames = 0
        self._flush_scheduled = False
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        # Peer requests received while our writes are paused, processed on resume.
        self._held: collections.deque[RemotingCommand] = collections.deque()
        self._held_bytes = 0
        self._busy_while_paused = 0  # SYSTEM_BUSY answers queued since writes paused
        self._closing = False
        self._closed = asyncio.Event()
        # Why the connection ended: the error class, its detail and its cause.
        self._close_reason: tuple[_CloseKind, str, BaseException | None] | None = None
        self._last_activity = self._loop.time()
        self._idle_handle: asyncio.TimerHandle | None = None
        # statistics(): plain ints (a dict's += costs more on every request)
        self._requests_sent = 0
        self._responses_received = 0
        self._requests_received = 0
        self._responses_sent = 0
        self._timeouts = 0
        self._rejected = 0
        self._bytes_received = 0
        self._bytes_sent = 0
        self._writes = 0

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        transport.set_write_buffer_limits(
            high=self._config.write_high_water, low=self._config.write_low_water
        )
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            host = peer[0]
            self.peer = f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
        if self._config.idle_timeout is not None:
            self._idle_handle = self._loop.call_later(self._config.idle_timeout, self._check_idle)

    def data_received(self, data: bytes) -> None:
        self._last_activity = self._loop.time()
        self._bytes_received += len(data)
        self._decoder.feed(data)
        self._process()

    def _process(self) -> None:
        decoder = self._decoder
        handler = self._handler
        # A ProcessorRegistry's requests are dispatched here (_on_request inlined for a
        # request answered at once with an encoded frame, sends: a Python call less per
        # request); anything else goes through _on_request / _on_result.
        registry = handler if type(handler) is ProcessorRegistry else None
        try:
            while commands := decoder.next_commands():
                for cmd in commands:
                    if cmd.flag & FLAG_RESPONSE:
                        self._on_response(cmd)
                    elif self._write_paused or self._held:
                        self._hold(cmd)
                    elif (
                        registry is None
                        or self._closing
                        or (processor := registry._processors.get(cmd.code, registry._default))
                        is None
                    ):
                        self._on_request(cmd)
                    else:
                        self._requests_received += 1
                        try:
                            result = processor(cmd, self)
                        except Exception as exc:  # noqa: BLE001 - answered SYSTEM_ERROR
                            self._answer(cmd, self._error_response(cmd, exc))
                            continue
                        if type(result) is not bytes or cmd.flag & FLAG_ONEWAY:
                            self._on_result(cmd, result)
                            continue
                        self._responses_sent += 1
                        self._write(result)
        except RemoteProtocolError as exc:
            logger.warning("closing connection to %s: malformed frame: %s", self.peer, exc)
            self._abort(ConnectionLostError, f"peer sent a malformed frame: {exc}", cause=exc)
        except Exception as exc:
            logger.exception("closing connection to %s: dispatch failed", self.peer)
            self._abort(ConnectionLostError, f"dispatch failed: {exc!r}", cause=exc)

    def _hold(self, cmd: RemotingCommand) -> None:
        if self._held_bytes >= self._config.max_held_bytes:
            self._busy_while_paused += 1
            if self._busy_while_paused * _BUSY_RESPONSE_SIZE >= self._config.max_held_bytes:
                # It keeps sending and reads nothing: answering would only grow our buffer.
                logger.warning(
                    "closing connection to %s: %d requests answered SYSTEM_BUSY while it read "
                    "none of our responses",
                    self.peer,
                    self._busy_while_paused,
                )
                self._abort(ConnectionLostError, "peer does not read its responses")
                return
            self._reject(cmd, None, f"{len(self._held)} requests held while the peer reads slowly")
            return
        self._held.append(cmd)
        self._held_bytes += len(cmd.body) + 256

    def _release_held(self) -> None:
        """Process held requests in arrival order while writes can flow."""
        try:
            while self._held and not self._write_paused and not self._closing:
                cmd = self._held.popleft()
                self._held_bytes -= len(cmd.body) + 256
                self._on_request(cmd)
        except Exception as exc:
            logger.exception("closing connection to %s: dispatch failed", self.peer)
            self._abort(ConnectionLostError, f"dispatch failed: {exc!r}", cause=exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._close_reason is None:
            detail = "closed by peer" if exc is None else f"{type(exc).__name__}: {exc}"
            self._close_reason = (ConnectionLostError, detail, exc)
        self._finish()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._busy_while_paused = 0
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        if self._held:
            self._loop.call_soon(self._release_held)

    # ------------------------------------------------------------------ public API

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def is_closing(self) -> bool:
        return self._closing or self._closed.is_set()

    async def wait_closed(self) -> None:
        """Wait until the connection is fully closed."""
        await self._closed.wait()

    async def request(self, cmd: RemotingCommand, *, timeout: float) -> RemotingCommand:
        """Send ``cmd`` as a request and wait for its response.

        The connection assigns the opaque. Waiting for a free in-flight slot and
        for the response both count against ``timeout`` (seconds).

        Raises:
            RequestTimeoutError: no response within ``timeout``.
            ConnectionClosedError: we closed the connection before the response came.
            ConnectionLostError: the peer or network broke the connection.
        """
        self._check_open()
        deadline = self._loop.time() + timeout
        if len(self._pending) >= self._config.max_inflight:
            await self._wait_for_slot(cmd.code, timeout, deadline)
        opaque = next(self._opaques)
        future: asyncio.Future[RemotingCommand] = self._loop.create_future()
        self._pending[opaque] = future
        self._deadlines[opaque] = (deadline, cmd.code, timeout)
        if deadline < self._expiry_at:
            self._arm_expiry(deadline)
        try:
            self._check_open()
            self._requests_sent += 1
            self._write(encode_command(cmd, opaque=opaque))
            if self._write_paused:
                try:
                    async with asyncio.timeout_at(deadline):
                        await self._drain()
                except TimeoutError:
                    if self._pending.pop(opaque, None) is not None:  # else _expire_due counted it
                        self._timeouts += 1
                    raise RequestTimeoutError(cmd.code, self.peer, timeout, opaque) from None
            return await future
        finally:
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: the caller got it, or an earlier error
            self._pending.pop(opaque, None)
            self._deadlines.pop(opaque, None)
            if self._slot_waiters:
                self._wake_slot_waiter()

    async def _wait_for_slot(self, code: int, timeout: float, deadline: float) -> None:
        """Wait until fewer than ``max_inflight`` requests are pending (the opaque
        table is the in-flight count), at most until ``deadline``."""
        while len(self._pending) >= self._config.max_inflight:
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._slot_waiters.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    await waiter
            except BaseException as exc:
                # Woken but leaving anyway (deadline in the same iteration, cancelled):
                # hand the slot to the next waiter.
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    self._wake_slot_waiter()
                if isinstance(exc, TimeoutError):
                    self._timeouts += 1
                    raise RequestTimeoutError(code, self.peer, timeout) from None
                raise
            finally:
                if not waiter.done():
                    waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._slot_waiters.remove(waiter)
            self._check_open()

    def _wake_slot_waiter(self) -> None:
        while self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def send_oneway(self, cmd: RemotingCommand, *, timeout: float) -> None:
        """Send ``cmd`` with the oneway flag; returns once it is written (or buffered
        under the write high-water mark).

        Raises:
            RequestTimeoutError: the write buffer stayed full for ``timeout`` seconds.
            ConnectionClosedError, ConnectionLostError: the connection is not usable.
        """
        self._check_open()
        if not cmd.is_oneway:
            cmd = cmd._replace(flag=cmd.flag | 0x2)
        self._requests_sent += 1
        self._write(encode_command(cmd, opaque=next(self._opaques)))
        if self._write_paused:
            try:
                async with asyncio.timeout(timeout):
                    await self._drain()
            except TimeoutError:
                raise RequestTimeoutError(cmd.code, self.peer, timeout) from None

    def send_response(
        self, response: RemotingCommand, body_parts: Sequence[BytesLike] = ()
    ) -> None:
        """Write a response now (processors usually just return it instead).

        ``body_parts`` replaces ``response.body`` with several buffers written
        without copying (pull responses made of mapped commit-log slices).
        """
        if self._transport is None or self._transport.is_closing():
            logger.debug("dropping response %s to %s: connection closed", response.code, self.peer)
            return
        self._responses_sent += 1
        try:
            if body_parts:
                self._write_many(encode_command_parts(response, body_parts))
            else:
                self._write(encode_command(response))
        except (LocalProtocolError, TypeError, ValueError) as exc:
            # A processor built a response the protocol cannot carry: tell the peer.
            logger.error(
                "cannot encode response %d to %s: %s", response.code, self.peer, exc, exc_info=exc
            )
            fallback = response._replace(
                code=ResponseCode.SYSTEM_ERROR,
                remark=f"broken response: {type(exc).__name__}: {exc}",
                ext_fields=None,
                body=b"",
            )
            self._write(encode_command(fallback))

    async def aclose(self, *, timeout: float = 5.0) -> None:
        """Close gracefully: stop taking new requests, let in-flight calls finish for up
        to ``timeout`` seconds (our requests and the peer's being processed), flush,
        then close. Idempotent.
        """
        if self._closed.is_set():
            return
        self._closing = True
        deadline = self._loop.time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                while waiting := self._unfinished():
                    await asyncio.wait(waiting)
                self._reject_held("connection is closing")
                self._flush()
                if self._write_paused:
                    await self._drain(check=False)
        except (ConnectionClosedError, ConnectionLostError):
            pass  # it ended while we waited: nothing left to flush
        except TimeoutError:
            logger.warning(
                "closing %s with %d requests, %d processors and %d held requests unfinished "
                "after %g s",
                self.peer,
                len(self._pending),
                len(self._tasks),
                len(self._held),
                timeout,
            )
        tasks = list(self._tasks)
        self._abort(ConnectionClosedError, "connection closed locally", graceful=True)
        # transport.close() waits for the peer to take our buffered bytes: not forever.
        try:
            async with asyncio.timeout_at(max(deadline, self._loop.time())):
                await self._closed.wait()
        except TimeoutError:
            if self._transport is not None:
                self._transport.abort()
            await self._closed.wait()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _reject_held(self, why: str) -> None:
        held, self._held = self._held, collections.deque()
        self._held_bytes = 0
        if held:
            logger.info(
                "answering %d held requests from %s SYSTEM_BUSY: %s", len(held), self.peer, why
            )
        for cmd in held:
            self._answer(
                cmd,
                RemotingCommand.response_to(cmd, ResponseCode.SYSTEM_BUSY, f"[REJECTREQUEST]{why}"),
            )

    def _unfinished(self) -> list[asyncio.Future[Any]]:
        futures: list[asyncio.Future[Any]] = [*self._pending.values(), *self._tasks]
        return [f for f in futures if not f.done()]

    def abort(self) -> None:
        """Close at once; pending calls fail with ConnectionClosedError."""
        if not self._closed.is_set():
            self._abort(ConnectionClosedError, "connection closed locally")

    def statistics(self) -> ConnectionStatistics:
        return ConnectionStatistics(
            requests_sent=self._requests_sent,
            responses_received=self._responses_received,
            requests_received=self._requests_received,
            responses_sent=self._responses_sent,
            timeouts=self._timeouts,
            rejected=self._rejected,
            inflight=len(self._pending),
            processing=len(self._tasks),
            bytes_received=self._bytes_received,
            bytes_sent=self._bytes_sent,
            writes=self._writes,
        )

    # ------------------------------------------------------------------ inbound

    def _on_response(self, cmd: RemotingCommand) -> None:
        self._responses_received += 1
        future = self._pending.pop(cmd.opaque, None)
        if future is None:
            logger.debug(
                "response opaque %d from %s matches no request (timed out?)", cmd.opaque, self.peer
            )
        elif not future.done():
            future.set_result(cmd)

    def _on_request(self, cmd: RemotingCommand) -> None:
        self._requests_received += 1
        handler = self._handler
        processor: Processor | None
        if type(handler) is ProcessorRegistry:  # its processor_for, inlined
            processor = handler._processors.get(cmd.code, handler._default)
        else:
            processor = handler.processor_for(cmd.code) if handler else None
        if processor is None or self._closing:
            self._refuse(cmd, processor)
            return
        try:
            result = processor(cmd, self)
        except Exception as exc:  # noqa: BLE001 - reported to the peer as SYSTEM_ERROR
            self._answer(cmd, self._error_response(cmd, exc))
            return
        self._on_result(cmd, result)

    def _on_result(
        self, cmd: RemotingCommand, result: ProcessorResult | Awaitable[ProcessorResult]
    ) -> None:
        """Answer ``cmd`` with what its processor returned (run it if it is awaitable)."""
        if type(result) is bytes:  # encoded at once (encode_response: sends)
            if not cmd.flag & FLAG_ONEWAY:
                self._responses_sent += 1
                self._write(result)
        elif type(result) is RemotingCommand:  # answered at once (most)
            if not cmd.flag & FLAG_ONEWAY:
                if result.opaque != cmd.opaque or not result.flag & FLAG_RESPONSE:
                    result = result._replace(opaque=cmd.opaque, flag=result.flag | FLAG_RESPONSE)
                self.send_response(result)
        elif result is None:
            return
        elif inspect.isawaitable(result):
            if len(self._tasks) >= self._config.max_concurrent_requests:
                self._reject(cmd, result)
                return
            task = self._loop.create_task(self._run_processor(cmd, result))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._answer(cmd, result)

    def _refuse(self, cmd: RemotingCommand, processor: Processor | None) -> None:
        """Answer a request no processor takes, or one that came while closing."""
        if processor is None:
            response = RemotingCommand.response_to(
                cmd,
                ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
                f" request type {cmd.code} not supported",
            )
        else:
            response = RemotingCommand.response_to(
                cmd, ResponseCode.SYSTEM_BUSY, "[REJECTREQUEST]connection is closing"
            )
        self._answer(cmd, response)

    def _reject(
        self, cmd: RemotingCommand, work: Awaitable[ProcessorResult] | None, why: str = ""
    ) -> None:
        """Answer SYSTEM_BUSY instead of running ``work`` (not started yet)."""
        if inspect.iscoroutine(work):
            work.close()
        elif isinstance(work, asyncio.Future):
            work.cancel()
        self._rejected += 1
        why = why or f"{len(self._tasks)} requests in process on this connection"
        self._answer(
            cmd,
            RemotingCommand.response_to(
                cmd,
                ResponseCode.SYSTEM_BUSY,
                f"[OVERLOAD]system busy, {why}, start flow control for a while",
            ),
        )

    async def _run_processor(
        self, cmd: RemotingCommand, pending: Awaitable[ProcessorResult]
    ) -> None:
        try:
            response = await pending
        except Exception as exc:  # noqa: BLE001 - reported to the peer as SYSTEM_ERROR
            response = self._error_response(cmd, exc)
        self._answer(cmd, response)

    def _error_response(self, cmd: RemotingCommand, exc: Exception) -> RemotingCommand:
        if isinstance(exc, InvalidHeaderError):
            logger.info("%s from %s: %s", _request_name(cmd.code), self.peer, exc)
        else:
            logger.error(
                "processor of %s failed for %s", _request_name(cmd.code), self.peer, exc_info=exc
            )
        return RemotingCommand.response_to(
            cmd, ResponseCode.SYSTEM_ERROR, f"{type(exc).__name__}: {exc}"
        )

    def _answer(self, request: RemotingCommand, response: RemotingCommand | bytes | None) -> None:
        if response is None or request.flag & FLAG_ONEWAY:
            return
        if isinstance(response, bytes):  # encode_response's frame (_flush drops it if closed)
            self._responses_sent += 1
            self._write(response)
            return
        if type(response) is not RemotingCommand and not isinstance(
            cast(object, response), RemotingCommand
        ):  # a buggy processor
            logger.error(
                "processor of %s returned %s, not a RemotingCommand",
                _request_name(request.code),
                type(response).__name__,
            )
            response = RemotingCommand.response_to(
                request,
                ResponseCode.SYSTEM_ERROR,
                f"processor returned {type(response).__name__}, not a RemotingCommand",
            )
        if response.opaque != request.opaque or not response.flag & FLAG_RESPONSE:
            response = response._replace(opaque=request.opaque, flag=response.flag | FLAG_RESPONSE)
        self.send_response(response)

    # ------------------------------------------------------------------ outbound

    def _write(self, data: BytesLike) -> None:
        """Queue one frame (or a frame's last buffer): flushed at the end of this loop
        iteration, or at once past _FLUSH_FRAMES frames or _FLUSH_BYTES bytes (D7)."""
        self._out.append(data)
        self._out_bytes += len(data)
        self._out_frames += 1
        if self._out_frames >= _FLUSH_FRAMES or self._out_bytes >= _FLUSH_BYTES:
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _write_many(self, parts: list[BytesLike]) -> None:
        """One frame made of several buffers, written without copying them."""
        *head, last = parts
        self._out.extend(head)
        self._out_bytes += sum(map(len, head))
        self._write(last)

    def _flush(self) -> None:
        self._flush_scheduled = False
        out, self._out = self._out, []
        size, self._out_bytes = self._out_bytes, 0
        self._out_frames = 0
        transport = self._transport
        if not out or transport is None or transport.is_closing():
            return
        self._last_activity = self._loop.time()
        self._bytes_sent += size
        self._writes += 1
        if len(out) == 1:
            transport.write(out[0])
        elif size <= _JOIN_BYTES and len(out) <= _FLUSH_FRAMES:
            transport.write(b"".join(out))  # a few small frames: one copy, one write
        else:
            transport.writelines(out)  # big or many parts (a pull's records): no copy

    async def _drain(self, *, check: bool = True) -> None:
        if not self._write_paused or self._closed.is_set():
            return
        if check:
            self._check_open()
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._drain_waiters.append(waiter)
        await waiter

    # ------------------------------------------------------------------ lifecycle

    def _check_open(self) -> None:
        if self._closed.is_set() or self._transport is None:
            if self._close_reason is not None:
                raise self._close_error()
            raise ConnectionClosedError(self.peer, "connection not open")
        if self._closing:
            raise ConnectionClosedError(self.peer, "connection is closing")

    def _check_idle(self) -> None:
        idle = self._config.idle_timeout
        if idle is None or self._closed.is_set():
            return
        elapsed = self._loop.time() - self._last_activity
        if elapsed >= idle:
            logger.info("closing connection to %s: idle for %.0f s", self.peer, elapsed)
            self._abort(ConnectionClosedError, f"closed after {idle:g} s idle")
        else:
            self._idle_handle = self._loop.call_later(idle - elapsed, self._check_idle)

    def _abort(
        self,
        kind: _CloseKind,
        detail: str,
        *,
        graceful: bool = False,
        cause: BaseException | None = None,
    ) -> None:
        if self._close_reason is None:
            self._close_reason = (kind, detail, cause)
        transport = self._transport
        if transport is not None and not transport.is_closing():
            if graceful:
                self._flush()
                transport.close()  # flushes buffered data, then connection_lost
            else:
                transport.abort()
        elif transport is None:
            self._finish()

    def _close_error(self) -> ConnectionClosedError | ConnectionLostError:
        """A fresh error for one waiter (tracebacks of different callers must not mix)."""
        kind, detail, cause = self._close_reason or (ConnectionClosedError, "closed", None)
        error = kind(self.peer, detail)
        error.__cause__ = cause
        return error

    def _finish(self) -> None:
        if self._closed.is_set():
            return
        self._closing = True
        if self._idle_handle is not None:
            self._idle_handle.cancel()
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry, self._expiry_at = None, math.inf
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(self._close_error())
        for waiter in (*self._drain_waiters, *self._slot_waiters):
            if not waiter.done():
                waiter.set_exception(self._close_error())
        self._drain_waiters = []
        self._slot_waiters.clear()
        self._write_paused = False
        self._held.clear()
        self._held_bytes = 0
        for task in self._tasks:
            task.cancel()
        self._closed.set()
        if self._on_close is not None:
            try:
                self._on_close(self)
            except Exception:
                logger.exception("on_close callback failed for %s", self.peer)

    def _arm_expiry(self, at: float) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry_at = at
        self._expiry = self._loop.call_at(at, self._expire_due)

    def _expire_due(self) -> None:
        """Fail every request whose deadline has come; re-arm for the earliest left."""
        self._expiry, self._expiry_at = None, math.inf
        now = self._loop.time()
        earliest = math.inf
        for opaque, (at, code, timeout) in list(self._deadlines.items()):
            if at > now:
                earliest = min(earliest, at)
                continue
            future = self._pending.pop(opaque, None)
            if future is not None and not future.done():
                self._timeouts += 1
                future.set_exception(RequestTimeoutError(code, self.peer, timeout, opaque))
        if earliest < math.inf and not self._closed.is_set():
            self._arm_expiry(earliest)


def _request_name(code: int) -> str:
    try:
        return RequestCode(code).name
    except ValueError:
        return f"request code {code}"
