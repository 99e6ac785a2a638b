"""Broker configuration: RocketMQ's ``BrokerConfig`` keys, units and defaults.

Mirrors ``org.apache.rocketmq.common.BrokerConfig`` plus the keys of
``NettyServerConfig`` that mean something to one asyncio server (``listenPort``,
``bindAddress``, ``serverChannelMaxIdleTimeSeconds``, ``serverSocketBacklog``) and the
``MessageStoreConfig`` keys rmq-store does not take (``brokerRole``, ``haListenPort``,
``defaultQueryMaxNum``). As ``mqbroker -c`` does, one file holds them all, together with
the store keys of :class:`rmq_store.StoreConfig`: :func:`load_broker_settings` reads the
file once into a :class:`BrokerSettings` (broker + store), and a key neither claims is a
:class:`~rmq_protocol.errors.ConfigError` naming the file, the line and the nearest key::

    ConfigError: conf/broker.conf:7: unknown key 'flushDiskTpye'; did you mean 'flushDiskType'?

Thread-pool keys are accepted (a real ``broker.conf`` loads) but do nothing: the broker
is one event loop (DESIGN "Processes and threads").
"""

from __future__ import annotations

import dataclasses
import enum
import socket
from pathlib import Path
from typing import Final

from rmq_protocol.config import ConfigSource
from rmq_store import StoreConfig

__all__ = [
    "PERM_INHERIT",
    "PERM_PRIORITY",
    "PERM_READ",
    "PERM_WRITE",
    "BrokerConfig",
    "BrokerRole",
    "BrokerSettings",
    "load_broker_settings",
]

PERM_PRIORITY: Final = 8
PERM_READ: Final = 4
PERM_WRITE: Final = 2
PERM_INHERIT: Final = 1
MASTER_ID: Final = 0


class BrokerRole(enum.StrEnum):
    """``brokerRole`` (a MessageStoreConfig key in Java)."""

    ASYNC_MASTER = "ASYNC_MASTER"
    SYNC_MASTER = "SYNC_MASTER"
    SLAVE = "SLAVE"


def _host_name() -> str:
    return socket.gethostname() or "broker-a"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class BrokerConfig:
    """Everything a :class:`~rmq_broker.Broker` is configured with, except the store.

    Times keep RocketMQ's units (noted per field).
    """

    # --- NettyServerConfig (the listening socket)
    listen_port: int = 10911  # mqbroker's default; clients and admin tools connect here
    bind_address: str = "0.0.0.0"  # noqa: S104 - RocketMQ's default: every interface
    server_channel_max_idle_time_seconds: int = 120  # seconds; idle connections are closed
    server_socket_backlog: int = 1024

    # --- identity and cluster
    rocketmq_home: Path | None = None  # accepted; unused
    namesrv_addr: str | None = None  # "host:port;host:port"; mqbroker -n overrides it
    broker_cluster_name: str = "DefaultCluster"
    broker_name: str = dataclasses.field(default_factory=_host_name)  # Java: the host name
    broker_id: int = 0  # 0 = master; masters are always 0 (as BrokerStartup forces it)
    broker_role: BrokerRole = BrokerRole.ASYNC_MASTER  # SLAVE: brokerId > 0, no replication
    offset_check_in_slave: bool = False  # a slave corrects pull offsets (MessageStoreConfig)
    # the address registered with the NameServers and put in message ids;
    # empty = detect (bindAddress if it is one address, else this host's address)
    broker_ip1: str = dataclasses.field(default="", metadata={"key": "brokerIP1"})
    broker_ip2: str = dataclasses.field(default="", metadata={"key": "brokerIP2"})  # HA address
    ha_listen_port: int = 10912  # registered as haServerAddr; no HA service yet
    region_id: str = "DefaultRegion"  # MSG_REGION of send responses
    trace_on: bool = True  # TRACE_ON of send responses

    # --- topics and groups
    broker_permission: int = PERM_READ | PERM_WRITE  # 6
    default_topic_queue_nums: int = 8  # queues of TBW102 (the auto-create template)
    auto_create_topic_enable: bool = True  # keep TBW102 (perm 7) so sends create topics
    cluster_topic_enable: bool = True  # the cluster-name topic is readable and writable
    broker_topic_enable: bool = True  # the broker-name topic is readable and writable
    auto_create_subscription_group: bool = True
    msg_trace_topic_name: str = "RMQ_SYS_TRACE_TOPIC"
    trace_topic_enable: bool = False
    revive_queue_num: int = 8  # queues of rmq_sys_REVIVE_LOG_<cluster> (5.x system topic)
    reject_transaction_message: bool = False

    # --- transactions (rmq_broker.transaction)
    transaction_time_out: int = 6000  # ms a half message may wait before it is checked
    transaction_check_max: int = 15  # checks of one half message before it is discarded
    transaction_check_interval: int = 30_000  # ms between check rounds (spec §4.5, Java 5.1.1+)

    # --- consumers
    long_polling_enable: bool = True
    short_polling_time_mills: int = 1000  # milliseconds a pull is held with long polling off
    notify_consumer_ids_changed_enable: bool = True
    slave_read_enable: bool = False
    enable_property_filter: bool = False  # SQL92 subscriptions (rmq_broker.filtering)
    filter_support_retry: bool = False  # %RETRY% pulls judged by the original topic's SQL92
    lite_pull_message_enable: bool = True
    flush_consumer_offset_interval: int = 5000  # milliseconds between consumerOffset.json writes
    channel_expired_timeout: int = 120_000  # milliseconds a client may stay silent
    default_query_max_num: int = 32  # QUERY_MESSAGE limit for unique-key queries
    # milliseconds between delayOffset.json writes (a MessageStoreConfig key in Java)
    flush_delay_offset_interval: int = 10_000
    # --- 5.x timer messages (rmq_broker.timer; MessageStoreConfig keys in Java)
    timer_wheel_enable: bool = True  # false: TIMER_* messages are refused (SYSTEM_ERROR)
    timer_max_delay_sec: int = 3 * 24 * 3600  # seconds; later delivery times are refused
    timer_precision_ms: int = 1000  # ms; snapped to 100, 200, 500 or 1000 as in Java

    # --- NameServer registration
    register_name_server_period: int = 30_000  # milliseconds
    register_broker_timeout_mills: int = 24_000  # milliseconds
    compressed_register: bool = False
    force_register: bool = True  # accepted; rmq always registers in full

    # --- flow control
    # sends waiting for SYNC_FLUSH at once; more are answered SYSTEM_BUSY
    send_thread_pool_queue_capacity: int = 10_000
    # pulls held for long polling at once; more are answered at once (PULL_NOT_FOUND)
    pull_thread_pool_queue_capacity: int = 100_000
    start_accept_send_request_time_stamp: int = 0  # ms since the epoch; refuse sends before

    # --- administration
    # UPDATE_BROKER_CONFIG is refused (NO_PERMISSION) unless this is true; even then only
    # the keys of rmq_broker.processors.admin_config.RUNTIME_UPDATABLE_KEYS may change
    # (never paths, ports, identity or store keys). rmq's own key: Java has no switch.
    enable_update_broker_config: bool = False

    # --- accepted, no effect (one event loop, no thread pools)
    send_message_thread_pool_nums: int = 1
    pull_message_thread_pool_nums: int = 16
    query_message_thread_pool_nums: int = 8
    admin_broker_thread_pool_nums: int = 16
    client_manage_thread_pool_nums: int = 32
    consumer_manage_thread_pool_nums: int = 32
    heartbeat_thread_pool_nums: int = 8
    end_transaction_thread_pool_nums: int = 8
    use_reentrant_lock_when_put_message: bool = False
    wait_time_mills_in_send_queue: int = 200
    broker_fast_failure_enable: bool = True
    transfer_msg_by_heap: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.listen_port <= 65535:
            raise ValueError(f"listenPort {self.listen_port} is not a port number")
        if self.default_topic_queue_nums < 1:
            raise ValueError(f"defaultTopicQueueNums {self.default_topic_queue_nums} must be >= 1")
        if not 0 <= self.broker_permission <= 15:
            raise ValueError(f"brokerPermission {self.broker_permission} is not PermName bits")
        if self.broker_role is BrokerRole.SLAVE and self.broker_id <= 0:
            raise ValueError(
                f"brokerRole=SLAVE needs brokerId > 0 (0 is the master's id), not {self.broker_id}"
            )
        if self.register_name_server_period < 1000:
            raise ValueError(
                f"registerNameServerPeriod {self.register_name_server_period} ms is below 1000 ms"
            )

    @property
    def namesrv_addresses(self) -> list[str]:
        """The NameServer addresses of ``namesrvAddr`` (``;``-separated), in order."""
        if not self.namesrv_addr:
            return []
        return [a.strip() for a in self.namesrv_addr.split(";") if a.strip()]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class BrokerSettings:
    """A broker's whole configuration: broker keys and store keys (one ``broker.conf``)."""

    broker: BrokerConfig = dataclasses.field(default_factory=BrokerConfig)
    store: StoreConfig = dataclasses.field(default_factory=StoreConfig)


def load_broker_settings(
    path: str | Path,
    *,
    namesrv_addr: str | None = None,
    base: BrokerSettings | None = None,
) -> BrokerSettings:
    """Read a ``broker.conf`` (properties or TOML), as ``mqbroker -c`` does.

    Args:
        path: the file; broker and store keys may be mixed, as in Java.
        namesrv_addr: ``mqbroker -n``: overrides the file's ``namesrvAddr``.
        base: the values of keys the file does not set (default: RocketMQ's defaults);
            ``rmq standalone`` passes its own (127.0.0.1, its data directory).

    Raises:
        ConfigError: unreadable file, unknown key (with the nearest known key) or a value
            that does not convert.
    """
    source = ConfigSource.read(path)
    broker = source.build(BrokerConfig, base=None if base is None else base.broker)
    store = source.build(StoreConfig, base=None if base is None else base.store)
    source.check_claimed()
    if namesrv_addr is not None:
        broker = dataclasses.replace(broker, namesrv_addr=namesrv_addr)
    if broker.broker_role is not BrokerRole.SLAVE and broker.broker_id != MASTER_ID:
        broker = dataclasses.replace(broker, broker_id=MASTER_ID)  # as BrokerStartup does
    return BrokerSettings(broker=broker, store=store)
