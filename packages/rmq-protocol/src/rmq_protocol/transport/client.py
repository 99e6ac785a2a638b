"""RemotingClient: a connection pool keyed by address.

Mirrors ``NettyRemotingClient``: ``invokeSync``/``invokeOneway`` to an address,
one connection per address opened on demand and re-opened after it closes, and
processors for requests the server sends on that connection (the broker's
NOTIFY_CONSUMER_IDS_CHANGED, CHECK_TRANSACTION_STATE, …).
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Self, final

from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.errors import ConnectError, ConnectionClosedError, RequestTimeoutError
from rmq_protocol.transport.connection import Connection, ConnectionConfig, ProcessorRegistry

__all__ = ["RemotingClient", "parse_address"]

logger = logging.getLogger(__name__)


def _retrieve(attempt: asyncio.Future[Connection]) -> None:
    """Mark a shared attempt's error as seen (its waiters may all have timed out)."""
    if not attempt.cancelled():
        attempt.exception()


def parse_address(address: str) -> tuple[str, int]:
    """Split ``"host:port"`` (or ``"[v6]:port"``).

    Raises:
        ValueError: not a host:port address.
    """
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"address {address!r} is not host:port")
    return host.removeprefix("[").removesuffix("]"), int(port)


@final
class RemotingClient:
    """Requests to remoting servers by address, over pooled connections."""

    def __init__(
        self,
        registry: ProcessorRegistry | None = None,
        *,
        config: ConnectionConfig | None = None,
        connect_timeout: float = 3.0,
        close_on_timeout: bool = True,
    ) -> None:
        """
        Args:
            registry: processors for requests servers send on our connections.
            config: limits of each connection.
            connect_timeout: seconds one connection attempt may take (Java's
                ``connectTimeoutMillis``, 3 s).
            close_on_timeout: close a connection when a request on it times out, as
                Java's ``clientCloseSocketIfTimeout`` (default true) does; other calls
                in flight on it then fail with ConnectionClosedError.
        """
        self.registry = registry or ProcessorRegistry()
        self._close_on_timeout = close_on_timeout
        self._config = config or ConnectionConfig()
        self._connect_timeout = connect_timeout
        self._connections: dict[str, Connection] = {}
        self._connecting: dict[str, asyncio.Future[Connection]] = {}
        self._closed = False

    async def connection(self, address: str, *, timeout: float | None = None) -> Connection:
        """The open connection to ``address``, connecting if there is none.

        Concurrent callers share one connection attempt.

        Raises:
            ConnectError: the connection could not be opened.
            ConnectionClosedError: the client is closed.
        """
        conn = self._connections.get(address)
        if conn is not None and not conn.is_closing:
            return conn
        if self._closed:
            raise ConnectionClosedError(address, "client is closed")
        attempt = self._connecting.get(address)
        if attempt is None:
            # One attempt per address, bounded by the client's connect_timeout; each
            # caller waits for it under its own timeout.
            attempt = asyncio.ensure_future(self._connect(address))
            self._connecting[address] = attempt
            attempt.add_done_callback(lambda _: self._connecting.pop(address, None))
            attempt.add_done_callback(_retrieve)
        if timeout is None:
            return await asyncio.shield(attempt)
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(attempt)
        except TimeoutError:
            raise ConnectError(address, f"not connected within {timeout:g} s") from None

    async def _connect(self, address: str) -> Connection:
        host, port = parse_address(address)
        loop = asyncio.get_running_loop()
        limit = self._connect_timeout
        try:
            async with asyncio.timeout(limit):
                _, conn = await loop.create_connection(
                    lambda: Connection(
                        self.registry, config=self._config, on_close=self._closed_cb
                    ),
                    host,
                    port,
                )
        except TimeoutError:
            raise ConnectError(address, f"no connection within {limit:g} s") from None
        except OSError as exc:
            raise ConnectError(address, f"{type(exc).__name__}: {exc}") from exc
        if self._closed:
            conn.abort()
            raise ConnectionClosedError(address, "client closed while connecting")
        self._connections[address] = conn
        logger.debug("connected to %s", address)
        return conn

    def _closed_cb(self, conn: Connection) -> None:
        for address, known in list(self._connections.items()):
            if known is conn:
                del self._connections[address]

    async def request(
        self, address: str, cmd: RemotingCommand, *, timeout: float
    ) -> RemotingCommand:
        """Send a request to ``address`` and return its response (Java's invokeSync).

        ``timeout`` (seconds) covers connecting, queueing and the response.

        Raises:
            ConnectError, RequestTimeoutError, ConnectionLostError, ConnectionClosedError.
        """
        conn = self._connections.get(address)
        if conn is None or conn.is_closing:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            conn = await self.connection(address, timeout=timeout)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise RequestTimeoutError(cmd.code, address, timeout)
        else:
            remaining = timeout  # the common case: already connected
        try:
            return await conn.request(cmd, timeout=remaining)
        except RequestTimeoutError as exc:
            if self._close_on_timeout and exc.opaque is not None:
                # (Only for a request that was sent: running out of in-flight slots says
                # nothing about the connection, as in Java.)
                # As Java's clientCloseSocketIfTimeout: a silently dead connection
                # (no RST) is replaced instead of timing out every call on it.
                self._drop(address, conn)
            # Report the caller's timeout, not what was left of it after connecting.
            raise RequestTimeoutError(cmd.code, address, timeout, exc.opaque) from None

    async def send_oneway(self, address: str, cmd: RemotingCommand, *, timeout: float) -> None:
        """Send a oneway request to ``address`` (Java's invokeOneway)."""
        conn = await self.connection(address, timeout=timeout)
        await conn.send_oneway(cmd, timeout=timeout)

    def close_connection(self, address: str) -> None:
        """Drop the connection to ``address`` (e.g. after repeated timeouts)."""
        conn = self._connections.pop(address, None)
        if conn is not None:
            conn.abort()

    def _drop(self, address: str, conn: Connection) -> None:
        if self._connections.get(address) is conn:
            del self._connections[address]
        logger.info("closing connection to %s after a request timed out", address)
        conn.abort()

    @property
    def addresses(self) -> list[str]:
        """Addresses with an open connection."""
        return [a for a, c in self._connections.items() if not c.is_closing]

    async def aclose(self, *, timeout: float = 5.0) -> None:
        """Close every connection gracefully. Idempotent."""
        self._closed = True
        # Attempts in progress are not cancelled (that would cancel their waiters);
        # they see _closed when they finish and close what they opened.
        connections = list(self._connections.values())
        self._connections.clear()
        if connections:
            await asyncio.gather(
                *(c.aclose(timeout=timeout) for c in connections), return_exceptions=True
            )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
