"""The commit log: every message, back to back, in fixed-size segments.

Mirrors ``org.apache.rocketmq.store.CommitLog`` (spec §4.1). Records have the stored-message
layout of spec §3.1; a record never spans segments: when ``size + 8`` does not fit in what is
left of a segment, an 8-byte end-of-file marker is written instead::

    int32 remaining bytes of the segment | uint32 BLANK_MAGIC 0xCBD43194

and the record goes to the next segment, named by its 20-digit start offset.

The store encodes a record once (``rmq_protocol.codec.message``) and the commit log
copies it into the mapped segment, then fills in what only the store knows:
QUEUEOFFSET, PHYSICALOFFSET and STORETIMESTAMP (``struct.pack_into`` at their fixed
positions). Appends are serialised by the caller (the store's append lock); reads of
bytes below the write position may run concurrently with an append.
"""

from __future__ import annotations

import dataclasses
import logging
import struct
import threading
import typing
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final

from rmq_protocol.codec.message import (
    BLANK_MAGIC,
    MAGIC_V1,
    MAGIC_V2,
    QUEUE_OFFSET_POSITION,
    SYSFLAG_POSITION,
    MessageExt,
    decode_message,
    store_timestamp_position,
)
from rmq_protocol.codec.record_check import check_record
from rmq_protocol.codec.speedups import speedups as _speedups
from rmq_protocol.errors import RemoteProtocolError
from rmq_store.errors import CorruptRecordError, MessageTooLargeError, StoreError
from rmq_store.mapped_file import MappedFile, segment_files, segment_name
from rmq_store.speedups import speedups as _store_speedups

__all__ = ["AppendResult", "CommitLog", "PreparedRecord", "RecoveryReport", "ScannedRecord"]

logger = logging.getLogger(__name__)

_BLANK: Final = struct.Struct(">iI")
_HEAD: Final = struct.Struct(">iI")
_I64: Final = struct.Struct(">q")
_QUEUE_AND_PHYSICAL_OFFSET: Final = struct.Struct(">qq")  # QUEUEOFFSET, then PHYSICALOFFSET
_STORE_TIMESTAMP_AT: Final = (store_timestamp_position(0), store_timestamp_position(0x10))
_I16: Final = struct.Struct(">h")
_I32: Final = struct.Struct(">i")
_MIN_RECORD: Final = 91  # fixed part of an IPv4, magic-v1 record (spec §3.1)


@dataclasses.dataclass(frozen=True, slots=True)
class PreparedRecord:
    """An encoded record and the values the commit log writes into it."""

    data: bytes  # spec §3.1 layout; QUEUEOFFSET/PHYSICALOFFSET/STORETIMESTAMP are filled in
    queue_offset: int


@dataclasses.dataclass(frozen=True, slots=True)
class AppendResult:
    phy_offset: int  # global offset of the record
    size: int
    queue_offset: int
    store_timestamp: int  # ms


@dataclasses.dataclass(frozen=True, slots=True)
class ScannedRecord:
    """A record found by a scan, with what dispatching to queues and the index needs."""

    phy_offset: int
    size: int
    message: MessageExt  # body not decompressed; properties parsed on first use


@dataclasses.dataclass(frozen=True, slots=True)
class RecoveryReport:
    segments: int  # segments scanned
    records: int  # valid records found by the scan
    max_offset: int  # end of the last valid record
    truncated_bytes: int  # bytes of a torn tail that were discarded
    removed_segments: int  # whole segments after the torn tail that were deleted


@typing.final
class _Prefaulter:
    """Faults the newest segment's pages into memory ahead of the writer, on its own thread.

    The first write into a page that was never touched costs a page fault on the writer's
    thread and, on a VM, one in the hypervisor too: 1189-byte records were copied into a
    fresh segment at 0.4 to 2.5 µs each, into faulted pages at 0.15 to 0.2 µs (this
    machine). :meth:`MappedFile.populate` maps the pages in chunks with the GIL released,
    without dirtying them, so a flush writes nothing for pages the writer has not reached.
    It stays at most ``_WINDOW`` ahead of the writer: faulting in a whole 1 GiB segment at
    once took 3 s here and made every fdatasync meanwhile 4 to 8 times slower.
    """

    # Bytes per madvise. Between two chunks the thread needs the GIL, which a busy writer
    # holds for up to the switch interval (5 ms): with 4 MiB chunks the prefaulter fell
    # behind a batch writer (which then faulted in ~37 % of its own pages: 249-282k
    # msgs/s in bench_store row 1); 32 MiB chunks, 128 MiB ahead, keep it ahead (362k).
    # forget() waits for one chunk: ~60 ms at this VM's page-zeroing rate.
    _CHUNK: Final = 32 * 1024 * 1024
    _WINDOW: Final = 128 * 1024 * 1024  # bytes faulted in ahead of the write position
    _POLL: Final = 0.01  # seconds between looks at the write position when far enough ahead

    def __init__(self, name: str) -> None:
        self._name = name
        self._cond = threading.Condition()
        self._segment: MappedFile | None = None  # what is left to do: segment, from position
        self._position = 0
        self._busy: MappedFile | None = None  # the segment a chunk is being faulted in
        self._stopping = False
        self._thread: threading.Thread | None = None

    def prefault(self, segment: MappedFile, position: int) -> None:
        """Fault ``segment`` in from ``position`` on (instead of any earlier segment)."""
        with self._cond:
            if self._stopping:
                return
            self._segment, self._position = segment, position
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def forget(self, segment: MappedFile) -> None:
        """Leave ``segment`` alone from now on (before it is unmapped): waits for a chunk
        of it that is being faulted in."""
        with self._cond:
            if self._segment is segment:
                self._segment = None
            while self._busy is segment:
                self._cond.wait()

    def stop(self) -> None:
        """Stop and join the thread (idempotent)."""
        with self._cond:
            self._stopping = True
            self._segment = None
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._segment is None and not self._stopping:
                    self._cond.wait()
                segment, position = self._segment, self._position
                if segment is None:  # stopping
                    return
                size = min(self._CHUNK, segment.file_size - position)
                if size <= 0:
                    self._segment = None
                    continue
                if position - segment.wrote_position >= self._WINDOW:
                    self._cond.wait(self._POLL)
                    continue
                self._position = position + size
                self._busy = segment
            done = False
            try:
                done = segment.populate(position, size)
            except StoreError:  # closed after all: nothing to do
                pass
            finally:
                with self._cond:
                    self._busy = None
                    if not done and self._segment is segment:
                        self._segment = None  # the system cannot: the writer faults itself
                    self._cond.notify_all()


def _properties_complete(
    buffer: bytes | bytearray | memoryview | object,
    position: int,
    size: int,
    message: MessageExt,
    magic: int,
) -> bool:
    """Whether non-empty properties end with the 0x02 separator.

    The body CRC does not cover the properties, and a torn write that stopped inside them
    leaves zeros that still parse. Every writer (Java's ``messageProperties2String``, and
    so every record a broker stores) ends each pair with 0x02, so a non-empty properties
    string that does not end with it is a torn record (decisions D11).
    """
    sys_flag = message.sys_flag
    body_length_at = 84 + (12 if sys_flag & 0x10 else 0) + (12 if sys_flag & 0x20 else 0)
    topic_length_size = 1 if magic == MAGIC_V1 else 2
    properties_length_at = (
        body_length_at + 4 + len(message.body) + topic_length_size + len(message.topic.encode())
    )
    data = typing.cast(bytes, buffer)
    (properties_length,) = _I16.unpack_from(data, position + properties_length_at)
    return properties_length == 0 or data[position + size - 1] == 0x02


class CommitLog:
    """The commit-log segments under ``directory``.

    Not safe for concurrent appends: the owner serialises them with ``write_lock`` (a
    reentrant lock it holds around every append), which this class takes to commit a
    pwrite segment's write buffer before a flush or a read that needs those bytes. Reads
    are safe during an append.
    """

    def __init__(
        self,
        directory: Path,
        segment_size: int,
        *,
        max_record_size: int,
        read_only: bool = False,
        prefault: bool = False,
        pwrite: bool = False,
        write_lock: threading.RLock | None = None,
    ) -> None:
        """``prefault``: fault each new segment into memory ahead of the writer, on a
        thread of its own (:class:`_Prefaulter`; the store's log does). ``pwrite``: write
        records with ``pwrite`` instead of copying them into the mapping, through a write
        buffer (a SYNC_FLUSH store's log does: its fdatasyncs are then cheaper, see
        :class:`MappedFile`). ``write_lock``: the lock the owner appends under (default:
        one of this log's own)."""
        self._write_lock = write_lock if write_lock is not None else threading.RLock()
        self.directory = directory
        self.pwrite = pwrite
        self.segment_size = segment_size
        self.max_record_size = max_record_size
        self.read_only = read_only
        if not read_only:
            directory.mkdir(parents=True, exist_ok=True)
        self._segments: list[MappedFile] = []
        self._segments_lock = threading.Lock()  # creating and deleting segments
        self._zombies: list[MappedFile] = []  # deleted segments with live views
        self._prefaulter = _Prefaulter("rmq-store-prefault") if prefault and not read_only else None
        names = segment_files(directory, read_only=read_only)
        for path in names:
            segment = MappedFile(
                path, segment_size, create=False, read_only=read_only, pwrite=pwrite
            )
            if self._segments and segment.file_from_offset != (
                self._segments[-1].file_from_offset + segment_size
            ):
                raise StoreError(
                    f"{path}: commit-log segments are not contiguous (after "
                    f"{self._segments[-1].path.name}); a segment is missing"
                )
            if segment.file_from_offset % segment_size:
                raise StoreError(f"{path}: start offset is not a multiple of {segment_size}")
            segment.wrote_position = segment.flushed_position = segment_size  # until recovery
            self._segments.append(segment)

    # ------------------------------------------------------------------ offsets

    @property
    def segments(self) -> Sequence[MappedFile]:
        return self._segments

    @property
    def min_offset(self) -> int:
        return self._segments[0].file_from_offset if self._segments else 0

    @property
    def max_offset(self) -> int:
        """Global offset just past the last record (where the next one goes)."""
        return self._segments[-1].end_offset if self._segments else 0

    @property
    def flushed_offset(self) -> int:
        if not self._segments:
            return 0
        last = self._segments[-1]
        return last.file_from_offset + last.flushed_position

    def _segment_for(self, offset: int) -> MappedFile | None:
        segments = self._segments  # one snapshot: retention swaps the list, never edits it
        if not segments or offset < segments[0].file_from_offset:
            return None
        index = (offset - segments[0].file_from_offset) // self.segment_size
        return segments[index] if index < len(segments) else None

    # ------------------------------------------------------------------ append

    def _writable(self, size: int) -> MappedFile:
        if size + 8 > self.segment_size:
            raise MessageTooLargeError(size, self.segment_size - 8, "record (segment size)")
        last = self._segments[-1] if self._segments else None
        if last is not None and last.free >= size + 8:
            return last
        if last is not None:
            last.commit()  # its buffered records before the marker and the next segment
        if last is not None and last.free:  # end-of-file marker, then a new segment
            # (A segment recovered full already has its marker: the process stopped
            # after writing it and before creating the next segment.)
            remaining = last.free
            _BLANK.pack_into(last.buffer, last.wrote_position, remaining, BLANK_MAGIC)
            last.wrote_position = last.file_size
        start = last.file_from_offset + last.file_size if last is not None else 0
        return self._new_segment(start)

    def _new_segment(self, start: int) -> MappedFile:
        segment = MappedFile(
            self.directory / segment_name(start), self.segment_size, create=True, pwrite=self.pwrite
        )
        with self._segments_lock:
            self._segments.append(segment)
        if self._prefaulter is not None:
            self._prefaulter.prefault(segment, 0)
        return segment

    def append(self, records: Sequence[PreparedRecord], store_timestamp: int) -> list[AppendResult]:
        """Copy ``records`` into the log (one call per message or batch).

        Raises:
            MessageTooLargeError: a record does not fit in an empty segment.
        """
        offsets = self.append_records(
            [record.data for record in records],
            [record.queue_offset for record in records],
            store_timestamp,
        )
        return [
            AppendResult(phy_offset, len(record.data), record.queue_offset, store_timestamp)
            for phy_offset, record in zip(offsets, records, strict=True)
        ]

    def append_records(
        self, records: Sequence[bytes], queue_offsets: Sequence[int], store_timestamp: int
    ) -> list[int]:
        """:meth:`append` without the result objects (the store's hot path): copy encoded
        ``records`` into the log with their ``queue_offsets``; returns the commit-log
        offset of each record, all of them or none written.

        Raises:
            MessageTooLargeError: a record does not fit in an empty segment.
        """
        for data in records:
            if len(data) > self.max_record_size:
                raise MessageTooLargeError(len(data), self.max_record_size, "record")
        segment_count = len(self._segments)
        start = self._segments[-1].wrote_position if self._segments else 0
        try:
            return self._append(records, queue_offsets, store_timestamp)
        except BaseException:
            self._roll_back(segment_count, start)  # all of the call's records, or none
            raise

    def _roll_back(self, segment_count: int, position: int) -> None:
        with self._segments_lock:
            created = self._segments[segment_count:]
            self._segments = self._segments[:segment_count]
        for segment in created:
            if self._prefaulter is not None:
                self._prefaulter.forget(segment)
            segment.destroy()
        if self._segments:
            last = self._segments[-1]
            last.truncate_to(position, zero=last.file_size - position)

    def _append(
        self, records: Sequence[bytes], queue_offsets: Sequence[int], store_timestamp: int
    ) -> list[int]:
        offsets: list[int] = []
        if not records:
            return offsets
        segment = self._writable(len(records[0]))
        buffer = segment.buffer
        base, position = segment.file_from_offset, segment.wrote_position
        room = segment.file_size - position - 8  # what records may take before the marker
        if _speedups is not None and not self.pwrite:  # the loop below, in C (rmq_protocol)
            records = records if type(records) is list else list(records)
            queue_offsets = queue_offsets if type(queue_offsets) is list else list(queue_offsets)
            done = 0
            while True:
                done, position, room = _speedups.write_records(
                    buffer, position, room, base, records, done, queue_offsets,
                    store_timestamp, offsets,
                )  # fmt: skip
                if done == len(records):
                    break
                segment.wrote_position = position  # the end-of-file marker, and on
                segment = self._writable(len(records[done]))
                buffer = segment.buffer
                base, position = segment.file_from_offset, segment.wrote_position
                room = segment.file_size - position - 8
            segment.wrote_position = position
            return offsets
        for data, queue_offset in zip(records, queue_offsets, strict=True):
            size = len(data)
            if size > room:  # the end-of-file marker, and on in the next segment
                segment.wrote_position = position
                segment = self._writable(size)
                base, position = segment.file_from_offset, segment.wrote_position
                room = segment.file_size - position - 8
            end = position + size
            # The record's own sysFlag (its low byte holds the IPv6 born-host bit, 0x10)
            # places STORETIMESTAMP.
            at = _STORE_TIMESTAMP_AT[data[SYSFLAG_POSITION + 3] >> 4 & 1]
            # The record with the fields only the store knows, written head last (a
            # killed process leaves a zero head, never a complete-looking record with its
            # offsets and store time unset): MappedFile.write_record, mapped or pwrite.
            record = bytearray(data)
            _QUEUE_AND_PHYSICAL_OFFSET.pack_into(
                record, QUEUE_OFFSET_POSITION, queue_offset, base + position
            )
            _I64.pack_into(record, at, store_timestamp)
            segment.write_record(position, record)
            offsets.append(base + position)
            position = end
            room -= size
        segment.wrote_position = position
        return offsets

    # ------------------------------------------------------------------ read

    def read(self, phy_offset: int, size: int) -> memoryview | None:
        """Zero-copy view of the record bytes at ``phy_offset`` (None if not stored)."""
        segments = self._segments  # (_segment_for and MappedFile.view inlined: once a message)
        if not segments or phy_offset < segments[0].file_from_offset:
            return None
        index = (phy_offset - segments[0].file_from_offset) // self.segment_size
        if index >= len(segments):
            return None
        segment = segments[index]
        position = phy_offset - segment.file_from_offset
        if position + size > segment.wrote_position:
            return None
        if segment.pending_size and position + size > segment.committed_position:
            self.commit()
        return memoryview(segment.buffer)[position : position + size]

    def segment_view(self, phy_offset: int) -> tuple[int, int, memoryview] | None:
        """For reading many records: ``(start offset, written bytes, view)`` of the
        segment holding ``phy_offset`` (the view covers the whole segment; a record's
        bytes are valid below the written count), or None when no segment holds it."""
        segment = self._segment_for(phy_offset)
        if segment is None:
            return None
        if segment.pending_size:
            self.commit()
        return segment.file_from_offset, segment.wrote_position, memoryview(segment.buffer)

    def read_message(self, phy_offset: int) -> MessageExt:
        """Decode the record at ``phy_offset``.

        Raises:
            CorruptRecordError: there is no valid record there.
        """
        segment = self._segment_for(phy_offset)
        if segment is None or phy_offset >= self.max_offset:
            raise CorruptRecordError(phy_offset, "no record at this offset")
        if segment.pending_size:
            self.commit()
        position = phy_offset - segment.file_from_offset
        try:
            message, _ = decode_message(memoryview(segment.buffer), position, decompress=False)
        except RemoteProtocolError as exc:
            raise CorruptRecordError(phy_offset, exc.detail) from None
        return message

    # ------------------------------------------------------------------ scan and recovery

    def _check(self, segment: MappedFile, position: int, *, check_crc: bool) -> int | None:
        """Size of the valid record at ``position``; 0 for the end-of-file marker or the
        zeroed end of data; None for anything invalid.

        The verdict of :meth:`_checked`, read in place (``check_record``): recovery's scan
        builds no message for the records it only measures."""
        limit = segment.file_size
        buffer = segment.buffer
        if limit - position < 8:
            return 0 if not any(buffer[position:limit]) else None
        size, magic = _HEAD.unpack_from(buffer, position)
        if magic == BLANK_MAGIC:
            return 0 if size == limit - position else None
        if size == 0 and magic == 0:
            return 0  # preallocated zeros: the end of the data
        if magic not in (MAGIC_V1, MAGIC_V2) or not _MIN_RECORD <= size <= limit - position:
            return None
        shape = check_record(buffer, position, position + size, check_crc=check_crc)
        if shape is None:
            return None
        if shape.properties_length and buffer[position + size - 1] != 0x02:
            return None  # a torn write inside the properties (_properties_complete)
        return int(size)

    def _checked(
        self, segment: MappedFile, position: int, *, check_crc: bool
    ) -> tuple[int, MessageExt | None] | None:
        """:meth:`_check`, with the record decoded on the way (None at an end)."""
        limit = segment.file_size
        buffer = segment.buffer
        if limit - position < 8:
            return (0, None) if not any(buffer[position:limit]) else None
        size, magic = _HEAD.unpack_from(buffer, position)
        if magic == BLANK_MAGIC:
            return (0, None) if size == limit - position else None
        if size == 0 and magic == 0:
            return 0, None  # preallocated zeros: the end of the data
        if magic not in (MAGIC_V1, MAGIC_V2) or not _MIN_RECORD <= size <= limit - position:
            return None
        record = buffer[position : position + size]  # bytes: decodes faster than a view
        try:
            message, _ = decode_message(record, decompress=False, check_crc=check_crc)
        except RemoteProtocolError:
            return None
        if not _properties_complete(record, 0, size, message, magic):
            return None
        return int(size), message

    def scan(self, from_offset: int, *, check_crc: bool = True) -> Iterator[ScannedRecord]:
        """Valid records from ``from_offset`` (a record boundary) to the first invalid byte."""
        self.commit()  # buffered records are read from the file
        segment = self._segment_for(from_offset)
        index = self._segments.index(segment) if segment is not None else len(self._segments)
        position = from_offset - segment.file_from_offset if segment is not None else 0
        while index < len(self._segments):
            segment = self._segments[index]
            while position < segment.wrote_position:
                checked = self._checked(segment, position, check_crc=check_crc)
                if checked is None:
                    break  # an invalid record
                size, message = checked
                if message is None or position + size > segment.wrote_position:
                    break  # the end of the data (or of the segment), or a partial record
                yield ScannedRecord(segment.file_from_offset + position, size, message)
                position += size
            index += 1
            position = 0

    def skip_dispatched(
        self, offset: int, end: int, queues: Mapping[tuple[str, int], object], index_end: int
    ) -> tuple[int, int, int]:
        """Step over the records from ``offset`` (a record boundary) towards ``end`` whose
        consume-queue unit and index entries are already written (``queues``: the store's
        queues by (topic, queue id); ``index_end``: the index's endPhyOffset, -1 without an
        index); the records re-dispatch after recovery would leave as they are.

        Returns:
            ``(offset, records, last_store_timestamp)``: where the first record that still
            needs a dispatch starts (or ``end``), how many were stepped over, and the store
            timestamp of the last of them (0 for none). Without the C speedups nothing is
            stepped over: the dispatch itself skips what is there, only slower.
        """
        self.commit()  # buffered records are read from the file
        if _store_speedups is None:
            return offset, 0, 0
        records = stamp = 0
        while offset < end:
            segment = self._segment_for(offset)
            if segment is None:
                break
            position = offset - segment.file_from_offset
            limit = min(segment.wrote_position, end - segment.file_from_offset)
            position, stepped, last = _store_speedups.skip_dispatched(
                segment.buffer, position, limit, segment.file_from_offset, queues, index_end
            )
            records += stepped
            stamp = last or stamp
            offset = segment.file_from_offset + position
            if position < limit and not self._ends_with_blank(segment, position):
                break  # a record to dispatch (or one C leaves to Python)
            if offset < end:  # the end of this segment's data: on to the next segment
                offset = segment.file_from_offset + segment.file_size
        return min(offset, end), records, stamp

    def recover(self, from_offset: int = 0, *, check_crc: bool = True) -> RecoveryReport:
        """Find the end of the valid data from ``from_offset`` on and cut everything after.

        Scans record by record (:meth:`plan_recovery`: magic, size, layout and, with
        ``check_crc``, body CRC); the first invalid byte ends the log: the rest of that
        segment is zeroed (a torn write leaves at most one partial record, so one maximal
        record's worth of bytes) and later segments are deleted.
        """
        report = self.plan_recovery(from_offset, check_crc=check_crc)
        if not self._segments:
            return report
        end_segment = self._segments[len(self._segments) - report.removed_segments - 1]
        end_position = report.max_offset - end_segment.file_from_offset
        torn = report.truncated_bytes > 0  # non-zero bytes after the valid data
        end_segment.truncate_to(end_position, zero=self.max_record_size + 8 if torn else 0)
        with self._segments_lock:
            later = self._segments[len(self._segments) - report.removed_segments :]
            self._segments = self._segments[: len(self._segments) - report.removed_segments]
        for extra in later:
            if self._prefaulter is not None:
                self._prefaulter.forget(extra)
            extra.destroy()
        if self._prefaulter is not None and self._segments:
            last = self._segments[-1]
            self._prefaulter.prefault(last, last.wrote_position)
        logger.info(
            "commit log recovered: %d segments scanned, %d records, max offset %d, "
            "torn tail of %d bytes discarded, %d later segments removed",
            report.segments,
            report.records,
            report.max_offset,
            report.truncated_bytes,
            report.removed_segments,
        )
        return report

    def _ends_with_blank(self, segment: MappedFile, position: int) -> bool:
        if segment.file_size - position < 8:
            return True
        size, magic = _HEAD.unpack_from(segment.buffer, position)
        return bool(magic == BLANK_MAGIC and size == segment.file_size - position)

    def _truncated_length(self, segment: MappedFile, position: int) -> int:
        """How many non-zero bytes follow ``position`` (the torn tail's extent, bounded)."""
        end = min(segment.file_size, position + self.max_record_size + 8)
        data = segment.buffer[position:end]
        return len(data.rstrip(b"\x00"))

    # ------------------------------------------------------------------ inspection (read-only)

    def check_record(self, phy_offset: int, *, check_crc: bool = True) -> int | None:
        """Recovery's own verdict on the bytes at ``phy_offset``; changes nothing.

        The same check :meth:`recover` applies (magic, size, layout, body CRC with
        ``check_crc``, the properties' final 0x02), so tools that inspect a log share one
        definition of a valid record. Reads only: safe on a ``read_only`` log and
        alongside other readers.

        Returns:
            The size of the valid record there; 0 for an end-of-file marker or the zeroed
            end of the data (:meth:`is_segment_end` tells them apart); None for anything
            invalid, and for an offset outside the segments.
        """
        self.commit()  # buffered records are read from the file
        segment = self._segment_for(phy_offset)
        if segment is None:
            return None
        return self._check(segment, phy_offset - segment.file_from_offset, check_crc=check_crc)

    def is_segment_end(self, phy_offset: int) -> bool:
        """Whether recovery treats the segment holding ``phy_offset`` as full from there on:
        an end-of-file marker, or fewer than 8 bytes left. Reads only."""
        segment = self._segment_for(phy_offset)
        if segment is None:
            return False
        return self._ends_with_blank(segment, phy_offset - segment.file_from_offset)

    def explain_invalid(self, phy_offset: int, *, check_crc: bool = True) -> str:
        """Why :meth:`check_record` finds no record at ``phy_offset``, for diagnostics.

        Repeats the steps of the record check to name the one that fails; the verdict is
        always :meth:`check_record`'s. Byte positions in the text are positions in the
        segment file. Reads only.
        """
        self.commit()  # buffered records are read from the file
        segment = self._segment_for(phy_offset)
        if segment is None:
            return f"offset {phy_offset} is outside the segments ({self.min_offset} on)"
        position = phy_offset - segment.file_from_offset
        buffer = segment.buffer
        left = segment.file_size - position
        if left < 8:
            return f"the last {left} bytes of the segment are not zero (no room for a record)"
        size, magic = _HEAD.unpack_from(buffer, position)
        if magic == BLANK_MAGIC:
            if size != left:
                return f"end-of-file marker says {size} bytes remain in the segment, but {left} do"
            return "an end-of-file marker, not a record"
        if size == 0 and magic == 0:
            return "zeros (the end of the data), not a record"
        if magic not in (MAGIC_V1, MAGIC_V2):
            return f"unknown magic code 0x{magic:08X} (TOTALSIZE field {size})"
        if not _MIN_RECORD <= size <= left:
            return (
                f"TOTALSIZE {size} is not in {_MIN_RECORD}..{left} (the bytes left in the segment)"
            )
        try:
            message, _ = decode_message(
                memoryview(buffer)[: position + size],
                position,
                decompress=False,
                check_crc=check_crc,
            )
        except RemoteProtocolError as exc:
            return exc.detail
        if not _properties_complete(buffer, position, size, message, magic):
            return "the properties do not end with the 0x02 separator (a torn write)"
        return "a valid record"

    def plan_recovery(self, from_offset: int = 0, *, check_crc: bool = True) -> RecoveryReport:
        """What :meth:`recover` would find from ``from_offset``, without changing anything.

        The same scan as :meth:`recover` (same record check, same end-of-segment rule), but
        nothing is zeroed, truncated or deleted, so it is safe on a ``read_only`` log.
        ``max_offset`` is the end of the valid data; ``truncated_bytes`` > 0 means an
        invalid record (a torn tail or corruption) starts there; ``removed_segments``
        counts the later segments recovery would delete. Reads only.
        """
        if not self._segments:
            return RecoveryReport(0, 0, 0, 0, 0)
        start = max(from_offset, self.min_offset)
        segment = self._segment_for(start) or self._segments[0]
        index = self._segments.index(segment)
        position = start - segment.file_from_offset
        scanned = records = 0
        torn = False
        while True:
            segment = self._segments[index]
            scanned += 1
            while True:
                if _store_speedups is not None:  # the loop of _check calls, in C
                    position, stepped, verdict = _store_speedups.check_records(
                        segment.buffer, position, segment.file_size, check_crc
                    )
                    records += stepped
                    size: int | None = None if verdict else 0
                else:
                    size = self._check(segment, position, check_crc=check_crc)
                if size is None:
                    torn = True
                    break
                if size == 0:
                    if self._ends_with_blank(segment, position):
                        position = segment.file_size
                    break
                position += size
                records += 1
            if torn or position < segment.file_size or index + 1 == len(self._segments):
                break
            index += 1
            position = 0
        # Bytes after the end are part of a torn record even when its first 8 bytes are
        # still zero (memcpy may write a record's head last); they are discarded too.
        return RecoveryReport(
            scanned,
            records,
            segment.file_from_offset + position,
            self._truncated_length(segment, position) if position < segment.file_size else 0,
            len(self._segments) - index - 1,
        )

    # ------------------------------------------------------------------ durability

    def commit(self) -> None:
        """Write the write buffer of the segment being written to its file (pwrite
        segments; see :class:`MappedFile`), under the writer's lock.

        Raises:
            OSError: ``pwrite`` failed; the bytes stay buffered.
        """
        segments = self._segments
        if segments and segments[-1].pending_size:
            with self._write_lock:
                segments[-1].commit()

    def flush(self) -> int:
        """Commit, then fdatasync every segment with unflushed bytes; returns the flushed
        offset."""
        self.commit()
        for segment in self._segments:
            if segment.flushed_position < segment.committed_position:
                segment.flush()
        return self.flushed_offset

    def close(self) -> None:
        """Close every segment (committing the write buffer first). Views handed out
        earlier must have been released."""
        if not self.read_only:
            self.commit()
        if self._prefaulter is not None:
            self._prefaulter.stop()
        for segment in [*self._zombies, *self._segments]:
            segment.close()
        self._segments = []
        self._zombies = []

    # ------------------------------------------------------------------ retention

    def delete_expired(
        self, *, expired_before_ms: int, force: bool = False, max_count: int = 10
    ) -> list[Path]:
        """Delete segments from the head of the log, never the one being written.

        A segment goes when its last modification is before ``expired_before_ms`` (or at
        once with ``force``); the first one that does not qualify stops the walk, so the
        log stays contiguous. At most ``max_count`` per call (RocketMQ's
        deleteFileBatchMax). Safe to call while another thread appends or reads: readers
        of a deleted segment get None (a message that was removing), and a mapping that
        still has live views is closed by a later call.

        Returns:
            The paths deleted.
        """
        self._close_zombies()
        deleted: list[MappedFile] = []
        with self._segments_lock:
            for segment in self._segments[:-1]:
                if len(deleted) >= max_count:
                    break
                if not force and segment.path.stat().st_mtime * 1000 >= expired_before_ms:
                    break
                deleted.append(segment)
            if deleted:
                self._segments = self._segments[len(deleted) :]
        for segment in deleted:
            if not segment.destroy():
                self._zombies.append(segment)
            logger.info("commit log segment %s deleted (retention)", segment.path)
        return [segment.path for segment in deleted]

    def _close_zombies(self) -> None:
        self._zombies = [segment for segment in self._zombies if not segment.close()]

    # ------------------------------------------------------------------ replication

    def append_raw(self, start_offset: int, data: bytes | bytearray | memoryview) -> int:
        """Append bytes copied from a master's commit log at ``start_offset``.

        ``start_offset`` must be this log's :attr:`max_offset` (where the master's bytes
        continue), or, for an empty log, the start of a segment (a new slave starts from
        the master's newest segment, as in RocketMQ). The bytes may end inside a record:
        the write position moves, and :meth:`scan` yields only complete records, so
        dispatch picks the rest up with the next chunk. Bytes that run past the end of a
        segment go on in the next one.

        Returns:
            The new :attr:`max_offset`.

        Raises:
            StoreError: ``start_offset`` is not where this log ends.
        """
        empty_and_aligned = not self._segments and start_offset % self.segment_size == 0
        if start_offset != self.max_offset and not empty_and_aligned:
            raise StoreError(
                f"replicated bytes start at offset {start_offset} but this commit log ends at "
                f"{self.max_offset}; resume replication from {self.max_offset}"
            )
        view = memoryview(data).cast("B")
        offset = start_offset
        while view:
            last = self._segments[-1] if self._segments else None
            if last is None or last.free == 0:
                start = (
                    last.file_from_offset + last.file_size
                    if last is not None
                    else (offset - offset % self.segment_size)
                )
                last = self._new_segment(start)
            n = min(len(view), last.free)
            last.write(last.wrote_position, view[:n])
            last.wrote_position += n
            offset += n
            view = view[n:]
        return offset
