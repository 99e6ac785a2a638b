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
    flush_interval_consume_queue: int = 1000  # milliseconds
    message_index_enable: bool = True
    file_reserved_time: int = 72  # hours
    delete_when: str = "04"  # hours of day, ";"-separated
    disk_max_used_space_ratio: int = 75  # percent: above it, expired files go at once
    disk_space_clean_forcibly_ratio: int = 85  # percent: above it, cleanImmediately
    disk_space_warning_level_ratio: int = 90  # percent: above it, writes are refused
    # RocketMQ deletes unexpired (possibly unconsumed) segments above the forcibly ratio;
    # rmq refuses writes instead unless this is turned on (a safer default).
    clean_file_forcibly_enable: bool = False
    clean_resource_interval: int = 10_000  # milliseconds between retention runs
    delete_file_batch_max: int = 10  # segments deleted per retention run
    max_transfer_bytes_on_message_in_memory: int = 256 * 1024  # bytes per pull
    max_transfer_count_on_message_in_memory: int = 32
    max_transfer_bytes_on_message_in_disk: int = 64 * 1024  # bytes per pull
    max_transfer_count_on_message_in_disk: int = 8
    access_message_in_memory_max_ratio: int = 40  # percent of physical memory
    max_filter_message_size: int = 16_000  # bytes of consume-queue units scanned per get
    message_delay_level: str = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"

    def __post_init__(self) -> None:
        if self.mapped_file_size_commit_log < 4096:
            raise ValueError(
                f"mappedFileSizeCommitLog {self.mapped_file_size_commit_log} is below 4096 bytes"
            )
        _ = self.delay_level_table  # validates messageDelayLevel
        for hour in self.delete_when.split(";"):
            if not (hour.strip().isdecimal() and 0 <= int(hour) <= 23):
                raise ValueError(f"deleteWhen {self.delete_when!r}: {hour!r} is not an hour 0..23")
        if self.mapped_file_size_consume_queue % 20:
            raise ValueError(
                f"mappedFileSizeConsumeQueue {self.mapped_file_size_consume_queue} is not a "
                "multiple of the 20-byte unit"
            )

    @property
    def delay_level_table(self) -> dict[int, int]:
        """``messageDelayLevel`` parsed: level (1-based) → delay in milliseconds."""
        units = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
        table = {}
        for level, text in enumerate(self.message_delay_level.split(), start=1):
            unit = units.get(text[-1:])
            if unit is None or not text[:-1].isdecimal():
                raise ValueError(
                    f"messageDelayLevel item {text!r} (level {level}) is not a number with a "
                    "unit s, m, h or d"
                )
            table[level] = int(text[:-1]) * unit
        return table

    @property
    def commit_log_dir(self) -> Path:
        return self.store_path_root_dir / "commitlog"

    @property
    def consume_queue_dir(self) -> Path:
        return self.store_path_root_dir / "consumequeue"

    @property
    def index_dir(self) -> Path:
        return self.store_path_root_dir / "index"
