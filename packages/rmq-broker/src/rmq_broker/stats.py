"""Broker-wide message counters: what ``BrokerStatsManager`` and ``BrokerStats`` keep.

Mirrors the parts of ``org.apache.rocketmq.store.stats.BrokerStatsManager`` and
``BrokerStats`` that GET_BROKER_RUNTIME_INFO reports (``mqadmin clusterList -m`` and
``brokerStatus`` read them):

* messages got: Java's ``BROKER_GET_NUMS`` (every message a pull returned) and
  ``BROKER_GET_NUMS_WITHOUT_SYSTEM_TOPIC`` (the same, for topics that are not system
  topics: ``msgGetTotalTodayNow``). The pull processor adds one request's count with one
  call (:meth:`BrokerStats.count_get`), not per message.
* messages put to non-system topics: Java's ``BROKER_PUT_NUMS_WITHOUT_SYSTEM_TOPIC``
  (``msgPutTotalTodayNow``). Java counts them where each path puts (send, schedule
  delivery, end of transaction); every one of those paths ends in the topic's consume
  queue, so rmq counts the growth of the consume queues of non-system topics since the
  broker started (:meth:`BrokerStats.scan_puts`, run by the once-a-second sampler and
  before each runtime-info answer). The send path pays nothing; a scan costs one
  max-offset lookup per queue of a non-system topic. Messages of a topic deleted and
  created again between two scans are counted from its new queue's offsets on.

Everything here runs on the broker's event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final, Protocol, final

from rmq_protocol.codec.body import TopicConfig

__all__ = ["BrokerStats"]

_SYSTEM_CACHE_MAX: Final = 4096  # topic names whose system-ness is remembered


class _Topics(Protocol):
    @property
    def table(self) -> Mapping[str, TopicConfig]: ...

    def is_system_topic(self, topic: str) -> bool: ...


@final
class BrokerStats:
    """The broker's message counters since it started (see the module docstring)."""

    def __init__(self, topics: _Topics, max_offset: Callable[[str, int], int]) -> None:
        """
        Args:
            topics: the topic table (which topics and queues exist, which are system ones).
            max_offset: a queue's max logical offset (the store's
                ``get_max_offset_in_queue``).
        """
        self._topics = topics
        self._max_offset = max_offset
        self._system: dict[str, bool] = {}
        self.get_nums = 0  # messages returned by pulls, every topic (getTransferredTps)
        self.get_nums_user = 0  # ... to non-system topics (msgGetTotal*)
        self.put_nums_user = 0  # messages put to non-system topics (msgPutTotal*)
        # (topic, queueId) -> the max offset seen at the last scan
        self._seen: dict[tuple[str, int], int] = {}
        self._baseline()

    def is_system_topic(self, topic: str) -> bool:
        """Java ``TopicValidator.isSystemTopic`` with the broker's own system topics
        (remembered per name)."""
        system = self._system.get(topic)
        if system is None:
            if len(self._system) >= _SYSTEM_CACHE_MAX:
                self._system.clear()
            system = self._system[topic] = self._topics.is_system_topic(topic)
        return system

    def count_get(self, topic: str, messages: int) -> None:
        """One pull returned ``messages`` messages of ``topic``."""
        self.get_nums += messages
        if not self.is_system_topic(topic):
            self.get_nums_user += messages

    def _queues(self) -> list[tuple[str, int]]:
        return [
            (topic, queue_id)
            for topic, config in self._topics.table.items()
            if not self.is_system_topic(topic)
            for queue_id in range(max(config.read_queue_nums, config.write_queue_nums))
        ]

    def _baseline(self) -> None:
        """What the queues hold at start is not counted."""
        max_offset = self._max_offset
        self._seen = {key: max(max_offset(*key), 0) for key in self._queues()}

    def scan_puts(self) -> int:
        """Add the growth of every non-system queue since the last scan to
        ``put_nums_user``; returns the growth."""
        max_offset = self._max_offset
        seen = self._seen
        now: dict[tuple[str, int], int] = {}
        grown = 0
        for key in self._queues():
            high = max(max_offset(*key), 0)
            before = seen.get(key, 0)  # a queue first seen now was created after start
            if high > before:
                grown += high - before
            now[key] = high  # a queue that shrank (deleted, recreated) counts from here
        self._seen = now
        self.put_nums_user += grown
        return grown
