"""Delay levels: messages held in ``SCHEDULE_TOPIC_XXXX`` until due, then delivered.

Mirrors ``org.apache.rocketmq.store.schedule.ScheduleMessageService`` (4.9) and the
delay branch of ``CommitLog.putMessage``:

* :func:`route_delayed` is the send-path rewrite: a message whose ``DELAY`` property is a
  level > 0 (and which is not a transactional half / rollback) keeps its topic and queue
  in ``REAL_TOPIC`` / ``REAL_QID`` and is stored in ``SCHEDULE_TOPIC_XXXX`` queue
  ``level - 1`` instead; levels above the highest ``messageDelayLevel`` are clamped to
  it. The store writes the due time (store timestamp + the level's delay) as the unit's
  tags code.
* :func:`route_scheduled` is the one routing step every put goes through (the send
  processor and END_TRANSACTION's commit, as Java's ``HookUtils.handleScheduleMessage``
  runs before every put): the timer topic (:mod:`rmq_broker.timer`), else
  :func:`route_delayed`; a half message keeps its delay for its commit.
* :class:`ScheduleService` delivers: for each level it reads the schedule queue from its
  delivery offset; when the head is due it rewrites the message to its real topic and
  queue (``DELAY`` removed, ``WAIT`` false, everything else kept, as Java's
  ``messageTimeup``) and stores it; a due time further away than the level's delay (the
  clock went back) counts as due now, as in Java's ``correctDeliverTimestamp``.
* Progress is kept in ``config/delayOffset.json`` as Java does
  (``{"offsetTable":{<level>:<next offset>},"dataVersion":…}``), written every
  ``flushDelayOffsetInterval`` (10 s) when it changed and at shutdown. Delivery is
  at-least-once: after a crash the messages delivered since the last write are
  delivered again; none is lost.

One task serves every level, and the 5.x timer messages of :mod:`rmq_broker.timer` when
a :class:`~rmq_broker.timer.TimerService` is given (the earliest due head decides how
long it sleeps; a new scheduled or timer message wakes it through the store's arrival
listener; the timer progress is written with the delay offsets). The clock is
injectable: tests move a fake clock and call :meth:`ScheduleService.wake`.
Not thread-safe: used on the broker's event loop.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final, final

from rmq_broker.config import BrokerSettings
from rmq_broker.errors import MetadataFileError
from rmq_broker.jsonfile import read_json_file, write_json_file
from rmq_broker.store import BrokerStore
from rmq_broker.timer import TimerRefusal, TimerService, route_timer
from rmq_broker.topic_config import SCHEDULE_TOPIC, TRANS_HALF_TOPIC
from rmq_protocol.codec import properties as props
from rmq_protocol.codec.body import DataVersion
from rmq_protocol.codec.fastjson import JSONValue
from rmq_protocol.codec.message import MessageExt, TransactionType, decode_message, transaction_type
from rmq_protocol.errors import RemoteProtocolError
from rmq_store import StoreConfig, StoreError

__all__ = [
    "ScheduleService",
    "ScheduleStatistics",
    "delay_level_queue_id",
    "lateness_percentile",
    "route_delayed",
    "route_scheduled",
    "schedule_if_delayed",
]

logger = logging.getLogger(__name__)

_READ_BATCH: Final = 32  # units read per schedule queue per read
_PASS_BUDGET: Final = 512  # deliveries per pass before the loop lets other work run
_RETRY_AFTER_ERROR: Final = 10_000  # ms before a failed delivery is tried again (Java 10 s)
_LATENESS_SAMPLES: Final = 100_000  # most recent delivery lateness samples kept
_DELAYABLE: Final = (TransactionType.NOT_TYPE, TransactionType.COMMIT_TYPE)
_DELAY_KEY: Final = props.DELAY_TIME_LEVEL
_TIMER_DELIVER_MS: Final = props.TIMER_DELIVER_MS
_TIMER_DELAY_SEC: Final = props.TIMER_DELAY_SEC
_TIMER_DELAY_MS: Final = props.TIMER_DELAY_MS
_COMMIT_FLAG: Final = int(TransactionType.COMMIT_TYPE)


def delay_level_queue_id(level: int) -> int:
    """The ``SCHEDULE_TOPIC_XXXX`` queue of a delay level (Java ``delayLevel2QueueId``)."""
    return level - 1


@functools.lru_cache(maxsize=8)
def _max_level(message_delay_level: str) -> int:
    return len(message_delay_level.split())


def route_delayed(
    properties: dict[str, str], topic: str, queue_id: int, sys_flag: int, store: StoreConfig
) -> tuple[str, int]:
    """The send-path hook: where a message with these properties is stored.

    Returns ``(topic, queue_id)`` unchanged unless ``DELAY`` is a level > 0 on a
    non-transactional (or committed) message; then ``properties`` gets ``REAL_TOPIC`` and
    ``REAL_QID`` (and ``DELAY`` clamped to the highest level) and the schedule topic and
    queue are returned. A ``DELAY`` that is not a number is left alone (the message is
    stored at once), as Java's ``getDelayTimeLevel`` reads it as 0.
    """
    text = properties.get(props.DELAY_TIME_LEVEL)
    if text is None:
        return topic, queue_id
    try:
        level = int(text)
    except ValueError:
        return topic, queue_id
    if level <= 0 or transaction_type(sys_flag) not in _DELAYABLE:
        return topic, queue_id
    highest = _max_level(store.message_delay_level)
    if level > highest:
        level = highest
        properties[props.DELAY_TIME_LEVEL] = str(level)
    properties[props.REAL_TOPIC] = topic
    properties[props.REAL_QUEUE_ID] = str(queue_id)
    return SCHEDULE_TOPIC, delay_level_queue_id(level)


def route_scheduled(
    properties: dict[str, str],
    topic: str,
    queue_id: int,
    sys_flag: int,
    *,
    settings: BrokerSettings,
    clock_ms: Callable[[], int],
) -> tuple[str, int] | TimerRefusal:
    """Where a message about to be stored goes: the one routing step of every put.

    Java runs ``HookUtils.handleScheduleMessage`` before every put; rmq calls this from
    the send processor (a new message) and from END_TRANSACTION (a committed half
    message, sysFlag COMMIT), so a committed transactional message with a delay level
    or ``TIMER_*`` properties waits exactly as a plain send with them does, counted
    from the commit. In order:

    * no ``DELAY`` and no ``TIMER_DELIVER_MS`` / ``TIMER_DELAY_SEC`` / ``TIMER_DELAY_MS``:
      ``(topic, queue_id)``, nothing read or changed (the send path's common case);
    * a half message (``topic`` is ``RMQ_SYS_TRANS_HALF_TOPIC``): stays in the half
      topic with its properties untouched, the delay or timer waits for the commit;
      but a timer the commit would refuse is refused now (checked on a copy, with the
      ``REAL_TOPIC`` / ``REAL_QID`` the half message carries);
    * :func:`~rmq_broker.timer.route_timer` (timer topic, or its refusal), then
      :func:`route_delayed` (``SCHEDULE_TOPIC_XXXX``); both add ``REAL_TOPIC`` /
      ``REAL_QID`` to ``properties`` in place.

    Args:
        properties: the message's properties (changed in place when it is routed).
        topic, queue_id, sys_flag: where and how the message would be stored.
        settings: ``timerWheelEnable``, ``timerMaxDelaySec``, ``timerPrecisionMs``
            (broker) and ``messageDelayLevel`` (store).
        clock_ms: the wall clock in ms; read only for a timer message.

    Returns:
        ``(topic, queue_id)`` to store the message in, or the refusal to answer.
    """
    if (
        _DELAY_KEY not in properties
        and _TIMER_DELIVER_MS not in properties
        and _TIMER_DELAY_SEC not in properties
        and _TIMER_DELAY_MS not in properties
    ):
        return topic, queue_id
    if topic == TRANS_HALF_TOPIC:
        real_topic = properties.get(props.REAL_TOPIC, topic)
        real_queue = properties.get(props.REAL_QUEUE_ID, "0")
        checked = route_scheduled(
            dict(properties),
            real_topic,
            int(real_queue) if real_queue.lstrip("-").isdecimal() else 0,
            _COMMIT_FLAG,
            settings=settings,
            clock_ms=clock_ms,
        )
        if isinstance(checked, TimerRefusal):
            return checked
        return topic, queue_id
    config = settings.broker
    if (
        _TIMER_DELIVER_MS in properties
        or _TIMER_DELAY_SEC in properties
        or _TIMER_DELAY_MS in properties
    ):
        timed = route_timer(
            properties,
            topic,
            queue_id,
            sys_flag,
            now_ms=clock_ms(),
            wheel_enable=config.timer_wheel_enable,
            max_delay_sec=config.timer_max_delay_sec,
            precision_ms=config.timer_precision_ms,
        )
        if isinstance(timed, TimerRefusal) or timed[0] != topic:
            return timed
    return route_delayed(properties, topic, queue_id, sys_flag, settings.store)


def schedule_if_delayed(message: MessageExt, store: StoreConfig) -> MessageExt:
    """:func:`route_delayed` for a message about to be stored (the send path's hook):
    the same message when it is not delayed, else a copy bound for the schedule topic."""
    properties = message.properties
    if props.DELAY_TIME_LEVEL not in properties:
        return message
    properties = dict(properties)
    topic, queue_id = route_delayed(
        properties, message.topic, message.queue_id, message.sys_flag, store
    )
    if topic == message.topic:
        return message
    return dataclasses.replace(message, topic=topic, queue_id=queue_id, properties=properties)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleStatistics:
    """Counters of a :class:`ScheduleService`."""

    delivered: int  # messages moved to their real topic since start
    skipped: int  # units that could not be delivered (unreadable, no REAL_TOPIC)
    failures: int  # store errors while delivering (retried after 10 s)
    offsets: dict[int, int]  # level -> next schedule-queue offset to deliver
    lateness_ms: list[int]  # time stored in the real topic minus due time (ms), latest


@final
class ScheduleService:
    """Delivers due delay-level messages (see the module docstring).

    ``run`` is the service's one task; its owner (the broker) cancels it, then calls
    :meth:`persist` once more.
    """

    def __init__(
        self,
        store: BrokerStore,
        path: Path,
        *,
        delay_table: dict[int, int],
        flush_interval_ms: int = 10_000,
        clock_ms: Callable[[], int] = _now_ms,
        timer: TimerService | None = None,
        on_topic_arrival: Callable[[str, Callable[[], None]], None] | None = None,
    ) -> None:
        """
        Args:
            store: the message store (schedule queues are read from it, due messages
                appended to it).
            path: ``config/delayOffset.json``.
            delay_table: level (1-based) -> delay in ms (``messageDelayLevel``).
            flush_interval_ms: ``flushDelayOffsetInterval``: ms between writes of the file.
            clock_ms: the wall clock in ms (due times are store timestamps).
            timer: the timer-message service this task drives too (its ``load`` is the
                caller's; :meth:`persist` writes its file as well).
            on_topic_arrival: registers a callback run when a message arrives in one
                topic (the broker's one arrival listener, :class:`~rmq_broker.controller.
                BrokerController`); without it, the service adds its own arrival listener
                to ``store`` (called for every message of every topic).
        """
        if not delay_table:
            raise ValueError("messageDelayLevel defines no level")
        self.path = path
        self._store = store
        self._delays = dict(delay_table)
        self._flush_interval_ms = flush_interval_ms
        self._clock_ms = clock_ms
        self._offsets: dict[int, int] = {}
        self._head_due: dict[int, int] = {}  # level -> due ms of the unit at its offset
        self._retry_at: dict[int, int] = {}  # level -> ms when delivery is retried
        self._dirty = False
        self._budget = _PASS_BUDGET
        self._wake = asyncio.Event()
        self._delivered = 0
        self._skipped = 0
        self._failures = 0
        self._lateness: collections.deque[int] = collections.deque(maxlen=_LATENESS_SAMPLES)
        self.data_version = DataVersion(counter=0, state_version=0, timestamp=clock_ms())
        self.timer = timer
        if timer is not None:
            timer.wake = self.wake
        if on_topic_arrival is None:
            store.add_arrival_listener(self._on_arrival)
        else:
            on_topic_arrival(SCHEDULE_TOPIC, self._wake.set)

    # ------------------------------------------------------------------ persistence

    def load(self) -> None:
        """Read ``delayOffset.json`` (or its ``.bak``); absent means from the start.

        Raises:
            MetadataFileError: the file exists but is not a delay-offset table.
        """
        value = read_json_file(self.path)
        if value is None:
            return
        if not isinstance(value, dict):
            raise MetadataFileError(self.path, "the top level is not a JSON object")
        table = value.get("offsetTable") or {}
        if not isinstance(table, dict):
            raise MetadataFileError(self.path, "offsetTable is not a JSON object")
        for level, offset in table.items():
            if not (isinstance(offset, int) and str(level).isdigit()):
                raise MetadataFileError(
                    self.path, f"offsetTable[{level!r}] = {offset!r} is not a level and offset"
                )
            self._offsets[int(str(level))] = offset
        version = value.get("dataVersion")
        if version is not None:
            try:
                self.data_version = DataVersion.from_value(version)
            except RemoteProtocolError as exc:
                raise MetadataFileError(self.path, f"dataVersion: {exc}") from exc

    def to_value(self) -> JSONValue:
        """The file's content: Java's ``ScheduleMessageService.encode``."""
        table: JSONValue = {str(k): v for k, v in sorted(self._offsets.items())}
        return {"dataVersion": self.data_version.to_value(), "offsetTable": table}

    def persist(self) -> None:
        """Write the file now (blocking: fsync; call it from a thread on a loop).

        Raises:
            OSError: the file cannot be written.
        """
        self._dirty = False
        write_json_file(self.path, self.to_value())
        if self.timer is not None:
            self.timer.persist()

    # ------------------------------------------------------------------ delivery

    def _on_arrival(self, topic: str, queue_id: int, queue_offset: int, tags_code: int) -> None:
        if topic == SCHEDULE_TOPIC:
            self._wake.set()

    def wake(self) -> None:
        """Look at the schedule queues now (after a fake clock moved, for instance)."""
        self._wake.set()

    def offset(self, level: int) -> int:
        """The next schedule-queue offset of ``level`` to deliver."""
        return self._offsets.get(level, 0)

    def deliver_due(self) -> int | None:
        """Deliver every due message of every level, now.

        Returns:
            The earliest due time (ms) of what is left, or None when nothing waits.
        """
        now = self._clock_ms()
        self._budget = _PASS_BUDGET
        earliest: int | None = None
        for level in self._delays:
            due = self._deliver_level(level, now)
            if due is not None and (earliest is None or due < earliest):
                earliest = due
        if self.timer is not None:
            due = self.timer.deliver_due()
            if due is not None and (earliest is None or due < earliest):
                earliest = due
        return earliest

    def _deliver_level(self, level: int, now: int) -> int | None:
        store = self._store
        queue_id = delay_level_queue_id(level)
        retry_at = self._retry_at.get(level)
        if retry_at is not None:
            if now < retry_at:
                return retry_at
            del self._retry_at[level]
        head_due = self._head_due.get(level)
        if head_due is not None and now < head_due:
            return head_due
        delay = self._delays[level]
        offset = self._offsets.get(level, 0)
        while True:
            max_offset = store.get_max_offset_in_queue(SCHEDULE_TOPIC, queue_id)
            if offset >= max_offset:
                self._head_due.pop(level, None)
                return None
            min_offset = store.get_min_offset_in_queue(SCHEDULE_TOPIC, queue_id)
            if offset < min_offset:
                logger.warning(
                    "delay level %d: offset %d was deleted from %s; going on from %d",
                    level, offset, SCHEDULE_TOPIC, min_offset,
                )  # fmt: skip
                offset = min_offset
                self._set_offset(level, offset)
            result = store.get_messages(SCHEDULE_TOPIC, queue_id, offset, max_count=_READ_BATCH)
            if not result.messages:
                if result.next_begin_offset > offset:
                    self._set_offset(level, result.next_begin_offset)
                    offset = result.next_begin_offset
                    continue
                return None
            for view, queue_offset in zip(result.messages, result.queue_offsets, strict=True):
                try:
                    message, _ = decode_message(view, decompress=False)
                except RemoteProtocolError as exc:
                    logger.error(
                        "delay level %d: unit %d of %s is unreadable (%s); skipped",
                        level, queue_offset, SCHEDULE_TOPIC, exc,
                    )  # fmt: skip
                    self._skipped += 1
                    self._set_offset(level, queue_offset + 1)
                    continue
                finally:
                    view.release()
                due = message.store_timestamp + delay
                if due > now + delay:  # the clock went back: Java delivers at once
                    due = now
                if due > now:
                    self._head_due[level] = due
                    self._set_offset(level, queue_offset)
                    return due
                if not self._deliver_one(level, queue_offset, message):
                    self._retry_at[level] = now + _RETRY_AFTER_ERROR
                    self._set_offset(level, queue_offset)
                    return self._retry_at[level]
                self._lateness.append(self._clock_ms() - due)
                self._set_offset(level, queue_offset + 1)
                self._budget -= 1
                if self._budget <= 0:  # more may be due: come back after other work
                    self._head_due.pop(level, None)
                    return now
            offset = self._offsets[level]
            self._head_due.pop(level, None)

    def _set_offset(self, level: int, offset: int) -> None:
        if self._offsets.get(level) != offset:
            self._offsets[level] = offset
            self._dirty = True

    def _deliver_one(self, level: int, queue_offset: int, message: MessageExt) -> bool:
        """Store ``message`` in its real topic; False on a store error (retry later)."""
        properties = dict(message.properties)
        real_topic = properties.get(props.REAL_TOPIC)
        real_queue = properties.get(props.REAL_QUEUE_ID, "")
        if not real_topic or not real_queue.lstrip("-").isdigit():
            logger.error(
                "delay level %d: unit %d of %s has no REAL_TOPIC/REAL_QID (%r, %r); skipped",
                level, queue_offset, SCHEDULE_TOPIC, real_topic, real_queue,
            )  # fmt: skip
            self._skipped += 1
            return True
        properties.pop(props.DELAY_TIME_LEVEL, None)
        properties[props.WAIT_STORE_MSG_OK] = "false"
        due = MessageExt(
            topic=real_topic,
            queue_id=int(real_queue),
            flag=message.flag,
            sys_flag=message.sys_flag,
            born_timestamp=message.born_timestamp,
            born_host=message.born_host,
            store_host=message.store_host,
            reconsume_times=message.reconsume_times,
            body=message.body,
            properties=properties,
        )
        try:
            self._store.append_messages([due])
        except StoreError as exc:
            self._failures += 1
            logger.warning(
                "delay level %d: delivering unit %d to %s failed (%s); retrying in %d ms",
                level, queue_offset, real_topic, exc, _RETRY_AFTER_ERROR,
            )  # fmt: skip
            return False
        self._delivered += 1
        return True

    async def run(self) -> None:
        """Deliver due messages until cancelled; write the offsets every
        ``flushDelayOffsetInterval`` when they changed (in a thread)."""
        last_flush = time.monotonic()
        while True:
            self._wake.clear()
            try:
                earliest = self.deliver_due()
            except Exception:  # a bug must not stop delivery for good: log, retry soon
                logger.exception("delivering scheduled messages failed")
                earliest = self._clock_ms() + 1000
            flush_in = self._flush_interval_ms / 1000 - (time.monotonic() - last_flush)
            if flush_in <= 0:
                last_flush = time.monotonic()
                if self._dirty or (self.timer is not None and self.timer.dirty):
                    try:
                        await asyncio.to_thread(self.persist)
                    except OSError:
                        logger.exception("writing %s failed; retrying", self.path)
                        self._dirty = True
                flush_in = self._flush_interval_ms / 1000
            timeout = flush_in
            if earliest is not None:
                timeout = min(timeout, max(0.0, (earliest - self._clock_ms()) / 1000))
            if timeout <= 0:
                await asyncio.sleep(0)
                continue
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def statistics(self) -> ScheduleStatistics:
        """Counters and the latest lateness samples."""
        return ScheduleStatistics(
            delivered=self._delivered,
            skipped=self._skipped,
            failures=self._failures,
            offsets=dict(self._offsets),
            lateness_ms=list(self._lateness),
        )


def lateness_percentile(samples: list[int], fraction: float) -> int:
    """The ``fraction`` percentile (0..1) of ``samples`` (nearest rank); 0 when empty."""
    if not samples:
        return 0
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
