"""RocketMQ 5.x timer messages: held in ``rmq_sys_wheel_timer`` until their time.

Mirrors what a 5.x broker does with ``TIMER_DELIVER_MS`` / ``TIMER_DELAY_SEC`` /
``TIMER_DELAY_MS`` (``HookUtils.handleScheduleMessage`` / ``transformTimerMessage`` and
``TimerMessageStore.convert``), with the delivery machinery of the delay levels
(:mod:`rmq_broker.schedule`): a system topic, ``REAL_TOPIC`` / ``REAL_QID``, progress in
a JSON file under ``config/``, one task (the :class:`~rmq_broker.schedule.ScheduleService`
run loop drives this service too).

Send path (:func:`route_timer`, for non-transactional or committed messages):

* a message with a delay level > 0 loses its ``TIMER_*`` delivery properties (the level
  wins); one that already has ``TIMER_OUT_MS`` (a delivered timer message) is not a
  timer message again;
* ``timerWheelEnable=false``: SYSTEM_ERROR ``accurate timer message is not enabled,
  timerWheelEnable is false``;
* the delivery time is ``now + TIMER_DELAY_SEC * 1000``, else ``now + TIMER_DELAY_MS``,
  else ``TIMER_DELIVER_MS`` (first one present); a value that is not a Java ``long`` or
  a time more than ``timerMaxDelaySec`` ahead is MESSAGE_ILLEGAL with Java's remark;
* a time in the future is rounded down to ``timerPrecisionMs`` (an exact multiple goes
  one step lower) and kept in ``TIMER_OUT_MS``; the message is stored in
  ``rmq_sys_wheel_timer`` queue 0 with ``REAL_TOPIC`` / ``REAL_QID``;
* a time not in the future: stored at once in its topic, properties untouched (a
  ``TIMER_DEL_UNIQKEY`` message is MESSAGE_ILLEGAL then, as in Java).

Delivery (:class:`TimerService`): a message is due at ``TIMER_OUT_MS +
timerPrecisionMs``, i.e. the first precision boundary at or after the asked time,
which is when Java's wheel reaches its slot: never early, up to one precision step
late. It is then stored in its real topic and queue with ``TIMER_ENQUEUE_MS`` (when the
service read it from the timer topic), ``TIMER_DEQUEUE_MS`` (now), ``WAIT`` false,
``REAL_TOPIC`` / ``REAL_QID`` removed and every other property, flag, born time and host
kept (Java's ``convertMessage``).

Deleting (Java ``TimerMessageStore``'s delete markers, what 5.x's RECALL_MESSAGE
stores): a timer message carrying ``TIMER_DEL_UNIQKEY`` = ``<real topic>+<UNIQ_KEY>``
(:func:`build_delete_key`) and the same delivery time as the message it names is a
delete marker. It waits in the heap like a message; when their time comes, every
message of that topic and unique key due at that same time is dropped instead of
delivered (Java: the same wheel slot), then the marker is dropped too (never
delivered, as in Java). A marker for another time deletes nothing, as in Java; a
marker whose time is not in the future is refused at send (MESSAGE_ILLEGAL). The
markers are rebuilt from the timer topic at start, like the messages.

What differs from Java's timing wheel (``timerwheel`` + ``timerlog`` files): the index
of waiting messages is a heap in memory (one ``(due, queue offset, commit-log offset,
size)`` tuple per message), rebuilt at start by reading the timer topic from the oldest
message not yet delivered; progress is ``config/timerOffset.json``
(``{"commitOffset", "enqueueOffset", "deliveredUpToMs", "dataVersion"}``), written with
the delay offsets, not Java's binary ``config/timercheck``. A restart re-reads the timer
topic from ``commitOffset``, skipping what was read before (``< enqueueOffset``) and due
no later than ``deliveredUpToMs``: delivery is at-least-once (what was delivered after
the last write is delivered again). Messages are never rolled (Java re-queues messages
more than ``timerRollWindowSlot`` slots ahead and counts that in ``TIMER_ROLL_TIMES``):
a waiting message stays in the heap however far ahead it is, so ``TIMER_ROLL_TIMES`` is
never set: Java rolls only because its wheel file has a fixed number of slots
(``timerRollWindowSlot``, 2 days by default, of a 7-day wheel), and a heap has no such
bound. Timer properties on SEND_BATCH_MESSAGE messages are ignored, as in
Java (the batch path has no schedule hook). Flow control (``timerCongestNumEachSlot``)
is not implemented (Java's default never triggers it).

Not thread-safe: used on the broker's event loop.
"""

from __future__ import annotations

import collections
import dataclasses
import heapq
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Final, final

from rmq_broker.errors import MetadataFileError
from rmq_broker.jsonfile import read_json_file, write_json_file
from rmq_broker.store import BrokerStore
from rmq_protocol.codec import properties as props
from rmq_protocol.codec.body import DataVersion
from rmq_protocol.codec.codes import ResponseCode
from rmq_protocol.codec.fastjson import JSONValue
from rmq_protocol.codec.message import MessageExt, TransactionType, decode_message, transaction_type
from rmq_protocol.errors import RemoteProtocolError
from rmq_store import StoreError

__all__ = [
    "TIMER_TOPIC",
    "TimerRefusal",
    "TimerService",
    "TimerStatistics",
    "build_delete_key",
    "effective_timer_precision",
    "route_timer",
]

logger = logging.getLogger(__name__)

TIMER_TOPIC: Final = "rmq_sys_wheel_timer"  # TimerMessageStore.TIMER_TOPIC
TIMER_QUEUE_ID: Final = 0

_READ_BATCH: Final = 32  # units read from the timer topic per read
_PASS_BUDGET: Final = 512  # deliveries (and as many reads) per pass
_RETRY_AFTER_ERROR: Final = 10_000  # ms before a failed delivery is tried again
_LATENESS_SAMPLES: Final = 100_000
_JAVA_LONG: Final = re.compile(r"[+-]?[0-9]+\Z")
_LONG_MAX: Final = 2**63 - 1
_PRECISIONS: Final = (100, 200, 500, 1000)
_TIMEABLE: Final = (TransactionType.NOT_TYPE, TransactionType.COMMIT_TYPE)
_DELIVERY_KEYS: Final = (props.TIMER_DELIVER_MS, props.TIMER_DELAY_SEC, props.TIMER_DELAY_MS)
_MESSAGE: Final = 0  # heap entry kinds: a timer message ...
_MARKER: Final = 1  # ... and a TIMER_DEL_UNIQKEY delete marker (after the messages of its time)


def build_delete_key(real_topic: str, uniq_key: str) -> str:
    """The ``TIMER_DEL_UNIQKEY`` value that deletes the timer message ``uniq_key`` of
    ``real_topic`` (Java ``TimerMessageStore.buildDeleteKey``: ``topic+uniqKey``)."""
    return f"{real_topic}+{uniq_key}"


def effective_timer_precision(precision_ms: int) -> int:
    """``timerPrecisionMs`` as Java's setter keeps it: the largest of 100, 200, 500,
    1000 not above the value (100 for anything smaller)."""
    chosen = _PRECISIONS[0]
    for candidate in _PRECISIONS:
        if precision_ms >= candidate:
            chosen = candidate
    return chosen


@dataclasses.dataclass(frozen=True, slots=True)
class TimerRefusal:
    """A timer message the broker refuses: the response code and remark Java sends."""

    code: ResponseCode
    remark: str


def _illegal(max_delay_sec: int) -> TimerRefusal:
    return TimerRefusal(
        ResponseCode.MESSAGE_ILLEGAL,
        "timer message illegal, the delay time should not be bigger than the max delay "
        f"{max_delay_sec * 1000}ms; or if set del msg, the delay time should be bigger than "
        "the current time",
    )


def _java_long(text: str) -> int | None:
    if not _JAVA_LONG.match(text):
        return None
    value = int(text)
    return value if -_LONG_MAX - 1 <= value <= _LONG_MAX else None


def _positive_level(text: str | None) -> bool:
    if text is None:
        return False
    try:
        return int(text) > 0
    except ValueError:
        return False


def route_timer(
    properties: dict[str, str],
    topic: str,
    queue_id: int,
    sys_flag: int,
    *,
    now_ms: int,
    wheel_enable: bool,
    max_delay_sec: int,
    precision_ms: int,
) -> tuple[str, int] | TimerRefusal:
    """The send-path hook (Java's ``checkIfTimerMessage`` + ``transformTimerMessage``).

    Returns where the message is stored: ``(topic, queue_id)`` unchanged, or the timer
    topic and queue 0 with ``TIMER_OUT_MS``, ``REAL_TOPIC`` and ``REAL_QID`` added to
    ``properties``; or the refusal to answer. May remove the ``TIMER_*`` delivery
    properties of a message with a delay level (the level wins, as in Java).
    """
    if transaction_type(sys_flag) not in _TIMEABLE or topic == TIMER_TOPIC:
        return topic, queue_id
    if _positive_level(properties.get(props.DELAY_TIME_LEVEL)):
        for key in _DELIVERY_KEYS:
            properties.pop(key, None)
        return topic, queue_id
    if props.TIMER_OUT_MS in properties:
        return topic, queue_id
    delay_sec = properties.get(props.TIMER_DELAY_SEC)
    delay_ms = properties.get(props.TIMER_DELAY_MS)
    deliver = properties.get(props.TIMER_DELIVER_MS)
    if delay_sec is None and delay_ms is None and deliver is None:
        return topic, queue_id
    if not wheel_enable:
        return TimerRefusal(
            ResponseCode.SYSTEM_ERROR,
            "accurate timer message is not enabled, timerWheelEnable is false",
        )
    if delay_sec is not None:
        value = _java_long(delay_sec)
        deliver_ms = None if value is None else now_ms + value * 1000
    elif delay_ms is not None:
        value = _java_long(delay_ms)
        deliver_ms = None if value is None else now_ms + value
    else:
        deliver_ms = _java_long(deliver or "")
    if deliver_ms is None:
        return _illegal(max_delay_sec)
    if deliver_ms <= now_ms:
        if props.TIMER_DEL_UNIQKEY in properties:
            return _illegal(max_delay_sec)
        return topic, queue_id
    if deliver_ms - now_ms > max_delay_sec * 1000:
        return _illegal(max_delay_sec)
    precision = effective_timer_precision(precision_ms)
    if deliver_ms % precision == 0:
        deliver_ms -= precision
    else:
        deliver_ms = deliver_ms // precision * precision
    properties[props.TIMER_OUT_MS] = str(deliver_ms)
    properties[props.REAL_TOPIC] = topic
    properties[props.REAL_QUEUE_ID] = str(queue_id)
    return TIMER_TOPIC, TIMER_QUEUE_ID


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TimerStatistics:
    """Counters of a :class:`TimerService`."""

    waiting: int  # messages read from the timer topic, not yet delivered
    delivered: int  # messages moved to their real topic since start
    skipped: int  # units that could not be delivered (unreadable, no REAL_TOPIC)
    failures: int  # store errors while delivering (retried after 10 s)
    deleted: int  # messages not delivered because a TIMER_DEL_UNIQKEY marker named them
    delete_markers: int  # TIMER_DEL_UNIQKEY markers whose time came (never delivered)
    enqueue_offset: int  # next timer-queue offset to read
    commit_offset: int  # every timer-queue unit before it is delivered
    lateness_ms: list[int]  # time stored in the real topic minus the due time (ms), latest


@final
class TimerService:
    """Delivers due timer messages (see the module docstring).

    The :class:`~rmq_broker.schedule.ScheduleService` loop calls :meth:`deliver_due`
    and :meth:`persist`; ``wake`` is that loop's wake-up.
    """

    def __init__(
        self,
        store: BrokerStore,
        path: Path,
        *,
        precision_ms: int = 1000,
        clock_ms: Callable[[], int],
        on_topic_arrival: Callable[[str, Callable[[], None]], None] | None = None,
    ) -> None:
        """
        Args:
            store: the message store (the timer topic is read from it, due messages
                appended to it).
            path: ``config/timerOffset.json``.
            precision_ms: ``timerPrecisionMs`` (snapped as Java's setter does).
            clock_ms: the wall clock in ms.
            on_topic_arrival: registers a callback run when a message arrives in one
                topic (the broker's one arrival listener, :class:`~rmq_broker.controller.
                BrokerController`); without it, the service adds its own arrival listener
                to ``store`` (called for every message of every topic).
        """
        self.path = path
        self._store = store
        self._precision = effective_timer_precision(precision_ms)
        self._clock_ms = clock_ms
        # (due ms, kind, queue offset, commit-log offset, size, enqueue ms); at one due
        # time the messages (kind 0) come before the delete markers (kind 1)
        self._heap: list[tuple[int, int, int, int, int, int]] = []
        # (TIMER_DEL_UNIQKEY, due ms) -> delete markers waiting in the heap
        self._deletes: collections.Counter[tuple[str, int]] = collections.Counter()
        self._marker_keys: dict[int, str] = {}  # queue offset of a waiting marker -> its key
        self._enqueue_offset = 0
        self._skip_before = 0  # offsets read before the restart ...
        self._skip_due = -1  # ... and due no later than this were delivered then
        self._retry_at: int | None = None
        self._dirty = False
        self._delivered = 0
        self._skipped = 0
        self._failures = 0
        self._deleted = 0
        self._markers = 0
        self._lateness: collections.deque[int] = collections.deque(maxlen=_LATENESS_SAMPLES)
        self.data_version = DataVersion(counter=0, state_version=0, timestamp=clock_ms())
        self.wake: Callable[[], None] = lambda: None
        if on_topic_arrival is None:
            store.add_arrival_listener(self._on_arrival)
        else:
            on_topic_arrival(TIMER_TOPIC, self._woken)

    @property
    def precision_ms(self) -> int:
        """The effective ``timerPrecisionMs``."""
        return self._precision

    @property
    def dirty(self) -> bool:
        """Progress changed since the last :meth:`persist`."""
        return self._dirty

    def _on_arrival(self, topic: str, queue_id: int, queue_offset: int, tags_code: int) -> None:
        if topic == TIMER_TOPIC:
            self.wake()

    def _woken(self) -> None:
        self.wake()  # looked up per call: the schedule service sets it after __init__

    # ------------------------------------------------------------------ persistence

    def load(self) -> None:
        """Read ``timerOffset.json`` (or its ``.bak``); absent means from the start.

        Raises:
            MetadataFileError: the file exists but is not a timer progress record.
        """
        value = read_json_file(self.path)
        if value is None:
            return
        if not isinstance(value, dict):
            raise MetadataFileError(self.path, "the top level is not a JSON object")
        numbers: dict[str, int] = {}
        for key in ("commitOffset", "enqueueOffset", "deliveredUpToMs"):
            item = value.get(key)
            if not isinstance(item, int) or isinstance(item, bool):
                raise MetadataFileError(self.path, f"{key} = {item!r} is not an integer")
            numbers[key] = item
        if not 0 <= numbers["commitOffset"] <= numbers["enqueueOffset"]:
            raise MetadataFileError(
                self.path,
                f"commitOffset {numbers['commitOffset']} is not in "
                f"0..enqueueOffset {numbers['enqueueOffset']}",
            )
        version = value.get("dataVersion")
        if version is not None:
            try:
                self.data_version = DataVersion.from_value(version)
            except RemoteProtocolError as exc:
                raise MetadataFileError(self.path, f"dataVersion: {exc}") from exc
        self._enqueue_offset = numbers["commitOffset"]
        self._skip_before = numbers["enqueueOffset"]
        self._skip_due = numbers["deliveredUpToMs"]

    def commit_offset(self) -> int:
        """Every timer-queue unit before this offset is delivered (or skipped)."""
        if not self._heap:
            return self._enqueue_offset
        return min(entry[2] for entry in self._heap)

    def to_value(self) -> JSONValue:
        """The file's content."""
        delivered_up_to = self._heap[0][0] - 1 if self._heap else self._clock_ms()
        return {
            "commitOffset": self.commit_offset(),
            "dataVersion": self.data_version.to_value(),
            "deliveredUpToMs": delivered_up_to,
            "enqueueOffset": self._enqueue_offset,
        }

    def persist(self) -> None:
        """Write the file now (blocking: fsync; call it from a thread on a loop).

        Raises:
            OSError: the file cannot be written.
        """
        self._dirty = False
        write_json_file(self.path, self.to_value())

    # ------------------------------------------------------------------ delivery

    def deliver_due(self) -> int | None:
        """Read what arrived in the timer topic, deliver every due message, now.

        Returns:
            The earliest due time (ms) of what is left, or None when nothing waits.
        """
        now = self._clock_ms()
        if not self._enqueue(now):
            return now  # more to read: come back after other work
        if self._retry_at is not None:
            if now < self._retry_at:
                return self._retry_at
            self._retry_at = None
        heap = self._heap
        budget = _PASS_BUDGET
        while heap and heap[0][0] <= now:
            due, kind, queue_offset, phy_offset, size, enqueue_ms = heap[0]
            if kind == _MARKER:
                self._drop_marker(due, queue_offset)
            elif not self._deliver_one(queue_offset, phy_offset, size, enqueue_ms, due):
                self._retry_at = now + _RETRY_AFTER_ERROR
                return self._retry_at
            heapq.heappop(heap)
            self._dirty = True
            budget -= 1
            if budget <= 0:
                return now
        return heap[0][0] if heap else None

    def _enqueue(self, now: int) -> bool:
        """Read new timer-topic units into the heap; False if the budget ran out."""
        store = self._store
        offset = self._enqueue_offset
        budget = _PASS_BUDGET
        while True:
            max_offset = store.get_max_offset_in_queue(TIMER_TOPIC, TIMER_QUEUE_ID)
            if offset >= max_offset:
                return True
            if budget <= 0:
                return False
            min_offset = store.get_min_offset_in_queue(TIMER_TOPIC, TIMER_QUEUE_ID)
            if offset < min_offset:
                logger.warning(
                    "timer: offset %d was deleted from %s; going on from %d",
                    offset, TIMER_TOPIC, min_offset,
                )  # fmt: skip
                offset = self._enqueue_offset = min_offset
            result = store.get_messages(TIMER_TOPIC, TIMER_QUEUE_ID, offset, max_count=_READ_BATCH)
            if not result.messages:
                if result.next_begin_offset > offset:
                    offset = self._enqueue_offset = result.next_begin_offset
                    continue
                return True
            for view, queue_offset in zip(result.messages, result.queue_offsets, strict=True):
                budget -= 1
                self._enqueue_offset = queue_offset + 1
                self._dirty = True
                try:
                    message, _ = decode_message(view, decompress=False)
                except RemoteProtocolError as exc:
                    logger.error(
                        "timer: unit %d of %s is unreadable (%s); skipped",
                        queue_offset, TIMER_TOPIC, exc,
                    )  # fmt: skip
                    self._skipped += 1
                    continue
                finally:
                    view.release()
                out_text = message.properties.get(props.TIMER_OUT_MS, "")
                out_ms = _java_long(out_text)
                if out_ms is None:
                    logger.error(
                        "timer: unit %d of %s has no TIMER_OUT_MS (%r); skipped",
                        queue_offset, TIMER_TOPIC, out_text,
                    )  # fmt: skip
                    self._skipped += 1
                    continue
                due = out_ms + self._precision
                if queue_offset < self._skip_before and due <= self._skip_due:
                    continue  # delivered before the restart
                kind = _MESSAGE
                delete_key = message.properties.get(props.TIMER_DEL_UNIQKEY)
                if delete_key is not None:
                    kind = _MARKER
                    self._deletes[delete_key, due] += 1
                    self._marker_keys[queue_offset] = delete_key
                heapq.heappush(
                    self._heap,
                    (due, kind, queue_offset, message.commit_log_offset, message.store_size, now),
                )
            offset = self._enqueue_offset

    def _deliver_one(
        self, queue_offset: int, phy_offset: int, size: int, enqueue_ms: int, due: int
    ) -> bool:
        """Store the message in its real topic; False on a store error (retry later)."""
        view = self._store.read_message(phy_offset, size)
        if view is None:
            logger.error(
                "timer: unit %d of %s (commit-log offset %d) is gone; skipped",
                queue_offset, TIMER_TOPIC, phy_offset,
            )  # fmt: skip
            self._skipped += 1
            return True
        try:
            message, _ = decode_message(view, decompress=False)
        except RemoteProtocolError as exc:
            logger.error(
                "timer: unit %d of %s is unreadable (%s); skipped", queue_offset, TIMER_TOPIC, exc
            )
            self._skipped += 1
            return True
        finally:
            view.release()
        properties = dict(message.properties)
        real_topic = properties.pop(props.REAL_TOPIC, None)
        real_queue = properties.pop(props.REAL_QUEUE_ID, "")
        uniq_key = properties.get(props.UNIQ_KEY)
        if (
            self._deletes
            and uniq_key is not None
            and (build_delete_key(real_topic or "", uniq_key), due) in self._deletes
        ):
            logger.info(
                "timer: message %s of %s (unit %d, due %d) deleted by a %s marker",
                uniq_key, real_topic, queue_offset, due, props.TIMER_DEL_UNIQKEY,
            )  # fmt: skip
            self._deleted += 1
            return True
        if not real_topic or not real_queue.lstrip("-").isdigit():
            logger.error(
                "timer: unit %d of %s has no REAL_TOPIC/REAL_QID (%r, %r); skipped",
                queue_offset, TIMER_TOPIC, real_topic, real_queue,
            )  # fmt: skip
            self._skipped += 1
            return True
        now = self._clock_ms()
        properties[props.TIMER_ENQUEUE_MS] = str(enqueue_ms)
        properties[props.TIMER_DEQUEUE_MS] = str(now)
        properties[props.WAIT_STORE_MSG_OK] = "false"
        delivered = MessageExt(
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
            self._store.append_messages([delivered])
        except StoreError as exc:
            self._failures += 1
            logger.warning(
                "timer: delivering unit %d to %s failed (%s); retrying in %d ms",
                queue_offset, real_topic, exc, _RETRY_AFTER_ERROR,
            )  # fmt: skip
            return False
        self._delivered += 1
        self._lateness.append(now - due)
        return True

    def _drop_marker(self, due: int, queue_offset: int) -> None:
        """A delete marker's time came: the messages it names (due at the same time)
        were not delivered; forget it. Java never delivers a marker either."""
        key = self._marker_keys.pop(queue_offset, None)
        if key is not None:
            entry = (key, due)
            self._deletes[entry] -= 1
            if self._deletes[entry] <= 0:
                del self._deletes[entry]
        self._markers += 1

    def statistics(self) -> TimerStatistics:
        """Counters and the latest lateness samples."""
        return TimerStatistics(
            waiting=len(self._heap),
            delivered=self._delivered,
            skipped=self._skipped,
            failures=self._failures,
            deleted=self._deleted,
            delete_markers=self._markers,
            enqueue_offset=self._enqueue_offset,
            commit_offset=self.commit_offset(),
            lateness_ms=list(self._lateness),
        )
