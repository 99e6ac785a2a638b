"""Read-only store tools: what a store directory holds, and whether it is consistent.

Backs ``python -m rmq_store inspect|verify STORE_DIR`` (:mod:`rmq_store.__main__`).
RocketMQ has no offline equivalent; the rules are those of its recovery code
(spec §4): ``CommitLog.checkMessageAndReturnSize`` / ``recoverNormally`` (what a valid
record is and where the data ends), ``ConsumeQueue.recover`` (a queue's units end at the
first unit without ``phyOffset >= 0 and size > 0``) and ``ConsumeQueue.correctMinOffset``
(a queue's min offset is its first unit whose record is still in the commit log).

**Strictly read-only.** Segments are mapped with ``read_only=True`` (``O_RDONLY``,
``ACCESS_READ``); the checkpoint and index files are read with plain reads. Nothing is
created, truncated, locked or renamed, so both tools are safe on a directory Apache
RocketMQ wrote, or one a broker is running on (a record being appended meanwhile can then
show up as a torn tail). Sizes come from the files: the commit-log segment size from the
segments (all equal), each queue's file size from its files, so a Java store (1 GiB
segments, 6,000,000-byte consume-queue files) needs no flags. Index files do not record
their geometry: the configured ``maxHashSlotNum`` / ``maxIndexNum`` are tried first, then
the geometry is inferred from the header and the newest entry.

:func:`verify_store` reports the **first** inconsistency in this order: the layout of the
commit-log files; PHYSICALOFFSET fields of the valid records; the end of the data (an
invalid record, a segment that ends early, non-zero bytes after the end of the last
segment's data); then the consume queues by topic, queue id and queue offset. Each
consume-queue unit that is not blank and whose phy offset is at least the commit log's min
offset must point at a valid record below the end of the data with the same size, topic,
queueId and queueOffset (for a light message queue, the entry of ``INNER_MULTI_DISPATCH``
and ``INNER_MULTI_QUEUE_OFFSET``), and ``tagsCode == tags_code(TAGS)`` except in
``SCHEDULE_TOPIC_XXXX`` (a delivery time) and for ``consumequeue_ext`` addresses (tagsCode
<= -2147483649). Units below the commit log's min offset are expired, not errors.

JSON documents (``--json``); the keys are stable::

    inspect
    {"root": str, "abort": bool,
     "checkpoint": null | {"size": int, "physicMsgTimestamp": int, "logicsMsgTimestamp": int,
                           "indexMsgTimestamp": int, "masterFlushedOffset": int,
                           "confirmPhyOffset": int},                  # ms / bytes
     "commitLog": {"segments": [str], "segmentSize": int | null, "minOffset": int,
                   "maxOffset": int,                                 # end of the valid data
                   "records": int,
                   "tornTailBytes": int},     # non-zero bytes of an invalid record at maxOffset
     "topics": [{"topic": str, "messageCount": int,
                 "queues": [{"queueId": int, "minOffset": int, "maxOffset": int,
                             "messageCount": int,                    # maxOffset - minOffset
                             "files": [str], "fileSize": int | null}]}],
     "indexFiles": [{"name": str, "size": int, "entries": int,
                     "beginTimestamp": int, "endTimestamp": int,
                     "beginPhyOffset": int, "endPhyOffset": int,
                     "hashSlotCount": int, "indexCount": int,
                     "maxHashSlotNum": int | null, "maxIndexNum": int | null,
                     "geometry": "configured" | "inferred" | "unknown", "note": str | null}]}

    verify
    {"root": str, "ok": bool,
     "problem": null | {"path": str, "position": int, "offset": int, "reason": str},
     "commitLog": {"segments": int, "records": int, "minOffset": int, "maxOffset": int},
     "consumeQueues": {"queues": int, "unitsChecked": int, "unitsExpired": int}}

``position`` is the byte position in the file ``path``; ``offset`` the global offset of
that byte: the physical offset for the commit log, the byte offset (queue offset × 20) for
a consume queue. The functions keep no state: safe to call from several threads.
"""

from __future__ import annotations

import itertools
import mmap
import os
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from rmq_protocol.codec.hashing import tags_code
from rmq_protocol.codec.message import MessageExt
from rmq_store.commitlog import CommitLog, RecoveryReport
from rmq_store.consume_queue import BLANK_UNIT, UNIT_SIZE, ConsumeQueue
from rmq_store.errors import CorruptRecordError, StoreError
from rmq_store.index import (
    DEFAULT_HASH_SLOT_NUM,
    DEFAULT_INDEX_NUM,
    ENTRY_SIZE,
    HEADER_SIZE,
    SLOT_SIZE,
    index_file_size,
)

__all__ = [
    "CheckpointInfo",
    "CommitLogInfo",
    "IndexFileInfo",
    "NotAStoreError",
    "Problem",
    "QueueInfo",
    "StoreReport",
    "TopicInfo",
    "VerifyReport",
    "inspect_store",
    "verify_store",
]

SCHEDULE_TOPIC: Final = "SCHEDULE_TOPIC_XXXX"  # TopicValidator.RMQ_SYS_SCHEDULE_TOPIC
EXT_ADDRESS_MAX: Final = -2147483649  # tagsCode at or below: a consumequeue_ext address
LMQ_PREFIX: Final = "%LMQ%"  # MixAll.LMQ_PREFIX
INNER_MULTI_DISPATCH: Final = "INNER_MULTI_DISPATCH"  # MessageConst, ","-separated queues
INNER_MULTI_QUEUE_OFFSET: Final = "INNER_MULTI_QUEUE_OFFSET"  # ","-separated offsets

_CHECKPOINT: Final = struct.Struct(">qqqqq")  # physic, logics, index ts; masterFlushed, confirm
_INDEX_HEADER: Final = struct.Struct(">qqqqii")  # begin/end ts, begin/end phy, slot/index count
_INDEX_ENTRY: Final = struct.Struct(">iqii")  # keyHash, phyOffset, timeDiff, prevIndex
_I32: Final = struct.Struct(">i")
_I64: Final = struct.Struct(">q")
_CQ_UNIT: Final = struct.Struct(">qiq")  # consume_queue's unit: phyOffset, size, tagsCode
_BLANK_CQ_UNIT: Final = (BLANK_UNIT.commit_log_offset, BLANK_UNIT.size, BLANK_UNIT.tags_code)
_ZERO_CHUNK: Final = bytes(1 << 20)
_MAX_GEOMETRY_CANDIDATES: Final = 4096  # positions of the newest entry tried when inferring


class NotAStoreError(StoreError):
    """``root`` is missing, or holds none of a store's files (a usage error)."""

    def __init__(self, root: Path, reason: str) -> None:
        self.root, self.reason = root, reason
        super().__init__(f"{root}: {reason}; pass the broker's storePathRootDir")


# ------------------------------------------------------------------ reports


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointInfo:
    size: int  # bytes of the file (CHECKPOINT_FILE_SIZE, 4096, when sound)
    physic_msg_timestamp: int  # ms
    logics_msg_timestamp: int  # ms
    index_msg_timestamp: int  # ms
    master_flushed_offset: int  # bytes, 5.x only
    confirm_phy_offset: int  # bytes, 5.x only

    def to_json(self) -> dict[str, object]:
        return {
            "size": self.size,
            "physicMsgTimestamp": self.physic_msg_timestamp,
            "logicsMsgTimestamp": self.logics_msg_timestamp,
            "indexMsgTimestamp": self.index_msg_timestamp,
            "masterFlushedOffset": self.master_flushed_offset,
            "confirmPhyOffset": self.confirm_phy_offset,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitLogInfo:
    segments: tuple[str, ...]
    segment_size: int | None  # bytes; None without segments
    min_offset: int
    max_offset: int  # end of the valid data (where recovery would cut)
    records: int
    torn_tail_bytes: int  # non-zero bytes of an invalid record at max_offset (0: clean end)

    def to_json(self) -> dict[str, object]:
        return {
            "segments": list(self.segments),
            "segmentSize": self.segment_size,
            "minOffset": self.min_offset,
            "maxOffset": self.max_offset,
            "records": self.records,
            "tornTailBytes": self.torn_tail_bytes,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueInfo:
    topic: str
    queue_id: int
    min_offset: int  # first unit whose record is still in the commit log
    max_offset: int  # next queue offset to be written (exclusive)
    files: tuple[str, ...]
    file_size: int | None  # bytes; None without files

    @property
    def message_count(self) -> int:
        return self.max_offset - self.min_offset

    def to_json(self) -> dict[str, object]:
        return {
            "queueId": self.queue_id,
            "minOffset": self.min_offset,
            "maxOffset": self.max_offset,
            "messageCount": self.message_count,
            "files": list(self.files),
            "fileSize": self.file_size,
        }


@dataclass(frozen=True, slots=True)
class TopicInfo:
    topic: str
    queues: tuple[QueueInfo, ...]

    @property
    def message_count(self) -> int:
        return sum(q.message_count for q in self.queues)

    def to_json(self) -> dict[str, object]:
        return {
            "topic": self.topic,
            "messageCount": self.message_count,
            "queues": [q.to_json() for q in self.queues],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexFileInfo:
    name: str
    size: int  # bytes
    begin_timestamp: int  # ms
    end_timestamp: int  # ms
    begin_phy_offset: int
    end_phy_offset: int
    hash_slot_count: int
    index_count: int  # header value: next entry number (entries + 1), 0 in a new file
    max_hash_slot_num: int | None  # the geometry the file was written with, if known
    max_index_num: int | None
    geometry: str  # "configured" (the given sizes match), "inferred", or "unknown"
    note: str | None  # why the configured sizes do not fit, when they do not

    @property
    def entries(self) -> int:
        return max(self.index_count - 1, 0)

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "size": self.size,
            "entries": self.entries,
            "beginTimestamp": self.begin_timestamp,
            "endTimestamp": self.end_timestamp,
            "beginPhyOffset": self.begin_phy_offset,
            "endPhyOffset": self.end_phy_offset,
            "hashSlotCount": self.hash_slot_count,
            "indexCount": self.index_count,
            "maxHashSlotNum": self.max_hash_slot_num,
            "maxIndexNum": self.max_index_num,
            "geometry": self.geometry,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreReport:
    """What :func:`inspect_store` found."""

    root: Path
    abort: bool  # the abort file exists: the last shutdown was not clean
    checkpoint: CheckpointInfo | None  # None when there is no checkpoint file
    commit_log: CommitLogInfo
    topics: tuple[TopicInfo, ...]
    index_files: tuple[IndexFileInfo, ...]

    @property
    def queues(self) -> tuple[QueueInfo, ...]:
        return tuple(q for t in self.topics for q in t.queues)

    def to_json(self) -> dict[str, object]:
        return {
            "root": str(self.root),
            "abort": self.abort,
            "checkpoint": None if self.checkpoint is None else self.checkpoint.to_json(),
            "commitLog": self.commit_log.to_json(),
            "topics": [t.to_json() for t in self.topics],
            "indexFiles": [i.to_json() for i in self.index_files],
        }


@dataclass(frozen=True, slots=True)
class Problem:
    """One inconsistency: where it is and what is wrong."""

    path: Path  # the file
    position: int  # byte position in the file
    offset: int  # global offset of that byte (commit log: physical; consume queue: bytes)
    reason: str

    def to_json(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "position": self.position,
            "offset": self.offset,
            "reason": self.reason,
        }

    def __str__(self) -> str:
        return f"{self.path} position {self.position} (offset {self.offset}): {self.reason}"


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyReport:
    """What :func:`verify_store` found: ``first_problem`` is None when all is consistent.

    The counters cover what was checked before the first problem.
    """

    root: Path
    first_problem: Problem | None
    segments: int = 0
    records: int = 0  # valid commit-log records
    commit_log_min_offset: int = 0
    commit_log_max_offset: int = 0  # end of the valid data
    queues: int = 0
    units_checked: int = 0  # consume-queue units checked against the commit log
    units_expired: int = 0  # units below the commit log's min offset (not errors)

    @property
    def ok(self) -> bool:
        return self.first_problem is None

    def to_json(self) -> dict[str, object]:
        return {
            "root": str(self.root),
            "ok": self.ok,
            "problem": None if self.first_problem is None else self.first_problem.to_json(),
            "commitLog": {
                "segments": self.segments,
                "records": self.records,
                "minOffset": self.commit_log_min_offset,
                "maxOffset": self.commit_log_max_offset,
            },
            "consumeQueues": {
                "queues": self.queues,
                "unitsChecked": self.units_checked,
                "unitsExpired": self.units_expired,
            },
        }


# ------------------------------------------------------------------ files and layout


def _check_root(root: Path) -> None:
    if not root.is_dir():
        raise NotAStoreError(root, "no such directory")
    known = ("commitlog", "consumequeue", "index", "checkpoint")
    if not any((root / name).exists() for name in known):
        raise NotAStoreError(
            root, "not a store directory (no commitlog, consumequeue, index or checkpoint)"
        )


def _numbered_files(directory: Path) -> list[Path]:
    """Files named by a decimal offset, in offset order (other names are ignored)."""
    if not directory.is_dir():
        return []
    return sorted(
        (p for p in directory.iterdir() if p.name.isdigit() and p.is_file()),
        key=lambda p: int(p.name),
    )


def _file_layout(
    files: Sequence[Path], what: str, *, unit: int = 1
) -> tuple[int | None, Problem | None]:
    """The common size of ``files`` (segments named by their start offset), or the first
    file that breaks the layout: unequal sizes, a size that is not a positive multiple of
    ``unit``, a start offset that is not a multiple of the size, or a missing file."""
    if not files:
        return None, None
    size = files[0].stat().st_size
    for path in files[1:]:
        actual = path.stat().st_size
        if actual != size:
            return None, Problem(
                path,
                0,
                int(path.name),
                f"{what} file is {actual} bytes, but {files[0].name} is {size}: all {what} "
                "files of a store have one size; a file was truncated or copied from elsewhere",
            )
    first = int(files[0].name)
    if size <= 0 or size % unit:
        return None, Problem(
            files[0], 0, first, f"{what} file size {size} is not a positive multiple of {unit}"
        )
    if first % size:
        return None, Problem(
            files[0],
            0,
            first,
            f"{what} file name {files[0].name} is not a multiple of its size {size}",
        )
    for prev, path in itertools.pairwise(files):
        expected = int(prev.name) + size
        if int(path.name) != expected:
            return None, Problem(
                path,
                0,
                int(path.name),
                f"{what} files are not contiguous: after {prev.name} comes {path.name}, "
                f"expected {expected:020d} (a file is missing)",
            )
    return size, None


def _queue_dirs(root: Path) -> Iterator[tuple[str, int, Path]]:
    """``(topic, queue id, directory)`` of every queue under ``consumequeue/``, sorted."""
    base = root / "consumequeue"
    if not base.is_dir():
        return
    for topic_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        queue_dirs = [
            p
            for p in topic_dir.iterdir()
            if p.is_dir() and p.name.isdigit() and p.name == str(int(p.name))
        ]
        for queue_dir in sorted(queue_dirs, key=lambda p: int(p.name)):
            yield topic_dir.name, int(queue_dir.name), queue_dir


def _open_commit_log(root: Path) -> tuple[CommitLog | None, Problem | None]:
    """The commit log opened read-only with the segment size its files have."""
    directory = root / "commitlog"
    segment_size, problem = _file_layout(_numbered_files(directory), "commit-log segment")
    if problem is not None:
        return None, problem
    if segment_size is None:
        return None, None
    try:
        log = CommitLog(directory, segment_size, max_record_size=segment_size, read_only=True)
    except StoreError as exc:
        return None, Problem(directory, 0, 0, str(exc))
    return log, None


@dataclass(slots=True)
class _Units:
    """A queue's valid units as ConsumeQueue.recover finds them."""

    end: int  # byte offset just past the last valid unit
    problem: Problem | None  # a later file that recovery would delete


def _scan_units(queue: ConsumeQueue) -> _Units:
    """Find the end of ``queue``'s units (``phyOffset >= 0 and size > 0``), reading only."""
    files = queue.files
    for index, mapped in enumerate(files):
        data = mapped.buffer[:]
        position = 0
        for phy, size, _tags in _CQ_UNIT.iter_unpack(data):
            if not (phy >= 0 and size > 0):
                break
            position += UNIT_SIZE
        if position < mapped.file_size:
            end = mapped.file_from_offset + position
            problem = None
            if index + 1 < len(files):
                later = files[index + 1]
                problem = Problem(
                    mapped.path,
                    position,
                    end,
                    f"{queue.topic}/{queue.queue_id}: the units end at queue offset "
                    f"{end // UNIT_SIZE} inside {mapped.path.name}, but a later file "
                    f"{later.path.name} exists (recovery would delete it)",
                )
            return _Units(end, problem)
    return _Units(files[-1].end_offset if files else 0, None)


def _units(queue: ConsumeQueue, end: int) -> Iterator[tuple[Path, int, int, tuple[int, int, int]]]:
    """``(file, position, byte offset, (phy, size, tagsCode))`` of the units below ``end``."""
    for mapped in queue.files:
        if mapped.file_from_offset >= end:
            return
        stop = min(mapped.file_size, end - mapped.file_from_offset)
        data = mapped.buffer[:stop]
        for i, unit in enumerate(_CQ_UNIT.iter_unpack(data)):
            position = i * UNIT_SIZE
            yield mapped.path, position, mapped.file_from_offset + position, unit


# ------------------------------------------------------------------ inspect


def _read_checkpoint(root: Path) -> CheckpointInfo | None:
    path = root / "checkpoint"
    if not path.is_file():
        return None
    with path.open("rb") as f:
        raw = f.read(_CHECKPOINT.size)
    size = path.stat().st_size
    values = _CHECKPOINT.unpack(raw.ljust(_CHECKPOINT.size, b"\0"))
    return CheckpointInfo(
        size=size,
        physic_msg_timestamp=values[0],
        logics_msg_timestamp=values[1],
        index_msg_timestamp=values[2],
        master_flushed_offset=values[3],
        confirm_phy_offset=values[4],
    )


def _index_geometry_fits(
    data: mmap.mmap, size: int, slots: int, count: int, begin_phy: int, end_phy: int
) -> int | None:
    """``maxIndexNum`` if an index file of ``size`` bytes with ``slots`` hash slots holds
    entries consistent with its header (the newest entry has endPhyOffset and heads its
    slot's chain; entry 1 has beginPhyOffset), else None."""
    rest = size - HEADER_SIZE - SLOT_SIZE * slots
    if slots < 1 or rest <= 0 or rest % ENTRY_SIZE:
        return None
    index_num = rest // ENTRY_SIZE
    if count > index_num:
        return None
    newest = count - 1
    if newest < 1:
        return index_num  # an empty file: nothing more to check
    entries_at = HEADER_SIZE + SLOT_SIZE * slots
    key_hash, phy, _diff, prev = _INDEX_ENTRY.unpack_from(data, entries_at + ENTRY_SIZE * newest)
    if phy != end_phy or key_hash < 0 or not 0 <= prev < newest:
        return None
    (head,) = _I32.unpack_from(data, HEADER_SIZE + SLOT_SIZE * (key_hash % slots))
    (first_phy,) = _I64.unpack_from(data, entries_at + ENTRY_SIZE + 4)
    return index_num if head == newest and first_phy == begin_phy else None


def _infer_index_geometry(
    data: mmap.mmap,
    size: int,
    header: tuple[int, int, int, int, int, int],
    *,
    slots: int | None,
    index_num: int | None,
) -> tuple[int, int] | None:
    """``(maxHashSlotNum, maxIndexNum)`` of an index file, from its size and entries.

    With one size given, the other follows from the file size; otherwise the newest entry
    is looked for where its phyOffset (the header's endPhyOffset) occurs.
    """
    _b, _e, begin_phy, end_phy, _slots_used, count = header
    candidates: Iterator[int]
    if slots is not None:
        candidates = iter((slots,))
    elif index_num is not None:
        rest = size - HEADER_SIZE - ENTRY_SIZE * index_num
        candidates = iter((rest // SLOT_SIZE,) if rest > 0 and rest % SLOT_SIZE == 0 else ())
    elif count < 2:
        return None  # no entry to tell the geometry by
    else:
        candidates = _slot_candidates(data, size, count - 1, end_phy)
    for candidate in itertools.islice(candidates, _MAX_GEOMETRY_CANDIDATES):
        found = _index_geometry_fits(data, size, candidate, count, begin_phy, end_phy)
        if found is not None:
            return candidate, found
    return None


def _slot_candidates(data: mmap.mmap, size: int, newest: int, end_phy: int) -> Iterator[int]:
    """Slot counts that put entry ``newest``'s phyOffset where ``end_phy`` occurs."""
    pattern = _I64.pack(end_phy)
    at = HEADER_SIZE + SLOT_SIZE + ENTRY_SIZE * newest + 4  # one slot at least
    while (found := data.find(pattern, at, size)) >= 0:
        slots_bytes = found - 4 - HEADER_SIZE - ENTRY_SIZE * newest
        if slots_bytes % SLOT_SIZE == 0:
            yield slots_bytes // SLOT_SIZE
        at = found + 1


def _read_index_file(path: Path, *, slots: int | None, index_num: int | None) -> IndexFileInfo:
    """The header and geometry of one index file. ``slots`` / ``index_num`` are the sizes
    the caller gave (None: the RocketMQ defaults, and free to infer)."""
    configured = (
        DEFAULT_HASH_SLOT_NUM if slots is None else slots,
        DEFAULT_INDEX_NUM if index_num is None else index_num,
    )
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        raw = os.pread(fd, HEADER_SIZE, 0)
        header = _INDEX_HEADER.unpack(raw.ljust(HEADER_SIZE, b"\0"))
        expected = index_file_size(*configured)
        geometry: tuple[int, int] | None
        note = None
        if size == expected:
            geometry, kind = configured, "configured"
        else:
            note = (
                f"file is {size} bytes, but maxHashSlotNum={configured[0]} and "
                f"maxIndexNum={configured[1]} make {expected}"
            )
            geometry = None
            if size > HEADER_SIZE:
                with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as data:
                    geometry = _infer_index_geometry(
                        data, size, header, slots=slots, index_num=index_num
                    )
            kind = "inferred" if geometry is not None else "unknown"
            if geometry is None:
                note += "; pass --max-hash-slot-num/--max-index-num with the broker's values"
    finally:
        os.close(fd)
    begin_ts, end_ts, begin_phy, end_phy, slots_used, count = header
    return IndexFileInfo(
        name=path.name,
        size=size,
        begin_timestamp=begin_ts,
        end_timestamp=end_ts,
        begin_phy_offset=begin_phy,
        end_phy_offset=end_phy,
        hash_slot_count=slots_used,
        index_count=count,
        max_hash_slot_num=None if geometry is None else geometry[0],
        max_index_num=None if geometry is None else geometry[1],
        geometry=kind,
        note=note,
    )


def _queue_min_offset(queue: ConsumeQueue, end: int, commit_log_min: int) -> int:
    """First unit that is not blank and whose record is still in the commit log (Java's
    correctMinOffset); ``end`` (as a queue offset) when there is none."""
    for _path, _position, byte_offset, unit in _units(queue, end):
        if unit != _BLANK_CQ_UNIT and unit[0] >= commit_log_min:
            return byte_offset // UNIT_SIZE
    return end // UNIT_SIZE


def inspect_store(
    root: Path, *, max_hash_slot_num: int | None = None, max_index_num: int | None = None
) -> StoreReport:
    """Describe the store under ``root`` without changing anything.

    ``max_hash_slot_num`` / ``max_index_num`` are the broker's index sizes when they are
    not RocketMQ's defaults (5,000,000 / 20,000,000); when the files do not match them the
    geometry is inferred (see :class:`IndexFileInfo`).

    Raises:
        NotAStoreError: ``root`` is missing or is not a store directory.
        StoreError: the commit-log or consume-queue files cannot be read as segments
            (unequal sizes, a missing file); ``verify`` says where.
        OSError: a file cannot be read.
    """
    _check_root(root)
    log, problem = _open_commit_log(root)
    if problem is not None:
        raise StoreError(str(problem))
    try:
        if log is None:
            commit_log = CommitLogInfo(
                segments=(),
                segment_size=None,
                min_offset=0,
                max_offset=0,
                records=0,
                torn_tail_bytes=0,
            )
        else:
            plan = log.plan_recovery()
            commit_log = CommitLogInfo(
                segments=tuple(s.path.name for s in log.segments),
                segment_size=log.segment_size,
                min_offset=log.min_offset,
                max_offset=plan.max_offset,
                records=plan.records,
                torn_tail_bytes=plan.truncated_bytes,
            )
    finally:
        if log is not None:
            log.close()
    topics: dict[str, list[QueueInfo]] = {}
    for topic, queue_id, directory in _queue_dirs(root):
        files = _numbered_files(directory)
        file_size, problem = _file_layout(files, "consume-queue", unit=UNIT_SIZE)
        if problem is not None:
            raise StoreError(str(problem))
        if file_size is None:
            info = QueueInfo(
                topic=topic, queue_id=queue_id, min_offset=0, max_offset=0, files=(), file_size=None
            )
        else:
            queue = ConsumeQueue(root / "consumequeue", topic, queue_id, file_size, read_only=True)
            try:
                end = _scan_units(queue).end
                info = QueueInfo(
                    topic=topic,
                    queue_id=queue_id,
                    min_offset=_queue_min_offset(queue, end, commit_log.min_offset),
                    max_offset=end // UNIT_SIZE,
                    files=tuple(p.name for p in files),
                    file_size=file_size,
                )
            finally:
                queue.close()
        topics.setdefault(topic, []).append(info)
    index_dir = root / "index"
    index_files = tuple(
        _read_index_file(p, slots=max_hash_slot_num, index_num=max_index_num)
        for p in (sorted(index_dir.iterdir()) if index_dir.is_dir() else [])
        if p.is_file() and p.name.isdigit()
    )
    return StoreReport(
        root=root,
        abort=(root / "abort").exists(),
        checkpoint=_read_checkpoint(root),
        commit_log=commit_log,
        topics=tuple(TopicInfo(t, tuple(q)) for t, q in topics.items()),
        index_files=index_files,
    )


# ------------------------------------------------------------------ verify


def _segment_problem(log: CommitLog, offset: int, reason: str) -> Problem:
    index = (offset - log.min_offset) // log.segment_size
    segments = log.segments
    segment = segments[min(index, len(segments) - 1)]
    return Problem(segment.path, offset - segment.file_from_offset, offset, reason)


def _first_non_zero(data: mmap.mmap, start: int, end: int) -> int | None:
    """Position of the first non-zero byte of ``data[start:end]``, or None."""
    position = start
    while position < end:
        stop = min(end, position + len(_ZERO_CHUNK))
        chunk = data[position:stop]
        if chunk != _ZERO_CHUNK[: stop - position]:
            return position + (len(chunk) - len(chunk.lstrip(b"\0")))
        position = stop
    return None


def _verify_commit_log(log: CommitLog) -> tuple[RecoveryReport, Problem | None]:
    """What recovery would find (records, end of the valid data), and the first problem."""
    plan = log.plan_recovery()
    end = plan.max_offset
    for record in log.scan(log.min_offset, check_crc=False):  # plan_recovery checked CRCs
        if record.phy_offset >= end:
            break
        if record.message.commit_log_offset != record.phy_offset:
            reason = (
                f"the record's PHYSICALOFFSET field is {record.message.commit_log_offset}, "
                f"but it is stored at offset {record.phy_offset} (a renamed segment?)"
            )
            return plan, _segment_problem(log, record.phy_offset, reason)
    last = log.segments[-1]
    if end >= last.file_from_offset + last.file_size:
        return plan, None  # the last segment is full
    later = f"; recovery would delete the {plan.removed_segments} later segment(s)"
    if log.check_record(end) is None:
        reason = f"invalid record after the last valid one: {log.explain_invalid(end)}"
        if plan.removed_segments:
            reason += later
        return plan, _segment_problem(log, end, reason)
    if plan.removed_segments:
        reason = "the data of this segment ends here without an end-of-file marker" + later
        return plan, _segment_problem(log, end, reason)
    junk = _first_non_zero(last.buffer, end - last.file_from_offset, last.file_size)
    if junk is not None:
        reason = (
            f"non-zero byte after the end of the data at offset {end} "
            "(a torn tail; recovery would zero it)"
        )
        return plan, Problem(last.path, junk, last.file_from_offset + junk, reason)
    return plan, None


def _expected_queue(message: MessageExt, topic: str) -> tuple[int, int] | None:
    """``(queueId, queueOffset)`` the record has in queue ``topic``: its own queue, or
    the light message queue of ``INNER_MULTI_DISPATCH`` named ``topic``."""
    if message.topic == topic:
        return message.queue_id, message.queue_offset
    queues = (message.properties.get(INNER_MULTI_DISPATCH) or "").split(",")
    offsets = (message.properties.get(INNER_MULTI_QUEUE_OFFSET) or "").split(",")
    if topic not in queues or len(queues) != len(offsets):
        return None
    text = offsets[queues.index(topic)]
    if not text.lstrip("-").isdigit():
        return None
    return (0 if topic.startswith(LMQ_PREFIX) else message.queue_id), int(text)


def _check_unit(
    log: CommitLog | None,
    end: int,
    topic: str,
    queue_id: int,
    queue_offset: int,
    unit: tuple[int, int, int],
) -> str | None:
    """Why the unit at ``queue_offset`` does not match the commit log, or None."""
    phy, size, tags = unit
    where = (
        f"{topic}/{queue_id} queue offset {queue_offset}: unit points at commit-log offset {phy}"
    )
    if phy >= end or log is None:
        return f"{where}, past the end of the commit-log data ({end})"
    found = log.check_record(phy, check_crc=False)
    if not found:
        return f"{where}, where there is no record: {log.explain_invalid(phy, check_crc=False)}"
    if found != size:
        return f"{where} with size {size}, but the record there is {found} bytes"
    try:
        message = log.read_message(phy)
    except CorruptRecordError as exc:  # check_record said valid: a race with a writer
        return f"{where}: {exc}"
    if message.commit_log_offset != phy:
        return f"{where}, whose PHYSICALOFFSET field is {message.commit_log_offset}"
    expected = _expected_queue(message, topic)
    if expected is None:
        return f"{where}, a record of topic {message.topic!r}"
    if expected != (queue_id, queue_offset):
        return (
            f"{where}, a record of queue {message.topic}/{expected[0]} at queue offset "
            f"{expected[1]}"
        )
    if topic != SCHEDULE_TOPIC and tags > EXT_ADDRESS_MAX:
        wanted = tags_code(message.tags)
        if tags != wanted:
            return f"{where} with tagsCode {tags}, but its TAGS {message.tags!r} give {wanted}"
    return None


def verify_store(root: Path) -> VerifyReport:
    """Check every commit-log record and every consume-queue unit, changing nothing.

    Stops at the first inconsistency (the order is in the module docstring).

    Raises:
        NotAStoreError: ``root`` is missing or is not a store directory.
        OSError: a file cannot be read.
    """
    _check_root(root)
    log, problem = _open_commit_log(root)
    if problem is not None:
        return VerifyReport(root=root, first_problem=problem)
    records = end = 0
    cl_min = log.min_offset if log is not None else 0
    segments = len(log.segments) if log is not None else 0
    queues = checked = expired = 0

    def report(problem: Problem | None) -> VerifyReport:
        return VerifyReport(
            root=root,
            first_problem=problem,
            segments=segments,
            records=records,
            commit_log_min_offset=cl_min,
            commit_log_max_offset=end,
            queues=queues,
            units_checked=checked,
            units_expired=expired,
        )

    try:
        if log is not None:
            plan, problem = _verify_commit_log(log)
            records, end = plan.records, plan.max_offset
            if problem is not None:
                return report(problem)
        for topic, queue_id, directory in _queue_dirs(root):
            files = _numbered_files(directory)
            file_size, problem = _file_layout(files, "consume-queue", unit=UNIT_SIZE)
            if problem is not None:
                return report(problem)
            if file_size is None:
                continue
            queue = ConsumeQueue(root / "consumequeue", topic, queue_id, file_size, read_only=True)
            try:
                queues += 1
                units = _scan_units(queue)
                for path, position, byte_offset, unit in _units(queue, units.end):
                    if unit == _BLANK_CQ_UNIT:
                        continue
                    if unit[0] < cl_min:
                        expired += 1
                        continue
                    checked += 1
                    reason = _check_unit(log, end, topic, queue_id, byte_offset // UNIT_SIZE, unit)
                    if reason is not None:
                        return report(Problem(path, position, byte_offset, reason))
                if units.problem is not None:
                    return report(units.problem)
            finally:
                queue.close()
        return report(None)
    finally:
        if log is not None:
            log.close()
