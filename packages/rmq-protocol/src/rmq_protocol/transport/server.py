"""RemotingServer: accepts connections and dispatches requests to processors.

Mirrors ``NettyRemotingServer``: one listening socket, a processor per request
code, unknown codes answered REQUEST_CODE_NOT_SUPPORTED, a processor error
answered SYSTEM_ERROR, and a malformed frame closing only the connection that
sent it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Self, final

from rmq_protocol.transport.connection import Connection, ConnectionConfig, ProcessorRegistry

__all__ = ["RemotingServer", "start_server"]

logger = logging.getLogger(__name__)


@final
class RemotingServer:
    """A listening remoting endpoint. Use :func:`start_server`; close with :meth:`aclose`
    or ``async with``.
    """

    def __init__(
        self,
        registry: ProcessorRegistry,
        *,
        config: ConnectionConfig | None = None,
        on_connect: Callable[[Connection], None] | None = None,
        on_disconnect: Callable[[Connection], None] | None = None,
    ) -> None:
        self.registry = registry
        self._config = config or ConnectionConfig()
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._server: asyncio.Server | None = None
        self._connections: set[Connection] = set()
        self._closed = False

    async def _listen(self, host: str, port: int, backlog: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._new_connection, host, port, backlog=backlog, reuse_address=True
        )
        logger.info("remoting server listening on %s", self.address)

    def _new_connection(self) -> Connection:
        conn = Connection(self.registry, config=self._config, on_close=self._connection_closed)
        self._connections.add(conn)
        if self._on_connect is not None:
            asyncio.get_running_loop().call_soon(self._on_connect, conn)
        return conn

    def _connection_closed(self, conn: Connection) -> None:
        self._connections.discard(conn)
        if self._on_disconnect is not None:
            self._on_disconnect(conn)

    @property
    def port(self) -> int:
        """The bound port (useful after binding port 0)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("server is not listening")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def host(self) -> str:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("server is not listening")
        return str(self._server.sockets[0].getsockname()[0])

    @property
    def address(self) -> str:
        """``host:port`` as RocketMQ writes addresses."""
        host = self.host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    @property
    def connections(self) -> frozenset[Connection]:
        return frozenset(self._connections)

    async def aclose(self, *, timeout: float = 5.0) -> None:
        """Stop listening, then close every connection gracefully (in-flight requests
        finish within ``timeout`` seconds). Idempotent.
        """
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.close()
        connections = list(self._connections)
        if connections:
            await asyncio.gather(
                *(c.aclose(timeout=timeout) for c in connections), return_exceptions=True
            )
        if self._server is not None:
            await self._server.wait_closed()
        logger.info("remoting server closed")

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def start_server(
    registry: ProcessorRegistry,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    config: ConnectionConfig | None = None,
    backlog: int = 1024,
    on_connect: Callable[[Connection], None] | None = None,
    on_disconnect: Callable[[Connection], None] | None = None,
) -> RemotingServer:
    """Listen on ``host:port`` (port 0 picks a free one) and serve ``registry``."""
    server = RemotingServer(
        registry, config=config, on_connect=on_connect, on_disconnect=on_disconnect
    )
    await server._listen(host, port, backlog)
    return server
