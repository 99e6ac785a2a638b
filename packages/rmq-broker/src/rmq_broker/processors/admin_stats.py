"""Statistics and connection admin codes.

Mirrors the statistics part of ``AdminBrokerProcessor`` (what ``mqadmin brokerStatus``,
``clusterList``, ``topicStatus``, ``consumerProgress``, ``consumerConnection`` and
``producerConnection`` read):

* GET_BROKER_RUNTIME_INFO: a KVTable with the keys Java's admin tools read, from the
  store's counters (:meth:`rmq_store.MessageStore.statistics`), the broker's message
  counters (:class:`rmq_broker.stats.BrokerStats`) and the broker's state; TPS figures
  are computed as Java's ``StoreStatsService`` does, from counter samples taken every
  second (``"<10 s> <60 s> <600 s>"``, "" for a window not filled yet);
  ``getTransferredTps`` (5.x spelling) and ``getTransferedTps`` (4.x spelling, which
  4.x ``mqadmin clusterList`` reads) count messages returned by pulls;
  ``msgPutTotal*`` / ``msgGetTotal*`` count messages of non-system topics put / pulled,
  and the ``*Morning`` ones are taken at local midnight, as Java's ``BrokerStats``.
  ``brokerActive`` is false on a slave (Java: the schedule and transaction-check
  services do not run there). Keys whose figures rmq does not count are left out rather
  than made up (see the README).
* GET_TOPIC_STATS_INFO: per queue min/max offset and the store time of the last message.
* GET_CONSUME_STATS: per queue the broker's max offset, the group's committed offset and
  the store time of the last consumed message.
* GET_CONSUMER_CONNECTION_LIST (CONSUMER_NOT_ONLINE when the group has no connection)
  and GET_PRODUCER_CONNECTION_LIST (SYSTEM_ERROR "... not exist", as Java).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final, final

from rmq_broker.config import BrokerRole
from rmq_broker.controller import BrokerController
from rmq_broker.processors._common import respond
from rmq_broker.stats import BrokerStats
from rmq_broker.store import BrokerStore
from rmq_protocol.codec.body import (
    Connection as ConnectionBody,
)
from rmq_protocol.codec.body import (
    ConsumerConnection,
    ConsumeStats,
    KVTable,
    MessageQueue,
    OffsetWrapper,
    ProducerConnection,
    TopicOffset,
    TopicStatsTable,
)
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import (
    GetConsumerConnectionListRequestHeader,
    GetConsumeStatsRequestHeader,
    GetProducerConnectionListRequestHeader,
    GetTopicStatsInfoRequestHeader,
)
from rmq_protocol.codec.version import CURRENT_VERSION, version_name
from rmq_protocol.transport import Connection, ProcessorRegistry

__all__ = [
    "AdminStatsProcessor",
    "Counters",
    "StatsSampler",
    "counter_reader",
    "human_readable_bytes",
]

logger = logging.getLogger(__name__)

SAMPLE_INTERVAL: Final = 1.0  # seconds between counter samples (Java: 1 s)
_MAX_SAMPLES: Final = 601  # enough for the 600 s window
_TPS_WINDOWS: Final = (10, 60, 600)  # samples (seconds) per TPS figure, as Java


def human_readable_bytes(count: int) -> str:
    """Java ``MixAll.humanReadableByteCount(bytes, false)``: ``512 B``, ``1.5 KiB``."""
    unit = 1024
    if count < unit:
        return f"{count} B"
    exp = min(int(math.log(count) / math.log(unit)), 6)
    return f"{count / unit**exp:.1f} {'KMGTPE'[exp - 1]}iB"


def _disk_used_ratio(path: Path) -> float:
    """Java ``UtilAll.getDiskPartitionSpaceUsedPercent``: used/total of the partition,
    -1 when the path does not exist."""
    try:
        stat = os.statvfs(path)
    except OSError:
        return -1.0
    if stat.f_blocks == 0:
        return -1.0
    return (stat.f_blocks - stat.f_bfree) / stat.f_blocks


def _java_double(value: float) -> str:
    """A double as Java's ``String.valueOf`` writes the ordinary ones (``0.0``, ``12.5``)."""
    return repr(float(value))


def _format_runtime(millis: int) -> str:
    """Java ``StoreStatsService.getFormatRuntime``."""
    seconds, _ = divmod(max(millis, 0), 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"[ {days} days, {hours} hours, {minutes} minutes, {seconds} seconds ]"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Counters:
    """The counters the sampler reads once a second (all since the broker started)."""

    put: int  # messages the store put, every topic (putTps)
    get_found: int  # store gets that found messages (getFoundTps)
    get_miss: int  # store gets that found none (getMissTps)
    transferred: int  # messages returned by pulls (getTransferredTps)
    put_user: int  # messages put to non-system topics (msgPutTotal*)
    get_user: int  # messages of non-system topics returned by pulls (msgGetTotal*)


def counter_reader(store: BrokerStore, stats: BrokerStats) -> Callable[[], Counters]:
    """The sampler's ``read``: the store's statistics and the broker's counters (the
    consume queues are scanned for new puts first)."""

    def read() -> Counters:
        stats.scan_puts()
        store_stats = store.statistics()
        return Counters(
            put=store_stats.put_messages,
            get_found=store_stats.get_found,
            get_miss=store_stats.get_miss,
            transferred=stats.get_nums,
            put_user=stats.put_nums_user,
            get_user=stats.get_nums_user,
        )

    return read


@dataclasses.dataclass(frozen=True, slots=True)
class _Sample:
    at: float  # monotonic seconds
    counters: Counters


@final
class StatsSampler:
    """Samples the counters once a second (the broker's stats task calls
    :meth:`sample`) for TPS figures, and the message totals at local midnight.

    Used on the broker's event loop only.
    """

    def __init__(
        self,
        read: Callable[[], Counters],
        *,
        monotonic: Callable[[], float] = time.monotonic,
        today: Callable[[], datetime.date] = datetime.date.today,
    ) -> None:
        """
        Args:
            read: the counters now.
            monotonic: clock of the samples (seconds).
            today: the local date (midnight sampling).
        """
        self._read = read
        self._monotonic = monotonic
        self._today = today
        self._samples: collections.deque[_Sample] = collections.deque(maxlen=_MAX_SAMPLES)
        self._day = today()
        self.put_total_today_morning = 0
        self.put_total_yesterday_morning = 0
        self.get_total_today_morning = 0
        self.get_total_yesterday_morning = 0
        self.sample()

    def sample(self) -> Counters:
        """Take a sample (and the midnight totals on a new day); returns the counters."""
        counters = self._read()
        self._samples.append(_Sample(self._monotonic(), counters))
        day = self._today()
        if day != self._day:  # Java's BrokerStats.record(), scheduled at midnight
            self._day = day
            self.put_total_yesterday_morning = self.put_total_today_morning
            self.get_total_yesterday_morning = self.get_total_today_morning
            self.put_total_today_morning = counters.put_user
            self.get_total_today_morning = counters.get_user
        return counters

    def now(self) -> Counters:
        """The counters now, without taking a sample."""
        return self._read()

    def _tps(self, window: int, value: Callable[[Counters], int]) -> str:
        """Java ``CallSnapshot.getTPS`` over ``window`` samples; "" until there are
        that many (as Java)."""
        samples = self._samples
        if len(samples) <= window:
            return ""
        last, before = samples[-1], samples[-1 - window]
        elapsed = last.at - before.at
        if elapsed <= 0:
            return _java_double(0.0)
        return _java_double((value(last.counters) - value(before.counters)) / elapsed)

    def tps(self, value: Callable[[Counters], int]) -> str:
        """``"<10 s> <60 s> <600 s>"`` as Java's ``getPutTps()`` joins them."""
        return " ".join(self._tps(window, value) for window in _TPS_WINDOWS)


def _put(counters: Counters) -> int:
    return counters.put


def _found(counters: Counters) -> int:
    return counters.get_found


def _miss(counters: Counters) -> int:
    return counters.get_miss


def _total(counters: Counters) -> int:
    return counters.get_found + counters.get_miss


def _transferred(counters: Counters) -> int:
    return counters.transferred


@final
class AdminStatsProcessor:
    """Runtime info, topic and consumer statistics, client connections."""

    def __init__(self, controller: BrokerController, sampler: StatsSampler) -> None:
        self._c = controller
        self._sampler = sampler

    def register(self, registry: ProcessorRegistry) -> None:
        registry.register(RequestCode.GET_BROKER_RUNTIME_INFO, self.get_broker_runtime_info)
        registry.register(RequestCode.GET_TOPIC_STATS_INFO, self.get_topic_stats_info)
        registry.register(RequestCode.GET_CONSUME_STATS, self.get_consume_stats)
        registry.register(
            RequestCode.GET_CONSUMER_CONNECTION_LIST, self.get_consumer_connection_list
        )
        registry.register(
            RequestCode.GET_PRODUCER_CONNECTION_LIST, self.get_producer_connection_list
        )

    # ------------------------------------------------------------------ runtime info

    def runtime_info(self) -> dict[str, str]:
        """The GET_BROKER_RUNTIME_INFO table (Java ``prepareRuntimeInfo`` and the store's
        ``getRuntimeInfo``), for the keys rmq has figures for."""
        c = self._c
        config = c.config
        store = c.store
        stats = store.statistics()
        sampler = self._sampler
        counters = sampler.now()
        root = Path(c.settings.store.store_path_root_dir)
        commit_log_dir = root / "commitlog"
        commit_log_ratio = _disk_used_ratio(commit_log_dir)
        earliest = store.get_earliest_message_time()
        now = c.clock_ms()
        waiter = c.flush_waiter
        # Java writes 1 (and divides by 1) while nothing was put
        put_times = stats.put_messages or 1
        info = {
            # DefaultMessageStore / StoreStatsService
            "bootTimestamp": str(c.started_ms),
            "runtime": _format_runtime(now - c.started_ms),
            "putMessageTimesTotal": str(put_times),
            "putMessageSizeTotal": str(stats.put_bytes),
            "putMessageAverageSize": _java_double(stats.put_bytes / put_times),
            "putTps": sampler.tps(_put),
            "getFoundTps": sampler.tps(_found),
            "getMissTps": sampler.tps(_miss),
            "getTotalTps": sampler.tps(_total),
            "getTransferredTps": sampler.tps(_transferred),
            "getTransferedTps": sampler.tps(_transferred),  # 4.x spelling (4.x mqadmin)
            f"commitLogDiskRatio_{commit_log_dir}": _java_double(commit_log_ratio),
            "commitLogDiskRatio": _java_double(commit_log_ratio),
            "consumeQueueDiskRatio": _java_double(_disk_used_ratio(root / "consumequeue")),
            "commitLogMinOffset": str(stats.min_phy_offset),
            "commitLogMaxOffset": str(stats.max_phy_offset),
            "dispatchBehindBytes": "0",  # the store dispatches as it appends
            # the put lock is never held while the loop answers this (puts run on it)
            "pageCacheLockTimeMills": "0",
            "remainHowManyDataToFlush": human_readable_bytes(
                max(stats.max_phy_offset - stats.flush.flushed_offset, 0)
            ),
            # AdminBrokerProcessor.prepareRuntimeInfo
            "brokerVersion": str(CURRENT_VERSION),
            "brokerVersionDesc": version_name(CURRENT_VERSION),
            "brokerActive": "false" if config.broker_role is BrokerRole.SLAVE else "true",
            "msgPutTotalYesterdayMorning": str(sampler.put_total_yesterday_morning),
            "msgPutTotalTodayMorning": str(sampler.put_total_today_morning),
            "msgPutTotalTodayNow": str(counters.put_user),
            "msgGetTotalYesterdayMorning": str(sampler.get_total_yesterday_morning),
            "msgGetTotalTodayMorning": str(sampler.get_total_today_morning),
            "msgGetTotalTodayNow": str(counters.get_user),
            "earliestMessageTimeStamp": str(-1 if earliest is None else earliest),
            "startAcceptSendRequestTimeStamp": str(config.start_accept_send_request_time_stamp),
            # no timer wheel: what Java reports when timerWheelEnable is false
            "timerReadBehind": "0",
            "timerOffsetBehind": "0",
            "timerCongestNum": "0",
            "timerEnqueueTps": "0.0",
            "timerDequeueTps": "0.0",
            # "thread pool queues": sends waiting for SYNC_FLUSH, parked pulls
            "sendThreadPoolQueueSize": str(0 if waiter is None else len(waiter)),
            "sendThreadPoolQueueCapacity": str(config.send_thread_pool_queue_capacity),
            "pullThreadPoolQueueSize": str(len(c.holds)),
            "pullThreadPoolQueueCapacity": str(config.pull_thread_pool_queue_capacity),
            # rmq only (rmq_broker.filtering): groups whose members subscribe differently
            "inconsistentSubscriptionGroups": c.clients.guard.runtime_info(),
        }
        try:
            disk = os.statvfs(root)
        except OSError:
            pass  # Java adds the key only when the directory exists
        else:
            info["commitLogDirCapacity"] = (
                f"Total : {human_readable_bytes(disk.f_blocks * disk.f_frsize)}, "
                f"Free : {human_readable_bytes(disk.f_bavail * disk.f_frsize)}."
            )
        return info

    def get_broker_runtime_info(
        self, request: RemotingCommand, conn: Connection
    ) -> RemotingCommand:
        return respond(request, body=KVTable(table=self.runtime_info()).to_json())

    # ------------------------------------------------------------------ topic and group stats

    def get_topic_stats_info(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        c = self._c
        topic = request.decode_header(GetTopicStatsInfoRequestHeader).topic
        config = c.topics.select(topic)
        if config is None:
            return respond(request, ResponseCode.TOPIC_NOT_EXIST, f"topic[{topic}] not exist")
        store = c.store
        broker_name = c.config.broker_name
        table: dict[MessageQueue, TopicOffset] = {}
        for queue_id in range(max(config.write_queue_nums, config.read_queue_nums)):
            low = max(store.get_min_offset_in_queue(topic, queue_id), 0)
            high = max(store.get_max_offset_in_queue(topic, queue_id), 0)
            timestamp = 0
            if high > 0:
                timestamp = store.get_message_store_timestamp(topic, queue_id, high - 1) or 0
            table[MessageQueue(topic, broker_name, queue_id)] = TopicOffset(
                min_offset=low, max_offset=high, last_update_timestamp=timestamp
            )
        # topicPutTps: rmq counts puts per store, not per topic; 0.0 until it does
        return respond(request, body=TopicStatsTable(offset_table=table).to_json())

    def _consume_stats_topics(self, header: GetConsumeStatsRequestHeader) -> list[str]:
        """Java ``getTopicsForCollectingConsumeStats``."""
        c = self._c
        group = header.consumer_group
        listed = [t for t in (header.topic_list or "").split(";") if t.strip()]
        if listed:
            return list(dict.fromkeys(listed))
        if header.topic is None or not header.topic.strip():
            topics = sorted(c.offsets.which_topic_by_consumer(group))
        else:
            topics = [header.topic]
        group_info = c.clients.consumer_group(group)
        if group_info is not None and group_info.subscriptions:
            kept = [t for t in topics if t in group_info.subscriptions]
            for topic in set(topics) - set(kept):
                logger.warning(
                    "consume stats: topic %s is not in the subscriptions of group %s",
                    topic,
                    group,
                )
            topics = kept
        return topics

    def get_consume_stats(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        c = self._c
        header = request.decode_header(GetConsumeStatsRequestHeader)
        group = header.consumer_group
        store = c.store
        broker_name = c.config.broker_name
        table: dict[MessageQueue, OffsetWrapper] = {}
        for topic in self._consume_stats_topics(header):
            config = c.topics.select(topic)
            if config is None:
                logger.warning("consume stats: topic %s does not exist (group %s)", topic, group)
                continue
            for queue_id in range(config.read_queue_nums):
                broker_offset = max(store.get_max_offset_in_queue(topic, queue_id), 0)
                consumer_offset = max(c.offsets.query_offset(group, topic, queue_id), 0)
                last_timestamp = 0
                if consumer_offset > 0:
                    last_timestamp = (
                        store.get_message_store_timestamp(topic, queue_id, consumer_offset - 1) or 0
                    )
                table[MessageQueue(topic, broker_name, queue_id)] = OffsetWrapper(
                    broker_offset=broker_offset,
                    consumer_offset=consumer_offset,
                    pull_offset=consumer_offset,  # no separate pull-offset table here
                    last_timestamp=last_timestamp,
                )
        # consumeTps: Java's per-group get rate; rmq does not count it yet, so 0.0
        return respond(request, body=ConsumeStats(offset_table=table).to_json())

    # ------------------------------------------------------------------ connections

    def get_consumer_connection_list(
        self, request: RemotingCommand, conn: Connection
    ) -> RemotingCommand:
        group = request.decode_header(GetConsumerConnectionListRequestHeader).consumer_group
        info = self._c.clients.consumer_group(group)
        if info is None:
            return respond(
                request,
                ResponseCode.CONSUMER_NOT_ONLINE,
                f"the consumer group[{group}] not online",
            )
        body = ConsumerConnection(
            connection_set=tuple(
                ConnectionBody(
                    client_id=member.client_id,
                    client_addr=member.connection.peer,
                    language=member.language,
                    version=member.version,
                )
                for member in info.channels.values()
            ),
            subscription_table=dict(info.subscriptions),
            consume_type=info.consume_type,
            message_model=info.message_model,
            consume_from_where=info.consume_from_where,
        )
        return respond(request, body=body.to_json())

    def get_producer_connection_list(
        self, request: RemotingCommand, conn: Connection
    ) -> RemotingCommand:
        group = request.decode_header(GetProducerConnectionListRequestHeader).producer_group
        members = self._c.clients.producer_group(group)
        if members is None:
            return respond(
                request, ResponseCode.SYSTEM_ERROR, f"the producer group[{group}] not exist"
            )
        body = ProducerConnection(
            tuple(
                ConnectionBody(
                    client_id=member.client_id,
                    client_addr=member.connection.peer,
                    language=member.language,
                    version=member.version,
                )
                for member in members.values()
            )
        )
        return respond(request, body=body.to_json())
