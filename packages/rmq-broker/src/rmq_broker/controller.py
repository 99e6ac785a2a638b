"""The broker's shared state: configuration, store, metadata tables, clients, waiters.

Mirrors the parts of ``org.apache.rocketmq.broker.BrokerController`` the request
processors reach through it. The lifecycle (what starts and stops, in which order) is
:class:`rmq_broker.Broker`'s; this object only holds and wires the parts. Everything
here runs on the broker's event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Final, final

from rmq_broker.client_manager import ClientManager, RebalanceLockManager
from rmq_broker.config import BrokerSettings
from rmq_broker.consumer_offset import ConsumerOffsetManager
from rmq_broker.flush_waiter import FlushWaiter
from rmq_broker.long_polling import HeldPull, PullHoldService
from rmq_broker.store import BrokerStore
from rmq_broker.subscription_group import SubscriptionGroupManager
from rmq_broker.topic_config import TopicConfigManager
from rmq_protocol.codec.codes import LanguageCode, RequestCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import NotifyConsumerIdsChangedRequestHeader
from rmq_protocol.codec.message import HostPort
from rmq_protocol.errors import ProtocolError
from rmq_protocol.transport import Connection
from rmq_store import FlushDiskType

__all__ = ["FAQ_URL", "BrokerController", "suggest_todo"]

logger = logging.getLogger(__name__)

FAQ_URL: Final = "https://rocketmq.apache.org/docs/bestPractice/06FAQ"  # FAQUrl.DEFAULT_FAQ_URL
_NOTIFY_TIMEOUT: Final = 3.0  # seconds a NOTIFY_CONSUMER_IDS_CHANGED write may wait


def suggest_todo(url: str = FAQ_URL) -> str:
    """Java ``FAQUrl.suggestTodo``: the tip appended to some remarks."""
    return f"\nSee {url} for further details."


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


Spawn = Callable[[Coroutine[Any, Any, None]], None]


@final
class BrokerController:
    """The parts of a running broker, shared by its request processors."""

    def __init__(
        self,
        settings: BrokerSettings,
        store: BrokerStore,
        *,
        spawn: Spawn,
        clock_ms: Callable[[], int] = _now_ms,
    ) -> None:
        """
        Args:
            settings: broker and store configuration.
            store: the open message store.
            spawn: runs a coroutine as a task owned by the broker (notifications).
            clock_ms: wall clock in ms (client expiry, locks, data versions).
        """
        self.settings = settings
        self.config = settings.broker
        self.store = store
        self.spawn = spawn
        self.clock_ms = clock_ms
        config_dir = Path(settings.store.store_path_root_dir) / "config"
        self.config_dir = config_dir
        self.topics_changed = asyncio.Event()  # registration and persistence wait on it
        self.metadata_dirty = asyncio.Event()
        self._topics_dirty = False
        self._groups_dirty = False
        self.topics = TopicConfigManager(
            self.config,
            config_dir / "topics.json",
            clock_ms=clock_ms,
            on_change=self._topics_change,
        )
        self.groups = SubscriptionGroupManager(
            self.config,
            config_dir / "subscriptionGroup.json",
            clock_ms=clock_ms,
            on_change=self._groups_change,
        )
        self.offsets = ConsumerOffsetManager(config_dir / "consumerOffset.json", clock_ms=clock_ms)
        self.clients = ClientManager(
            notify=self._notify_consumers,
            channel_expired_timeout_ms=self.config.channel_expired_timeout,
            clock_ms=clock_ms,
        )
        self.locks = RebalanceLockManager(clock_ms=clock_ms)
        self.holds = PullHoldService(
            self._resume_pulls, capacity=self.config.pull_thread_pool_queue_capacity
        )
        self.flush_waiter: FlushWaiter | None = None
        if settings.store.flush_disk_type is FlushDiskType.SYNC_FLUSH:
            self.flush_waiter = FlushWaiter(store, timeout=settings.store.sync_flush_timeout / 1000)
        self.broker_ip = "127.0.0.1"
        self.store_host = HostPort("127.0.0.1", self.config.listen_port)
        self.broker_addr = f"127.0.0.1:{self.config.listen_port}"
        self.resume_pulls: Callable[[list[HeldPull]], None] | None = (
            None  # set by the pull processor
        )
        # What born_host parsed, per connection (dropped on disconnect): the send path
        # looks here first and calls born_host only for a connection it has not seen.
        self.born_hosts: dict[Connection, HostPort] = {}
        self.started_ms = clock_ms()
        # One arrival listener for the broker: the store calls it for every message, so
        # the schedule and timer services' topic checks and the long-polling check are
        # one Python call per message, not one each.
        self._topic_wakers: dict[str, Callable[[], None]] = {}  # only added to
        self._held_pulls = self.holds.waiting  # updated in place, never replaced
        store.add_arrival_listener(self._on_arrival)

    # ------------------------------------------------------------------ identity

    def set_address(self, ip: str, port: int) -> None:
        """The address clients reach us at (message ids, registration)."""
        self.broker_ip = ip
        self.store_host = HostPort(ip, port)
        self.broker_addr = str(self.store_host)

    def born_host(self, conn: Connection) -> HostPort:
        """The peer of ``conn`` as a record's BORNHOST (cached per connection)."""
        host = self.born_hosts.get(conn)
        if host is None:
            try:
                host = HostPort.parse(conn.peer)
            except ValueError:
                host = HostPort("0.0.0.0", 0)  # noqa: S104 - an unknown peer, not a bind address
            self.born_hosts[conn] = host
        return host

    # ------------------------------------------------------------------ arrivals

    def on_topic_arrival(self, topic: str, waker: Callable[[], None]) -> None:
        """Run ``waker()`` whenever a message arrives in ``topic`` (one per topic)."""
        if topic in self._topic_wakers:
            raise ValueError(f"topic {topic} already has an arrival waker")
        self._topic_wakers[topic] = waker

    def _on_arrival(self, topic: str, queue_id: int, queue_offset: int, tags_code: int) -> None:
        # Called for every stored message: membership tests, no method call, when no
        # waker waits for the topic and no pull is held (the usual send).
        wakers = self._topic_wakers
        if topic in wakers:
            wakers[topic]()
        if self._held_pulls:
            self.holds.on_arrival(topic, queue_id, queue_offset, tags_code)

    # ------------------------------------------------------------------ metadata changes

    def _topics_change(self) -> None:
        self._topics_dirty = True
        self.topics_changed.set()
        self.metadata_dirty.set()

    def _groups_change(self) -> None:
        self._groups_dirty = True
        self.metadata_dirty.set()

    def take_dirty(self) -> tuple[bool, bool, bool]:
        """Which of topics, groups, offsets changed since the last call (and reset)."""
        dirty = (self._topics_dirty, self._groups_dirty, self.offsets.dirty)
        self._topics_dirty = self._groups_dirty = False
        self.offsets.dirty = False
        self.metadata_dirty.clear()
        return dirty

    def notify_enabled(self, group: str) -> bool:
        config = self.groups.get(group)
        enabled = config.notify_consumer_ids_changed_enable if config is not None else True
        return enabled and self.config.notify_consumer_ids_changed_enable

    # ------------------------------------------------------------------ clients

    def _notify_consumers(self, group: str, connections: list[Connection]) -> None:
        if not self.config.notify_consumer_ids_changed_enable:
            return
        command = RemotingCommand.request(
            RequestCode.NOTIFY_CONSUMER_IDS_CHANGED,
            NotifyConsumerIdsChangedRequestHeader(consumer_group=group),
            oneway=True,
            language=LanguageCode.JAVA,
        )
        for conn in connections:
            if not conn.is_closing:
                self.spawn(self._notify_one(conn, command, group))

    async def _notify_one(self, conn: Connection, command: RemotingCommand, group: str) -> None:
        try:
            await conn.send_oneway(command, timeout=_NOTIFY_TIMEOUT)
        except ProtocolError as exc:
            logger.info("notify consumer %s of group %s failed: %s", conn.peer, group, exc)

    def on_disconnect(self, conn: Connection) -> None:
        """A client connection closed: it leaves every group at once."""
        self.born_hosts.pop(conn, None)
        self.clients.on_channel_closed(conn, notify_enabled=self.notify_enabled)

    # ------------------------------------------------------------------ long polling

    def _resume_pulls(self, pulls: list[HeldPull]) -> None:
        if self.resume_pulls is not None:
            self.resume_pulls(pulls)
