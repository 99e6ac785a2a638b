"""Consumer offsets, persisted in ``config/consumerOffset.json``.

Mirrors ``org.apache.rocketmq.broker.offset.ConsumerOffsetManager``: offsets are kept
per ``topic@group`` key and queue id; the broker writes the file every
``flushConsumerOffsetInterval`` (5 s) when something changed, and at shutdown. Layout
(spec §4.4; fastjson writes the queue ids unquoted, we quote them, both are read)::

    {"dataVersion":{…},"offsetTable":{"TopicTest@cg1":{"0":12,"1":0}}}

Not thread-safe: used on the broker's event loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final, final

from rmq_broker.errors import MetadataFileError
from rmq_broker.jsonfile import read_json_file
from rmq_protocol.codec.body import DataVersion
from rmq_protocol.codec.fastjson import JSONValue
from rmq_protocol.errors import RemoteProtocolError

__all__ = ["TOPIC_GROUP_SEPARATOR", "ConsumerOffsetManager"]

logger = logging.getLogger(__name__)

TOPIC_GROUP_SEPARATOR: Final = "@"
_VERSION_STEP: Final = 500  # consumerOffsetUpdateVersionStep: commits per DataVersion bump


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@final
class ConsumerOffsetManager:
    """``topic@group`` → queue id → committed offset."""

    def __init__(self, path: Path, *, clock_ms: Callable[[], int] = _now_ms) -> None:
        self.path = path
        self._clock_ms = clock_ms
        self._table: dict[str, dict[int, int]] = {}
        self.data_version = DataVersion(timestamp=clock_ms())
        self._commits = 0
        self.dirty = False

    def load(self) -> None:
        """Read ``consumerOffset.json`` (or its ``.bak``).

        Raises:
            MetadataFileError: the file exists but cannot be read.
        """
        value = read_json_file(self.path)
        if value is None:
            return
        if not isinstance(value, dict):
            raise MetadataFileError(self.path, "the top level is not a JSON object")
        table = value.get("offsetTable") or {}
        if not isinstance(table, dict):
            raise MetadataFileError(self.path, "offsetTable is not a JSON object")
        for key, queues in table.items():
            if not isinstance(queues, dict):
                raise MetadataFileError(self.path, f"offsetTable[{key!r}] is not a JSON object")
            offsets: dict[int, int] = {}
            for queue_id, offset in queues.items():
                if not (isinstance(offset, int) and str(queue_id).lstrip("-").isdigit()):
                    raise MetadataFileError(
                        self.path,
                        f"offsetTable[{key!r}][{queue_id!r}] = {offset!r} is not an offset",
                    )
                offsets[int(str(queue_id))] = offset
            self._table[str(key)] = offsets
        version = value.get("dataVersion")
        if version is not None:
            try:
                self.data_version = DataVersion.from_value(version)
            except RemoteProtocolError as exc:
                raise MetadataFileError(self.path, str(exc)) from exc
        logger.info("loaded consumer offsets of %d topic@group keys from %s", len(table), self.path)

    def to_value(self) -> JSONValue:
        """The content of consumerOffset.json."""
        return {
            "dataVersion": self.data_version.to_value(),
            "offsetTable": {
                key: {str(q): o for q, o in sorted(queues.items())}
                for key, queues in self._table.items()
            },
        }

    def commit_offset(self, group: str, topic: str, queue_id: int, offset: int) -> None:
        """Store ``offset`` as the group's offset of a queue."""
        key = topic + TOPIC_GROUP_SEPARATOR + group
        queues = self._table.get(key)
        if queues is None:
            queues = self._table[key] = {}
        queues[queue_id] = offset
        self.dirty = True
        self._commits += 1
        if self._commits % _VERSION_STEP == 0:
            self.data_version = DataVersion(
                state_version=self.data_version.state_version,
                timestamp=self._clock_ms(),
                counter=self.data_version.counter + 1,
            )

    def query_offset(self, group: str, topic: str, queue_id: int) -> int:
        """The group's committed offset of a queue, or -1 (Java's "none")."""
        queues = self._table.get(topic + TOPIC_GROUP_SEPARATOR + group)
        if queues is None:
            return -1
        return queues.get(queue_id, -1)

    def query_offsets(self, group: str, topic: str) -> Mapping[int, int]:
        """Every queue's committed offset of a group on a topic."""
        return dict(self._table.get(topic + TOPIC_GROUP_SEPARATOR + group, {}))

    def remove_group(self, group: str) -> None:
        """Forget every offset of ``group``."""
        suffix = TOPIC_GROUP_SEPARATOR + group
        for key in [k for k in self._table if k.endswith(suffix)]:
            del self._table[key]
            self.dirty = True

    def clean_offset_by_topic(self, topic: str) -> int:
        """Forget every group's offsets of ``topic`` (Java ``cleanOffsetByTopic``, when
        the topic is deleted). Returns how many ``topic@group`` keys went."""
        prefix = topic + TOPIC_GROUP_SEPARATOR
        keys = [k for k in self._table if k.startswith(prefix)]
        for key in keys:
            del self._table[key]
        if keys:
            self.dirty = True
        return len(keys)

    def which_group_by_topic(self, topic: str) -> set[str]:
        """Groups with an offset on ``topic`` (Java ``whichGroupByTopic``)."""
        prefix = topic + TOPIC_GROUP_SEPARATOR
        return {k[len(prefix) :] for k in self._table if k.startswith(prefix)}

    def which_topic_by_consumer(self, group: str) -> set[str]:
        """Topics ``group`` has an offset on (Java ``whichTopicByConsumer``)."""
        suffix = TOPIC_GROUP_SEPARATOR + group
        return {k[: -len(suffix)] for k in self._table if k.endswith(suffix)}

    @property
    def table(self) -> Mapping[str, Mapping[int, int]]:
        return self._table
