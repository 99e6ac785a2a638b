"""Topics of the broker, persisted in ``config/topics.json``.

Mirrors ``org.apache.rocketmq.broker.topic.TopicConfigManager`` and
``org.apache.rocketmq.common.topic.TopicValidator``: the system topics every broker
creates (``SELF_TEST_TOPIC``, ``TBW102`` with perm 7 = READ|WRITE|INHERIT when
``autoCreateTopicEnable``, ``BenchmarkTest``, the cluster- and broker-name topics,
``OFFSET_MOVED_EVENT``, ``SCHEDULE_TOPIC_XXXX``, ``<cluster>_REPLY_TOPIC``, the
transaction half/op topics, …), creation on first send from a template topic that
carries INHERIT (spec §4.4: min(request ``defaultTopicQueueNums``, template write queues)
queues, the template's perm minus INHERIT), retry/DLQ topics, and the DataVersion the
NameServers compare. File layout::

    {"dataVersion":{"counter":N,"stateVersion":0,"timestamp":ms},
     "topicConfigTable":{"<topic>":{"attributes":{},"order":false,"perm":6,
       "readQueueNums":8,"topicFilterType":"SINGLE_TAG","topicName":"<topic>",
       "topicSysFlag":0,"writeQueueNums":8},…}}

Not thread-safe: used on the broker's event loop.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final, final

from rmq_broker.config import PERM_INHERIT, PERM_READ, PERM_WRITE, BrokerConfig
from rmq_broker.errors import MetadataFileError
from rmq_broker.jsonfile import read_json_file
from rmq_protocol.codec.body import DataVersion, TopicConfig, TopicConfigSerializeWrapper
from rmq_protocol.codec.fastjson import JSONValue
from rmq_protocol.errors import RemoteProtocolError

__all__ = [
    "AUTO_CREATE_TOPIC_KEY_TOPIC",
    "DLQ_GROUP_TOPIC_PREFIX",
    "RETRY_GROUP_TOPIC_PREFIX",
    "SCHEDULE_TOPIC",
    "TopicConfigManager",
    "is_not_allowed_send_topic",
    "perm_to_string",
    "topic_config_string",
    "validate_group",
    "validate_topic",
]

logger = logging.getLogger(__name__)

AUTO_CREATE_TOPIC_KEY_TOPIC: Final = "TBW102"
SCHEDULE_TOPIC: Final = "SCHEDULE_TOPIC_XXXX"
SCHEDULE_TOPIC_QUEUE_NUM: Final = 18
BENCHMARK_TOPIC: Final = "BenchmarkTest"
TRANS_HALF_TOPIC: Final = "RMQ_SYS_TRANS_HALF_TOPIC"
TRANS_OP_HALF_TOPIC: Final = "RMQ_SYS_TRANS_OP_HALF_TOPIC"
TRANS_CHECK_MAX_TIME_TOPIC: Final = "TRANS_CHECK_MAX_TIME_TOPIC"
SELF_TEST_TOPIC: Final = "SELF_TEST_TOPIC"
OFFSET_MOVED_EVENT: Final = "OFFSET_MOVED_EVENT"
SYSTEM_TOPIC_PREFIX: Final = "rmq_sys_"
RETRY_GROUP_TOPIC_PREFIX: Final = "%RETRY%"
DLQ_GROUP_TOPIC_PREFIX: Final = "%DLQ%"

_TOPIC_MAX_LENGTH: Final = 127
_GROUP_MAX_LENGTH: Final = 120
_RETRY_OR_DLQ_TOPIC_MAX_LENGTH: Final = 255
_VALID: Final = frozenset("%|-_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_NOT_ALLOWED_SEND: Final = frozenset(
    {
        SCHEDULE_TOPIC,
        TRANS_HALF_TOPIC,
        TRANS_OP_HALF_TOPIC,
        TRANS_CHECK_MAX_TIME_TOPIC,
        SELF_TEST_TOPIC,
        OFFSET_MOVED_EVENT,
    }
)


def _illegal(name: str) -> bool:
    return not _VALID.issuperset(name)


def validate_topic(topic: str) -> str | None:
    """Java's ``TopicValidator.validateTopic``: None if valid, else Java's remark."""
    if not topic.strip():
        return "The specified topic is blank."
    if _illegal(topic):
        return (
            f"The specified topic: {topic}, contains illegal characters, allowing only "
            "^[%|a-zA-Z0-9_-]+$"
        )
    if topic.startswith((RETRY_GROUP_TOPIC_PREFIX, DLQ_GROUP_TOPIC_PREFIX)):
        if len(topic) > _RETRY_OR_DLQ_TOPIC_MAX_LENGTH:
            return (
                f"The specified topic is DLQ or Retry topic: {topic}, and it's longer than "
                f"topic max length: {_RETRY_OR_DLQ_TOPIC_MAX_LENGTH}"
            )
    elif len(topic) > _TOPIC_MAX_LENGTH:
        return f"The specified topic: {topic}, is longer than topic max length: {_TOPIC_MAX_LENGTH}"
    return None


def validate_group(group: str) -> str | None:
    """Java's ``TopicValidator.validateGroup``: None if valid, else Java's remark."""
    if not group.strip():
        return "The specified group is blank."
    if _illegal(group):
        return (
            f"The specified group: {group}, contains illegal characters, allowing only "
            "^[%|a-zA-Z0-9_-]+$"
        )
    if len(group) > _GROUP_MAX_LENGTH:
        return f"The specified group: {group}, is longer than group max length: {_GROUP_MAX_LENGTH}"
    return None


def is_not_allowed_send_topic(topic: str) -> bool:
    """Topics producers may not send to (Java ``TopicValidator.isNotAllowedSendTopic``)."""
    return topic in _NOT_ALLOWED_SEND


def perm_to_string(perm: int) -> str:
    """Java ``PermName.perm2String``: ``RWX`` with ``-`` for a missing bit."""
    return (
        ("R" if perm & PERM_READ else "-")
        + ("W" if perm & PERM_WRITE else "-")
        + ("X" if perm & PERM_INHERIT else "-")
    )


def topic_config_string(config: TopicConfig) -> str:
    """Java ``TopicConfig.toString()`` (it appears in remarks)."""
    attributes = ", ".join(f"{k}={v}" for k, v in config.attributes.items())
    return (
        f"TopicConfig [topicName={config.topic_name}, readQueueNums={config.read_queue_nums}, "
        f"writeQueueNums={config.write_queue_nums}, perm={perm_to_string(config.perm)}, "
        f"topicFilterType={config.topic_filter_type.name}, topicSysFlag={config.topic_sys_flag}, "
        f"order={'true' if config.order else 'false'}, attributes={{{attributes}}}]"
    )


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@final
class TopicConfigManager:
    """The broker's topic table and its DataVersion.

    ``on_change`` is called after every change (the broker persists the file and
    registers with the NameServers again).
    """

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
        self._table: dict[str, TopicConfig] = {}
        self._system: set[str] = set()
        self.data_version = DataVersion(timestamp=clock_ms())
        self._init_system_topics()

    # ------------------------------------------------------------------ system topics

    def _system_topic(
        self, topic: str, queues: int = 16, perm: int = PERM_READ | PERM_WRITE
    ) -> None:
        self._system.add(topic)
        self._table[topic] = TopicConfig(
            topic_name=topic, read_queue_nums=queues, write_queue_nums=queues, perm=perm
        )

    def _init_system_topics(self) -> None:
        c = self._config
        rw = PERM_READ | PERM_WRITE
        self._system_topic(SELF_TEST_TOPIC, 1)
        if c.auto_create_topic_enable:
            self._system_topic(
                AUTO_CREATE_TOPIC_KEY_TOPIC, c.default_topic_queue_nums, rw | PERM_INHERIT
            )
        self._system_topic(BENCHMARK_TOPIC, 1024)
        self._system_topic(
            c.broker_cluster_name, 16, PERM_INHERIT | (rw if c.cluster_topic_enable else 0)
        )
        self._system_topic(c.broker_name, 1, PERM_INHERIT | (rw if c.broker_topic_enable else 0))
        self._system_topic(OFFSET_MOVED_EVENT, 1)
        self._system_topic(SCHEDULE_TOPIC, SCHEDULE_TOPIC_QUEUE_NUM)
        if c.trace_topic_enable:
            self._system_topic(c.msg_trace_topic_name, 1)
        self._system_topic(f"{c.broker_cluster_name}_REPLY_TOPIC", 1)
        self._system_topic(
            f"{SYSTEM_TOPIC_PREFIX}REVIVE_LOG_{c.broker_cluster_name}", c.revive_queue_num
        )
        self._system_topic(
            f"{SYSTEM_TOPIC_PREFIX}SYNC_BROKER_MEMBER_{c.broker_name}", 1, PERM_INHERIT
        )
        self._system_topic(TRANS_HALF_TOPIC, 1)
        self._system_topic(TRANS_OP_HALF_TOPIC, 1)
        if c.timer_wheel_enable:  # TimerMessageStore.TIMER_TOPIC (rmq_broker.timer)
            self._system_topic(f"{SYSTEM_TOPIC_PREFIX}wheel_timer", 1)

    def is_system_topic(self, topic: str) -> bool:
        return topic in self._system or topic.startswith(SYSTEM_TOPIC_PREFIX)

    # ------------------------------------------------------------------ persistence

    def load(self) -> None:
        """Read ``topics.json`` (or its ``.bak``); topics there replace the built-in ones
        of the same name, as in Java.

        Raises:
            MetadataFileError: the file exists but cannot be read.
        """
        value = read_json_file(self.path)
        if value is None:
            return
        try:
            wrapper = TopicConfigSerializeWrapper.from_value(value)
        except RemoteProtocolError as exc:
            raise MetadataFileError(self.path, str(exc)) from exc
        self._table.update(wrapper.topic_config_table)
        self.data_version = wrapper.data_version
        logger.info("loaded %d topics from %s", len(wrapper.topic_config_table), self.path)

    def wrapper(self) -> TopicConfigSerializeWrapper:
        """The table as topics.json and REGISTER_BROKER carry it (a snapshot)."""
        return TopicConfigSerializeWrapper(
            topic_config_table=dict(self._table), data_version=self.data_version
        )

    def registration_wrapper(self) -> TopicConfigSerializeWrapper:
        """The table as REGISTER_BROKER carries it: when ``brokerPermission`` lacks READ
        or WRITE, each topic's perm is masked by it (Java ``registerBrokerAll``), so the
        NameServers stop routing sends (or pulls) to this broker."""
        perm = self._config.broker_permission
        if perm & PERM_READ and perm & PERM_WRITE:
            return self.wrapper()
        table = {
            name: dataclasses.replace(config, perm=config.perm & perm)
            for name, config in self._table.items()
        }
        return TopicConfigSerializeWrapper(topic_config_table=table, data_version=self.data_version)

    def reconfigure(self, config: BrokerConfig) -> None:
        """Use ``config`` from now on (UPDATE_BROKER_CONFIG); the table is kept."""
        self._config = config

    def touch(self) -> None:
        """Start a new DataVersion, as a change would (the broker then registers again)."""
        self._changed()

    def to_value(self) -> JSONValue:
        """The content of topics.json."""
        return self.wrapper().to_value()

    # ------------------------------------------------------------------ lookups

    def select(self, topic: str) -> TopicConfig | None:
        return self._table.get(topic)

    @property
    def table(self) -> Mapping[str, TopicConfig]:
        return self._table

    def is_order_topic(self, topic: str) -> bool:
        config = self._table.get(topic)
        return config is not None and config.order

    # ------------------------------------------------------------------ changes

    def _changed(self) -> None:
        self.data_version = DataVersion(
            state_version=self.data_version.state_version,
            timestamp=self._clock_ms(),
            counter=self.data_version.counter + 1,
        )
        if self._on_change is not None:
            self._on_change()

    def update(self, config: TopicConfig) -> None:
        """Create or replace a topic (UPDATE_AND_CREATE_TOPIC)."""
        old = self._table.get(config.topic_name)
        self._table[config.topic_name] = config
        if old != config:
            logger.info(
                "topic %s %s: %s", config.topic_name, "updated" if old else "created", config
            )
            self._changed()

    def delete(self, topic: str) -> bool:
        """Remove a topic; False if it did not exist."""
        if self._table.pop(topic, None) is None:
            return False
        logger.info("topic %s deleted", topic)
        self._changed()
        return True

    def create_in_send_message(
        self,
        topic: str,
        default_topic: str,
        client_queue_nums: int,
        topic_sys_flag: int,
        remote: str,
    ) -> TopicConfig | None:
        """Create ``topic`` from template ``default_topic`` on a first send (Java
        ``createTopicInSendMessageMethod``); None if the template is missing or does
        not carry INHERIT."""
        existing = self._table.get(topic)
        if existing is not None:
            return existing
        template = self._table.get(default_topic)
        if template is None:
            logger.warning(
                "cannot create topic %s: the default topic %s does not exist (producer %s)",
                topic, default_topic, remote,
            )  # fmt: skip
            return None
        perm = template.perm
        if (
            default_topic == AUTO_CREATE_TOPIC_KEY_TOPIC
            and not self._config.auto_create_topic_enable
        ):
            perm = PERM_READ | PERM_WRITE
        if not perm & PERM_INHERIT:
            logger.warning(
                "cannot create topic %s: default topic %s has no INHERIT perm (%d), producer %s",
                topic, default_topic, perm, remote,
            )  # fmt: skip
            return None
        queues = max(min(client_queue_nums, template.write_queue_nums), 0)
        config = TopicConfig(
            topic_name=topic,
            read_queue_nums=queues,
            write_queue_nums=queues,
            perm=perm & ~PERM_INHERIT,
            topic_sys_flag=topic_sys_flag,
            topic_filter_type=template.topic_filter_type,
        )
        logger.info(
            "created topic %s from %s for producer %s: %s", topic, default_topic, remote, config
        )
        self._table[topic] = config
        self._changed()
        return config

    def create_in_send_message_back(
        self, topic: str, queue_nums: int, perm: int, topic_sys_flag: int, *, order: bool = False
    ) -> TopicConfig:
        """Create a retry or DLQ topic if missing (Java ``createTopicInSendMessageBackMethod``)."""
        existing = self._table.get(topic)
        if existing is not None:
            if existing.order != order:
                existing = dataclasses.replace(existing, order=order)
                self._table[topic] = existing
                self._changed()
            return existing
        config = TopicConfig(
            topic_name=topic,
            read_queue_nums=queue_nums,
            write_queue_nums=queue_nums,
            perm=perm,
            topic_sys_flag=topic_sys_flag,
            order=order,
        )
        logger.info("created topic %s", config)
        self._table[topic] = config
        self._changed()
        return config
