"""One fixed-size, memory-mapped segment file, named by its start offset.

Mirrors ``org.apache.rocketmq.store.logfile.DefaultMappedFile``: the commit log and each
consume queue are sequences of equal-size files whose names are the 20-digit, zero-padded
global offset of their first byte (``00000000001073741824``). New files are created at
full size (sparse, so untouched pages cost nothing) and mapped read-write.

New files get their blocks reserved with ``posix_fallocate`` (where the file system supports
it), so a full disk is an ``OSError`` when a segment is created, never a SIGBUS on a write
into a hole of the mapping later. Consume-queue files opt out (``preallocate=False``):
there are many of them, they fill slowly, and a sparse 6 MB file per queue costs nothing
until used; the store refuses writes well before the disk is full.

Not safe for concurrent writers; readers may take views while one writer appends (views
of bytes below the write position never change), and one other thread may :meth:`flush`
or :meth:`populate` while the writer appends.

A segment opened with ``pwrite=True`` is written with ``pwrite`` on its descriptor instead
of by copying into the mapping (reads still go through the mapping: both are the same
page cache). The commit log of a SYNC_FLUSH store is: on this machine's ext4 an
``fdatasync`` after 64 records copied into the mapping took 1.2-1.8 ms, after the same
records written with ``pwrite`` 0.5-0.8 ms (decision D20). A page dirtied through a mapping
has to be found and write-protected again by the writeback, and faulted writable on the
next copy; one written by ``pwrite`` does not.

Such a segment also has a write buffer, as RocketMQ's ``MappedFile`` has with
``transientStorePoolEnable`` (decision D22): appended records are copied into
``pending`` and reach the file with one ``pwrite`` per :meth:`commit`, which the owner
calls before each flush and before a read of those bytes. A ``pwrite`` of one 1.2 KB
record cost 3-4 µs of system time on this VM, a quarter of a SYNC_FLUSH acknowledgement's
CPU on the writer's thread; one per group commit costs about as much as one of them.
Positions: the bytes below ``wrote_position - pending_size`` are in the file (the
committed position), those below ``flushed_position`` are durable, and the last
``pending_size`` bytes below ``wrote_position`` are in ``pending`` only.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import logging
import mmap
import os
from collections.abc import Callable
from pathlib import Path
from typing import Final

from rmq_store.errors import StoreClosedError, StoreError
from rmq_store.speedups import speedups as _speedups

__all__ = ["TEMPORARY_SUFFIX", "MappedFile", "segment_files", "segment_name"]

logger = logging.getLogger(__name__)

_MADV_POPULATE_READ: Final = 22  # Linux 5.14+: fault pages in without dirtying them
_PAGE: Final = 4096  # the smallest page size: a write within one is never torn by a kill
# Bytes a pwrite segment's write buffer holds (a group commit of 64 1 KiB messages is
# 77 KB); a record that does not fit is written at once, after the buffer.
PENDING_CAPACITY: Final = 1 << 20


TEMPORARY_SUFFIX: Final = ".tmp"


def segment_files(directory: Path, *, read_only: bool) -> list[Path]:
    """The segment files of ``directory`` in offset order, after tidying what a killed
    process can leave: ``.tmp`` files of an interrupted creation are deleted, and so is a
    zero-length last file (RocketMQ creates a file before sizing it). With
    ``read_only`` nothing is deleted; the leftovers are just skipped."""
    if not directory.is_dir():
        return []
    paths = sorted(p for p in directory.iterdir() if p.name.isdigit())
    if not read_only:
        for stale in directory.glob("*" + TEMPORARY_SUFFIX):
            logger.warning("%s: deleting a segment whose creation was interrupted", stale)
            stale.unlink(missing_ok=True)
    if paths and paths[-1].stat().st_size == 0:
        if not read_only:
            logger.warning("%s: deleting an empty last segment (interrupted creation)", paths[-1])
            paths[-1].unlink()
        paths.pop()
    return paths


def segment_name(offset: int) -> str:
    """The file name of the segment starting at global ``offset`` (20 digits)."""
    return f"{offset:020d}"


class MappedFile:
    """A segment: ``file_from_offset`` is the global offset of its byte 0."""

    __slots__ = ("_fd", "_map", "file_from_offset", "file_size", "flushed_position", "path",
                 "pending", "pending_size", "pwrite", "read_only", "wrote_position")  # fmt: skip

    def __init__(
        self,
        path: Path,
        file_size: int,
        *,
        create: bool,
        read_only: bool = False,
        preallocate: bool = True,
        pwrite: bool = False,
    ) -> None:
        self.path = path
        self.file_size = file_size
        self.read_only = read_only
        self.pwrite = pwrite and not read_only  # writes go through the descriptor
        try:
            self.file_from_offset = int(path.name)
        except ValueError:
            raise StoreError(f"{path}: segment name is not a 20-digit offset") from None
        if create and read_only:
            raise ValueError(f"{path}: cannot create a read-only segment")
        # A new file is made under a temporary name and renamed once it has its full
        # size: a process killed half way leaves a ``.tmp`` file that the store ignores,
        # never a short segment that would stop the store from opening.
        if create and path.exists():
            raise FileExistsError(f"{path}: segment already exists")
        opened = path.with_name(path.name + TEMPORARY_SUFFIX) if create else path
        flags = os.O_RDONLY if read_only else os.O_RDWR | (os.O_CREAT | os.O_TRUNC if create else 0)
        self._fd = os.open(opened, flags, 0o644)
        try:
            if create:
                if preallocate:
                    _reserve(self._fd, file_size)
                else:
                    os.ftruncate(self._fd, file_size)  # sparse
                os.rename(opened, path)
            else:
                actual = os.fstat(self._fd).st_size
                if actual != file_size:
                    raise StoreError(
                        f"{path}: segment is {actual} bytes, the configured size is {file_size}; "
                        "open the store with the size it was written with"
                    )
            access = mmap.ACCESS_READ if read_only else mmap.ACCESS_WRITE
            self._map: mmap.mmap | None = mmap.mmap(self._fd, file_size, access=access)
        except BaseException:
            os.close(self._fd)
            if create:
                opened.unlink(missing_ok=True)  # leave no half-made segment behind
            raise
        self.wrote_position = 0
        self.flushed_position = 0
        # The write buffer of a pwrite segment (allocated by its first buffered write) and
        # how many bytes of it wait for commit(); always 0 for a mapped segment.
        self.pending: bytearray | None = None
        self.pending_size = 0

    @property
    def buffer(self) -> mmap.mmap:
        """The mapping (for ``struct.pack_into`` / slicing by the owner)."""
        if self._map is None:
            raise StoreClosedError(f"{self.path} is closed")
        return self._map

    @property
    def end_offset(self) -> int:
        """Global offset just past the last written byte."""
        return self.file_from_offset + self.wrote_position

    @property
    def free(self) -> int:
        return self.file_size - self.wrote_position

    @property
    def committed_position(self) -> int:
        """The bytes below this position are in the file (the rest are in ``pending``)."""
        return self.wrote_position - self.pending_size

    def write(self, position: int, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` at ``position`` (does not move wrote_position): with ``pwrite``
        on the descriptor (after committing the write buffer), else by copying into the
        mapping.

        Raises:
            OSError: ``pwrite`` failed (an I/O error); part of ``data`` may be written.
        """
        if not self.pwrite:
            self.buffer[position : position + len(data)] = data
            return
        self.commit()
        self._pwrite(position, memoryview(data).cast("B"))

    def _pwrite(self, position: int, view: memoryview) -> None:
        if self._map is None:
            raise StoreClosedError(f"{self.path} is closed")
        if _speedups is not None:  # holding the GIL (see rmq_store._speedups.pwrite)
            _speedups.pwrite(self._fd, view, position)
            return
        while view:
            written = os.pwrite(self._fd, view, position)
            position += written
            view = view[written:]

    def write_record(self, position: int, data: bytes | bytearray | memoryview) -> None:
        """Write records (one or more, back to back) at ``position``, their first 8 bytes
        last: a process killed half way leaves a zero head, which recovery reads as the end
        of the data, never a complete-looking record.

        A pwrite segment appends (``position`` is ``wrote_position``) into its write
        buffer and moves ``wrote_position`` past the data (the buffer ends there);
        :meth:`commit` writes it out by the same rule. A killed ``pwrite`` stops only
        between pages, so one within a 4 KiB page is written whole, in one call.
        """
        view = memoryview(data).cast("B")
        if self.pwrite and position == self.wrote_position and len(view) <= PENDING_CAPACITY:
            pending = self.pending
            if pending is None:
                pending = self.pending = bytearray(PENDING_CAPACITY)
            elif self.pending_size + len(view) > PENDING_CAPACITY:
                self.commit()
            pending[self.pending_size : self.pending_size + len(view)] = view
            self.pending_size += len(view)
            self.wrote_position = position + len(view)
            return
        self._write_head_last(position, view)

    def _write_head_last(self, position: int, view: memoryview) -> None:
        if self.pwrite:
            self.commit()
            self._pwrite_head_last(position, view)
            return
        self.write(position + 8, view[8:])
        self.write(position, view[:8])

    def _pwrite_head_last(self, position: int, view: memoryview) -> None:
        """``view`` (records) at ``position`` by write_record's rule: in one ``pwrite``
        within a 4 KiB page, else everything but the first head, then that head."""
        if position // _PAGE == (position + len(view) - 1) // _PAGE:
            self._pwrite(position, view)
            return
        self._pwrite(position + 8, view[8:])
        self._pwrite(position, view[:8])

    def commit(self) -> None:
        """Write the buffered bytes to the file (one ``pwrite``, or two when they span
        pages: everything but the first record's head, then that head). Call holding the
        writer's lock; nothing to do for a mapped segment.

        Raises:
            OSError: ``pwrite`` failed; the bytes stay buffered for the next commit.
        """
        size, pending = self.pending_size, self.pending
        if not size or pending is None:
            return
        view = memoryview(pending)[:size]
        try:
            self._pwrite_head_last(self.committed_position, view)
        finally:
            view.release()
        self.pending_size = 0

    def view(self, position: int, size: int) -> memoryview:
        """Zero-copy view of ``size`` bytes at ``position`` (valid until close)."""
        return memoryview(self.buffer)[position : position + size]

    def flush(self) -> int:
        """Make the bytes written so far durable; returns the new flushed position.

        ``fdatasync`` of the file writes back the mapping's dirty pages (they are the
        file's page cache) and, unlike ``mmap.flush`` (msync), releases the GIL while it
        waits for the disk. Safe to call from one thread while another appends: only the
        bytes below the write position seen on entry are claimed as flushed.

        Only committed bytes are flushed: the owner calls :meth:`commit` first.

        Raises:
            OSError: the kernel could not write the pages (disk full, I/O error).
        """
        end = self.committed_position
        if end > self.flushed_position:
            os.fdatasync(self._fd)
            self.flushed_position = end
        return self.flushed_position

    def populate(self, position: int, size: int) -> bool:
        """Fault the pages of ``size`` bytes at ``position`` into memory, so that writing
        there later costs no page fault on the writer's thread.

        ``madvise(MADV_POPULATE_READ)`` maps the pages without dirtying them (a flush
        writes nothing for them), called through ctypes so that the GIL is released while
        the kernel works (``mmap.madvise`` holds it). Safe while the writer appends, but
        not while another thread closes the file: the caller keeps it open.

        Returns:
            False when the system cannot (not Linux 5.14+, or a read-only mapping).
        """
        madvise = _madvise()
        if madvise is None or self.read_only:
            return False
        start = position - position % mmap.PAGESIZE
        end = min(position + size, self.file_size)
        if end <= start:
            return True
        address = ctypes.addressof(ctypes.c_char.from_buffer(self.buffer)) + start
        return madvise(address, end - start, _MADV_POPULATE_READ) == 0

    def truncate_to(self, position: int, *, zero: int = 0) -> None:
        """Forget everything from ``position`` on, zeroing ``zero`` bytes there (a torn
        tail) so that later scans can never read it as a record."""
        self.pending_size = max(position - self.committed_position, 0)  # buffered, below it
        self.wrote_position = position
        self.flushed_position = min(self.flushed_position, position)
        end = min(self.file_size, position + zero)
        chunk = bytes(min(1 << 20, max(end - position, 0)))
        pos = position
        while pos < end:
            n = min(len(chunk), end - pos)
            self.buffer[pos : pos + n] = chunk[:n]
            pos += n

    def close(self) -> bool:
        """Unmap and close (idempotent).

        Returns:
            False when views of the mapping are still alive (a reader holds a pulled
            message): the mapping stays open and a later ``close`` finishes the job.
        """
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:
                return False
            self._map = None
            os.close(self._fd)
        return True

    def destroy(self) -> bool:
        """Delete the file and close it. Deleting first is safe on POSIX: views that are
        still alive keep reading the unlinked pages until they are released.

        Returns:
            As :meth:`close`: False when the mapping could not be closed yet.
        """
        self.path.unlink(missing_ok=True)
        return self.close()


def _reserve(fd: int, size: int) -> None:
    """Give a new file its full size with real blocks (``posix_fallocate``), falling back
    to a sparse ``ftruncate`` on file systems without fallocate support."""
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
        os.ftruncate(fd, size)


@functools.cache
def _madvise() -> Callable[[int, int, int], int] | None:
    """libc's ``madvise`` through ctypes (which releases the GIL), or None."""
    try:
        function = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    function.restype = ctypes.c_int
    return function
