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
    ) -> None:
        self.registry = registry or ProcessorRegistry()
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
            attempt = asyncio.ensure_future(self._connect(address, timeout))
            self._connecting[address] = attempt
            attempt.add_done_callback(lambda _: self._connecting.pop(address, None))
        return await asyncio.shield(attempt)

    async def _connect(self, address: str, timeout: float | None) -> Connection:
        host, port = parse_address(address)
        loop = asyncio.get_running_loop()
        limit = self._connect_timeout if timeout is None else min(timeout, self._connect_timeout)
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
        if conn is not None and not conn.is_closing:
            return await conn.request(cmd, timeout=timeout)  # the common case
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        conn = await self.connection(address, timeout=timeout)
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise RequestTimeoutError(cmd.code, address, timeout)
        try:
            return await conn.request(cmd, timeout=remaining)
        except RequestTimeoutError as exc:
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

    @property
    def addresses(self) -> list[str]:
        """Addresses with an open connection."""
        return [a for a, c in self._connections.items() if not c.is_closing]

    async def aclose(self, *, timeout: float = 5.0) -> None:
        """Close every connection gracefully. Idempotent."""
        self._closed = True
        for attempt in list(self._connecting.values()):
            attempt.cancel()
        connections = list(self._connections.values())
        self._connections.clear()
        if connections:
            await asyncio.gather(*(c.aclose(timeout=timeout) for c in connections))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
