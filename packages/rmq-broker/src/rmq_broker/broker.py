"""The Broker service: store, metadata, processors, NameServer registration, housekeeping.

Mirrors ``org.apache.rocketmq.broker.BrokerController`` (``initialize`` / ``start`` /
``shutdown``) and ``BrokerStartup`` (:func:`run_broker`). Start-up: open (recover) the
store in a thread, load ``topics.json``, ``subscriptionGroup.json`` and
``consumerOffset.json``, listen, register with every NameServer, then run the background
tasks, all owned by the broker's :class:`asyncio.TaskGroup`:

* registration with every NameServer every ``registerNameServerPeriod`` (30 s) and at
  once when the topic table changes;
* metadata persistence: topics and groups right after a change, consumer offsets every
  ``flushConsumerOffsetInterval`` (5 s) when they changed (written in a thread,
  atomically);
* client housekeeping every 10 s: clients silent for ``channelExpiredTimeout`` (120 s)
  are dropped and their connections closed;
* store counter sampling every second (TPS figures of GET_BROKER_RUNTIME_INFO);
  on a slave (``brokerRole=SLAVE``) neither the transaction check-back nor the
  delay-level delivery runs (as in Java), and sends are refused
  (:mod:`rmq_broker.processors.slave`);
* transaction check-back every ``transactionCheckInterval`` (:mod:`rmq_broker.transaction`).

Graceful shutdown: stop the background tasks, answer the parked pulls, stop accepting
and let requests in flight finish (``shutdown_timeout``), flush and close the store,
persist the metadata, unregister from the NameServers; each step runs even if an
earlier one failed (the first failure is raised at the end). A second signal exits at
once (:func:`rmq_protocol.transport.serve_until_signalled`).

Runtime config updates (UPDATE_BROKER_CONFIG) persisted in
``config/brokerConfigUpdates.properties`` are applied over the given settings at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, final

from rmq_broker.config import BrokerConfig, BrokerRole, BrokerSettings
from rmq_broker.controller import BrokerController
from rmq_broker.jsonfile import write_json_file
from rmq_broker.namesrv_api import BrokerIdentity, NamesrvRegistrar
from rmq_broker.processors.admin import AdminGroupProcessor, AdminTopicProcessor
from rmq_broker.processors.admin_config import AdminConfigProcessor, apply_config_updates
from rmq_broker.processors.admin_stats import (
    SAMPLE_INTERVAL,
    AdminStatsProcessor,
    StatsSampler,
    counter_reader,
)
from rmq_broker.processors.client import ClientManageProcessor
from rmq_broker.processors.consumer_status import ConsumerStatusProcessor
from rmq_broker.processors.end_transaction import EndTransactionProcessor
from rmq_broker.processors.offsets import OffsetProcessor
from rmq_broker.processors.pull import PullMessageProcessor
from rmq_broker.processors.reset_offset import ResetOffsetProcessor
from rmq_broker.processors.send import SendMessageProcessor
from rmq_broker.processors.send_back import SendBackProcessor
from rmq_broker.processors.slave import SlaveProcessor
from rmq_broker.schedule import ScheduleService
from rmq_broker.stats import BrokerStats
from rmq_broker.store import BrokerStore
from rmq_broker.timer import TimerService
from rmq_broker.transaction import TransactionService
from rmq_protocol.codec.fastjson import JSONValue
from rmq_protocol.transport import (
    ConnectionConfig,
    ProcessorRegistry,
    RemotingServer,
    start_server,
)
from rmq_store import MessageStore

__all__ = ["Broker", "check_supported", "run_broker"]

logger = logging.getLogger(__name__)

_HOUSEKEEPING_INTERVAL: Final = 10.0  # seconds between client expiry scans (Java: 10 s)
_ANY_ADDRESS: Final = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - compared, not bound


def check_supported(config: BrokerConfig) -> None:
    """Refuse configurations that turn on what rmq-broker does not implement.

    Nothing is refused at present: ``brokerRole=SLAVE`` runs (without replication, see
    :mod:`rmq_broker.processors.slave`).

    Raises:
        UnsupportedFeatureError: never at present.
    """


async def _finish_in_thread(
    fn: Callable[[Path, JSONValue], None], path: Path, value: JSONValue
) -> None:
    """Run ``fn`` in a thread; if we are cancelled meanwhile, still wait for it to end
    (a write left running would race the next write of the same file)."""
    future = asyncio.ensure_future(asyncio.to_thread(fn, path, value))
    try:
        await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise


def _detect_ip(config: BrokerConfig) -> str:
    """``brokerIP1``, else the bind address, else the address this host routes out of."""
    if config.broker_ip1:
        return config.broker_ip1
    if config.bind_address not in _ANY_ADDRESS:
        return config.bind_address
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent, only a route chosen
        address = str(probe.getsockname()[0])
    except OSError:
        address = "127.0.0.1"
    finally:
        probe.close()
    return address


@final
class Broker:
    """A running broker. Use ``async with Broker(settings) as broker:``.

    Enter and exit in the same task (its task group belongs to that task). Everything it
    started is stopped when the block exits. Not safe for use from other threads.
    """

    def __init__(
        self,
        settings: BrokerSettings,
        *,
        store: BrokerStore | None = None,
        shutdown_timeout: float = 5.0,
    ) -> None:
        """
        Args:
            settings: broker and store configuration.
            store: an open store to use instead of opening ``settings.store`` (it is
                not closed at exit then).
            shutdown_timeout: seconds requests in flight get to finish at shutdown.
        """
        self._settings = settings
        self._given_store = store
        self._shutdown_timeout = shutdown_timeout
        self._store: BrokerStore | None = None
        self._controller: BrokerController | None = None
        self._server: RemotingServer | None = None
        self._registrar: NamesrvRegistrar | None = None
        self._tasks: asyncio.TaskGroup | None = None
        self._sampler: StatsSampler | None = None
        self._stats: BrokerStats | None = None
        self._transactions: TransactionService | None = None
        self._schedule: ScheduleService | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._persist_lock = asyncio.Lock()
        self._persisted = asyncio.Event()
        self.persists = 0  # rounds of metadata writes so far
        self._started = False
        self._loaded = False  # metadata read: only then may it be written back
        self._closing = False

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        """Open the store, load metadata, listen, register, start the background tasks.

        Raises:
            RuntimeError: already started.
            UnsupportedFeatureError: the configuration needs what is not implemented.
            StoreError, MetadataFileError: the store or a metadata file is unusable.
            OSError: the address cannot be bound.
        """
        if self._started:
            raise RuntimeError("a Broker starts once; create a new one")
        self._started = True
        self._settings = await asyncio.to_thread(apply_config_updates, self._settings)
        settings = self._settings
        config = settings.broker
        check_supported(config)
        if self._given_store is not None:
            self._store = self._given_store
        else:
            self._store = await asyncio.to_thread(MessageStore.open, settings.store)
        try:
            await self._start(self._store)
        except BaseException:
            await self._stop()
            raise
        logger.info(
            "broker %s (cluster %s) started on %s, store %s, name servers %s",
            config.broker_name,
            config.broker_cluster_name,
            self.address,
            settings.store.store_path_root_dir,
            config.namesrv_addresses or "none",
        )
        return self

    async def _start(self, store: BrokerStore) -> None:
        settings = self._settings
        config = settings.broker
        tasks = asyncio.TaskGroup()
        await tasks.__aenter__()
        self._tasks = tasks
        controller = BrokerController(settings, store, spawn=self._spawn)
        self._controller = controller
        schedule = ScheduleService(
            store,
            controller.config_dir / "delayOffset.json",
            delay_table=settings.store.delay_level_table,
            flush_interval_ms=config.flush_delay_offset_interval,
            clock_ms=controller.clock_ms,
            timer=TimerService(
                store,
                controller.config_dir / "timerOffset.json",
                precision_ms=config.timer_precision_ms,
                clock_ms=controller.clock_ms,
                on_topic_arrival=controller.on_topic_arrival,
            ),
            on_topic_arrival=controller.on_topic_arrival,
        )
        await asyncio.to_thread(self._load_metadata, controller)
        await asyncio.to_thread(schedule.load)
        if schedule.timer is not None:
            await asyncio.to_thread(schedule.timer.load)
        self._schedule = schedule
        self._loaded = True
        transactions = self._transactions = TransactionService(controller)
        transactions.load()
        registry = ProcessorRegistry()
        SendMessageProcessor(controller).register(registry)
        SendBackProcessor(controller).register(registry)
        stats = self._stats = BrokerStats(controller.topics, store.get_max_offset_in_queue)
        PullMessageProcessor(controller, stats).register(registry)
        ClientManageProcessor(controller).register(registry)
        OffsetProcessor(controller).register(registry)
        AdminTopicProcessor(controller).register(registry)
        AdminGroupProcessor(controller).register(registry)
        self._sampler = StatsSampler(counter_reader(store, stats))
        AdminStatsProcessor(controller, self._sampler).register(registry)
        AdminConfigProcessor(controller).register(registry)
        EndTransactionProcessor(controller, transactions).register(registry)
        ResetOffsetProcessor(controller).register(registry)
        ConsumerStatusProcessor(controller).register(registry)
        slave = config.broker_role is BrokerRole.SLAVE
        if slave:  # over the send processors: a slave's store takes no writes
            SlaveProcessor(controller).register(registry)
        idle = config.server_channel_max_idle_time_seconds
        self._server = await start_server(
            registry,
            config.bind_address,
            config.listen_port,
            config=ConnectionConfig(idle_timeout=float(idle) if idle > 0 else None),
            backlog=config.server_socket_backlog,
            on_disconnect=controller.on_disconnect,
        )
        ip = _detect_ip(config)
        controller.set_address(ip, self._server.port)
        ha_ip = config.broker_ip2 or ip
        self._registrar = NamesrvRegistrar(
            BrokerIdentity(
                cluster_name=config.broker_cluster_name,
                broker_name=config.broker_name,
                broker_id=config.broker_id,
                broker_addr=controller.broker_addr,
                ha_server_addr=f"{ha_ip}:{config.ha_listen_port}",
            ),
            config.namesrv_addresses,
            timeout=config.register_broker_timeout_mills / 1000,
            compressed=config.compressed_register,
        )
        controller.topics_changed.clear()
        await self._registrar.register_all(controller.topics.registration_wrapper())
        self._loops = [
            tasks.create_task(self._register_loop(), name="broker-register-namesrv"),
            tasks.create_task(self._persist_loop(), name="broker-persist-metadata"),
            tasks.create_task(self._housekeeping_loop(), name="broker-client-housekeeping"),
            tasks.create_task(self._stats_loop(), name="broker-stats-sampling"),
        ]
        if not slave:  # Java runs neither on a slave
            self._loops += [
                tasks.create_task(transactions.run(), name="broker-transaction-check"),
                tasks.create_task(schedule.run(), name="broker-schedule-delivery"),
            ]

    @staticmethod
    def _load_metadata(controller: BrokerController) -> None:
        controller.topics.load()
        controller.groups.load()
        controller.offsets.load()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Shut down gracefully (see the module docstring)."""
        await self._stop()

    async def _stop(self) -> None:
        if self._closing:
            return
        self._closing = True
        controller = self._controller
        for loop_task in self._loops:
            loop_task.cancel()
        if controller is not None:
            controller.holds.release_all()
        if self._server is not None:
            await self._server.aclose(timeout=self._shutdown_timeout)
        if controller is not None and controller.flush_waiter is not None:
            controller.flush_waiter.close()
        if self._tasks is not None:
            with contextlib.suppress(BaseExceptionGroup):
                await self._tasks.__aexit__(None, None, None)
        # Each step runs even when an earlier one failed: a store that cannot close
        # must not cost the consumer offsets, nor leave the broker registered.
        failures: list[BaseException] = []
        if self._store is not None and self._given_store is None:
            try:
                await asyncio.to_thread(self._store.close)
            except Exception as exc:  # logged and re-raised after the other steps
                logger.exception("closing the store failed")
                failures.append(exc)
        if controller is not None and self._loaded:
            try:
                await self.persist(force=True)
            except OSError as exc:
                logger.exception("writing metadata under %s failed", controller.config_dir)
                failures.append(exc)
        if self._schedule is not None and self._loaded:
            try:
                await asyncio.to_thread(self._schedule.persist)
            except OSError as exc:
                logger.exception("writing %s failed", self._schedule.path)
                failures.append(exc)
        if self._registrar is not None:
            if self._server is not None:
                await self._registrar.unregister_all()
            await self._registrar.aclose()
        if failures:
            logger.error("broker stopped, with %d failure(s)", len(failures))
            raise failures[0]
        logger.info("broker stopped")

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._tasks is None or self._closing:
            coro.close()
            return
        self._tasks.create_task(coro)

    # ------------------------------------------------------------------ background tasks

    async def _register_loop(self) -> None:
        controller = self._state
        registrar = self._registrar
        if registrar is None:
            return
        while True:
            period = controller.config.register_name_server_period / 1000  # may be updated
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period):
                    await controller.topics_changed.wait()
            controller.topics_changed.clear()
            try:
                await registrar.register_all(controller.topics.registration_wrapper())
            except Exception:  # a bug here must not stop the broker: log, try next period
                logger.exception("registration with the name servers failed")

    async def _persist_loop(self) -> None:
        controller = self._state
        while True:
            interval = controller.config.flush_consumer_offset_interval / 1000  # may be updated
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await controller.metadata_dirty.wait()
            try:
                await self.persist()
            except OSError:
                logger.exception(
                    "writing metadata under %s failed; retrying", controller.config_dir
                )
            await asyncio.sleep(0.05)  # coalesce bursts of changes into one write

    async def _housekeeping_loop(self) -> None:
        while True:
            await asyncio.sleep(_HOUSEKEEPING_INTERVAL)
            try:
                self.scan_not_active_clients()
            except Exception:  # a bug in one scan must not stop the broker: log, go on
                logger.exception("scan for expired clients failed")

    async def _stats_loop(self) -> None:
        sampler = self._sampler
        if sampler is None:
            return
        while True:
            await asyncio.sleep(SAMPLE_INTERVAL)
            try:
                sampler.sample()
            except Exception:  # a bug in sampling must not stop the broker: log, go on
                logger.exception("sampling the store's counters failed")

    # ------------------------------------------------------------------ operations

    def scan_not_active_clients(self) -> int:
        """Drop clients silent for ``channelExpiredTimeout`` and close their connections
        now (the housekeeping task calls this every 10 s). Returns how many."""
        controller = self._state
        expired = controller.clients.scan_not_active(notify_enabled=controller.notify_enabled)
        for conn in expired:
            conn.abort()
        return len(expired)

    async def persist(self, *, force: bool = False) -> None:
        """Write the metadata files that changed (all of them with ``force``), atomically,
        in a thread.

        Raises:
            OSError: a file cannot be written.
        """
        controller = self._state
        async with self._persist_lock:
            topics, groups, offsets = controller.take_dirty()
            writes: list[tuple[Path, JSONValue]] = []
            if topics or force:
                writes.append((controller.topics.path, controller.topics.to_value()))
            if groups or force:
                writes.append((controller.groups.path, controller.groups.to_value()))
            if offsets or force:
                writes.append((controller.offsets.path, controller.offsets.to_value()))
            for path, value in writes:
                await _finish_in_thread(write_json_file, path, value)
            if writes:
                self.persists += 1
                self._persisted.set()

    async def wait_persisted(self, count: int, *, timeout: float) -> None:
        """Wait until ``count`` rounds of metadata writes happened in total.

        Raises:
            TimeoutError: not within ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            while self.persists < count:
                self._persisted.clear()
                await self._persisted.wait()

    async def register_now(self) -> None:
        """Register with every NameServer now (errors are logged)."""
        if self._registrar is not None:
            await self._registrar.register_all(self._state.topics.registration_wrapper())

    # ------------------------------------------------------------------ inspection

    @property
    def _state(self) -> BrokerController:
        if self._controller is None:
            raise RuntimeError("the broker is not started; use `async with Broker(…)`")
        return self._controller

    @property
    def controller(self) -> BrokerController:
        """The broker's state (tables, store, clients); read it on the broker's loop."""
        return self._state

    @property
    def stats(self) -> BrokerStats:
        """The broker's message counters (``msgPutTotal*``, ``msgGetTotal*``, transfers)."""
        if self._stats is None:
            raise RuntimeError("the broker is not started; use `async with Broker(…)`")
        return self._stats

    @property
    def schedule(self) -> ScheduleService:
        """The delay-level delivery service (offsets, statistics, ``wake``)."""
        if self._schedule is None:
            raise RuntimeError("the broker is not started; use `async with Broker(…)`")
        return self._schedule

    @property
    def transactions(self) -> TransactionService:
        """Half messages, END_TRANSACTION and the check-back service."""
        if self._transactions is None:
            raise RuntimeError("the broker is not started; use `async with Broker(…)`")
        return self._transactions

    @property
    def settings(self) -> BrokerSettings:
        return self._settings

    @property
    def address(self) -> str:
        """``ip:port`` clients reach the broker at (what it registers; the real port
        after binding port 0)."""
        return self._state.broker_addr

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the broker is not started; use `async with Broker(…)`")
        return self._server.port

    @property
    def registrations(self) -> int:
        """Rounds of REGISTER_BROKER sent so far."""
        return 0 if self._registrar is None else self._registrar.registrations

    async def wait_registrations(self, count: int, *, timeout: float) -> None:
        """Wait until ``count`` rounds of REGISTER_BROKER were sent in total.

        Raises:
            TimeoutError: not within ``timeout`` seconds.
            RuntimeError: the broker is not started.
        """
        if self._registrar is None:
            raise RuntimeError("the broker is not started; use `async with Broker(…)`")
        await self._registrar.wait_registrations(count, timeout=timeout)


async def run_broker(
    settings: BrokerSettings,
    *,
    started: asyncio.Event | Callable[[Broker], object] | None = None,
) -> None:
    """Serve until cancelled; everything started here is stopped before returning.

    Args:
        settings: the broker's configuration.
        started: set (an Event) or called with the running Broker (to learn its address
            when ``listenPort`` is 0) once it serves.

    Raises:
        UnsupportedFeatureError, StoreError, MetadataFileError, OSError: as
        :meth:`Broker.__aenter__`.
    """
    async with Broker(settings) as broker:
        if isinstance(started, asyncio.Event):
            started.set()
        elif started is not None:
            started(broker)
        await asyncio.get_running_loop().create_future()  # until cancelled
