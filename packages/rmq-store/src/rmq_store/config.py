"""Store configuration: RocketMQ's ``MessageStoreConfig`` keys, units and defaults (spec §4.5).

Field names are the snake_case of RocketMQ's keys (``mapped_file_size_commit_log`` ↔
``mappedFileSizeCommitLog``); times keep RocketMQ's units (noted per field). All sizes are
configurable so that tests can use tiny segments.
"""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path

__all__ = ["FlushDiskType", "StoreConfig"]


class FlushDiskType(enum.StrEnum):
    ASYNC_FLUSH = "ASYNC_FLUSH"
    SYNC_FLUSH = "SYNC_FLUSH"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StoreConfig:
    store_path_root_dir: Path = dataclasses.field(default_factory=lambda: Path.home() / "store")
    mapped_file_size_commit_log: int = 1024 * 1024 * 1024  # bytes per commit-log segment
    mapped_file_size_consume_queue: int = 300_000 * 20  # bytes per consume-queue file
    max_message_size: int = 4 * 1024 * 1024  # bytes, body limit of one message
    flush_disk_type: FlushDiskType = FlushDiskType.ASYNC_FLUSH
    flush_interval_commit_log: int = 500  # milliseconds
    sync_flush_timeout: int = 5000  # milliseconds
    max_hash_slot_num: int = 5_000_000
    max_index_num: int = 20_000_000
    file_reserved_time: int = 72  # hours
    delete_when: str = "04"  # hours of day, ";"-separated
    disk_max_used_space_ratio: int = 75  # percent

    def __post_init__(self) -> None:
        if self.mapped_file_size_commit_log < 4096:
            raise ValueError(
                f"mappedFileSizeCommitLog {self.mapped_file_size_commit_log} is below 4096 bytes"
            )
        if self.mapped_file_size_consume_queue % 20:
            raise ValueError(
                f"mappedFileSizeConsumeQueue {self.mapped_file_size_consume_queue} is not a "
                "multiple of the 20-byte unit"
            )

    @property
    def commit_log_dir(self) -> Path:
        return self.store_path_root_dir / "commitlog"

    @property
    def consume_queue_dir(self) -> Path:
        return self.store_path_root_dir / "consumequeue"

    @property
    def index_dir(self) -> Path:
        return self.store_path_root_dir / "index"
