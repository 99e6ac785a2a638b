"""One RocketMQ index file: a disk hash table from message keys to commit-log offsets.

Mirrors ``org.apache.rocketmq.store.index.IndexFile`` (with ``IndexHeader``). The broker
keeps a directory ``index/`` of these files, each named by its creation time
(``yyyyMMddHHmmssSSS``); ``IndexService`` fills the newest one and starts another when it
is full. The key of an entry is ``topic + "#" + key`` (:func:`index_key`), for the
message's UNIQ_KEY and each of its KEYS. Spec §4.3, golden vector V9.

Layout (all integers big-endian; ``H`` = ``hash_slot_num``, default 5,000,000;
``N`` = ``index_num``, default 20,000,000; file size ``40 + 4·H + 20·N`` =
420,000,040 bytes by default)::

    header, 40 bytes at 0
      0  int64  beginTimestamp   store time (ms) of the first entry
      8  int64  endTimestamp     store time (ms) of the newest entry
     16  int64  beginPhyOffset   commit-log offset of the first entry
     24  int64  endPhyOffset     commit-log offset of the newest entry
     32  int32  hashSlotCount    slots that have been used at least once
     36  int32  indexCount       next entry number; starts at 1 (entry 0 is never used)
    slot table, H × int32 at 40 + slot·4
            int32  number of the newest entry whose keyHash % H == slot (0 = empty)
    entries, N × 20 bytes; entry k at 40 + 4·H + 20·k
      0  int32  keyHash    |String.hashCode(key)|, 0 when that overflows
      4  int64  phyOffset  commit-log offset of the message
     12  int32  timeDiff   whole seconds from beginTimestamp, clamped to [0, 2^31 − 1]
     16  int32  prevIndex  the previous entry of the same slot (0 = end of chain)

A slot's entries form a chain, newest first, through ``prevIndex``. The file is full
when ``indexCount >= N`` (so at most N − 1 entries are stored). A freshly created file
keeps zeros on disk in its header until the first put or :meth:`IndexFile.flush`, while
:attr:`IndexFile.index_count` reads 1, exactly like RocketMQ.

Concurrency: an :class:`IndexFile` is **not** safe for concurrent use. One thread owns
it; RocketMQ's single index-dispatch thread is the model. Callers that query from other
threads must hold a lock around every call.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, final

from rmq_protocol.codec.hashing import index_key_hash
from rmq_store.errors import IndexFileError, StoreClosedError
from rmq_store.speedups import speedups as _speedups

__all__ = [
    "DEFAULT_HASH_SLOT_NUM",
    "DEFAULT_INDEX_NUM",
    "ENTRY_SIZE",
    "HEADER_SIZE",
    "SLOT_SIZE",
    "IndexEntry",
    "IndexFile",
    "IndexFileError",
    "entry_position",
    "index_file_size",
    "index_key",
    "slot_of",
    "slot_position",
]

DEFAULT_HASH_SLOT_NUM: Final = 5_000_000  # maxHashSlotNum
DEFAULT_INDEX_NUM: Final = 20_000_000  # maxIndexNum

_HEADER: Final = struct.Struct(">qqqqii")  # begin/end timestamp, begin/end phy offset, counts
_SLOT: Final = struct.Struct(">i")
_ENTRY: Final = struct.Struct(">iqii")  # keyHash, phyOffset, timeDiff, prevIndex

HEADER_SIZE: Final = _HEADER.size  # 40
SLOT_SIZE: Final = _SLOT.size  # 4
ENTRY_SIZE: Final = _ENTRY.size  # 20

_INT32_MAX: Final = 2**31 - 1
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


def index_key(topic: str, key: str) -> str:
    """The string RocketMQ indexes for ``key`` of a message in ``topic``.

    >>> index_key("TopicTest", "KEY1")
    'TopicTest#KEY1'
    """
    return f"{topic}#{key}"


def index_file_size(hash_slot_num: int, index_num: int) -> int:
    """Bytes in an index file with these sizes: ``40 + 4·hash_slot_num + 20·index_num``."""
    return HEADER_SIZE + SLOT_SIZE * hash_slot_num + ENTRY_SIZE * index_num


def slot_of(key: str, hash_slot_num: int) -> int:
    """The slot of ``key`` (the full ``topic#key`` string): ``keyHash % hash_slot_num``."""
    return index_key_hash(key) % hash_slot_num


def slot_position(slot: int) -> int:
    """Byte position of the int32 slot word for ``slot``."""
    return HEADER_SIZE + SLOT_SIZE * slot


def entry_position(number: int, hash_slot_num: int) -> int:
    """Byte position of entry ``number`` (1-based; 0 is never written)."""
    return HEADER_SIZE + SLOT_SIZE * hash_slot_num + ENTRY_SIZE * number


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One 20-byte entry of the entry area, as stored."""

    key_hash: int
    phy_offset: int
    time_diff: int  # seconds since the header's beginTimestamp
    prev_index: int  # previous entry of the same slot, 0 = none

    @classmethod
    def unpack_from(cls, buf: bytes | bytearray | memoryview | mmap.mmap, offset: int = 0) -> Self:
        return cls(*_ENTRY.unpack_from(buf, offset))

    def pack(self) -> bytes:
        return _ENTRY.pack(self.key_hash, self.phy_offset, self.time_diff, self.prev_index)


def _check_sizes(hash_slot_num: int, index_num: int) -> None:
    if not 1 <= hash_slot_num <= _INT32_MAX:
        raise ValueError(f"hash_slot_num must be in 1..{_INT32_MAX}, got {hash_slot_num}")
    if not 1 <= index_num <= _INT32_MAX:
        raise ValueError(f"index_num must be in 1..{_INT32_MAX}, got {index_num}")


def _check_int64(name: str, value: int) -> None:
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise ValueError(f"{name} {value} does not fit a signed 64-bit integer")


@final
class IndexFile:
    """An open index file, memory-mapped read-write.

    Build one with :meth:`create` or :meth:`open`; close it with :meth:`close` or a
    ``with`` block. Every method and header property raises
    :class:`~rmq_store.errors.StoreClosedError` after :meth:`close` (``path``,
    ``hash_slot_num``, ``index_num``, ``file_size`` and ``closed`` stay readable).

    Not safe for concurrent use (see the module docstring): one owner thread.
    """

    __slots__ = (
        "_begin_phy_offset",
        "_begin_timestamp",
        "_end_phy_offset",
        "_end_timestamp",
        "_entries_at",
        "_fd",
        "_hash_slot_count",
        "_index_count",
        "_map",
        "file_size",
        "hash_slot_num",
        "index_num",
        "path",
    )

    path: Path
    hash_slot_num: int
    index_num: int
    file_size: int
    _map: mmap.mmap | None
    _fd: int  # kept open for fdatasync
    _entries_at: int
    _begin_timestamp: int
    _end_timestamp: int
    _begin_phy_offset: int
    _end_phy_offset: int
    _hash_slot_count: int
    _index_count: int

    def __init__(
        self, path: Path, fd: int, mapping: mmap.mmap, *, hash_slot_num: int, index_num: int
    ) -> None:
        """Private: use :meth:`create` or :meth:`open` (the file takes over ``fd``)."""
        self.path = path
        self._fd = fd
        self.hash_slot_num = hash_slot_num
        self.index_num = index_num
        self.file_size = index_file_size(hash_slot_num, index_num)
        self._map = mapping
        self._entries_at = HEADER_SIZE + SLOT_SIZE * hash_slot_num
        (
            self._begin_timestamp,
            self._end_timestamp,
            self._begin_phy_offset,
            self._end_phy_offset,
            self._hash_slot_count,
            self._index_count,
        ) = _HEADER.unpack_from(mapping, 0)
        if self._index_count <= 0:  # a new file's header is all zeros: count starts at 1
            self._index_count = 1

    # -- construction ---------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        *,
        hash_slot_num: int = DEFAULT_HASH_SLOT_NUM,
        index_num: int = DEFAULT_INDEX_NUM,
        prev_end_phy_offset: int = 0,
        prev_end_timestamp: int = 0,
    ) -> IndexFile:
        """Create a new index file at ``path``, sized to full length (sparse).

        ``prev_end_phy_offset`` / ``prev_end_timestamp`` are the end values of the
        previous index file, as RocketMQ's ``IndexService`` passes them: when positive they
        are written as this file's begin and end values until the first put replaces the
        begin values. (As in RocketMQ, the first entry's timeDiff is then measured from
        ``prev_end_timestamp``.) Leave them 0 for a standalone file.

        Raises:
            FileExistsError: ``path`` already exists.
            ValueError: a size is not in 1..2^31−1, or a previous end value is not int64.
            OSError: the file cannot be created or mapped.
        """
        _check_sizes(hash_slot_num, index_num)
        _check_int64("prev_end_phy_offset", prev_end_phy_offset)
        _check_int64("prev_end_timestamp", prev_end_timestamp)
        path = Path(path)
        size = index_file_size(hash_slot_num, index_num)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.ftruncate(fd, size)
            mapping = mmap.mmap(fd, size)
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)  # leave no half-made file behind
            raise
        self = cls(path, fd, mapping, hash_slot_num=hash_slot_num, index_num=index_num)
        if prev_end_phy_offset > 0:
            self._begin_phy_offset = self._end_phy_offset = prev_end_phy_offset
        if prev_end_timestamp > 0:
            self._begin_timestamp = self._end_timestamp = prev_end_timestamp
        if prev_end_phy_offset > 0 or prev_end_timestamp > 0:
            struct.pack_into(
                ">qqqq",
                mapping,
                0,
                self._begin_timestamp,
                self._end_timestamp,
                self._begin_phy_offset,
                self._end_phy_offset,
            )
        return self

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        hash_slot_num: int = DEFAULT_HASH_SLOT_NUM,
        index_num: int = DEFAULT_INDEX_NUM,
    ) -> IndexFile:
        """Open the existing index file at ``path``, written with these sizes.

        Raises:
            IndexFileError: the file's size is not ``index_file_size(hash_slot_num,
                index_num)``, or its header's indexCount exceeds ``index_num``.
            FileNotFoundError: ``path`` does not exist.
            ValueError: a size is not in 1..2^31−1.
            OSError: the file cannot be opened or mapped.
        """
        _check_sizes(hash_slot_num, index_num)
        path = Path(path)
        size = index_file_size(hash_slot_num, index_num)
        fd = os.open(path, os.O_RDWR)
        try:
            actual = os.fstat(fd).st_size
            if actual != size:
                raise IndexFileError(
                    path,
                    f"file is {actual} bytes, but hash_slot_num={hash_slot_num} and "
                    f"index_num={index_num} need {size} bytes; open it with the sizes it was "
                    "created with (maxHashSlotNum, maxIndexNum)",
                )
            mapping = mmap.mmap(fd, size)
        except BaseException:
            os.close(fd)
            raise
        self = cls(path, fd, mapping, hash_slot_num=hash_slot_num, index_num=index_num)
        if self._index_count > index_num:
            count = self._index_count
            self.close()
            raise IndexFileError(
                path,
                f"header indexCount {count} exceeds index_num {index_num}: the header is "
                "corrupt or the file was written with other sizes; rebuild the index",
            )
        return self

    # -- lifecycle -------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._map is None

    def _mapping(self) -> mmap.mmap:
        if self._map is None:
            raise StoreClosedError(f"index file {self.path} is closed")
        return self._map

    def _write_header(self, mapping: mmap.mmap) -> None:
        _HEADER.pack_into(
            mapping,
            0,
            self._begin_timestamp,
            self._end_timestamp,
            self._begin_phy_offset,
            self._end_phy_offset,
            self._hash_slot_count,
            self._index_count,
        )

    def flush(self) -> None:
        """Write the header and make the whole file durable.

        ``fdatasync`` writes back the mapping's dirty pages as msync would, but releases
        the GIL while the disk works (decisions D13): ``mmap.flush`` held it for the
        whole write-back, 0.1 s for a well-used file, stalling every other thread.

        Raises:
            StoreClosedError: the file is closed.
            OSError: the write-back failed.
        """
        mapping = self._mapping()
        self._write_header(mapping)
        os.fdatasync(self._fd)

    def close(self) -> None:
        """Unmap the file without flushing (call :meth:`flush` first to make it durable).

        Idempotent. Unflushed changes still reach the file through the page cache.
        """
        if self._map is not None:
            mapping, self._map = self._map, None
            mapping.close()
            os.close(self._fd)

    def __enter__(self) -> Self:
        self._mapping()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._map is None else f"index_count={self._index_count}"
        return f"<IndexFile {str(self.path)!r} {state}>"

    # -- header ------------------------------------------------------------------------

    @property
    def begin_timestamp(self) -> int:
        """Store time (ms) of the first entry (0 while empty)."""
        self._mapping()
        return self._begin_timestamp

    @property
    def end_timestamp(self) -> int:
        """Store time (ms) of the newest entry (0 while empty)."""
        self._mapping()
        return self._end_timestamp

    @property
    def begin_phy_offset(self) -> int:
        """Commit-log offset of the first entry (0 while empty)."""
        self._mapping()
        return self._begin_phy_offset

    @property
    def end_phy_offset(self) -> int:
        """Commit-log offset of the newest entry (0 while empty)."""
        self._mapping()
        return self._end_phy_offset

    @property
    def hash_slot_count(self) -> int:
        """Slots that went from empty to used."""
        self._mapping()
        return self._hash_slot_count

    @property
    def index_count(self) -> int:
        """The next entry number: 1 + the number of entries stored."""
        self._mapping()
        return self._index_count

    @property
    def is_full(self) -> bool:
        """True when no entry fits any more (``indexCount >= index_num``)."""
        self._mapping()
        return self._index_count >= self.index_num

    def is_time_matched(self, begin_ms: int, end_ms: int) -> bool:
        """Whether ``[begin_ms, end_ms]`` overlaps ``[begin_timestamp, end_timestamp]``.

        Raises:
            StoreClosedError: the file is closed.
        """
        self._mapping()
        first, last = self._begin_timestamp, self._end_timestamp
        return (
            (begin_ms < first and end_ms > last)
            or first <= begin_ms <= last
            or first <= end_ms <= last
        )

    # -- entries -----------------------------------------------------------------------

    def read_entry(self, number: int) -> IndexEntry:
        """Entry ``number`` as stored (for diagnostics and tests).

        Raises:
            IndexError: ``number`` is not in 0..index_num−1.
            StoreClosedError: the file is closed.
        """
        mapping = self._mapping()
        if not 0 <= number < self.index_num:
            raise IndexError(f"entry {number} not in 0..{self.index_num - 1}")
        return IndexEntry.unpack_from(mapping, self._entries_at + ENTRY_SIZE * number)

    def put_key(self, key: str, phy_offset: int, store_timestamp_ms: int) -> bool:
        """Add an entry mapping ``key`` (``topic#key``) to ``phy_offset``.

        Returns False, writing nothing, when the file is full; the caller then starts a
        new file. The first put sets the begin values of the header; every put sets the
        end values and the counts.

        Raises:
            ValueError: ``phy_offset`` or ``store_timestamp_ms`` is not an int64.
            StoreClosedError: the file is closed.
        """
        self._mapping()
        _check_int64("phy_offset", phy_offset)
        _check_int64("store_timestamp_ms", store_timestamp_ms)
        if self._index_count >= self.index_num:
            return False
        return self.put_hashes((index_key_hash(key),), phy_offset, store_timestamp_ms) == 1

    def put_hashes(
        self, key_hashes: Sequence[int], phy_offset: int, store_timestamp_ms: int
    ) -> int:
        """:meth:`put_key` for several keys of one record, already hashed
        (:func:`~rmq_protocol.codec.hashing.index_key_hash`), in order; the header is
        written once, after the last.

        Returns:
            How many entries were added: fewer than ``len(key_hashes)`` when the file
            became full (the rest belong in a new file).

        Raises:
            ValueError: ``phy_offset`` or ``store_timestamp_ms`` is not an int64.
            StoreClosedError: the file is closed.
        """
        done, added = self.put_records(((key_hashes, phy_offset, store_timestamp_ms),))
        return len(key_hashes) if done else added

    def put_records(self, records: Sequence[tuple[Sequence[int], int, int]]) -> tuple[int, int]:
        """:meth:`put_hashes` for consecutive records, each ``(key hashes, phy offset,
        store time in ms)``, in order; the header is written once, after the last entry.

        One call per batch of messages instead of one per message (with
        :meth:`IndexService.build_indexes`: 110,000 → 100,000 instructions per message of
        a batch append, callgrind).

        Returns:
            ``(records added, entries of the next record added)``: fewer than
            ``len(records)`` records when the file became full.

        Raises:
            ValueError: a phy offset or store time is not an int64 (the records before
                it are added).
            StoreClosedError: the file is closed.
        """
        mapping = self._mapping()
        start = 0
        if _speedups is not None and type(records) is list:
            start, added, status = self._put_records_c(mapping, records)
            if status != 2:  # all written, or the file is full
                return start, added
        count = self._index_count
        entries_at, hash_slot_num, index_num = self._entries_at, self.hash_slot_num, self.index_num
        try:
            for done, (key_hashes, phy_offset, store_timestamp_ms) in enumerate(
                records[start:], start
            ):
                if not (
                    _INT64_MIN <= phy_offset <= _INT64_MAX
                    and _INT64_MIN <= store_timestamp_ms <= _INT64_MAX
                ):
                    _check_int64("phy_offset", phy_offset)
                    _check_int64("store_timestamp_ms", store_timestamp_ms)
                first = count
                time_diff = 0
                for added, key_hash in enumerate(key_hashes):
                    if count >= index_num:
                        return done, added
                    if count == first or count <= 2:  # begin_timestamp is set by entry 1
                        if self._begin_timestamp <= 0:
                            time_diff = 0
                        else:
                            # Whole seconds; a negative difference clamps to 0 whatever
                            # the rounding.
                            time_diff = min(
                                max((store_timestamp_ms - self._begin_timestamp) // 1000, 0),
                                _INT32_MAX,
                            )
                    slot_at = HEADER_SIZE + SLOT_SIZE * (key_hash % hash_slot_num)
                    (prev,) = _SLOT.unpack_from(mapping, slot_at)
                    if prev <= 0 or prev > count:  # empty, or garbage: start a new chain
                        prev = 0
                        self._hash_slot_count += 1
                    _ENTRY.pack_into(
                        mapping,
                        entries_at + ENTRY_SIZE * count,
                        key_hash,
                        phy_offset,
                        time_diff,
                        prev,
                    )
                    _SLOT.pack_into(mapping, slot_at, count)
                    if count <= 1:
                        self._begin_phy_offset = phy_offset
                        self._begin_timestamp = store_timestamp_ms
                    count += 1
                    self._end_phy_offset = phy_offset
                    self._end_timestamp = store_timestamp_ms
            return len(records), 0
        finally:
            if count != self._index_count:
                self._index_count = count
                self._write_header(mapping)

    def _put_records_c(
        self, mapping: mmap.mmap, records: list[tuple[list[int], int, int]]
    ) -> tuple[int, int, int]:
        """:meth:`put_records`' loop in C: ``(records done, entries of the next added,
        status)``; status 2 leaves ``records[done:]`` to the Python loop."""
        if _speedups is None:
            raise RuntimeError("the C speedups are not loaded")
        return self._with_header_state(mapping, _speedups.index_put, records)  # type: ignore[no-any-return]

    def index_records_c(self, records: list[tuple[str, str | None, str | None, int, int]]) -> int:
        """:meth:`IndexService.build_indexes`' loop in C for the leading records that
        need nothing but new entries in this file: past its ``end_phy_offset``, keys the
        C hash takes, and room for all their entries. Returns how many records it took
        (0 without the C speedups); the caller's Python loop handles the rest."""
        if _speedups is None:
            return 0
        done, _ = self._with_header_state(self._mapping(), _speedups.index_build, records)
        return done  # type: ignore[no-any-return]

    def _with_header_state(self, mapping: mmap.mmap, function: Any, records: list[Any]) -> Any:
        """Run one of the C index loops over ``records``: it reads and updates the header
        fields through a list, which is copied back (and the header written when the
        count moved) even when it raises."""
        state = [
            self._index_count,
            self._hash_slot_count,
            self._begin_timestamp,
            self._begin_phy_offset,
            self._end_timestamp,
            self._end_phy_offset,
        ]
        try:
            return function(
                mapping, self._entries_at, self.hash_slot_num, self.index_num, state, records, 0
            )
        finally:
            (
                count,
                self._hash_slot_count,
                self._begin_timestamp,
                self._begin_phy_offset,
                self._end_timestamp,
                self._end_phy_offset,
            ) = state
            if count != self._index_count:
                self._index_count = count
                self._write_header(mapping)

    def select_phy_offsets(self, key: str, max_num: int, begin_ms: int, end_ms: int) -> list[int]:
        """Commit-log offsets indexed under ``key``, newest first, at most ``max_num``.

        Walks the key's slot chain and keeps the entries whose keyHash equals the key's
        and whose time (``begin_timestamp + timeDiff·1000``) lies in ``[begin_ms, end_ms]``.
        Entries of other keys with an equal keyHash are returned too (callers re-check
        the message's keys). As in RocketMQ the walk stops at an entry older than
        ``begin_ms``, at a negative timeDiff, and at a prevIndex that is ≤ 0, beyond
        indexCount or equal to the entry's own number; it also stops after indexCount
        steps, so a corrupt (cyclic) chain cannot loop forever.

        Raises:
            StoreClosedError: the file is closed.
        """
        mapping = self._mapping()
        result: list[int] = []
        count = self._index_count
        if max_num <= 0 or count <= 1:
            return result
        key_hash = index_key_hash(key)
        (number,) = _SLOT.unpack_from(
            mapping, HEADER_SIZE + SLOT_SIZE * (key_hash % self.hash_slot_num)
        )
        if number <= 0 or number > count:
            return result
        base = self._begin_timestamp
        unpack_entry = _ENTRY.unpack_from
        entries_at, index_num = self._entries_at, self.index_num
        for _ in range(count):
            if len(result) >= max_num or number >= index_num:
                break
            hash_read, phy_read, time_diff, prev = unpack_entry(
                mapping, entries_at + ENTRY_SIZE * number
            )
            if time_diff < 0:
                break
            time_read = base + time_diff * 1000
            if hash_read == key_hash and begin_ms <= time_read <= end_ms:
                result.append(phy_read)
            if prev <= 0 or prev > count or prev == number or time_read < begin_ms:
                break
            number = prev
        return result
