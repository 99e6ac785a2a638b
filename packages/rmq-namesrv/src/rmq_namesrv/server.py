"""The NameServer service: a remoting server, its handlers and the liveness scan.

Mirrors ``org.apache.rocketmq.namesrv.NamesrvController`` (what starts and stops) and
``NamesrvStartup`` (:func:`run_namesrv`). Start-up: load the KV config (in a thread),
listen, start the scan for expired brokers. Shutdown reverses it: stop the scan, stop
accepting, let requests in flight finish, close connections.

Every background task belongs to the NameServer's :class:`asyncio.TaskGroup`; a closed
broker connection unregisters that broker at once (the transport's disconnect hook, as
Java's ``BrokerHousekeepingService``), and a broker silent for longer than its heartbeat
timeout (120 s by default) is removed by the scan that runs every
``scanNotActiveBrokerInterval`` milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Self, final

from rmq_namesrv.clock import Clock, SystemClock
from rmq_namesrv.config import NamesrvConfig
from rmq_namesrv.kv_config import KVConfigManager
from rmq_namesrv.processor import DefaultRequestProcessor, check_supported
from rmq_namesrv.route_info import RouteInfoManager
from rmq_protocol.transport import (
    Connection,
    ConnectionConfig,
    ProcessorRegistry,
    RemotingServer,
    start_server,
)

__all__ = ["NameServer", "run_namesrv"]

logger = logging.getLogger(__name__)


@final
class NameServer:
    """A running NameServer. Use ``async with NameServer(config) as namesrv:``.

    Enter and exit in the same task (its task group belongs to that task). Everything it
    started is stopped when the block exits. Not safe for use from other threads.
    """

    def __init__(
        self,
        config: NamesrvConfig,
        *,
        clock: Clock | None = None,
        shutdown_timeout: float = 5.0,
    ) -> None:
        """
        Args:
            config: what to listen on, where the KV config lives, and the options.
            clock: time for liveness checks and the scan interval (tests pass a
                :class:`~rmq_namesrv.clock.ManualClock`).
            shutdown_timeout: seconds in-flight requests get to finish at shutdown.
        """
        self._initial_config = config
        self._clock: Clock = clock or SystemClock()
        self._shutdown_timeout = shutdown_timeout
        self._stack: contextlib.AsyncExitStack | None = None
        self._server: RemotingServer | None = None
        self._address: tuple[str, int] | None = None  # kept after close, for messages
        self._processor: DefaultRequestProcessor | None = None
        self._closing = False
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        """Load the KV config, listen, start the liveness scan.

        Raises:
            RuntimeError: the NameServer was already started.
            UnsupportedFeatureError: the config turns on something not implemented.
            KVConfigFileError: the KV config file exists but cannot be read.
            OSError: the address cannot be bound.
        """
        if self._stack is not None or self._closed:
            raise RuntimeError("a NameServer starts once; create a new one")
        config = self._initial_config
        check_supported(config)
        if config.notify_min_broker_id_changed:
            logger.warning(
                "notifyMinBrokerIdChanged=true: NOTIFY_MIN_BROKER_ID_CHANGE is not sent by "
                "rmq-namesrv (acting-master brokers learn of a new master at registration)"
            )
        kv = await asyncio.to_thread(KVConfigManager.load, config.kv_config_path)
        routes = RouteInfoManager(config, clock=self._clock.time_ms)
        processor = DefaultRequestProcessor(config, routes=routes, kv=kv, clock=self._clock.time_ms)
        registry = ProcessorRegistry()
        processor.register(registry)
        self._processor = processor
        stack = contextlib.AsyncExitStack()
        self._stack = stack
        try:
            idle = config.server_channel_max_idle_time_seconds
            server = await start_server(
                registry,
                config.bind_address,
                config.listen_port,
                config=ConnectionConfig(idle_timeout=float(idle) if idle > 0 else None),
                backlog=config.server_socket_backlog,
                on_disconnect=self._on_disconnect,
            )
            stack.push_async_callback(server.aclose, timeout=self._shutdown_timeout)
            self._server = server
            self._address = (server.address, server.port)
            tasks = await stack.enter_async_context(asyncio.TaskGroup())
            scan = tasks.create_task(self._scan_loop(), name="namesrv-scan-not-active-broker")
            stack.callback(scan.cancel)  # runs first at exit: the task group then ends
        except BaseException:
            self._closing = True
            await stack.aclose()
            self._closed = True
            raise
        logger.info(
            "NameServer started on %s (KV config %s, scan every %d ms)",
            server.address,
            config.kv_config_path,
            config.scan_not_active_broker_interval,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        """Stop the scan, then the server (requests in flight finish first)."""
        if self._stack is None or self._closed:
            return None
        self._closing = True
        try:
            return await self._stack.__aexit__(exc_type, exc, tb)
        finally:
            self._closed = True
            logger.info("NameServer stopped")

    async def _scan_loop(self) -> None:
        while True:
            await self._clock.sleep(self.config.scan_not_active_broker_interval / 1000)
            try:
                self.scan_not_active_broker()
            except Exception:  # a bug in one scan must not stop the NameServer: log, go on
                logger.exception("scan for expired brokers failed")

    def _on_disconnect(self, conn: Connection) -> None:
        if self._closing or self._processor is None:
            return
        self._processor.routes.on_channel_destroy(conn)

    # ------------------------------------------------------------------ operations

    def scan_not_active_broker(self) -> int:
        """Remove brokers not heard from within their heartbeat timeout now, and close
        their connections (the periodic scan calls this).

        Returns:
            How many broker addresses expired.
        """
        expired = self._state.routes.scan_not_active_broker()
        for _, channel in expired:
            if isinstance(channel, Connection):
                channel.abort()
        return len(expired)

    # ------------------------------------------------------------------ inspection

    @property
    def _state(self) -> DefaultRequestProcessor:  # raises RuntimeError before start
        if self._processor is None:
            raise RuntimeError("the NameServer is not started; use `async with NameServer(…)`")
        return self._processor

    @property
    def config(self) -> NamesrvConfig:
        """The configuration in force (UPDATE_NAMESRV_CONFIG may have changed it)."""
        return self._initial_config if self._processor is None else self._processor.config

    @property
    def routes(self) -> RouteInfoManager:
        """The route tables (read them on the NameServer's event loop)."""
        return self._state.routes

    @property
    def kv(self) -> KVConfigManager:
        """The KV config."""
        return self._state.kv

    @property
    def address(self) -> str:
        """``host:port`` the NameServer listens (or listened) on: the real port after
        binding port 0.

        Raises:
            RuntimeError: it was never started.
        """
        if self._address is None:
            raise RuntimeError("the NameServer is not started; use `async with NameServer(…)`")
        return self._address[0]

    @property
    def connections(self) -> frozenset[Connection]:
        """The connections open now (brokers, clients, admin tools)."""
        return frozenset() if self._server is None else self._server.connections

    @property
    def port(self) -> int:
        """The bound port.

        Raises:
            RuntimeError: it was never started.
        """
        if self._address is None:
            raise RuntimeError("the NameServer is not started; use `async with NameServer(…)`")
        return self._address[1]


async def run_namesrv(
    config: NamesrvConfig,
    *,
    started: asyncio.Event | Callable[[NameServer], object] | None = None,
    clock: Clock | None = None,
) -> None:
    """Serve until cancelled; everything started here is stopped before returning.

    Args:
        config: the NameServer's configuration.
        started: set (an Event) or called with the running NameServer (a callable, to
            learn the address when ``listenPort`` is 0) once it listens.
        clock: see :class:`NameServer`.

    Raises:
        UnsupportedFeatureError, KVConfigFileError, OSError: as :meth:`NameServer.__aenter__`.
    """
    async with NameServer(config, clock=clock) as namesrv:
        if isinstance(started, asyncio.Event):
            started.set()
        elif started is not None:
            started(namesrv)
        await asyncio.get_running_loop().create_future()  # until cancelled
