"""Store-level metadata files: ``checkpoint``, ``abort``, ``lock``, and atomic writes.

Mirrors ``org.apache.rocketmq.store.StoreCheckpoint`` and the ``abort`` / ``lock``
handling of ``DefaultMessageStore`` (``createTempFile``, ``isTempFileExist``,
``start``/``shutdown``). Spec §4. All files live directly under ``storePathRootDir``.

``checkpoint`` layout: one 4 KiB page (``OS_PAGE_SIZE``); big-endian int64 fields,
the rest of the page zero::

     0  int64  physicMsgTimestamp   store time (ms) of the last commit-log record flushed
     8  int64  logicsMsgTimestamp   store time (ms) of the last consume-queue unit flushed
    16  int64  indexMsgTimestamp    store time (ms) of the last index file flushed
    24  int64  masterFlushedOffset  5.x only (4.x leaves it zero)
    32  int64  confirmPhyOffset     5.x only (4.x leaves it zero)

RocketMQ maps the page and ``force()``s it; we use ``pread``/``pwrite`` plus ``fsync``
on a plain descriptor instead. For 40 bytes that is the same bytes on disk and the same
durability, without an mmap whose lifetime must outlive every exported buffer view.

``abort`` exists while the store runs; finding it at start means the last shutdown was
not clean and recovery must be the abnormal kind. ``lock`` is the process lock.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import threading
from pathlib import Path
from types import TracebackType
from typing import Final, Self, final

from rmq_store.errors import CheckpointFileError, StoreClosedError, StoreLockedError

__all__ = [
    "ABORT_FILE_NAME",
    "CHECKPOINT_FILE_NAME",
    "CHECKPOINT_FILE_SIZE",
    "LOCK_FILE_NAME",
    "AbortMarker",
    "CheckpointFileError",
    "StoreCheckpoint",
    "StoreLock",
    "StoreLockedError",
    "write_atomically",
]

logger = logging.getLogger(__name__)

CHECKPOINT_FILE_NAME: Final = "checkpoint"
ABORT_FILE_NAME: Final = "abort"
LOCK_FILE_NAME: Final = "lock"
CHECKPOINT_FILE_SIZE: Final = 4096  # DefaultMappedFile.OS_PAGE_SIZE, bytes

# physic, logics, index timestamps (ms); masterFlushedOffset, confirmPhyOffset
_CHECKPOINT: Final = struct.Struct(">qqqqq")
_MIN_TIMESTAMP_MARGIN: Final = 3 * 1000  # getMinTimestamp subtracts 3 s, milliseconds
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_LOCK_CONTENT: Final = b"lock"  # DefaultMessageStore.start writes these bytes after locking


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a crash leaves either the old or the new content.

    Writes ``<path>.tmp``, fsyncs it, renames it over ``path`` and fsyncs the directory.
    If writing the temporary file fails, ``path`` is untouched. Not safe for concurrent
    use on the same ``path`` (both writers share the temporary name).

    Raises:
        OSError: the temporary file could not be written, renamed or synced.
    """
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@final
class StoreCheckpoint:
    """The ``checkpoint`` file of a store: how far the commit log and its indexes are flushed.

    Opens ``<root>/checkpoint``, creating it (4096 zero bytes, written atomically) when it
    does not exist. Reads 4.x files (only the first three fields set; the 5.x fields read
    as zero) and 5.x files alike. Set the five attributes, then :meth:`flush` to persist.

    A zero-length file (a crash between creating and sizing it, which RocketMQ's own
    ``map()`` can leave) reads as all zeros, as it does in RocketMQ, and is sized to 4096
    bytes; any other size than 4096 is refused.

    Concurrency: setting attributes from any thread while another calls :meth:`flush` is
    safe (each field is read once per flush; as in RocketMQ, the five fields are not a
    consistent snapshot). :meth:`flush` and :meth:`close` are serialised by a lock.

    Raises:
        CheckpointFileError: the existing file is not 4096 bytes long.
        OSError: the file cannot be created, opened or read.
    """

    __slots__ = (
        "_closed",
        "_fd",
        "_lock",
        "confirm_phy_offset",
        "index_msg_timestamp",
        "logics_msg_timestamp",
        "master_flushed_offset",
        "path",
        "physic_msg_timestamp",
    )

    physic_msg_timestamp: int  # ms
    logics_msg_timestamp: int  # ms
    index_msg_timestamp: int  # ms
    master_flushed_offset: int  # commit-log offset, bytes
    confirm_phy_offset: int  # commit-log offset, bytes

    def __init__(self, root: Path) -> None:
        self.path: Final = root / CHECKPOINT_FILE_NAME
        root.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            logger.info("store checkpoint file %s does not exist; creating it", self.path)
            write_atomically(self.path, bytes(CHECKPOINT_FILE_SIZE))
        fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                logger.warning("store checkpoint file %s is empty; reading zeros", self.path)
                os.ftruncate(fd, CHECKPOINT_FILE_SIZE)
                os.fsync(fd)
            elif size != CHECKPOINT_FILE_SIZE:
                raise CheckpointFileError(
                    self.path,
                    f"size is {size} bytes, expected {CHECKPOINT_FILE_SIZE}; "
                    "it is not a RocketMQ checkpoint: move it away to recover from scratch",
                )
            raw = os.pread(fd, _CHECKPOINT.size, 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._lock = threading.Lock()
        self._closed = False
        (
            self.physic_msg_timestamp,
            self.logics_msg_timestamp,
            self.index_msg_timestamp,
            self.master_flushed_offset,
            self.confirm_phy_offset,
        ) = _CHECKPOINT.unpack(raw)
        logger.info(
            "store checkpoint %s: physicMsgTimestamp %d, logicsMsgTimestamp %d, "
            "indexMsgTimestamp %d, masterFlushedOffset %d, confirmPhyOffset %d",
            self.path,
            self.physic_msg_timestamp,
            self.logics_msg_timestamp,
            self.index_msg_timestamp,
            self.master_flushed_offset,
            self.confirm_phy_offset,
        )

    @property
    def min_timestamp(self) -> int:
        """``min(physic, logics) − 3000`` ms, at least 0 (``getMinTimestamp``).

        Abnormal recovery of the commit log starts from the file holding records stored
        at or after this time.
        """
        return max(
            0, min(self.physic_msg_timestamp, self.logics_msg_timestamp) - _MIN_TIMESTAMP_MARGIN
        )

    @property
    def min_timestamp_index(self) -> int:
        """``min(min_timestamp, index_msg_timestamp)`` (``getMinTimestampIndex``).

        The index timestamp enters unchanged: neither the 3 s margin nor the clamp at 0
        applies to it. Used instead of :attr:`min_timestamp` when message index is
        enabled and index flushing is safe (``messageIndexSafe``).
        """
        return min(self.min_timestamp, self.index_msg_timestamp)

    @property
    def closed(self) -> bool:
        return self._closed

    def flush(self) -> None:
        """Write all five fields at offsets 0..39 and fsync; the rest of the page is kept.

        Raises:
            StoreClosedError: the checkpoint was closed.
            ValueError: a field does not fit in a signed 64-bit integer.
            OSError: the write or fsync failed.
        """
        data = self._pack()
        with self._lock:
            if self._closed:
                raise StoreClosedError(f"checkpoint file {self.path} is closed")
            self._write(data)

    def close(self) -> None:
        """Flush, then close the file, as RocketMQ's ``shutdown()`` does. Idempotent.

        Raises:
            ValueError: a field does not fit in a signed 64-bit integer (file still closed).
            OSError: the final flush failed (file still closed).
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._write(self._pack())
            finally:
                os.close(self._fd)

    def _pack(self) -> bytes:
        values = (
            ("physic_msg_timestamp", self.physic_msg_timestamp),
            ("logics_msg_timestamp", self.logics_msg_timestamp),
            ("index_msg_timestamp", self.index_msg_timestamp),
            ("master_flushed_offset", self.master_flushed_offset),
            ("confirm_phy_offset", self.confirm_phy_offset),
        )
        for name, value in values:
            if not _INT64_MIN <= value <= _INT64_MAX:
                raise ValueError(f"checkpoint {name} = {value} does not fit in a Java long")
        return _CHECKPOINT.pack(*(value for _, value in values))

    def _write(self, data: bytes) -> None:
        os.pwrite(self._fd, data, 0)
        os.fsync(self._fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"StoreCheckpoint({str(self.path)!r}, physic={self.physic_msg_timestamp}, "
            f"logics={self.logics_msg_timestamp}, index={self.index_msg_timestamp}, "
            f"master_flushed={self.master_flushed_offset}, confirm={self.confirm_phy_offset})"
        )


@final
class StoreLock:
    """Exclusive process lock on a store directory, via ``flock`` on ``<root>/lock``.

    Use as a context manager (or :meth:`acquire` / :meth:`release`). Acquiring creates
    ``root`` and ``lock`` if needed, takes ``flock(LOCK_EX | LOCK_NB)`` and writes
    ``lock`` into the file as RocketMQ does. Any other holder, another process or another
    :class:`StoreLock` in this process (each has its own descriptor), makes acquiring fail
    at once with :class:`StoreLockedError`. The kernel drops the lock when the process
    dies, so a stale ``lock`` file never blocks a restart. The descriptor is close-on-exec.

    RocketMQ itself locks with ``FileChannel.tryLock(0, 1, false)``, a POSIX record lock
    (``fcntl(F_SETLK)``) on byte 0. On Linux ``flock`` and POSIX locks do not see each
    other, so this lock excludes other rmq-store processes, not a Java broker.

    Concurrency: one instance is not safe for concurrent acquire/release from several
    threads; use one instance per owner.
    """

    __slots__ = ("_fd", "path", "root")

    def __init__(self, root: Path) -> None:
        self.root: Final = root
        self.path: Final = root / LOCK_FILE_NAME
        self._fd: int | None = None

    @property
    def locked(self) -> bool:
        """Whether this instance holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock without waiting.

        Raises:
            StoreLockedError: another holder has it.
            RuntimeError: this instance already holds it.
            OSError: the directory or file cannot be created or opened.
        """
        if self._fd is not None:
            raise RuntimeError(f"store lock {self.path} is already held by this StoreLock")
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise StoreLockedError(self.root) from exc
            os.pwrite(fd, _LOCK_CONTENT, 0)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        logger.info("store directory %s locked", self.root)

    def release(self) -> None:
        """Drop the lock (the ``lock`` file stays, as in RocketMQ). Idempotent."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        logger.info("store directory %s unlocked", self.root)

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


@final
class AbortMarker:
    """The ``<root>/abort`` file: present while the store runs, removed on clean shutdown.

    Create it once the store has started, remove it on a clean shutdown; finding it at
    start means the last run did not shut down cleanly (abnormal recovery). Only its
    existence matters (RocketMQ writes its PID into it; we leave it empty). The methods
    are stateless and safe for concurrent use, though only one owner should call them.
    """

    __slots__ = ()

    @staticmethod
    def path(root: Path) -> Path:
        return root / ABORT_FILE_NAME

    @staticmethod
    def was_present(root: Path) -> bool:
        """Whether ``abort`` exists: the store was not shut down cleanly."""
        return AbortMarker.path(root).exists()

    @staticmethod
    def create(root: Path) -> None:
        """Create the empty ``abort`` file (keeping none of an old one's content); fsync dir.

        Raises:
            OSError: the directory or file cannot be created or synced.
        """
        root.mkdir(parents=True, exist_ok=True)
        path = AbortMarker.path(root)
        existed = path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        os.close(fd)
        _fsync_dir(root)
        logger.info("%s %s", path, "already existed" if existed else "created")

    @staticmethod
    def remove(root: Path) -> None:
        """Delete ``abort`` (a clean shutdown) and fsync the directory. Idempotent.

        Raises:
            OSError: the file cannot be removed or the directory synced.
        """
        path = AbortMarker.path(root)
        path.unlink(missing_ok=True)
        _fsync_dir(root)
        logger.info("%s removed", path)
