"""The NameServer's route tables: which brokers exist, which topics they serve.

Mirrors ``org.apache.rocketmq.namesrv.routeinfo.RouteInfoManager`` (Apache RocketMQ 5.3,
with 4.9 behaviour where 5.x only adds options that are off by default). Tables, as in
Java:

* ``topic → {brokerName → QueueData}`` (queue counts and permission per broker group),
* ``brokerName → BrokerData`` (cluster, ``{brokerId → "ip:port"}``; id 0 = master),
* ``clusterName → [brokerName]``,
* ``(clusterName, brokerAddr) → BrokerLiveInfo`` (last heartbeat, timeout, DataVersion,
  the connection it registered on, HA address),
* ``(clusterName, brokerAddr) → filter servers`` and static-topic mapping infos.

Rules kept from Java:

* Only the master (id 0) — or, with acting master on, the lowest-id slave — updates a
  broker name's queue data, and only when its topics' DataVersion changed, on its first
  registration, or for a topic the tables do not have for it; an unchanged DataVersion
  only refreshes liveness.
* An address registering under a new id replaces its old entry (slave promoted to
  master); a broker id whose address changes to one with a lower ``stateVersion`` is
  ignored.
* Unregistering (request, closed connection or expiry) removes the address; the broker
  name, its cluster membership and its queue data go when its last address goes. With
  acting master on, a broker name left without a master loses write permission.
* A topic with no queue data left disappears from routes.

Not safe for concurrent use: every call runs on the NameServer's event loop (Java guards
the same tables with one read-write lock). Time comes from the ``clock`` callable
(milliseconds), so that tests expire brokers without waiting.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Final, final

from rmq_namesrv.config import NamesrvConfig
from rmq_protocol.codec.body import (
    BrokerData,
    ClusterInfo,
    DataVersion,
    QueueData,
    TopicConfig,
    TopicConfigSerializeWrapper,
    TopicList,
    TopicRouteData,
)
from rmq_protocol.codec.fastjson import JSONValue

__all__ = [
    "DEFAULT_BROKER_CHANNEL_EXPIRED_TIME",
    "MASTER_ID",
    "BrokerAddrInfo",
    "BrokerLiveInfo",
    "RegisterBrokerResult",
    "RouteInfoManager",
    "RouteStatistics",
    "Unregistered",
]

logger = logging.getLogger(__name__)

MASTER_ID: Final = 0  # MixAll.MASTER_ID
DEFAULT_BROKER_CHANNEL_EXPIRED_TIME: Final = 120_000  # milliseconds without a heartbeat
PERM_READ: Final = 4  # PermName
PERM_WRITE: Final = 2
_UNIT_FLAG: Final = 0x1  # TopicSysFlag
_UNIT_SUB_FLAG: Final = 0x2
_SYNC_BROKER_MEMBER_GROUP_PREFIX: Final = "rmq_sys_SYNC_BROKER_MEMBER_"  # TopicValidator


@final
@dataclasses.dataclass(frozen=True, slots=True)
class BrokerAddrInfo:
    """Key of the live table: a broker address within a cluster."""

    cluster_name: str
    broker_addr: str


@final
@dataclasses.dataclass(slots=True, kw_only=True)
class BrokerLiveInfo:
    """What the NameServer knows of one registered broker process (mutable state)."""

    last_update_timestamp: int  # clock milliseconds of the last registration/heartbeat
    heartbeat_timeout_millis: int  # milliseconds
    data_version: DataVersion  # of the topic configs it last registered
    channel: object | None  # the connection it registered on (compared by identity)
    ha_server_addr: str


@final
@dataclasses.dataclass(frozen=True, slots=True)
class RegisterBrokerResult:
    """For a slave: its master's HA and remoting addresses (None for a master)."""

    ha_server_addr: str | None = None
    master_addr: str | None = None


@final
@dataclasses.dataclass(frozen=True, slots=True)
class Unregistered:
    """A broker address removed from the tables (by request, connection loss or expiry)."""

    cluster_name: str
    broker_name: str
    broker_addr: str
    broker_id: int
    broker_name_removed: bool  # it was the broker name's last address


@final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RouteStatistics:
    """Sizes of the route tables."""

    clusters: int
    broker_names: int
    live_brokers: int
    topics: int


@dataclasses.dataclass(slots=True)
class _Broker:
    """A broker name's entry (Java's mutable BrokerData)."""

    cluster: str
    broker_name: str
    broker_addrs: dict[int, str]
    zone_name: str | None = None
    enable_acting_master: bool = False

    def snapshot(self) -> BrokerData:
        return BrokerData(
            cluster=self.cluster,
            broker_name=self.broker_name,
            broker_addrs=dict(sorted(self.broker_addrs.items())),
            zone_name=self.zone_name,
            enable_acting_master=self.enable_acting_master,
        )


@final
class RouteInfoManager:
    """Broker registrations and topic routes (see the module docstring for the rules)."""

    def __init__(self, config: NamesrvConfig, *, clock: Callable[[], int]) -> None:
        """
        Args:
            config: read for ``supportActingMaster`` and
                ``deleteTopicWithBrokerRegistration``; replace :attr:`config` to apply
                a configuration update.
            clock: current time in milliseconds (monotonic is fine).
        """
        self.config = config
        self._clock = clock
        self._topic_queue_table: dict[str, dict[str, QueueData]] = {}
        self._broker_addr_table: dict[str, _Broker] = {}
        self._cluster_addr_table: dict[str, dict[str, None]] = {}  # ordered set of names
        self._broker_live_table: dict[BrokerAddrInfo, BrokerLiveInfo] = {}
        self._filter_server_table: dict[BrokerAddrInfo, tuple[str, ...]] = {}
        self._topic_queue_mapping_info_table: dict[str, dict[str, JSONValue]] = {}

    # ------------------------------------------------------------------ registration

    def register_broker(
        self,
        *,
        cluster_name: str,
        broker_addr: str,
        broker_name: str,
        broker_id: int,
        ha_server_addr: str,
        zone_name: str | None,
        timeout_millis: int | None,
        enable_acting_master: bool | None,
        topic_config_wrapper: TopicConfigSerializeWrapper,
        filter_server_list: Iterable[str] | None,
        channel: object | None,
    ) -> RegisterBrokerResult | None:
        """Record a REGISTER_BROKER.

        Returns:
            The result for the response header, or None when the registration is refused
            (a single-topic registration from an id not registered yet: Java answers
            SYSTEM_ERROR "register broker failed").
        """
        names = self._cluster_addr_table.setdefault(cluster_name, {})
        names[broker_name] = None

        register_first = False
        broker = self._broker_addr_table.get(broker_name)
        if broker is None:
            register_first = True
            broker = _Broker(cluster_name, broker_name, {})
            self._broker_addr_table[broker_name] = broker
        old_version_broker = enable_acting_master is None
        broker.enable_acting_master = bool(enable_acting_master)
        broker.zone_name = zone_name
        addrs = broker.broker_addrs

        # The same ip:port has one entry: a slave promoted to master drops its old id.
        for other_id in [i for i, a in addrs.items() if a == broker_addr and i != broker_id]:
            del addrs[other_id]

        old_addr = addrs.get(broker_id)
        if old_addr is not None and old_addr != broker_addr:
            old_live = self._broker_live_table.get(BrokerAddrInfo(cluster_name, old_addr))
            new_state = topic_config_wrapper.data_version.state_version
            if old_live is not None and old_live.data_version.state_version > new_state:
                logger.warning(
                    "ignoring registration of %s as %s id %d in %s: %s holds that id with "
                    "state version %d > %d",
                    broker_addr,
                    broker_name,
                    broker_id,
                    cluster_name,
                    old_addr,
                    old_live.data_version.state_version,
                    new_state,
                )
                self._broker_live_table.pop(BrokerAddrInfo(cluster_name, broker_addr), None)
                return RegisterBrokerResult()

        if broker_id not in addrs and len(topic_config_wrapper.topic_config_table) == 1:
            logger.warning(
                "refusing single-topic registration of %s (%s id %d): the broker has not "
                "registered in full yet",
                broker_addr,
                broker_name,
                broker_id,
            )
            return None

        previous = addrs.get(broker_id)
        addrs[broker_id] = broker_addr
        register_first = register_first or not previous
        if broker_id == MASTER_ID and previous is not None and previous != broker_addr:
            logger.info(
                "cluster %s broker %s: master address changed from %s to %s",
                cluster_name,
                broker_name,
                previous,
                broker_addr,
            )

        is_master = broker_id == MASTER_ID
        is_prime_slave = not old_version_broker and not is_master and broker_id == min(addrs)
        if is_master or is_prime_slave:
            self._apply_topic_configs(
                cluster_name,
                broker_addr,
                broker,
                topic_config_wrapper,
                register_first=register_first,
                wipe_write=is_prime_slave and broker.enable_acting_master,
            )

        key = BrokerAddrInfo(cluster_name, broker_addr)
        previous_live = self._broker_live_table.get(key)
        self._broker_live_table[key] = BrokerLiveInfo(
            last_update_timestamp=self._clock(),
            heartbeat_timeout_millis=(
                DEFAULT_BROKER_CHANNEL_EXPIRED_TIME if timeout_millis is None else timeout_millis
            ),
            data_version=topic_config_wrapper.data_version,
            channel=channel,
            ha_server_addr=ha_server_addr,
        )
        if previous_live is None:
            logger.info(
                "new broker registered: %s %s id %d at %s (HA %s)",
                cluster_name,
                broker_name,
                broker_id,
                broker_addr,
                ha_server_addr,
            )

        if filter_server_list is not None:
            servers = tuple(filter_server_list)
            if servers:
                self._filter_server_table[key] = servers
            else:
                self._filter_server_table.pop(key, None)

        if broker_id != MASTER_ID:
            master_addr = addrs.get(MASTER_ID)
            if master_addr is not None:
                master = self._broker_live_table.get(BrokerAddrInfo(cluster_name, master_addr))
                if master is not None:
                    return RegisterBrokerResult(master.ha_server_addr, master_addr)
        return RegisterBrokerResult()

    def _apply_topic_configs(
        self,
        cluster_name: str,
        broker_addr: str,
        broker: _Broker,
        wrapper: TopicConfigSerializeWrapper,
        *,
        register_first: bool,
        wipe_write: bool,
    ) -> None:
        broker_name = broker.broker_name
        table = wrapper.topic_config_table
        mapping_infos = wrapper.topic_queue_mapping_info_map or {}
        if self.config.delete_topic_with_broker_registration and not mapping_infos:
            for topic in [t for t in self._topics_of(broker_name) if t not in table]:
                self._remove_queue_data(topic, broker_name)
        version_changed = self.is_broker_topic_config_changed(
            cluster_name, broker_addr, wrapper.data_version
        )
        for config in table.values():
            if register_first or self._is_topic_config_changed(
                version_changed, broker_name, config.topic_name
            ):
                if wipe_write:
                    config = dataclasses.replace(config, perm=config.perm & ~PERM_WRITE)
                self._create_and_update_queue_data(broker_name, config)
        if version_changed or register_first:
            for topic, info in mapping_infos.items():
                bname = info.get("bname") if isinstance(info, dict) else None
                owner = bname if isinstance(bname, str) and bname else broker_name
                self._topic_queue_mapping_info_table.setdefault(topic, {})[owner] = info

    def _is_topic_config_changed(self, version_changed: bool, broker_name: str, topic: str) -> bool:
        if version_changed:
            return True
        queues = self._topic_queue_table.get(topic)
        return not queues or broker_name not in queues

    def _create_and_update_queue_data(self, broker_name: str, config: TopicConfig) -> None:
        queue_data = QueueData(
            broker_name=broker_name,
            read_queue_nums=config.read_queue_nums,
            write_queue_nums=config.write_queue_nums,
            perm=config.perm,
            topic_sys_flag=config.topic_sys_flag,
        )
        queues = self._topic_queue_table.get(config.topic_name)
        if queues is None:
            self._topic_queue_table[config.topic_name] = {broker_name: queue_data}
            logger.info("new topic registered: %s %s", config.topic_name, queue_data)
            return
        existing = queues.get(broker_name)
        if existing != queue_data:
            if existing is not None:
                logger.info(
                    "topic changed: %s old %s new %s", config.topic_name, existing, queue_data
                )
            queues[broker_name] = queue_data

    def _topics_of(self, broker_name: str) -> list[str]:
        return [t for t, queues in self._topic_queue_table.items() if broker_name in queues]

    def _remove_queue_data(self, topic: str, broker_name: str) -> None:
        queues = self._topic_queue_table.get(topic)
        if queues is None:
            return
        removed = queues.pop(broker_name, None)
        if removed is not None:
            logger.info("topic %s: removed the queues of broker %s", topic, broker_name)
        if not queues:
            del self._topic_queue_table[topic]
            logger.info("topic %s: no queues left, removed", topic)

    def register_topic(self, topic: str, queue_datas: Iterable[QueueData]) -> bool:
        """REGISTER_TOPIC_IN_NAMESRV: add ``topic``'s queue data for known broker names.

        Returns:
            False (and nothing changed) when a queue data names an unknown broker.
        """
        queue_datas = list(queue_datas)
        if not queue_datas:
            return True
        for queue_data in queue_datas:
            if queue_data.broker_name not in self._broker_addr_table:
                logger.warning(
                    "register topic %s: unknown broker %s, ignored", topic, queue_data.broker_name
                )
                return False
        queues = self._topic_queue_table.setdefault(topic, {})
        for queue_data in queue_datas:
            queues[queue_data.broker_name] = queue_data
        logger.info("topic %s registered: %s", topic, queue_datas)
        return True

    def is_broker_topic_config_changed(
        self, cluster_name: str, broker_addr: str, data_version: DataVersion
    ) -> bool:
        """True unless the broker's last registration had this DataVersion."""
        previous = self.query_broker_topic_config(cluster_name, broker_addr)
        return previous is None or previous != data_version

    def query_broker_topic_config(self, cluster_name: str, broker_addr: str) -> DataVersion | None:
        """The DataVersion the broker last registered, if it is registered."""
        live = self._broker_live_table.get(BrokerAddrInfo(cluster_name, broker_addr))
        return None if live is None else live.data_version

    def update_broker_info_update_timestamp(self, cluster_name: str, broker_addr: str) -> None:
        """Refresh a registered broker's liveness (QUERY_DATA_VERSION, BROKER_HEARTBEAT)."""
        live = self._broker_live_table.get(BrokerAddrInfo(cluster_name, broker_addr))
        if live is not None:
            live.last_update_timestamp = self._clock()

    # ------------------------------------------------------------------ removal

    def unregister_broker(
        self, cluster_name: str, broker_addr: str, broker_name: str, broker_id: int
    ) -> Unregistered | None:
        """UNREGISTER_BROKER (and the end of every other removal).

        Returns:
            What was removed, or None when the address was not in ``broker_name``.
        """
        key = BrokerAddrInfo(cluster_name, broker_addr)
        live = self._broker_live_table.pop(key, None)
        self._filter_server_table.pop(key, None)
        broker = self._broker_addr_table.get(broker_name)
        if broker is None:
            logger.info(
                "unregister %s %s at %s: unknown broker name (live entry %s)",
                cluster_name,
                broker_name,
                broker_addr,
                "removed" if live is not None else "absent",
            )
            return None
        removed_ids = [i for i, a in broker.broker_addrs.items() if a == broker_addr]
        for removed_id in removed_ids:
            del broker.broker_addrs[removed_id]
        name_removed = not broker.broker_addrs
        if name_removed:
            del self._broker_addr_table[broker_name]
            names = self._cluster_addr_table.get(cluster_name)
            if names is not None:
                names.pop(broker_name, None)
                if not names:
                    del self._cluster_addr_table[cluster_name]
                    logger.info("cluster %s: no brokers left, removed", cluster_name)
            for topic in self._topics_of(broker_name):
                self._remove_queue_data(topic, broker_name)
        elif broker.enable_acting_master and MASTER_ID not in broker.broker_addrs:
            # No master left: the broker group's queues become read-only.
            for queues in self._topic_queue_table.values():
                queue_data = queues.get(broker_name)
                if queue_data is not None:
                    queues[broker_name] = dataclasses.replace(
                        queue_data, perm=queue_data.perm & ~PERM_WRITE
                    )
        logger.info(
            "broker unregistered: %s %s id %s at %s%s",
            cluster_name,
            broker_name,
            removed_ids[0] if removed_ids else broker_id,
            broker_addr,
            " (last address of the broker name: its routes are gone)" if name_removed else "",
        )
        return Unregistered(
            cluster_name,
            broker_name,
            broker_addr,
            removed_ids[0] if removed_ids else broker_id,
            name_removed,
        )

    def _unregister_live(self, key: BrokerAddrInfo) -> Unregistered | None:
        """Unregister the broker at ``key`` wherever the tables have its address."""
        for broker in self._broker_addr_table.values():
            if broker.cluster != key.cluster_name:
                continue
            for broker_id, addr in broker.broker_addrs.items():
                if addr == key.broker_addr:
                    return self.unregister_broker(
                        key.cluster_name, key.broker_addr, broker.broker_name, broker_id
                    )
        # A live entry without a broker entry: just forget it.
        self._broker_live_table.pop(key, None)
        self._filter_server_table.pop(key, None)
        return None

    def on_channel_destroy(self, channel: object) -> list[Unregistered]:
        """A connection closed: unregister every broker that registered on it."""
        keys = [k for k, live in self._broker_live_table.items() if live.channel is channel]
        removed = []
        for key in keys:
            logger.info(
                "connection of broker %s (cluster %s) closed: unregistering it",
                key.broker_addr,
                key.cluster_name,
            )
            result = self._unregister_live(key)
            if result is not None:
                removed.append(result)
        return removed

    def scan_not_active_broker(self) -> list[tuple[Unregistered | None, object | None]]:
        """Remove every broker not heard from within its heartbeat timeout.

        Returns:
            (what was removed, the connection it had registered on) per expired broker;
            the caller closes those connections, as Java does.
        """
        now = self._clock()
        expired = [
            (key, live)
            for key, live in self._broker_live_table.items()
            if live.last_update_timestamp + live.heartbeat_timeout_millis < now
        ]
        out: list[tuple[Unregistered | None, object | None]] = []
        for key, live in expired:
            logger.warning(
                "broker %s (cluster %s) expired: no heartbeat for %d ms (timeout %d ms)",
                key.broker_addr,
                key.cluster_name,
                now - live.last_update_timestamp,
                live.heartbeat_timeout_millis,
            )
            out.append((self._unregister_live(key), live.channel))
        return out

    # ------------------------------------------------------------------ admin

    def delete_topic(self, topic: str, cluster_name: str | None = None) -> None:
        """DELETE_TOPIC_IN_NAMESRV: the whole topic, or only its queues in ``cluster_name``."""
        if not cluster_name:
            if self._topic_queue_table.pop(topic, None) is not None:
                logger.info("topic %s deleted", topic)
            return
        names = self._cluster_addr_table.get(cluster_name)
        if not names:
            return
        for broker_name in names:
            self._remove_queue_data(topic, broker_name)

    def wipe_write_perm_of_broker(self, broker_name: str) -> int:
        """WIPE_WRITE_PERM_OF_BROKER: clear the write bit of ``broker_name``'s queues.

        Returns:
            How many topics it had.
        """
        return self._set_perm(broker_name, lambda perm: perm & ~PERM_WRITE)

    def add_write_perm_of_broker(self, broker_name: str) -> int:
        """ADD_WRITE_PERM_OF_BROKER: make ``broker_name``'s queues read-write (perm 6).

        Returns:
            How many topics it had.
        """
        return self._set_perm(broker_name, lambda perm: PERM_READ | PERM_WRITE)

    def _set_perm(self, broker_name: str, change: Callable[[int], int]) -> int:
        count = 0
        for queues in self._topic_queue_table.values():
            queue_data = queues.get(broker_name)
            if queue_data is None:
                continue
            queues[broker_name] = dataclasses.replace(queue_data, perm=change(queue_data.perm))
            count += 1
        return count

    # ------------------------------------------------------------------ queries

    def pickup_topic_route_data(self, topic: str) -> TopicRouteData | None:
        """GET_ROUTEINFO_BY_TOPIC: the topic's route, or None when nobody serves it.

        ``orderTopicConf`` is left for the caller (it comes from the KV config).
        """
        queues = self._topic_queue_table.get(topic)
        if not queues:
            return None
        brokers: list[BrokerData] = []
        filter_servers: dict[str, tuple[str, ...]] = {}
        for broker_name in queues:
            broker = self._broker_addr_table.get(broker_name)
            if broker is None:
                continue
            brokers.append(broker.snapshot())
            if self._filter_server_table:
                for addr in broker.broker_addrs.values():
                    servers = self._filter_server_table.get(BrokerAddrInfo(broker.cluster, addr))
                    if servers is not None:
                        filter_servers[addr] = servers
        if not brokers:
            return None
        route = TopicRouteData(
            queue_datas=tuple(queues.values()),
            broker_datas=tuple(brokers),
            filter_server_table=filter_servers,
            topic_queue_mapping_by_broker=self._topic_queue_mapping_info_table.get(topic),
        )
        if self.config.support_acting_master and not topic.startswith(
            _SYNC_BROKER_MEMBER_GROUP_PREFIX
        ):
            route = _with_acting_masters(route)
        return route

    def get_all_cluster_info(self) -> ClusterInfo:
        """GET_BROKER_CLUSTER_INFO."""
        return ClusterInfo(
            broker_addr_table={name: b.snapshot() for name, b in self._broker_addr_table.items()},
            cluster_addr_table={c: tuple(names) for c, names in self._cluster_addr_table.items()},
        )

    def get_all_topic_list(self) -> TopicList:
        """GET_ALL_TOPIC_LIST_FROM_NAMESERVER."""
        return TopicList(topic_list=tuple(self._topic_queue_table))

    def get_topics_by_cluster(self, cluster: str) -> TopicList:
        """GET_TOPICS_BY_CLUSTER (an unknown cluster has no topics)."""
        topics: dict[str, None] = {}
        for broker_name in self._cluster_addr_table.get(cluster, {}):
            for topic, queues in self._topic_queue_table.items():
                if broker_name in queues:
                    topics[topic] = None
        return TopicList(topic_list=tuple(topics))

    def get_system_topic_list(self) -> TopicList:
        """GET_SYSTEM_TOPIC_LIST_FROM_NS: cluster and broker names (each is a system topic
        on its brokers), and the address of one broker to ask for the rest."""
        names: dict[str, None] = {}
        for cluster, brokers in self._cluster_addr_table.items():
            names[cluster] = None
            names.update(brokers)
        broker_addr = None
        for broker in self._broker_addr_table.values():
            if broker.broker_addrs:
                broker_addr = broker.broker_addrs[min(broker.broker_addrs)]
                break
        return TopicList(topic_list=tuple(names), broker_addr=broker_addr)

    def get_unit_topics(self) -> TopicList:
        """GET_UNIT_TOPIC_LIST: topics whose sys flag has the unit bit."""
        return self._topics_by_flag(lambda flag: bool(flag & _UNIT_FLAG))

    def get_has_unit_sub_topic_list(self) -> TopicList:
        """GET_HAS_UNIT_SUB_TOPIC_LIST: topics whose sys flag has the unit-sub bit."""
        return self._topics_by_flag(lambda flag: bool(flag & _UNIT_SUB_FLAG))

    def get_has_unit_sub_un_unit_topic_list(self) -> TopicList:
        """GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST: unit-sub bit without the unit bit."""
        return self._topics_by_flag(
            lambda flag: not flag & _UNIT_FLAG and bool(flag & _UNIT_SUB_FLAG)
        )

    def _topics_by_flag(self, test: Callable[[int], bool]) -> TopicList:
        # As Java: the first broker's queue data decides.
        return TopicList(
            topic_list=tuple(
                topic
                for topic, queues in self._topic_queue_table.items()
                if queues and test(next(iter(queues.values())).topic_sys_flag)
            )
        )

    def broker_live_info(self, cluster_name: str, broker_addr: str) -> BrokerLiveInfo | None:
        """The live entry of a registered broker (a copy), for inspection."""
        live = self._broker_live_table.get(BrokerAddrInfo(cluster_name, broker_addr))
        return None if live is None else dataclasses.replace(live)

    def statistics(self) -> RouteStatistics:
        """Sizes of the tables."""
        return RouteStatistics(
            clusters=len(self._cluster_addr_table),
            broker_names=len(self._broker_addr_table),
            live_brokers=len(self._broker_live_table),
            topics=len(self._topic_queue_table),
        )


def _with_acting_masters(route: TopicRouteData) -> TopicRouteData:
    """Java's acting-master rewrite: a broker group without a master, in acting-master
    mode and whose queues are read-only, shows its lowest-id slave as id 0."""
    if not any(b.broker_addrs and MASTER_ID not in b.broker_addrs for b in route.broker_datas):
        return route
    perms: Mapping[str, int] = {q.broker_name: q.perm for q in route.queue_datas}
    brokers = []
    for broker in route.broker_datas:
        addrs = dict(broker.broker_addrs)
        perm = perms.get(broker.broker_name)
        if (
            addrs
            and MASTER_ID not in addrs
            and broker.enable_acting_master
            and perm is not None
            and not perm & PERM_WRITE
        ):
            addrs[MASTER_ID] = addrs.pop(min(addrs))
            broker = dataclasses.replace(broker, broker_addrs=dict(sorted(addrs.items())))
        brokers.append(broker)
    return dataclasses.replace(route, broker_datas=tuple(brokers))
