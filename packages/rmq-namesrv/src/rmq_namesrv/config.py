"""NameServer configuration: RocketMQ's ``NamesrvConfig`` keys, units and defaults.

Mirrors ``org.apache.rocketmq.common.namesrv.NamesrvConfig`` plus the keys of
``NettyServerConfig`` that mean something to one asyncio server (``listenPort``,
``bindAddress``, ``serverChannelMaxIdleTimeSeconds``, ``serverSocketBacklog``); as
``mqnamesrv -c`` does, one file holds both. Field = snake_case of the RocketMQ key;
load a file with :func:`load_namesrv_config` (strict: an unknown key or a bad value is
a :class:`~rmq_protocol.errors.ConfigError` naming the file and line).

The thread-pool keys are accepted so that a real ``namesrv.properties`` loads, but do
nothing: the NameServer is one event loop (docs: DESIGN "Processes and threads").
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Final

from rmq_protocol.config import ConfigSource

__all__ = ["CONFIG_BLACK_LIST_ALWAYS", "NamesrvConfig", "load_namesrv_config"]

CONFIG_BLACK_LIST_ALWAYS: Final = frozenset(
    {"configBlackList", "configStorePath", "kvConfigPath", "rocketmqHome"}
)
"""Keys UPDATE_NAMESRV_CONFIG may never change, whatever ``configBlackList`` says
(Java's ``DefaultRequestProcessor`` hard-codes them too)."""


def _home_file(name: str) -> Path:
    return Path.home() / "namesrv" / name


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class NamesrvConfig:
    """Everything a :class:`~rmq_namesrv.NameServer` is configured with.

    Times keep RocketMQ's units (noted per field). Paths default under the user's home
    directory, as Java's do; they are computed when an instance is made, not at import.
    """

    # --- NettyServerConfig (the listening socket)
    listen_port: int = 9876  # mqnamesrv sets 9876 over NettyServerConfig's 0
    bind_address: str = "0.0.0.0"  # noqa: S104 - RocketMQ's default: every interface
    server_channel_max_idle_time_seconds: int = 120  # seconds; idle connections are closed
    server_socket_backlog: int = 1024  # NettySystemConfig.socketBacklog

    # --- NamesrvConfig
    rocketmq_home: Path | None = None  # Java: -Drocketmq.home.dir or $ROCKETMQ_HOME; unused here
    kv_config_path: Path = dataclasses.field(default_factory=lambda: _home_file("kvConfig.json"))
    config_store_path: Path = dataclasses.field(
        default_factory=lambda: _home_file("namesrv.properties")
    )
    product_env_name: str = "center"
    cluster_test: bool = False
    order_message_enable: bool = False  # routes carry orderTopicConf from the KV config
    return_order_topic_config_to_broker: bool = True  # REGISTER_BROKER answers the order conf
    client_request_thread_pool_nums: int = 8  # accepted, no effect (one event loop)
    default_thread_pool_nums: int = 16  # accepted, no effect
    client_request_thread_pool_queue_capacity: int = 50000  # accepted, no effect
    default_thread_pool_queue_capacity: int = 10000  # accepted, no effect
    # milliseconds between scans for brokers not heard from within their heartbeat timeout
    # (RocketMQ 5.x: 5000; 4.x scanned every 10 s, which is what rmq does by default)
    scan_not_active_broker_interval: int = 10_000
    un_register_broker_queue_capacity: int = 3000  # accepted, no effect (no batching queue)
    support_acting_master: bool = False  # a slave stands in as master in routes
    enable_all_topic_list: bool = True  # GET_ALL_TOPIC_LIST_FROM_NAMESERVER allowed
    enable_topic_list: bool = True  # GET_TOPICS_BY_CLUSTER and the unit topic lists allowed
    notify_min_broker_id_changed: bool = False  # not supported: a warning when on
    enable_controller_in_namesrv: bool = False  # not supported: an error when on
    need_wait_for_service: bool = False  # refuse routes for waitSecondsForService after start
    wait_seconds_for_service: int = 45  # seconds
    delete_topic_with_broker_registration: bool = False  # topics a master stops listing go
    config_black_list: str = "configBlackList;configStorePath;kvConfigPath"  # ";"-separated

    def __post_init__(self) -> None:
        if not 0 <= self.listen_port <= 65535:
            raise ValueError(f"listenPort {self.listen_port} is not a port number (0..65535)")
        if self.scan_not_active_broker_interval <= 0:
            raise ValueError(
                f"scanNotActiveBrokerInterval {self.scan_not_active_broker_interval} ms "
                "must be positive"
            )
        if self.server_channel_max_idle_time_seconds < 0:
            raise ValueError(
                f"serverChannelMaxIdleTimeSeconds {self.server_channel_max_idle_time_seconds} "
                "must not be negative (0 turns idle closing off)"
            )

    @property
    def black_listed_keys(self) -> frozenset[str]:
        """Keys UPDATE_NAMESRV_CONFIG refuses: ``configBlackList`` plus the fixed ones."""
        listed = {k.strip() for k in self.config_black_list.split(";") if k.strip()}
        return CONFIG_BLACK_LIST_ALWAYS | listed


def load_namesrv_config(path: str | Path) -> NamesrvConfig:
    """Read a ``namesrv.properties`` (or ``.toml``) file, as ``mqnamesrv -c`` does.

    As in Java, ``configStorePath`` becomes ``path``, so that UPDATE_NAMESRV_CONFIG
    writes its changes back to the file they came from; unlike Java, a
    ``configStorePath`` set in the file itself is respected.

    Raises:
        ConfigError: unreadable file, unknown key (with the nearest known key) or a value
            that does not convert.
    """
    source = ConfigSource.read(path)
    config = source.build(NamesrvConfig)
    source.check_claimed()
    if "configStorePath" not in source:
        config = dataclasses.replace(config, config_store_path=Path(path))
    return config
