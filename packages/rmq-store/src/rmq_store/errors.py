"""Errors raised by rmq-store: one base, :class:`StoreError`."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CheckpointFileError",
    "CorruptRecordError",
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
