"""GET_BROKER_CONFIG and UPDATE_BROKER_CONFIG.

Mirrors ``AdminBrokerProcessor.getBrokerConfig`` / ``updateBrokerConfig`` and
``org.apache.rocketmq.remoting.Configuration``: GET_BROKER_CONFIG answers every broker and
store key as Java properties text, with the configuration's DataVersion JSON in the
response header ``version``; UPDATE_BROKER_CONFIG takes properties text.

Updating is **off** unless the broker's ``enableUpdateBrokerConfig`` is true (rmq's key;
Java lets anyone who reaches the port change almost any key, except its
``configBlackList``). Refusals use Java's code for a black-listed key, NO_PERMISSION.
When on, a request is all-or-nothing:

* a key no configuration has → INVALID_PARAMETER naming the nearest known key;
* a known key outside :data:`RUNTIME_UPDATABLE_KEYS` → NO_PERMISSION. That list holds only
  switches and limits the broker reads while it runs; it never holds file paths
  (``storePathRootDir``, ``storePathCommitLog``, any ``*Path*``/``*Dir*`` key), listen
  ports or addresses, the broker's identity, store keys, or anything naming code to load;
* a value that does not convert → INVALID_PARAMETER;
* otherwise the keys apply at once and are persisted in
  ``<storePathRootDir>/config/brokerConfigUpdates.properties`` (atomically), which the
  broker reads at start over its config file. Java instead rewrites its whole config
  file; rmq leaves the operator's file alone.

Changing ``brokerPermission`` starts a new topic DataVersion and registers with the
NameServers at once, the topics' perms masked by it (as Java), so routes follow.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import Final, final

from rmq_broker.config import BrokerConfig, BrokerSettings
from rmq_broker.controller import BrokerController
from rmq_broker.jsonfile import write_atomically
from rmq_broker.processors._common import respond
from rmq_protocol.codec.body import (
    DataVersion,
    decode_properties_text,
    encode_properties_text,
)
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import GetBrokerConfigResponseHeader
from rmq_protocol.config import ConfigSource, config_keys, config_to_properties
from rmq_protocol.errors import ConfigError
from rmq_protocol.transport import Connection, ProcessorRegistry
from rmq_store import StoreConfig

__all__ = [
    "CONFIG_UPDATES_FILE",
    "RUNTIME_UPDATABLE_KEYS",
    "AdminConfigProcessor",
    "apply_config_updates",
    "config_updates_path",
]

logger = logging.getLogger(__name__)

CONFIG_UPDATES_FILE: Final = "brokerConfigUpdates.properties"

RUNTIME_UPDATABLE_KEYS: Final = frozenset(
    {
        # read by the request processors at each request
        "brokerPermission",
        "autoCreateTopicEnable",
        "autoCreateSubscriptionGroup",
        "longPollingEnable",
        "shortPollingTimeMills",
        "notifyConsumerIdsChangedEnable",
        "slaveReadEnable",
        "litePullMessageEnable",
        "defaultQueryMaxNum",
        "sendThreadPoolQueueCapacity",
        "startAcceptSendRequestTimeStamp",
        "rejectTransactionMessage",
        # read by the broker's background tasks at each round
        "flushConsumerOffsetInterval",
        "registerNameServerPeriod",
        # accepted and without effect, as in a config file (one event loop, no pools)
        "sendMessageThreadPoolNums",
        "pullMessageThreadPoolNums",
        "queryMessageThreadPoolNums",
        "adminBrokerThreadPoolNums",
        "clientManageThreadPoolNums",
        "consumerManageThreadPoolNums",
        "heartbeatThreadPoolNums",
        "endTransactionThreadPoolNums",
        "waitTimeMillsInSendQueue",
        "brokerFastFailureEnable",
    }
)
"""The keys UPDATE_BROKER_CONFIG may change (when ``enableUpdateBrokerConfig`` is on)."""

_ALL_KEYS: Final = frozenset(config_keys(BrokerConfig)) | frozenset(config_keys(StoreConfig))
assert RUNTIME_UPDATABLE_KEYS <= _ALL_KEYS  # noqa: S101 - a typo here is a bug


def config_updates_path(settings: BrokerSettings) -> Path:
    """Where accepted UPDATE_BROKER_CONFIG keys are kept."""
    return Path(settings.store.store_path_root_dir) / "config" / CONFIG_UPDATES_FILE


def apply_config_updates(settings: BrokerSettings) -> BrokerSettings:
    """``settings`` with the keys an earlier UPDATE_BROKER_CONFIG persisted (if any).

    Blocking (reads a file).

    Raises:
        ConfigError: the file is unreadable, or holds a key that may not be updated
            (someone edited it) or a bad value.
    """
    path = config_updates_path(settings)
    if not path.exists():
        return settings
    source = ConfigSource.read(path)
    for key in source.keys():  # noqa: SIM118 - a ConfigSource, not a dict
        if key not in RUNTIME_UPDATABLE_KEYS:
            raise ConfigError(
                str(path),
                f"{key!r} cannot be set here: this file holds only keys UPDATE_BROKER_CONFIG "
                "may change; move it to the broker's config file",
                key=key,
            )
    broker = source.build(BrokerConfig, base=settings.broker)
    if source.keys():
        logger.info("applied runtime config updates from %s: %s", path, ", ".join(source.keys()))
    return dataclasses.replace(settings, broker=broker)


def _write_updates(path: Path, values: dict[str, str]) -> None:
    header = b"# written by UPDATE_BROKER_CONFIG; read at start over the config file\n"
    write_atomically(path, header + encode_properties_text(values))


@final
class AdminConfigProcessor:
    """The broker's configuration, read and (when allowed) updated over the wire."""

    def __init__(self, controller: BrokerController) -> None:
        self._c = controller
        self._version = DataVersion(timestamp=controller.started_ms)
        self._lock = asyncio.Lock()

    def register(self, registry: ProcessorRegistry) -> None:
        registry.register(RequestCode.GET_BROKER_CONFIG, self.get_broker_config)
        registry.register(RequestCode.UPDATE_BROKER_CONFIG, self.update_broker_config)

    @property
    def data_version(self) -> DataVersion:
        return self._version

    def get_broker_config(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        settings = self._c.settings
        items = {**config_to_properties(settings.broker), **config_to_properties(settings.store)}
        return respond(
            request,
            header=GetBrokerConfigResponseHeader(version=self._version.to_json().decode()),
            body=encode_properties_text(items),
        )

    async def update_broker_config(
        self, request: RemotingCommand, conn: Connection
    ) -> RemotingCommand:
        c = self._c
        if not c.config.enable_update_broker_config:
            logger.warning("UPDATE_BROKER_CONFIG from %s refused: disabled", conn.peer)
            return respond(
                request,
                ResponseCode.NO_PERMISSION,
                "UPDATE_BROKER_CONFIG is disabled on this broker; set "
                "enableUpdateBrokerConfig=true in its config file to allow it",
            )
        try:
            source = ConfigSource.from_properties(bytes(request.body), name="UPDATE_BROKER_CONFIG")
            source.check_claimed(extra_known=_ALL_KEYS)
        except ConfigError as exc:
            return respond(request, ResponseCode.INVALID_PARAMETER, str(exc))
        keys = source.keys()
        refused = [k for k in keys if k not in RUNTIME_UPDATABLE_KEYS]
        if refused:
            logger.warning("UPDATE_BROKER_CONFIG from %s refused: %s", conn.peer, refused)
            return respond(
                request,
                ResponseCode.NO_PERMISSION,
                f"Can not update {', '.join(refused)} at runtime: paths, ports, addresses, "
                "the broker's identity and store settings are fixed while it runs. "
                f"Keys that can be updated: {', '.join(sorted(RUNTIME_UPDATABLE_KEYS))}",
            )
        if not keys:
            return respond(request)
        async with self._lock:
            old = c.config
            try:
                new = source.build(BrokerConfig, base=old)
            except ConfigError as exc:
                return respond(request, ResponseCode.INVALID_PARAMETER, str(exc))
            path = config_updates_path(c.settings)
            written = config_to_properties(new)
            persisted = {}
            if path.exists():
                persisted = await asyncio.to_thread(
                    lambda: decode_properties_text(path.read_bytes())
                )
            persisted.update({key: written[key] for key in keys})
            try:
                await asyncio.to_thread(_write_updates, path, persisted)
            except OSError as exc:
                logger.exception("cannot persist broker config updates to %s", path)
                return respond(
                    request,
                    ResponseCode.SYSTEM_ERROR,
                    f"cannot write {path}: {exc.strerror or exc}; nothing was changed",
                )
            self._apply(new)
            logger.info(
                "broker config updated by %s: %s",
                conn.peer,
                ", ".join(f"{k}={written[k]}" for k in keys),
            )
            if new.broker_permission != old.broker_permission:
                c.topics.touch()  # new DataVersion: persisted and registered at once
        return respond(request)

    def _apply(self, config: BrokerConfig) -> None:
        c = self._c
        c.settings = dataclasses.replace(c.settings, broker=config)
        c.config = config
        c.topics.reconfigure(config)
        c.groups.reconfigure(config)
        self._version = DataVersion(
            state_version=self._version.state_version,
            timestamp=c.clock_ms(),
            counter=self._version.counter + 1,
        )
