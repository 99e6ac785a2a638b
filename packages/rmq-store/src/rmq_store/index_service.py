"""The ``index/`` directory of a store: rolling index files from message keys to offsets.

Mirrors ``org.apache.rocketmq.store.index.IndexService`` (spec §4.3). The directory holds
:class:`~rmq_store.index.IndexFile` files, each ``40 + 4·maxHashSlotNum + 20·maxIndexNum``
bytes, named by the local wall-clock time at which each was created::

    index/
      20240101093000123     yyyyMMddHHmmssSSS, local time; oldest first in name order
      20240101101512007     the newest file: the only one still written

Only the newest file receives entries. When it is full a new file is created whose header
starts with the previous file's ``endPhyOffset`` / ``endTimestamp`` (so a query's time
filter and the re-dispatch check keep working across the boundary), and the full file is
flushed. Each message is indexed under ``topic#UNIQ_KEY`` and ``topic#key`` for each
space-separated element of its KEYS; transaction rollback records are not indexed.

Recovery follows RocketMQ: after an abnormal exit every file whose ``endTimestamp`` is
newer than the checkpoint's ``indexMsgTimestamp`` is deleted, and the commit-log
re-dispatch rebuilds it. :meth:`IndexService.build_index` ignores records already
indexed, so re-dispatching a range twice indexes it once.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final, final

from rmq_protocol.codec.hashing import index_key_hashes, index_key_hashes_c
from rmq_store.errors import StoreClosedError
from rmq_store.index import IndexFile, index_key

__all__ = ["KEY_SEPARATOR", "IndexQueryResult", "IndexRecord", "IndexService", "index_file_name"]

logger = logging.getLogger(__name__)

KEY_SEPARATOR: Final = " "  # MessageConst.KEY_SEPARATOR: splits the KEYS property

_INT32_MAX: Final = 2**31 - 1
_ONE_MS: Final = timedelta(milliseconds=1)
_NAME: Final = re.compile(r"[0-9]+")  # RocketMQ skips names that do not parse as a long

IndexRecord = tuple[str, str | None, str | None, int, int]
"""A record to index: ``(topic, keys, unique_key, phy_offset, store_timestamp)``."""


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def _local_datetime(ms: int) -> datetime:
    """``ms`` since the epoch as a naive local date-time with millisecond precision."""
    return datetime.fromtimestamp(ms // 1000).replace(microsecond=(ms % 1000) * 1000)


def _format_name(moment: datetime) -> str:
    return (
        f"{moment.year:04d}{moment.month:02d}{moment.day:02d}{moment.hour:02d}"
        f"{moment.minute:02d}{moment.second:02d}{moment.microsecond // 1000:03d}"
    )


def _parse_name(name: str) -> datetime | None:
    """The naive date-time a ``yyyyMMddHHmmssSSS`` name stands for, or None if it is not one."""
    if len(name) != 17 or not _NAME.fullmatch(name):
        return None
    try:
        return datetime(
            int(name[0:4]),
            int(name[4:6]),
            int(name[6:8]),
            int(name[8:10]),
            int(name[10:12]),
            int(name[12:14]),
            int(name[14:17]) * 1000,
        )
    except ValueError:
        return None


def index_file_name(ms: int) -> str:
    """The name RocketMQ gives an index file created at ``ms`` (local time).

    ``UtilAll.timeMillisToHumanString``: ``yyyyMMddHHmmssSSS`` in the process's time zone.
    """
    return _format_name(_local_datetime(ms))


@dataclass(frozen=True, slots=True)
class IndexQueryResult:
    """What :meth:`IndexService.query` found (RocketMQ's ``QueryOffsetResult``)."""

    phy_offsets: list[int]  # newest first; may include hash collisions (caller re-checks)
    last_update_timestamp: int  # endTimestamp of the newest index file (0 if none), ms
    last_update_phy_offset: int  # endPhyOffset of the newest index file (0 if none)


@final
class IndexService:
    """The index files of one store directory ``index/``, oldest first.

    Construct, then :meth:`load` once before anything else; :meth:`close` at the end
    (flushes, like RocketMQ's ``shutdown``). Every method except :meth:`close` raises
    :class:`~rmq_store.errors.StoreClosedError` once closed, and ``RuntimeError`` before
    :meth:`load`.

    Safe for concurrent use: every public method and property holds one internal
    ``threading.Lock`` for its whole duration, so the store's single dispatch thread may
    call :meth:`build_index` while other threads call :meth:`query`, :meth:`flush`,
    :meth:`delete_expired` and so on. (RocketMQ uses a read-write lock; queries here are
    serialised with each other too.) The :class:`~rmq_store.index.IndexFile` objects in
    :attr:`files` are *not* safe for concurrent use: read them only while no other thread
    uses the service.

    Args:
        directory: the ``index`` directory (``storePathRootDir/index``); created on the
            first new file.
        hash_slot_num: ``maxHashSlotNum`` of every file (default in RocketMQ 5,000,000).
        index_num: ``maxIndexNum`` of every file (default in RocketMQ 20,000,000); at
            least 2, since entry 0 is never used.
        clock_ms: wall clock in ms since the epoch; names new files.

    Raises:
        ValueError: ``hash_slot_num`` not in 1..2^31−1 or ``index_num`` not in 2..2^31−1.
    """

    __slots__ = (
        "_clock_ms",
        "_closed",
        "_dirty",
        "_files",
        "_loaded",
        "_lock",
        "directory",
        "hash_slot_num",
        "index_num",
    )

    def __init__(
        self,
        directory: Path,
        *,
        hash_slot_num: int,
        index_num: int,
        clock_ms: Callable[[], int] = _wall_clock_ms,
    ) -> None:
        if not 1 <= hash_slot_num <= _INT32_MAX:
            raise ValueError(f"hash_slot_num must be in 1..{_INT32_MAX}, got {hash_slot_num}")
        if not 2 <= index_num <= _INT32_MAX:
            raise ValueError(
                f"index_num must be in 2..{_INT32_MAX} (entry 0 is never used), got {index_num}"
            )
        self.directory: Final = Path(directory)
        self.hash_slot_num: Final = hash_slot_num
        self.index_num: Final = index_num
        self._clock_ms = clock_ms
        self._lock = threading.Lock()
        self._files: list[IndexFile] = []  # oldest first
        self._dirty: set[IndexFile] = set()  # changed since their last flush
        self._loaded = False
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------

    def load(self, *, last_exit_ok: bool, checkpoint_index_timestamp: int) -> None:
        """Open the index files in :attr:`directory`, in name order.

        Entries whose name is not all digits (such as ``*.tmp``) and directories are
        ignored with a warning, as RocketMQ skips names that do not parse as a number. A
        zero-length file (left by a crash between creating and sizing a new file) holds
        no entries and is deleted. After an abnormal exit (``last_exit_ok`` false), files
        whose ``endTimestamp`` is later than ``checkpoint_index_timestamp`` (the
        checkpoint's ``indexMsgTimestamp``, ms) may hold entries that never reached disk:
        they are deleted, and re-dispatching the commit log rebuilds them.

        Raises:
            IndexFileError: a file's size does not match ``hash_slot_num`` / ``index_num``,
                or its header is corrupt. No file stays open.
            RuntimeError: already loaded.
            StoreClosedError: the service is closed.
            OSError: the directory or a file cannot be read, mapped or deleted.
        """
        with self._lock:
            self._check_open()
            if self._loaded:
                raise RuntimeError(f"index service {self.directory} is already loaded")
            files: list[IndexFile] = []
            dropped = 0
            try:
                for path in self._candidates():
                    if path.stat().st_size == 0:
                        logger.warning("deleting empty index file %s (interrupted creation)", path)
                        path.unlink()
                        continue
                    f = IndexFile.open(
                        path, hash_slot_num=self.hash_slot_num, index_num=self.index_num
                    )
                    if not last_exit_ok and f.end_timestamp > checkpoint_index_timestamp:
                        logger.warning(
                            "deleting index file %s after an abnormal exit: its endTimestamp %d "
                            "is after the checkpoint's indexMsgTimestamp %d; re-dispatch "
                            "rebuilds it",
                            path,
                            f.end_timestamp,
                            checkpoint_index_timestamp,
                        )
                        _destroy(f)
                        dropped += 1
                        continue
                    files.append(f)
            except BaseException:
                for f in files:
                    f.close()
                raise
            self._files = files
            self._loaded = True
            logger.info(
                "index service %s loaded: %d files, %d deleted after an abnormal exit, "
                "end phy offset %d, end timestamp %d",
                self.directory,
                len(files),
                dropped,
                files[-1].end_phy_offset if files else 0,
                files[-1].end_timestamp if files else 0,
            )

    def _candidates(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        paths: list[Path] = []
        for path in sorted(self.directory.iterdir(), key=lambda p: p.name):
            if _NAME.fullmatch(path.name) and path.is_file():
                paths.append(path)
            else:
                logger.warning("ignoring %s in the index directory: not an index file", path)
        return paths

    def close(self) -> None:
        """Flush changed files and close them all, like RocketMQ's ``shutdown``. Idempotent.

        Every file is closed even if a flush fails; the first error is then raised.

        Raises:
            OSError: a flush failed.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            files, self._files = self._files, []
            dirty, self._dirty = self._dirty, set()
            error: OSError | None = None
            for f in files:
                try:
                    if f in dirty:
                        f.flush()
                except OSError as exc:
                    if error is None:
                        error = exc  # raised below
                    else:
                        logger.exception("flushing index file %s on close failed", f.path)
                finally:
                    f.close()
            if error is not None:
                raise error

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError(f"index service {self.directory} is closed")

    def _check_loaded(self) -> None:
        self._check_open()
        if not self._loaded:
            raise RuntimeError(f"index service {self.directory}: call load() first")

    # -- inspection --------------------------------------------------------------------

    @property
    def files(self) -> Sequence[IndexFile]:
        """A snapshot of the open index files, oldest first (see the class docstring)."""
        with self._lock:
            self._check_open()
            return tuple(self._files)

    @property
    def end_phy_offset(self) -> int:
        """``endPhyOffset`` of the newest file (0 if none): records before it are indexed.

        Re-dispatch after :meth:`truncate_after` must start at or before this offset.
        """
        with self._lock:
            self._check_open()
            return self._files[-1].end_phy_offset if self._files else 0

    @property
    def end_timestamp(self) -> int:
        """``endTimestamp`` of the newest file (0 if none), ms."""
        with self._lock:
            self._check_open()
            return self._files[-1].end_timestamp if self._files else 0

    @property
    def total_size(self) -> int:
        """Bytes of all index files (``getTotalSize``)."""
        with self._lock:
            self._check_open()
            return sum(f.file_size for f in self._files)

    # -- writing -----------------------------------------------------------------------

    def build_index(
        self,
        topic: str,
        *,
        keys: str | None,
        unique_key: str | None,
        phy_offset: int,
        store_timestamp: int,
        transaction_rollback: bool = False,
    ) -> None:
        """Index one dispatched commit-log record (``buildIndex``).

        Indexes ``topic#unique_key`` (when not None) and then ``topic#k`` for every
        non-empty element ``k`` of ``keys`` split at spaces, all pointing at
        ``phy_offset`` with time ``store_timestamp`` (ms). Nothing is indexed for a
        transaction rollback record, nor for a record before the newest file's
        ``endPhyOffset``: those were indexed before a restart. For a record *at* that
        offset only the keys not yet present there are added, so re-dispatching any range
        twice indexes it once (RocketMQ would index the boundary record again).

        When the newest file fills up, a new file is created with the full file's end
        values, and the full file is flushed (fdatasync) before this method returns, holding
        the lock. The new file is named ``clock_ms()`` as local ``yyyyMMddHHmmssSSS``,
        moved 1 ms on while that name exists or does not sort after the newest file's.

        Raises:
            ValueError: ``phy_offset`` or ``store_timestamp`` is not an int64.
            RuntimeError: called before :meth:`load`.
            StoreClosedError: the service is closed.
            OSError: a new index file cannot be created, or the full one flushed.
        """
        if transaction_rollback:
            with self._lock:
                self._check_loaded()
            return
        self.build_indexes(((topic, keys, unique_key, phy_offset, store_timestamp),))

    def build_indexes(self, records: Iterable[IndexRecord]) -> None:
        """:meth:`build_index` for consecutive records ``(topic, keys, unique_key,
        phy_offset, store_timestamp)`` (none a transaction rollback), in order, under one
        lock: the store's dispatch of a batch. Raises as :meth:`build_index` does, with
        the records before the failing one indexed."""
        with self._lock:
            if self._closed or not self._loaded:
                self._check_loaded()  # raises
            files = self._files
            if files and type(records) is list:
                # The common case in C: new records whose entries fit in the newest file.
                current = files[-1]
                count = current.index_count
                done = current.index_records_c(records)
                if current.index_count != count:
                    self._dirty.add(current)
                if done:
                    records = records[done:]
            end = files[-1].end_phy_offset if files else None
            pending: list[tuple[list[int], int, int]] = []  # (key hashes, phy, time) to add
            hashes_c = index_key_hashes_c
            try:
                for topic, keys, unique_key, phy_offset, store_timestamp in records:
                    if end is not None and phy_offset < end:
                        continue  # indexed before a restart (re-dispatch after recovery)
                    key_hashes = hashes_c and hashes_c(topic, keys, unique_key)
                    if key_hashes is None:
                        key_hashes = index_key_hashes(topic, keys, unique_key)
                    if not key_hashes:
                        continue
                    if phy_offset == end:
                        written, pending = pending, []
                        self._put(written)  # _hashes_at reads what is written
                        present = self._hashes_at(phy_offset)
                        if present:
                            key_hashes = _without_present(key_hashes, present)
                            if not key_hashes:
                                continue
                    pending.append((key_hashes, phy_offset, store_timestamp))
                    end = phy_offset
            finally:
                self._put(pending)

    def _hashes_at(self, phy_offset: int) -> Counter[int]:
        """keyHashes of the newest entries pointing at ``phy_offset``, across files."""
        present: Counter[int] = Counter()
        for f in reversed(self._files):
            number = f.index_count - 1
            while number >= 1:
                entry = f.read_entry(number)
                if entry.phy_offset != phy_offset:
                    return present
                present[entry.key_hash] += 1
                number -= 1
        return present

    def _put(self, records: list[tuple[list[int], int, int]]) -> None:
        """Add the entries of ``records`` to the newest file, and to new ones as they fill."""
        while records:
            current = self._files[-1] if self._files else None
            if current is not None:
                done, added = current.put_records(records)
                if done or added:
                    self._dirty.add(current)
                if done == len(records):
                    return
                records = records[done:]
                if added:
                    key_hashes, phy_offset, store_timestamp = records[0]
                    records = [(key_hashes[added:], phy_offset, store_timestamp), *records[1:]]
                logger.info("index file %s is full; creating another one", current.path)
            created = self._create_file(current)
            key_hashes, phy_offset, store_timestamp = records[0]
            if not created.put_hashes(key_hashes[:1], phy_offset, store_timestamp):
                raise AssertionError(f"new {created.path} is already full")  # pragma: no cover
            records = [(key_hashes[1:], phy_offset, store_timestamp), *records[1:]]
            if current is not None:  # full: it never changes again
                current.flush()
                self._dirty.discard(current)

    def _create_file(self, previous: IndexFile | None) -> IndexFile:
        self.directory.mkdir(parents=True, exist_ok=True)
        prev_end_phy_offset = previous.end_phy_offset if previous is not None else 0
        prev_end_timestamp = previous.end_timestamp if previous is not None else 0
        while True:
            path = self._new_file_path()
            try:
                created = IndexFile.create(
                    path,
                    hash_slot_num=self.hash_slot_num,
                    index_num=self.index_num,
                    prev_end_phy_offset=prev_end_phy_offset,
                    prev_end_timestamp=prev_end_timestamp,
                )
            except FileExistsError:  # appeared since _new_file_path looked: pick again
                continue
            break
        self._files.append(created)
        self._dirty.add(created)
        logger.info(
            "created index file %s (begin phy offset %d, begin timestamp %d)",
            path,
            prev_end_phy_offset,
            prev_end_timestamp,
        )
        return created

    def _new_file_path(self) -> Path:
        """``clock_ms()`` as a local ``yyyyMMddHHmmssSSS`` name, made unique.

        The name is moved forward 1 ms at a time while a file of that name exists, and
        placed 1 ms after the newest file's name if the clock reads earlier than that
        (a clock step back must not sort a new file before older ones on the next load).
        """
        moment = _local_datetime(self._clock_ms())
        if self._files:
            newest = _parse_name(self._files[-1].path.name)
            if newest is not None and moment <= newest:
                moment = newest + _ONE_MS
        path = self.directory / _format_name(moment)
        while path.exists():
            moment += _ONE_MS
            path = self.directory / _format_name(moment)
        return path

    def flush(self) -> int:
        """Flush every file changed since its last flush.

        Returns:
            The ``endTimestamp`` of the newest file (0 if none), ms: every entry up to it
            is on disk, so the checkpoint may record it as ``indexMsgTimestamp``.

        Raises:
            RuntimeError: called before :meth:`load`.
            StoreClosedError: the service is closed.
            OSError: a flush failed.
        """
        with self._lock:
            self._check_loaded()
            for f in self._files:
                if f in self._dirty:
                    f.flush()
                    self._dirty.discard(f)
            return self._files[-1].end_timestamp if self._files else 0

    # -- reading -----------------------------------------------------------------------

    def query(
        self, topic: str, key: str, max_num: int, begin_ms: int, end_ms: int
    ) -> IndexQueryResult:
        """Commit-log offsets of records indexed under ``topic#key`` stored in a time window.

        Searches the files newest first, skipping those whose time range does not overlap
        ``[begin_ms, end_ms]``, and stops once ``max_num`` offsets are found or after a
        file that begins before ``begin_ms`` (``queryOffset``). The caller clamps
        ``max_num`` to ``maxMsgsNumBatch`` and re-checks each record's keys: offsets of
        other keys with an equal hash are included.

        Raises:
            RuntimeError: called before :meth:`load`.
            StoreClosedError: the service is closed.
        """
        with self._lock:
            self._check_loaded()
            offsets: list[int] = []
            if not self._files:
                return IndexQueryResult(offsets, 0, 0)
            newest = self._files[-1]
            full_key = index_key(topic, key)
            for f in reversed(self._files):
                if len(offsets) >= max_num:
                    break
                if f.is_time_matched(begin_ms, end_ms):
                    offsets.extend(
                        f.select_phy_offsets(full_key, max_num - len(offsets), begin_ms, end_ms)
                    )
                if f.begin_timestamp < begin_ms:
                    break
            return IndexQueryResult(offsets, newest.end_timestamp, newest.end_phy_offset)

    # -- deleting ----------------------------------------------------------------------

    def delete_expired(self, commit_log_min_offset: int) -> int:
        """Delete the oldest files whose entries all precede ``commit_log_min_offset``.

        As ``deleteExpiredFile``: from the oldest file on, delete each whose
        ``endPhyOffset`` is below the commit log's minimum offset, stopping at the first
        that is not; the newest file is never deleted.

        Returns:
            The number of files deleted.

        Raises:
            RuntimeError: called before :meth:`load`.
            StoreClosedError: the service is closed.
            OSError: a file could not be deleted (those before it are gone).
        """
        with self._lock:
            self._check_loaded()
            deleted = 0
            while len(self._files) > 1 and self._files[0].end_phy_offset < commit_log_min_offset:
                f = self._files.pop(0)
                self._dirty.discard(f)
                logger.info(
                    "deleting expired index file %s: end phy offset %d < commit log min offset %d",
                    f.path,
                    f.end_phy_offset,
                    commit_log_min_offset,
                )
                _destroy(f)
                deleted += 1
            return deleted

    def truncate_after(self, commit_log_max_offset: int) -> int:
        """Delete the files that index records at or after ``commit_log_max_offset``.

        For when the commit log lost its tail (it now ends at ``commit_log_max_offset``):
        newest first, every file whose ``beginPhyOffset`` is at or after that offset is
        deleted, then the newest remaining one too if its ``endPhyOffset`` is (entries
        cannot be removed from an index file). Re-dispatching the commit log from
        :attr:`end_phy_offset` on rebuilds what was lost.

        Returns:
            The number of files deleted.

        Raises:
            RuntimeError: called before :meth:`load`.
            StoreClosedError: the service is closed.
            OSError: a file could not be deleted (those after it are gone).
        """
        with self._lock:
            self._check_loaded()
            deleted = 0
            while self._files:
                f = self._files[-1]
                whole = f.begin_phy_offset >= commit_log_max_offset
                if not whole and f.end_phy_offset < commit_log_max_offset:
                    break
                self._files.pop()
                self._dirty.discard(f)
                logger.warning(
                    "deleting index file %s (phy offsets %d..%d): the commit log ends at %d",
                    f.path,
                    f.begin_phy_offset,
                    f.end_phy_offset,
                    commit_log_max_offset,
                )
                _destroy(f)
                deleted += 1
                if not whole:
                    break
            return deleted

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._files)} files"
        return f"<IndexService {str(self.directory)!r} {state}>"


def _without_present(key_hashes: list[int], present: Counter[int]) -> list[int]:
    """``key_hashes`` minus one per keyHash occurrence already stored (in order)."""
    remaining = Counter(present)
    missing: list[int] = []
    for key_hash in key_hashes:
        if remaining[key_hash] > 0:
            remaining[key_hash] -= 1
        else:
            missing.append(key_hash)
    return missing


def _destroy(f: IndexFile) -> None:
    """Close ``f`` and delete its file (``IndexFile.destroy``)."""
    f.close()
    f.path.unlink(missing_ok=True)
