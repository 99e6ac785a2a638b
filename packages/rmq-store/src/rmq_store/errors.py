"""Errors raised by rmq-store: one base, :class:`StoreError`."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CheckpointFileError",
    "CorruptRecordError",
    "DiskFullError",
    "FlushDiskTimeoutError",
    "IndexFileError",
    "MessageTooLargeError",
    "StoreClosedError",
    "StoreError",
    "StoreLockedError",
]


class StoreError(Exception):
    """Base class of every error raised by rmq-store."""


class StoreClosedError(StoreError):
    """The store (or file) was used after it was closed."""


class MessageTooLargeError(StoreError, ValueError):
    """A message (or batch) exceeds ``maxMessageSize`` or fits no segment."""

    def __init__(self, size: int, limit: int, what: str) -> None:
        self.size, self.limit = size, limit
        super().__init__(
            f"{what} of {size} bytes exceeds the limit of {limit} bytes; "
            "split it or raise maxMessageSize"
        )


class CorruptRecordError(StoreError):
    """A stored record is not valid at ``offset`` (physical commit-log offset)."""

    def __init__(self, offset: int, reason: str) -> None:
        self.offset, self.reason = offset, reason
        super().__init__(f"commit log record at offset {offset}: {reason}")


class IndexFileError(StoreError):
    """An index file at ``path`` cannot be used: wrong size, or a corrupt header."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"index file {path}: {reason}")


class CheckpointFileError(StoreError):
    """The checkpoint file at ``path`` cannot be used (wrong size)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"checkpoint file {path}: {reason}")


class StoreLockedError(StoreError):
    """Another process (or another StoreLock) holds the store directory's lock."""

    def __init__(self, root: Path) -> None:
        self.root = root
        super().__init__(
            f"store directory {root} is in use by another process ({root / 'lock'} is "
            "locked); stop that broker or use a different storePathRootDir"
        )


class DiskFullError(StoreError, OSError):
    """Writes are refused: the disk holding ``path`` is past the store's hard limit.

    The store resumes writing by itself once retention (or the operator) frees space.
    """

    def __init__(self, path: Path, used_ratio: float, limit_ratio: float) -> None:
        self.path, self.used_ratio, self.limit_ratio = path, used_ratio, limit_ratio
        super().__init__(
            f"disk of {path} is {used_ratio:.1%} full, past the {limit_ratio:.0%} limit "
            "(diskSpaceWarningLevelRatio): writes are refused until space is freed; delete "
            "old data, lower fileReservedTime or add disk"
        )


class FlushDiskTimeoutError(StoreError, TimeoutError):
    """A SYNC_FLUSH write was stored but not made durable within ``syncFlushTimeout``.

    RocketMQ answers FLUSH_DISK_TIMEOUT: the message is in the commit log and will be
    flushed later, so a retry may store it twice.
    """

    def __init__(self, offset: int, timeout: float) -> None:
        self.offset, self.timeout = offset, timeout
        super().__init__(
            f"commit log not flushed up to offset {offset} within {timeout:g} s "
            "(syncFlushTimeout); the disk is slow or failing"
        )
