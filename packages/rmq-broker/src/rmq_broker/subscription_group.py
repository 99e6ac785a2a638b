"""Consumer groups of the broker, persisted in ``config/subscriptionGroup.json``.

Mirrors ``org.apache.rocketmq.broker.subscription.SubscriptionGroupManager``: the
built-in groups (``TOOLS_CONSUMER``, ``FILTERSRV_CONSUMER``, ``SELF_TEST_C_GROUP``, the
ONS groups, ``CID_RMQ_SYS_TRANS``), and auto-creation of a valid group the first time it
is used when ``autoCreateSubscriptionGroup`` is on. File layout (spec §4.4)::

    {"dataVersion":{…},"forbiddenTable":{},
     "subscriptionGroupTable":{"<group>":{"brokerId":0,"consumeBroadcastEnable":true,…}}}

Not thread-safe: used on the broker's event loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final, final

from rmq_broker.config import BrokerConfig
from rmq_broker.errors import MetadataFileError
from rmq_broker.jsonfile import read_json_file
from rmq_broker.topic_config import validate_group
from rmq_protocol.codec.body import DataVersion, SubscriptionGroupConfig, SubscriptionGroupWrapper
from rmq_protocol.codec.fastjson import JSONValue, ObjectKey
from rmq_protocol.errors import RemoteProtocolError

__all__ = ["SubscriptionGroupManager"]

logger = logging.getLogger(__name__)

_BUILT_IN: Final = (
    "TOOLS_CONSUMER",
    "FILTERSRV_CONSUMER",
    "SELF_TEST_C_GROUP",
    "CID_ONS-HTTP-PROXY",
    "CID_ONSAPI_PULL",
    "CID_ONSAPI_PERMISSION",
    "CID_ONSAPI_OWNER",
    "CID_RMQ_SYS_TRANS",
)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@final
class SubscriptionGroupManager:
    """The group table; ``on_change`` is called after each change (to persist it)."""

    def __init__(
        self,
        config: BrokerConfig,
        path: Path,
        *,
        clock_ms: Callable[[], int] = _now_ms,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._config = config
        self.path = path
        self._clock_ms = clock_ms
        self._on_change = on_change
        self._table: dict[str, SubscriptionGroupConfig] = {
            name: SubscriptionGroupConfig(group_name=name) for name in _BUILT_IN
        }
        self._forbidden: dict[str | ObjectKey, JSONValue] = {}
        self.data_version = DataVersion(timestamp=clock_ms())

    def load(self) -> None:
        """Read ``subscriptionGroup.json`` (or its ``.bak``).

        Raises:
            MetadataFileError: the file exists but cannot be read.
        """
        value = read_json_file(self.path)
        if value is None:
            return
        try:
            if not isinstance(value, dict):
                raise RemoteProtocolError("the top level is not a JSON object")
            groups = value.get("subscriptionGroupTable") or {}
            if not isinstance(groups, dict):
                raise RemoteProtocolError("subscriptionGroupTable is not an object")
            for name, item in groups.items():
                self._table[str(name)] = SubscriptionGroupConfig.from_value(item)
            forbidden = value.get("forbiddenTable")
            if isinstance(forbidden, dict):
                self._forbidden = dict(forbidden)
            version = value.get("dataVersion")
            if version is not None:
                self.data_version = DataVersion.from_value(version)
        except RemoteProtocolError as exc:
            raise MetadataFileError(self.path, str(exc)) from exc
        logger.info("loaded %d subscription groups from %s", len(groups), self.path)

    def to_value(self) -> JSONValue:
        """The content of subscriptionGroup.json."""
        groups: dict[str | ObjectKey, JSONValue] = {n: g.to_value() for n, g in self._table.items()}
        return {
            "dataVersion": self.data_version.to_value(),
            "forbiddenTable": dict(self._forbidden),
            "subscriptionGroupTable": groups,
        }

    @property
    def table(self) -> Mapping[str, SubscriptionGroupConfig]:
        return self._table

    def get(self, group: str) -> SubscriptionGroupConfig | None:
        """The group's config, without creating it."""
        return self._table.get(group)

    def find(self, group: str) -> SubscriptionGroupConfig | None:
        """The group's config, created with the defaults when auto-creation is on and
        the name is valid (Java ``findSubscriptionGroupConfig``)."""
        found = self._table.get(group)
        if found is not None or not self._config.auto_create_subscription_group:
            return found
        if validate_group(group) is not None:
            return None
        found = SubscriptionGroupConfig(group_name=group)
        logger.info("auto-created subscription group %s", group)
        self._table[group] = found
        self._changed()
        return found

    def wrapper(self) -> SubscriptionGroupWrapper:
        """The table as GET_ALL_SUBSCRIPTIONGROUP_CONFIG answers it (a snapshot)."""
        return SubscriptionGroupWrapper.from_value(self.to_value())

    def reconfigure(self, config: BrokerConfig) -> None:
        """Use ``config`` from now on (UPDATE_BROKER_CONFIG); the table is kept."""
        self._config = config

    def update(self, config: SubscriptionGroupConfig) -> None:
        """Create or replace a group (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)."""
        old = self._table.get(config.group_name)
        self._table[config.group_name] = config
        logger.info(
            "subscription group %s %s: %s",
            config.group_name,
            "updated" if old else "created",
            config,
        )
        self._changed()

    def delete(self, group: str) -> bool:
        """Remove a group (DELETE_SUBSCRIPTIONGROUP); False if it did not exist."""
        if self._table.pop(group, None) is None:
            return False
        self._forbidden.pop(group, None)
        logger.info("subscription group %s deleted", group)
        self._changed()
        return True

    def _changed(self) -> None:
        self.data_version = DataVersion(
            state_version=self.data_version.state_version,
            timestamp=self._clock_ms(),
            counter=self.data_version.counter + 1,
        )
        if self._on_change is not None:
            self._on_change()
