"""The message store: commit log, consume queues, index, checkpoint, flushing, retention.

Mirrors ``org.apache.rocketmq.store.DefaultMessageStore`` over the on-disk layout of spec
§4 (``storePathRootDir``)::

    commitlog/<20-digit offset>           every record, back to back (CommitLog)
    consumequeue/<topic>/<queueId>/...    20-byte units per queue (ConsumeQueue)
    index/<yyyyMMddHHmmssSSS>             key → offset hash files (IndexService)
    checkpoint, abort, lock               recovery state

Writing (:meth:`MessageStore.put_messages`, :meth:`MessageStore.append_messages`) takes one
lock, copies the encoded records into the mapped commit log and dispatches them to their
consume queues and the index on the same thread, before the lock is released: a reader
never sees a message whose queue unit or index entry is missing. Reads take no lock: they
return ``memoryview`` slices of the mapped segments.

Threads: the caller's (puts and gets), one flush thread (:mod:`rmq_store.flush`) and one
maintenance thread (consume-queue/index/checkpoint flushing every
``flushIntervalConsumeQueue`` ms and retention every ``cleanResourceInterval`` ms). No
asyncio inside: an event loop awaits durability through
:meth:`MessageStore.flush_future` or a flush listener.
"""

from __future__ import annotations

import bisect
import concurrent.futures
import dataclasses
import enum
import errno
import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from itertools import islice, repeat
from pathlib import Path
from types import TracebackType
from typing import Final, Self, final

from rmq_protocol.codec import properties as props
from rmq_protocol.codec.hashing import tags_code
from rmq_protocol.codec.message import (
    MessageExt,
    decode_message,
    encode_message,
    store_timestamp_position,
)
from rmq_protocol.codec.msgid import offset_msg_id
from rmq_protocol.errors import RemoteProtocolError
from rmq_store.checkpoint import AbortMarker, StoreCheckpoint, StoreLock
from rmq_store.commitlog import CommitLog, ScannedRecord
from rmq_store.config import FlushDiskType, StoreConfig
from rmq_store.consume_queue import ConsumeQueue, CqUnit
from rmq_store.errors import (
    DiskFullError,
    MessageTooLargeError,
    StoreClosedError,
    StoreError,
)
from rmq_store.flush import CommitLogFlusher, FlushListener, FlushStatistics
from rmq_store.index_service import IndexRecord, IndexService
from rmq_store.mapped_file import MappedFile
from rmq_store.speedups import speedups as _speedups

__all__ = [
    "ArrivalListener",
    "BoundaryType",
    "GetMessageStatus",
    "GetResult",
    "MessageStore",
    "PutResult",
    "QueryResult",
    "RecoveryInfo",
    "RetentionReport",
    "StoreStatistics",
]

logger = logging.getLogger(__name__)

SCHEDULE_TOPIC: Final = "SCHEDULE_TOPIC_XXXX"
_PREPARED_OR_ROLLBACK: Final = 0x4  # transaction bits 0x4 (prepared) and 0xC (rollback)
_TRANSACTION_MASK: Final = 0xC
_ROLLBACK: Final = 0xC
_RECORD_OVERHEAD: Final = 64 * 1024 + 256  # topic + properties + fixed fields, at most
_NORMAL_RECOVERY_SEGMENTS: Final = 3  # RocketMQ's recoverNormally scans the last three
_DISPATCH_CHUNK: Final = 256  # records re-dispatched together after recovery
_INDEX_BATCH: Final = 256  # index records a writer collects before writing them (D17)

ArrivalListener = Callable[[str, int, int, int], None]
"""``listener(topic, queue_id, queue_offset, tags_code)``, called on the writing thread
after a message is dispatched (the broker's long-polling wake-up hook)."""


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def _disk_used_ratio(path: Path) -> float:
    stat = os.statvfs(path)
    if stat.f_blocks == 0:
        return 0.0
    return (stat.f_blocks - stat.f_bfree) / stat.f_blocks


class GetMessageStatus(enum.Enum):
    """The outcome of :meth:`MessageStore.get_messages` (RocketMQ's GetMessageStatus)."""

    FOUND = "FOUND"
    NO_MATCHED_MESSAGE = "NO_MATCHED_MESSAGE"
    MESSAGE_WAS_REMOVING = "MESSAGE_WAS_REMOVING"
    OFFSET_FOUND_NULL = "OFFSET_FOUND_NULL"
    OFFSET_OVERFLOW_BADLY = "OFFSET_OVERFLOW_BADLY"
    OFFSET_OVERFLOW_ONE = "OFFSET_OVERFLOW_ONE"
    OFFSET_TOO_SMALL = "OFFSET_TOO_SMALL"
    NO_MATCHED_LOGIC_QUEUE = "NO_MATCHED_LOGIC_QUEUE"
    NO_MESSAGE_IN_QUEUE = "NO_MESSAGE_IN_QUEUE"


class BoundaryType(enum.Enum):
    """Which offset a timestamp search returns when several messages share a time."""

    LOWER = "lower"  # the first message stored at or after the time
    UPPER = "upper"  # the last message stored at or before the time


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PutResult:
    """Where a message (or a batch: the first record) was stored."""

    phy_offset: int  # commit-log offset of the first record
    wrote_bytes: int  # bytes of all records
    queue_offset: int  # logical offset of the first record (0 for prepared/rollback)
    store_timestamp: int  # ms
    msg_ids: tuple[str, ...]  # offset msgIds, one per record
    # Commit-log offset just past the last record (phy_offset + wrote_bytes): durable once
    # flushed to here. Stored, not a property: every SYNC_FLUSH acknowledgement reads it.
    end_offset: int

    @property
    def msg_id(self) -> str:
        return self.msg_ids[0]

    @property
    def count(self) -> int:
        return len(self.msg_ids)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GetResult:
    """Messages read from one queue; ``messages`` are zero-copy views of the mapped log.

    The views stay valid while the store is open; release them (``del``, or
    ``memoryview.release``) promptly, as a deleted segment is unmapped only when no view
    of it is left.
    """

    status: GetMessageStatus
    next_begin_offset: int
    min_offset: int
    max_offset: int
    messages: list[memoryview]
    queue_offsets: list[int]
    buffer_total_size: int
    suggest_pulling_from_slave: bool = False


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class QueryResult:
    """Messages found by key; every one really carries the key (collisions removed)."""

    messages: list[memoryview]
    phy_offsets: list[int]
    index_last_update_timestamp: int
    index_last_update_phy_offset: int
    more: bool  # more messages with the key exist than ``max_num`` allowed


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryInfo:
    """What :meth:`MessageStore.open` did to make the store consistent."""

    abnormal: bool  # the abort file was present
    scan_from: int  # commit-log offset the recovery scan started at
    max_offset: int  # end of the valid commit log
    records_scanned: int
    truncated_bytes: int  # torn tail discarded
    removed_segments: int
    consume_queue_units_dropped: int  # units pointing past the recovered end
    index_files_dropped: int
    redispatched: int  # records dispatched again to queues and index
    seconds: float


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RetentionReport:
    disk_used_ratio: float
    deleted_segments: list[Path]
    deleted_consume_queue_files: int
    deleted_index_files: int
    writes_refused: bool  # the disk is past diskSpaceWarningLevelRatio


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StoreStatistics:
    put_messages: int
    put_bytes: int
    get_found: int
    get_miss: int
    min_phy_offset: int
    max_phy_offset: int
    flush: FlushStatistics
    writes_refused: bool


@final
class _Progress:
    """What every append moves on, in one object whose slots ``rmq_store._speedups.append``
    sets directly (five entries of the store's ``__dict__`` cost it 1,200-1,900 instructions
    a call). Written under the put lock; read anywhere (a slot read is atomic)."""

    __slots__ = ("dispatch_timestamp", "dispatched_to", "last_append", "put_bytes", "put_messages")

    def __init__(self) -> None:
        self.last_append = (0, 0)  # (commit-log end offset, its store timestamp): one pair
        self.dispatch_timestamp = 0  # store timestamp of the last record dispatched
        self.dispatched_to = 0  # commit-log offset up to which records are dispatched
        self.put_messages = 0
        self.put_bytes = 0


@final
class MessageStore:
    """A RocketMQ store directory, open for reading and writing.

    Open with :meth:`open` (recovers, then starts the flush and maintenance threads) and
    close with :meth:`close` or a ``with`` block. Safe for concurrent use: puts are
    serialised by one lock; gets, lookups and replication reads take none, except to
    commit a SYNC_FLUSH log's write buffer when they read records still in it.
    """

    def __init__(
        self,
        config: StoreConfig,
        *,
        clock_ms: Callable[[], int] = _wall_clock_ms,
        disk_used_ratio: Callable[[Path], float] = _disk_used_ratio,
        start_services: bool = True,
    ) -> None:
        """Private: use :meth:`open`."""
        self.config = config
        self._clock_ms = clock_ms
        self._disk_used_ratio = disk_used_ratio
        self._start_services = start_services
        self._root = config.store_path_root_dir
        self._lock = StoreLock(self._root)
        # Reentrant: the commit log takes it to commit its write buffer before a read,
        # which the store's own readers may do while they hold it.
        self._put_lock = threading.RLock()
        self._files_lock = threading.Lock()  # flushing vs. deleting files
        self._queues: dict[tuple[str, int], ConsumeQueue] = {}
        self._queue_offsets: dict[tuple[str, int], int] = {}
        self._delay_table = config.delay_level_table
        self._index_enabled = config.message_index_enable
        self._sync_flush = config.flush_disk_type is FlushDiskType.SYNC_FLUSH
        # Index records dispatched but not yet written to an index file (decision D17):
        # written _INDEX_BATCH at a time by the writer, and by every reader of the index
        # (query, flush, close) before it reads; guarded by _put_lock.
        self._index_pending: list[IndexRecord] = []
        self._max_delay_level = max(self._delay_table, default=0)
        self._arrival_listeners: list[ArrivalListener] = []
        self._closed = True
        self._writes_refused = False
        self._progress = _Progress()
        self._msg_id_prefixes: dict[tuple[str, int], str] = {}
        self._cleaned_min_offset = 0
        self._get_found = self._get_miss = 0
        self._stop_maintenance = threading.Event()
        self._maintenance = threading.Thread(
            target=self._maintenance_loop, name="rmq-store-maintenance", daemon=True
        )
        self._flusher = CommitLogFlusher(
            self._flush_commit_log,
            interval=config.flush_interval_commit_log / 1000,
            name="rmq-store-flush",
        )
        self.commit_log: CommitLog
        self.checkpoint: StoreCheckpoint
        self.index: IndexService
        self.recovery: RecoveryInfo

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def open(
        cls,
        config: StoreConfig,
        *,
        clock_ms: Callable[[], int] = _wall_clock_ms,
        disk_used_ratio: Callable[[Path], float] = _disk_used_ratio,
        start_services: bool = True,
    ) -> MessageStore:
        """Lock ``config.store_path_root_dir``, recover it and start the services.

        ``clock_ms`` (store timestamps, index file names, retention) and
        ``disk_used_ratio`` exist for tests; ``start_services=False`` leaves flushing and
        retention to explicit calls (:meth:`flush`, :meth:`run_retention`).

        Raises:
            StoreLockedError: another process has the directory open.
            StoreError: the directory is not a consistent store (named in the message).
        """
        store = cls(
            config,
            clock_ms=clock_ms,
            disk_used_ratio=disk_used_ratio,
            start_services=start_services,
        )
        store._open()
        return store

    def _open(self) -> None:
        self._root.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()
        try:
            self.recovery = self._load_and_recover()
            # What rmq_store._speedups.append reads on every call and what never changes
            # while the store is open, in one attribute (one lookup instead of ten).
            self._append_state = (
                self._put_lock.acquire,
                self._put_lock.release,
                self._queue_offsets,
                self._queues,
                self._msg_id_prefixes,
                self._arrival_listeners,
                self.commit_log,
                self.config.max_message_size,
                self.commit_log.max_record_size,
                self._index_enabled,
                self._progress,
            )
            AbortMarker.create(self._root)
        except BaseException:
            self._close_files()
            self._lock.release()
            raise
        self._closed = False
        self._check_disk()
        if self._start_services:
            self._flusher.start(self.commit_log.flushed_offset)
            self._maintenance.start()

    def close(self) -> None:
        """Flush everything, remove ``abort`` (a clean shutdown) and unlock. Idempotent."""
        if self._closed:
            return
        with self._put_lock:
            self._closed = True
        if self._start_services:
            self._stop_maintenance.set()
            self._maintenance.join()
            self._flusher.stop()
        self._flush_commit_log()
        self._flush_logics()
        self._close_files()
        AbortMarker.remove(self._root)
        self._lock.release()
        logger.info("message store %s closed", self._root)

    def _close_files(self) -> None:
        for queue in self._queues.values():
            queue.close()
        for name in ("commit_log", "index", "checkpoint"):
            if hasattr(self, name):
                getattr(self, name).close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    # ------------------------------------------------------------------ recovery

    def _load_and_recover(self) -> RecoveryInfo:
        started = time.perf_counter()
        config = self.config
        abnormal = AbortMarker.was_present(self._root)
        sync_flush = config.flush_disk_type is FlushDiskType.SYNC_FLUSH
        self.checkpoint = StoreCheckpoint(self._root)
        self.commit_log = CommitLog(
            config.commit_log_dir,
            config.mapped_file_size_commit_log,
            max_record_size=config.max_message_size + _RECORD_OVERHEAD,
            # SYNC_FLUSH: records written with pwrite, whose fdatasyncs are cheaper (D20);
            # a prefaulted (mapped) page would make each pwrite into it slower.
            prefault=not sync_flush,
            pwrite=sync_flush,
            write_lock=self._put_lock,
        )
        cq_root = config.consume_queue_dir
        if cq_root.is_dir():
            for topic_dir in sorted(cq_root.iterdir()):
                if not topic_dir.is_dir():
                    continue
                for queue_dir in sorted(topic_dir.iterdir()):
                    if queue_dir.is_dir() and queue_dir.name.isdecimal():
                        queue = ConsumeQueue(
                            cq_root,
                            topic_dir.name,
                            int(queue_dir.name),
                            config.mapped_file_size_consume_queue,
                        )
                        queue.recover()
                        self._queues[(queue.topic, queue.queue_id)] = queue
        self.index = IndexService(
            config.index_dir,
            hash_slot_num=config.max_hash_slot_num,
            index_num=config.max_index_num,
            clock_ms=self._clock_ms,
        )
        self.index.load(
            last_exit_ok=not abnormal,
            checkpoint_index_timestamp=self.checkpoint.index_msg_timestamp,
        )

        # After a clean shutdown the queues are trusted and only what follows them is
        # dispatched; after a crash (or when the queues disagree with the log) everything
        # from the checkpoint's safe point is scanned and dispatched again (idempotent).
        normal_start = None if abnormal else self._normal_scan_start()
        if normal_start is None:
            if not abnormal:
                logger.warning(
                    "store %s: consume queues do not match the commit log after a clean "
                    "shutdown; recovering as after a crash",
                    self._root,
                )
            scan_from = dispatch_from = self._abnormal_scan_start()
        else:
            scan_from = normal_start
            dispatch_from = max(scan_from, self._queues_max_physic_offset())
        report = self.commit_log.recover(scan_from)
        max_offset = report.max_offset
        dropped_units = sum(q.truncate_dirty(max_offset) for q in self._queues.values())
        dropped_index = self.index.truncate_after(max_offset)
        dispatch_from = min(max(dispatch_from, self.commit_log.min_offset), max_offset)
        self._progress.dispatched_to = dispatch_from
        redispatched = self._redispatch(dispatch_from, max_offset)
        self._write_index(raise_errors=True)
        self._progress.dispatched_to = max(self._progress.dispatched_to, max_offset)
        min_offset = self.commit_log.min_offset
        for key, queue in self._queues.items():
            queue.correct_min_offset(min_offset)
            self._queue_offsets[key] = queue.max_offset
        self._cleaned_min_offset = min_offset
        self._progress.last_append = (max_offset, self._progress.dispatch_timestamp)
        info = RecoveryInfo(
            abnormal=abnormal,
            scan_from=scan_from,
            max_offset=max_offset,
            records_scanned=report.records,
            truncated_bytes=report.truncated_bytes,
            removed_segments=report.removed_segments,
            consume_queue_units_dropped=dropped_units,
            index_files_dropped=dropped_index,
            redispatched=redispatched,
            seconds=time.perf_counter() - started,
        )
        logger.info(
            "message store %s recovered (%s shutdown): commit log %d..%d, scanned %d records "
            "from %d, torn tail %d bytes, %d segments removed, %d queue units and %d index "
            "files dropped, %d records re-dispatched, %d queues, %.3f s",
            self._root,
            "abnormal" if abnormal else "normal",
            min_offset,
            max_offset,
            info.records_scanned,
            scan_from,
            info.truncated_bytes,
            info.removed_segments,
            dropped_units,
            dropped_index,
            redispatched,
            len(self._queues),
            info.seconds,
        )
        return info

    def _redispatch(self, offset: int, end: int) -> int:
        """Dispatch the records from ``offset`` to ``end`` whose queue units or index
        entries are missing; returns how many were dispatched.

        Runs of records that are complete are stepped over without decoding them (C;
        RocketMQ's own skip rules, see :meth:`CommitLog.skip_dispatched`); the others are
        decoded and dispatched in chunks, which is idempotent for any record of a chunk
        that was complete after all."""
        index_end = self.index.end_phy_offset if self._index_enabled else -1
        redispatched = 0
        while offset < end:
            offset, _, stamp = self.commit_log.skip_dispatched(offset, end, self._queues, index_end)
            if stamp:
                self._progress.dispatch_timestamp = stamp
            self._progress.dispatched_to = offset
            chunk = list(islice(self.commit_log.scan(offset, check_crc=False), _DISPATCH_CHUNK))
            if not chunk:
                break
            self._dispatch_scanned(chunk)
            redispatched += len(chunk)
            offset = self._progress.dispatched_to
        return redispatched

    def _queues_max_physic_offset(self) -> int:
        return max((q.max_physic_offset for q in self._queues.values()), default=0)

    def _normal_scan_start(self) -> int | None:
        """After a clean shutdown the queues are flushed and trusted: check the record the
        newest unit points at and scan from it. None when that record is not there (the
        queues were lost or disagree): recover as after a crash."""
        segments = self.commit_log.segments
        if not segments:
            return 0
        end = self._queues_max_physic_offset()
        if end <= 0:
            # No queue data: scan the last segments, as RocketMQ's recoverNormally does.
            return segments[max(0, len(segments) - _NORMAL_RECOVERY_SEGMENTS)].file_from_offset
        newest = max(self._queues.values(), key=lambda q: q.max_physic_offset)
        unit = newest.get(newest.max_offset - 1)
        if unit is None or unit.commit_log_offset < self.commit_log.min_offset:
            return None
        view = self.commit_log.read(unit.commit_log_offset, unit.size)
        if view is None or len(view) < 8 or int.from_bytes(view[:4], "big") != unit.size:
            return None
        return unit.commit_log_offset

    def _abnormal_scan_start(self) -> int:
        """The newest segment whose first record was stored before the checkpoint's
        minimum timestamp (RocketMQ's isMappedFileMatchedRecover); the first segment
        when none qualifies."""
        limit = self.checkpoint.min_timestamp
        if self.config.message_index_enable:
            limit = min(limit, self.checkpoint.index_msg_timestamp)
        segments = self.commit_log.segments
        for segment in reversed(segments):
            try:
                message = self.commit_log.read_message(segment.file_from_offset)
            except StoreError:
                continue
            if 0 < message.store_timestamp <= limit:
                return segment.file_from_offset
        return segments[0].file_from_offset if segments else 0

    # ------------------------------------------------------------------ writing

    def add_arrival_listener(self, listener: ArrivalListener) -> None:
        """Call ``listener(topic, queue_id, queue_offset, tags_code)`` for every message
        dispatched to a queue, on the writing thread, after the put lock is released."""
        self._arrival_listeners.append(listener)

    def put_message(self, message: MessageExt) -> PutResult:
        """Store one message; see :meth:`put_messages`."""
        result = self.append_messages((message,))
        if self._sync_flush:
            self.commit_log.commit()  # see put_messages
            self._flusher.wait_flushed(
                result.end_offset, timeout=self.config.sync_flush_timeout / 1000
            )
        return result

    def put_messages(self, messages: Sequence[MessageExt]) -> PutResult:
        """Store ``messages`` (one or a batch) and, under SYNC_FLUSH, wait until durable.

        Raises:
            FlushDiskTimeoutError: SYNC_FLUSH and not durable within syncFlushTimeout
                (the messages are stored; RocketMQ answers FLUSH_DISK_TIMEOUT).
            Everything :meth:`append_messages` raises.
        """
        result = self.append_messages(messages)
        if self._sync_flush:
            # A blocked writer commits its own records (D22): with many writer threads,
            # the flush thread would otherwise queue for the writers' lock behind them.
            self.commit_log.commit()
            self._flusher.wait_flushed(
                result.end_offset, timeout=self.config.sync_flush_timeout / 1000
            )
        return result

    def append_messages(self, messages: Sequence[MessageExt]) -> PutResult:
        """Store ``messages`` without waiting for durability (under one lock, in order).

        Each message's topic, queue_id, body, properties, flag, sys_flag, hosts, born
        timestamp, reconsume times and prepared-transaction offset are stored as given;
        the store sets the queue offset (the next of its queue; 0 for prepared and
        rollback transaction records, which no queue shows), commit-log offset and store
        timestamp. Await durability with :meth:`flush_future` / :meth:`wait_flushed`.

        Raises:
            MessageTooLargeError: a body is over maxMessageSize.
            DiskFullError: writes are refused because the disk is full.
            StoreClosedError: the store is closed.
            LocalProtocolError: a message cannot be encoded (field out of range, ...).
        """
        if _speedups is not None:
            # The common case in one C call: a run of messages to one queue that fits in
            # the segment being written (everything below is the reference).
            result: PutResult | None = _speedups.append(self, messages)
            if result is not None:
                return result
        if not messages:
            raise ValueError("append_messages needs at least one message")
        limit = self.config.max_message_size
        encoded = []
        for message in messages:
            if len(message.body) > limit:
                raise MessageTooLargeError(len(message.body), limit, "message body")
            encoded.append(encode_message(message))
        host = messages[0].store_host
        prefix = self._msg_id_prefix(host.host, host.port)
        with self._put_lock:
            if self._closed:
                raise StoreClosedError(f"message store {self._root} is closed")
            if self._writes_refused:
                raise DiskFullError(
                    self.config.commit_log_dir,
                    self._disk_used_ratio(self.config.commit_log_dir),
                    self.config.disk_space_warning_level_ratio / 100,
                )
            now = self._clock_ms()
            arrivals: list[tuple[str, int, int, int]] = []
            first, end, queue_offset, phy_offsets = self._append_locked(
                messages, encoded, now, arrivals
            )
            msg_ids = tuple([f"{prefix}{phy_offset:016X}" for phy_offset in phy_offsets])
            progress = self._progress
            progress.last_append = (end, now)
            progress.dispatched_to = end
            progress.put_messages += len(encoded)
            progress.put_bytes += end - first
        for listener in self._arrival_listeners:
            for arrival in arrivals:
                listener(*arrival)
        return PutResult(
            phy_offset=first,
            wrote_bytes=end - first,
            queue_offset=queue_offset,
            store_timestamp=now,
            msg_ids=msg_ids,
            end_offset=end,
        )

    def _append_locked(
        self,
        messages: Sequence[MessageExt],
        encoded: list[bytes],
        now: int,
        arrivals: list[tuple[str, int, int, int]],
    ) -> tuple[int, int, int, list[int]]:
        """Write and dispatch ``messages`` (all of them or none), holding _put_lock;
        returns the first record's offset, the end offset, the first queue offset and
        every record's offset, and adds the arrivals to ``arrivals``."""
        offsets = self._queue_offsets
        queue_offsets = []
        for message in messages:
            if message.sys_flag & _PREPARED_OR_ROLLBACK:
                queue_offsets.append(0)
            else:
                key = (message.topic, message.queue_id)
                queue_offset = offsets.get(key, 0)
                offsets[key] = queue_offset + 1
                queue_offsets.append(queue_offset)
        try:
            phy_offsets = self.commit_log.append_records(encoded, queue_offsets, now)
        except OSError as exc:
            # Nothing was written: each queue goes back to the offset its first
            # message of the batch took (reversed, so the earliest one wins).
            pairs = zip(reversed(messages), reversed(queue_offsets), strict=True)
            for message, queue_offset in pairs:
                if not message.sys_flag & _PREPARED_OR_ROLLBACK:
                    offsets[(message.topic, message.queue_id)] = queue_offset
            raise self._write_failed(exc) from exc
        arrivals += self._dispatch_appended(messages, phy_offsets, encoded, queue_offsets, now)
        return phy_offsets[0], phy_offsets[-1] + len(encoded[-1]), queue_offsets[0], phy_offsets

    def _msg_id_prefix(self, host: str, port: int) -> str:
        """The offset msgId of ``host:port`` without its last 16 hex digits (the
        commit-log offset), so that each id is one f-string (parsing the address per
        message cost more than the rest of a put)."""
        prefix = self._msg_id_prefixes.get((host, port))
        if prefix is None:
            if len(self._msg_id_prefixes) >= 1024:
                self._msg_id_prefixes.clear()
            prefix = offset_msg_id(host, port, 0)[:-16]
            self._msg_id_prefixes[(host, port)] = prefix
        return prefix

    def _write_failed(self, exc: OSError) -> StoreError:
        """A segment could not be created or written: refuse writes if the disk is full."""
        self._check_disk()
        if self._writes_refused or exc.errno == errno.ENOSPC:
            self._writes_refused = True
            return DiskFullError(
                self.config.commit_log_dir,
                self._disk_used_ratio(self.config.commit_log_dir),
                self.config.disk_space_warning_level_ratio / 100,
            )
        return StoreError(
            f"commit log write failed: {exc}; nothing of this append was stored (the store "
            "keeps serving): check the disk of "
            f"{self.config.commit_log_dir} (kernel log) and send again"
        )

    def _tags_code(self, topic: str, properties: dict[str, str], store_timestamp: int) -> int:
        if topic == SCHEDULE_TOPIC:
            level_text = properties.get(props.DELAY_TIME_LEVEL)
            if level_text is not None and level_text.strip().lstrip("-").isdecimal():
                level = min(int(level_text), self._max_delay_level)
                delay = self._delay_table.get(level)
                return store_timestamp + (delay if delay is not None else 1000)
        return tags_code(properties.get(props.TAGS))

    def _dispatch(
        self, records: Iterable[tuple[MessageExt, int, int, int, int]], *, write_index: bool = True
    ) -> list[tuple[str, int, int, int]]:
        """Write the queue units and index entries of ``records`` ``(message, phy_offset,
        size, queue_offset, store_timestamp)``, in order: the units one by one, then the
        index entries of them all in one call (one lock and header write per batch).

        Returns:
            ``(topic, queue_id, queue_offset, tags_code)`` of each record a queue shows.
        """
        arrivals: list[tuple[str, int, int, int]] = []
        index_records = self._index_pending
        index_enabled = self._index_enabled
        queues = self._queues
        for message, phy_offset, size, queue_offset, store_timestamp in records:
            transaction = message.sys_flag & _TRANSACTION_MASK
            properties = message.properties
            topic = message.topic
            if not transaction & _PREPARED_OR_ROLLBACK:
                queue = queues.get((topic, message.queue_id))
                if queue is None:
                    queue = self._queue(topic, message.queue_id)
                code = self._tags_code(topic, properties, store_timestamp)
                queue.put(queue_offset, phy_offset, size, code)
                arrivals.append((topic, message.queue_id, queue_offset, code))
            if index_enabled and transaction != _ROLLBACK:
                index_records.append(
                    (
                        topic,
                        properties.get(props.KEYS),
                        properties.get(props.UNIQ_KEY),
                        phy_offset,
                        store_timestamp,
                    )
                )
            self._progress.dispatch_timestamp = store_timestamp
        if write_index and len(self._index_pending) >= _INDEX_BATCH:
            self._write_index(raise_errors=False)
        return arrivals

    def _dispatch_appended(
        self,
        messages: Sequence[MessageExt],
        phy_offsets: list[int],
        encoded: list[bytes],
        queue_offsets: list[int],
        store_timestamp: int,
    ) -> list[tuple[str, int, int, int]]:
        """:meth:`_dispatch` of the messages one append wrote, the common ones in C."""
        sizes = list(map(len, encoded))
        if _speedups is None:
            return self._dispatch(
                zip(messages, phy_offsets, sizes, queue_offsets, repeat(store_timestamp))
            )
        messages = messages if type(messages) is list else list(messages)
        arrivals: list[tuple[str, int, int, int]] = []
        done, count = 0, len(messages)
        while True:
            pending = self._index_pending if self._index_enabled else None
            done = _speedups.dispatch(
                messages, phy_offsets, sizes, queue_offsets, store_timestamp, done,
                self._queues, arrivals, pending, SCHEDULE_TOPIC,
            )  # fmt: skip
            if done == count:
                break
            # The one C leaves to Python (a new queue, a transaction record, ...).
            one = (messages[done], phy_offsets[done], sizes[done], queue_offsets[done])
            arrivals += self._dispatch(((*one, store_timestamp),), write_index=False)
            done += 1
        self._progress.dispatch_timestamp = store_timestamp
        if len(self._index_pending) >= _INDEX_BATCH:
            self._write_index(raise_errors=False)
        return arrivals

    def _write_index(self, *, raise_errors: bool) -> None:
        """Write the pending index records to the index files. Call holding _put_lock (or
        before any writer runs).

        A failure (an index file cannot be created: the disk is full) keeps the records
        pending, to be written again by the next call (re-indexing is idempotent); the
        message itself is stored, so a writer only logs it, and readers raise it."""
        pending = self._index_pending
        if not pending:
            return
        self._index_pending = []
        try:
            self.index.build_indexes(pending)
        except Exception:
            self._index_pending = pending + self._index_pending
            if raise_errors:
                raise
            logger.exception("store %s: index entries not written, will retry", self._root)

    def _dispatch_scanned(self, records: Sequence[ScannedRecord]) -> None:
        self._dispatch(
            (r.message, r.phy_offset, r.size, r.message.queue_offset, r.message.store_timestamp)
            for r in records
        )
        offsets = self._queue_offsets
        for record in records:
            message = record.message
            if not message.sys_flag & _PREPARED_OR_ROLLBACK:
                key = (message.topic, message.queue_id)
                offsets[key] = max(offsets.get(key, 0), message.queue_offset + 1)
        if records:
            self._progress.dispatched_to = records[-1].phy_offset + records[-1].size

    def _queue(self, topic: str, queue_id: int) -> ConsumeQueue:
        queue = self._queues.get((topic, queue_id))
        if queue is None:
            queue = ConsumeQueue(
                self.config.consume_queue_dir,
                topic,
                queue_id,
                self.config.mapped_file_size_consume_queue,
            )
            self._queues[(topic, queue_id)] = queue
        return queue

    # ------------------------------------------------------------------ durability

    def flush_future(self, offset: int) -> concurrent.futures.Future[int]:
        """A future resolved once the commit log is durable below ``offset`` (e.g.
        :attr:`PutResult.end_offset`); from asyncio: ``await asyncio.wrap_future(f)``."""
        return self._flusher.flush_future(offset)

    def wait_flushed(self, offset: int, *, timeout: float) -> int:
        """Block until the commit log is durable below ``offset``.

        Raises:
            FlushDiskTimeoutError: not within ``timeout`` seconds.
            OSError: the flush failed.
        """
        return self._flusher.wait_flushed(offset, timeout=timeout)

    def add_flush_listener(self, listener: FlushListener) -> None:
        """Call ``listener(flushed_offset)`` on the flush thread after every flush: one
        call per group commit, for an event loop to answer its waiters in one batch."""
        self._flusher.add_listener(listener)

    def remove_flush_listener(self, listener: FlushListener) -> None:
        self._flusher.remove_listener(listener)

    @property
    def flushed_offset(self) -> int:
        return self.commit_log.flushed_offset

    def flush(self) -> None:
        """Flush the commit log, queues, index and checkpoint now (blocking)."""
        self._flush_commit_log()
        self._flush_logics()

    def _flush_commit_log(self) -> int:
        end, timestamp = self._progress.last_append
        with self._files_lock:
            flushed = self.commit_log.flush()
        if flushed >= end and timestamp:
            self.checkpoint.physic_msg_timestamp = timestamp
        return flushed

    def _flush_logics(self) -> None:
        """Flush consume queues and index, then record in the checkpoint how far they are."""
        if self._index_pending:
            with self._put_lock:
                self._write_index(raise_errors=False)
        logics_timestamp = self._progress.dispatch_timestamp
        with self._files_lock:
            for queue in list(self._queues.values()):
                queue.flush()
            index_timestamp = self.index.flush()
        if logics_timestamp:
            self.checkpoint.logics_msg_timestamp = logics_timestamp
        if index_timestamp:
            self.checkpoint.index_msg_timestamp = index_timestamp
        self.checkpoint.flush()

    # ------------------------------------------------------------------ reading

    def get_messages(
        self,
        topic: str,
        queue_id: int,
        offset: int,
        *,
        max_count: int = 32,
        max_bytes: int = 4 * 1024 * 1024,
        tags_codes: Collection[int] | None = None,
        message_filter: Callable[[MessageExt], bool] | None = None,
    ) -> GetResult:
        """Up to ``max_count`` messages of a queue from logical ``offset`` on.

        ``tags_codes`` keeps only units whose tags code is in it (the consume-queue
        pre-filter); ``message_filter`` is then called with the decoded message (body
        not inflated) and keeps it when it returns True. At most maxFilterMessageSize
        bytes of units are examined per call, so a group never stalls behind messages
        it filters out: ``next_begin_offset`` moves past them.
        """
        queue = self._queues.get((topic, queue_id))
        if queue is None:
            self._get_miss += 1
            return _empty(GetMessageStatus.NO_MATCHED_LOGIC_QUEUE, 0, 0, 0)
        min_offset, max_offset = queue.min_offset, queue.max_offset
        if max_offset == 0:
            status, next_offset = GetMessageStatus.NO_MESSAGE_IN_QUEUE, 0
        elif offset < min_offset:
            status, next_offset = GetMessageStatus.OFFSET_TOO_SMALL, min_offset
        elif offset == max_offset:
            status, next_offset = GetMessageStatus.OFFSET_OVERFLOW_ONE, offset
        elif offset > max_offset:
            status, next_offset = GetMessageStatus.OFFSET_OVERFLOW_BADLY, max_offset
        else:
            return self._read_queue(
                queue, offset, min_offset, max_offset, max_count, max_bytes,
                tags_codes, message_filter,
            )  # fmt: skip
        self._get_miss += 1
        return _empty(status, next_offset, min_offset, max_offset)

    def _read_queue(
        self,
        queue: ConsumeQueue,
        offset: int,
        min_offset: int,
        max_offset: int,
        max_count: int,
        max_bytes: int,
        tags_codes: Collection[int] | None,
        message_filter: Callable[[MessageExt], bool] | None,
    ) -> GetResult:
        config = self.config
        scan_limit = max(config.max_filter_message_size // 20, max_count)
        max_phy = self.commit_log.max_offset
        in_memory_limit = _memory_bytes(config.access_message_in_memory_max_ratio)
        # (messages, bytes) one get may return when the next message is in memory / not
        in_memory_limits = (
            min(max_count, config.max_transfer_count_on_message_in_memory),
            min(max_bytes, config.max_transfer_bytes_on_message_in_memory),
        )
        on_disk_limits = (
            min(max_count, config.max_transfer_count_on_message_in_disk),
            min(max_bytes, config.max_transfer_bytes_on_message_in_disk),
        )
        found = None
        if _speedups is not None and message_filter is None:
            run = queue.unit_run(offset, scan_limit)
            if run is not None:
                found = _speedups.read_units(
                    *run, offset, self.commit_log.segment_view, self.commit_log.segment_size,
                    tags_codes, max_phy, in_memory_limit, *in_memory_limits, *on_disk_limits,
                )  # fmt: skip
        if found is not None:
            messages, queue_offsets, total, next_offset, max_phy_pulling = found
            status = GetMessageStatus.FOUND if messages else GetMessageStatus.NO_MATCHED_MESSAGE
        else:
            status, messages, queue_offsets, total, next_offset, max_phy_pulling = (
                self._scan_units(
                    queue, offset, scan_limit, max_phy, in_memory_limit, in_memory_limits,
                    on_disk_limits, tags_codes, message_filter,
                )
            )  # fmt: skip
        if status is GetMessageStatus.FOUND:
            self._get_found += 1
        else:
            self._get_miss += 1
        return GetResult(
            status=status,
            next_begin_offset=next_offset,
            min_offset=min_offset,
            max_offset=max_offset,
            messages=messages,
            queue_offsets=queue_offsets,
            buffer_total_size=total,
            suggest_pulling_from_slave=max_phy - max_phy_pulling > in_memory_limit,
        )

    def _scan_units(
        self,
        queue: ConsumeQueue,
        offset: int,
        scan_limit: int,
        max_phy: int,
        in_memory_limit: int,
        in_memory_limits: tuple[int, int],
        on_disk_limits: tuple[int, int],
        tags_codes: Collection[int] | None,
        message_filter: Callable[[MessageExt], bool] | None,
    ) -> tuple[GetMessageStatus, list[memoryview], list[int], int, int, int]:
        """The per-unit loop of a get (the reference of ``_speedups.read_units``):
        ``(status, messages, queue offsets, total bytes, next offset, the commit-log
        offset of the last unit examined)``."""
        status = GetMessageStatus.NO_MATCHED_MESSAGE
        messages: list[memoryview] = []
        queue_offsets: list[int] = []
        total = 0
        next_offset = offset
        max_phy_pulling = 0
        skip_below = -1  # after a removed record: the start of the next segment
        segment_size = self.commit_log.segment_size
        # The segment read last, viewed once per get (a view per message: 11,600 instead
        # of 8,600 instructions per message):
        segment_start = segment_written = -segment_size
        segment: memoryview | None = None
        queue_offset = offset - 1
        for phy, size, unit_tags_code in queue.unit_tuples(offset, scan_limit):
            queue_offset += 1
            if total:
                count_limit, bytes_limit = (
                    in_memory_limits if max_phy - phy <= in_memory_limit else on_disk_limits
                )
                if len(messages) >= count_limit or total + size > bytes_limit:
                    break
            max_phy_pulling = phy
            next_offset = queue_offset + 1
            if phy < skip_below:
                continue
            if tags_codes is not None and unit_tags_code not in tags_codes:
                continue
            position = phy - segment_start
            if not 0 <= position < segment_size:
                found = self.commit_log.segment_view(phy)
                if found is None:
                    segment_start, segment = -segment_size, None
                else:
                    segment_start, segment_written, segment = found
                    position = phy - segment_start
            if segment is None or position + size > segment_written:
                if not total:
                    status = GetMessageStatus.MESSAGE_WAS_REMOVING
                skip_below = phy - phy % segment_size + segment_size
                continue
            view = segment[position : position + size]
            if message_filter is not None:
                try:
                    candidate, _ = decode_message(view, decompress=False)
                except RemoteProtocolError:
                    logger.warning(
                        "queue %s/%d offset %d: unreadable record at commit-log offset %d",
                        queue.topic, queue.queue_id, queue_offset, phy,
                    )  # fmt: skip
                    continue
                if not message_filter(candidate):
                    continue
            messages.append(view)
            queue_offsets.append(queue_offset)
            total += size
            status = GetMessageStatus.FOUND
        return status, messages, queue_offsets, total, next_offset, max_phy_pulling

    def read_message(self, phy_offset: int, size: int | None = None) -> memoryview | None:
        """The record at ``phy_offset`` as a zero-copy view (None when not stored)."""
        if size is None:
            head = self.commit_log.read(phy_offset, 4)
            if head is None:
                return None
            size = int.from_bytes(head, "big", signed=True)
            if size <= 0:
                return None
        return self.commit_log.read(phy_offset, size)

    def look_message_by_offset(self, phy_offset: int) -> MessageExt | None:
        """The decoded message at ``phy_offset`` (body as stored), or None."""
        view = self.read_message(phy_offset)
        if view is None:
            return None
        try:
            message, _ = decode_message(view, decompress=False)
        except RemoteProtocolError:
            return None
        return message

    def query_message(
        self, topic: str, key: str, *, max_num: int, begin_ms: int = 0, end_ms: int | None = None
    ) -> QueryResult:
        """Messages of ``topic`` whose KEYS or UNIQ_KEY include ``key``, stored within
        ``[begin_ms, end_ms]``, newest first, at most ``max_num``; ``more`` says whether
        others exist. Index hash collisions are checked against the message itself."""
        end = end_ms if end_ms is not None else 2**63 - 1
        wanted = max(max_num, 0) + 1
        if self._index_pending:
            with self._put_lock:
                self._write_index(raise_errors=True)
        while True:
            found = self.index.query(topic, key, wanted, begin_ms, end)
            views: list[memoryview] = []
            offsets: list[int] = []
            for phy in found.phy_offsets:
                view = self.read_message(phy)
                if view is None:
                    continue
                try:
                    message, _ = decode_message(view, decompress=False)
                except RemoteProtocolError:
                    continue
                if message.topic == topic and (
                    key in message.keys or message.properties.get(props.UNIQ_KEY) == key
                ):
                    views.append(view)
                    offsets.append(phy)
            if len(views) > max_num or len(found.phy_offsets) < wanted:
                break
            wanted *= 2
        return QueryResult(
            messages=views[:max_num],
            phy_offsets=offsets[:max_num],
            index_last_update_timestamp=found.last_update_timestamp,
            index_last_update_phy_offset=found.last_update_phy_offset,
            more=len(views) > max_num,
        )

    # ------------------------------------------------------------------ offsets and times

    def topics(self) -> list[str]:
        return sorted({topic for topic, _ in self._queues})

    def queue_ids(self, topic: str) -> list[int]:
        return sorted(queue_id for name, queue_id in self._queues if name == topic)

    def get_min_offset_in_queue(self, topic: str, queue_id: int) -> int:
        queue = self._queues.get((topic, queue_id))
        return queue.min_offset if queue is not None else 0

    def get_max_offset_in_queue(self, topic: str, queue_id: int) -> int:
        queue = self._queues.get((topic, queue_id))
        return queue.max_offset if queue is not None else 0

    def get_commit_log_offset_in_queue(self, topic: str, queue_id: int, offset: int) -> int:
        """The commit-log offset of the message at logical ``offset`` (0 if none)."""
        unit = self._unit(topic, queue_id, offset)
        return unit.commit_log_offset if unit is not None else 0

    @property
    def min_phy_offset(self) -> int:
        return self.commit_log.min_offset

    @property
    def max_phy_offset(self) -> int:
        return self.commit_log.max_offset

    def _unit(self, topic: str, queue_id: int, offset: int) -> CqUnit | None:
        queue = self._queues.get((topic, queue_id))
        if queue is None or not queue.min_offset <= offset < queue.max_offset:
            return None
        unit = queue.get(offset)
        return None if unit is None or unit.is_blank else unit

    def _store_timestamp(self, phy_offset: int, size: int) -> int | None:
        view = self.commit_log.read(phy_offset, size)
        if view is None or size < 80:
            return None
        sys_flag = int.from_bytes(view[36:40], "big")
        at = store_timestamp_position(sys_flag)
        return int.from_bytes(view[at : at + 8], "big", signed=True)

    def get_message_store_timestamp(self, topic: str, queue_id: int, offset: int) -> int | None:
        unit = self._unit(topic, queue_id, offset)
        if unit is None:
            return None
        return self._store_timestamp(unit.commit_log_offset, unit.size)

    def get_earliest_message_time(
        self, topic: str | None = None, queue_id: int | None = None
    ) -> int | None:
        """Store time of the oldest message of a queue, or of the whole store when no
        queue is named; None when there is none."""
        if topic is None or queue_id is None:
            for record in self.commit_log.scan(self.commit_log.min_offset, check_crc=False):
                return record.message.store_timestamp
            return None
        return self.get_message_store_timestamp(
            topic, queue_id, self.get_min_offset_in_queue(topic, queue_id)
        )

    def get_offset_in_queue_by_time(
        self,
        topic: str,
        queue_id: int,
        timestamp: int,
        boundary: BoundaryType = BoundaryType.LOWER,
    ) -> int:
        """The logical offset of the first message stored at or after ``timestamp``
        (``LOWER``, RocketMQ's default; the max offset when all are older), or of the
        last one stored at or before it (``UPPER``; the min offset when all are newer).
        Store times grow along a queue, so this is a binary search."""
        queue = self._queues.get((topic, queue_id))
        if queue is None:
            return 0
        low, high = queue.min_offset, queue.max_offset
        times = _QueueTimes(self, queue)
        if boundary is BoundaryType.LOWER:
            return bisect.bisect_left(times, timestamp, low, high)
        found = bisect.bisect_right(times, timestamp, low, high) - 1
        return max(found, low)

    # ------------------------------------------------------------------ replication

    def get_commit_log_data(self, offset: int) -> memoryview | None:
        """Zero-copy view of the commit log from ``offset`` to the end of the data in
        its segment (what a master sends a slave), or None when nothing is there."""
        segment = self.commit_log._segment_for(offset)
        if segment is None:
            return None
        self.commit_log.commit()  # buffered records are read from the file
        position = offset - segment.file_from_offset
        end = segment.wrote_position
        if position >= end:
            return None
        return segment.view(position, end - position)

    def append_to_commit_log(self, start_offset: int, data: bytes | bytearray | memoryview) -> int:
        """Append bytes replicated from a master at ``start_offset`` and dispatch every
        record they complete (a slave's write path); returns the new max offset.

        Raises:
            StoreError: ``start_offset`` is not where this commit log ends.
            DiskFullError / StoreClosedError: as for :meth:`append_messages`.
        """
        with self._put_lock:
            if self._closed:
                raise StoreClosedError(f"message store {self._root} is closed")
            if self._writes_refused:
                raise DiskFullError(
                    self.config.commit_log_dir,
                    self._disk_used_ratio(self.config.commit_log_dir),
                    self.config.disk_space_warning_level_ratio / 100,
                )
            if not self.commit_log.segments:
                self._progress.dispatched_to = start_offset
            try:
                end = self.commit_log.append_raw(start_offset, data)
            except OSError as exc:
                raise self._write_failed(exc) from exc
            arrivals = []
            for record in self.commit_log.scan(self._progress.dispatched_to, check_crc=False):
                self._dispatch_scanned((record,))
                message = record.message
                if not message.sys_flag & _PREPARED_OR_ROLLBACK:
                    arrivals.append((message.topic, message.queue_id, message.queue_offset))
            self._progress.last_append = (end, self._progress.dispatch_timestamp)
        for listener in self._arrival_listeners:
            for topic, queue_id, queue_offset in arrivals:
                unit = self._unit(topic, queue_id, queue_offset)
                listener(topic, queue_id, queue_offset, unit.tags_code if unit else 0)
        return end

    # ------------------------------------------------------------------ retention

    def _check_disk(self) -> float:
        ratio = self._disk_used_ratio(self.config.commit_log_dir)
        refuse = ratio > self.config.disk_space_warning_level_ratio / 100
        if refuse != self._writes_refused:
            if refuse:
                logger.error(
                    "disk of %s is %.1f%% full (limit %d%%): refusing writes",
                    self.config.commit_log_dir,
                    ratio * 100,
                    self.config.disk_space_warning_level_ratio,
                )
            else:
                logger.info(
                    "disk of %s is %.1f%% full again: accepting writes",
                    self.config.commit_log_dir,
                    ratio * 100,
                )
            self._writes_refused = refuse
        return ratio

    def run_retention(self, *, manual: bool = False) -> RetentionReport:
        """One run of the retention rules (the maintenance thread calls this every
        cleanResourceInterval ms).

        Commit-log segments last modified more than fileReservedTime hours ago are
        deleted when the hour of day is in deleteWhen, when the disk is above
        diskMaxUsedSpaceRatio, or when ``manual``; above diskSpaceCleanForciblyRatio
        unexpired segments go too, but only with cleanFileForciblyEnable. The segment
        being written is never deleted. Consume-queue and index files that point only
        below the new minimum offset follow. Writes are refused above
        diskSpaceWarningLevelRatio and accepted again below it.
        """
        config = self.config
        ratio = self._check_disk()
        now = self._clock_ms()
        hour = time.localtime(now / 1000).tm_hour
        time_up = hour in {int(h) for h in config.delete_when.split(";")}
        space_full = ratio > config.disk_max_used_space_ratio / 100
        force = (
            config.clean_file_forcibly_enable
            and ratio > config.disk_space_clean_forcibly_ratio / 100
        )
        deleted: list[Path] = []
        if time_up or space_full or manual or force:
            deleted = self.commit_log.delete_expired(
                expired_before_ms=now - config.file_reserved_time * 3_600_000,
                force=force,
                max_count=config.delete_file_batch_max,
            )
        cq_deleted = index_deleted = 0
        min_offset = self.commit_log.min_offset
        if min_offset > self._cleaned_min_offset:
            with self._files_lock:
                for queue in list(self._queues.values()):
                    cq_deleted += queue.delete_expired(min_offset)
                index_deleted = self.index.delete_expired(min_offset)
            self._cleaned_min_offset = min_offset
        if deleted or cq_deleted or index_deleted:
            self._check_disk()
        return RetentionReport(
            disk_used_ratio=ratio,
            deleted_segments=deleted,
            deleted_consume_queue_files=cq_deleted,
            deleted_index_files=index_deleted,
            writes_refused=self._writes_refused,
        )

    def _maintenance_loop(self) -> None:
        flush_every = self.config.flush_interval_consume_queue / 1000
        clean_every = self.config.clean_resource_interval / 1000
        next_clean = time.monotonic() + clean_every
        while not self._stop_maintenance.wait(flush_every):
            try:
                self._flush_logics()
                if time.monotonic() >= next_clean:
                    next_clean = time.monotonic() + clean_every
                    self.run_retention()
            except OSError:
                logger.exception("store maintenance failed; retrying in %.1f s", flush_every)

    # ------------------------------------------------------------------ statistics

    def statistics(self) -> StoreStatistics:
        return StoreStatistics(
            put_messages=self._progress.put_messages,
            put_bytes=self._progress.put_bytes,
            get_found=self._get_found,
            get_miss=self._get_miss,
            min_phy_offset=self.commit_log.min_offset,
            max_phy_offset=self.commit_log.max_offset,
            flush=self._flusher.statistics(),
            writes_refused=self._writes_refused,
        )


if _speedups is not None:
    _speedups.init_append(
        MessageStore,
        PutResult,
        _wall_clock_ms,
        encode_message,
        SCHEDULE_TOPIC,
        _INDEX_BATCH,
        MappedFile,
        _Progress,
        ConsumeQueue,
    )


class _QueueTimes(Sequence[int]):
    """A queue's store timestamps as a lazy sequence, for :mod:`bisect`."""

    def __init__(self, store: MessageStore, queue: ConsumeQueue) -> None:
        self._store, self._queue = store, queue

    def __len__(self) -> int:
        return self._queue.max_offset

    def __getitem__(self, offset: int) -> int:  # type: ignore[override]
        unit = self._queue.get(offset)
        if unit is None or unit.is_blank:
            return -1
        timestamp = self._store._store_timestamp(unit.commit_log_offset, unit.size)
        return -1 if timestamp is None else timestamp

    def __iter__(self) -> Iterator[int]:
        return (self[i] for i in range(len(self)))


def _empty(status: GetMessageStatus, next_offset: int, low: int, high: int) -> GetResult:
    return GetResult(
        status=status,
        next_begin_offset=next_offset,
        min_offset=low,
        max_offset=high,
        messages=[],
        queue_offsets=[],
        buffer_total_size=0,
    )


_PHYSICAL_MEMORY: Final = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _memory_bytes(percent: int) -> int:
    return _PHYSICAL_MEMORY * percent // 100
