"""One fixed-size, memory-mapped segment file, named by its start offset.

Mirrors ``org.apache.rocketmq.store.logfile.DefaultMappedFile``: the commit log and each
consume queue are sequences of equal-size files whose names are the 20-digit, zero-padded
global offset of their first byte (``00000000001073741824``). New files are created at
full size (sparse, so untouched pages cost nothing) and mapped read-write.

Not safe for concurrent writers; readers may take views while one writer appends (views
of bytes below the write position never change).
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path
from typing import Final

from rmq_store.errors import StoreClosedError, StoreError

__all__ = ["MappedFile", "segment_name"]

_FLUSH_ALIGN: Final = mmap.PAGESIZE


def segment_name(offset: int) -> str:
    """The file name of the segment starting at global ``offset`` (20 digits)."""
    return f"{offset:020d}"


class MappedFile:
    """A segment: ``file_from_offset`` is the global offset of its byte 0."""

    __slots__ = ("_fd", "_map", "file_from_offset", "file_size", "flushed_position", "path",
                 "wrote_position")  # fmt: skip

    def __init__(self, path: Path, file_size: int, *, create: bool) -> None:
        self.path = path
        self.file_size = file_size
        try:
            self.file_from_offset = int(path.name)
        except ValueError:
            raise StoreError(f"{path}: segment name is not a 20-digit offset") from None
        flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
        self._fd = os.open(path, flags, 0o644)
        try:
            if create:
                os.ftruncate(self._fd, file_size)
            else:
                actual = os.fstat(self._fd).st_size
                if actual != file_size:
                    raise StoreError(
                        f"{path}: segment is {actual} bytes, the configured size is {file_size}; "
                        "open the store with the size it was written with"
                    )
            self._map: mmap.mmap | None = mmap.mmap(self._fd, file_size)
        except BaseException:
            os.close(self._fd)
            raise
        self.wrote_position = 0
        self.flushed_position = 0

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

    def write(self, position: int, data: bytes | bytearray | memoryview) -> None:
        """Copy ``data`` into the mapping at ``position`` (does not move wrote_position)."""
        self.buffer[position : position + len(data)] = data

    def view(self, position: int, size: int) -> memoryview:
        """Zero-copy view of ``size`` bytes at ``position`` (valid until close)."""
        return memoryview(self.buffer)[position : position + size]

    def flush(self) -> int:
        """msync the bytes written since the last flush; returns the new flushed position.

        Raises:
            OSError: the kernel could not write the pages (disk full, I/O error).
        """
        start = self.flushed_position - self.flushed_position % _FLUSH_ALIGN
        end = self.wrote_position
        if end > self.flushed_position:
            self.buffer.flush(start, end - start)
            self.flushed_position = end
        return self.flushed_position

    def truncate_to(self, position: int, *, zero: int = 0) -> None:
        """Forget everything from ``position`` on, zeroing ``zero`` bytes there (a torn
        tail) so that later scans can never read it as a record."""
        self.wrote_position = position
        self.flushed_position = min(self.flushed_position, position)
        end = min(self.file_size, position + zero)
        chunk = bytes(min(1 << 20, max(end - position, 0)))
        pos = position
        while pos < end:
            n = min(len(chunk), end - pos)
            self.buffer[pos : pos + n] = chunk[:n]
            pos += n

    def close(self) -> None:
        """Unmap and close (idempotent). Views taken earlier must be released first."""
        if self._map is not None:
            self._map.close()
            self._map = None
            os.close(self._fd)

    def destroy(self) -> None:
        """Close and delete the file."""
        self.close()
        self.path.unlink(missing_ok=True)
