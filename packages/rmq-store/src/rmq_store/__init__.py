"""rmq-store: Apache RocketMQ's storage engine, byte-compatible on disk, usable on its own.

Open a store directory with :meth:`MessageStore.open` and a :class:`StoreConfig`; see the
package README for a complete example.
"""

from rmq_store._version import __version__
from rmq_store.config import FlushDiskType, StoreConfig
from rmq_store.errors import (
    CorruptRecordError,
    DiskFullError,
    FlushDiskTimeoutError,
    MessageTooLargeError,
    StoreClosedError,
    StoreError,
    StoreLockedError,
)
from rmq_store.store import (
    BoundaryType,
    GetMessageStatus,
    GetResult,
    MessageStore,
    PutResult,
    QueryResult,
    RecoveryInfo,
    RetentionReport,
    StoreStatistics,
)

__all__ = [
    "BoundaryType",
    "CorruptRecordError",
    "DiskFullError",
    "FlushDiskTimeoutError",
    "FlushDiskType",
    "GetMessageStatus",
    "GetResult",
    "MessageStore",
    "MessageTooLargeError",
    "PutResult",
    "QueryResult",
    "RecoveryInfo",
    "RetentionReport",
    "StoreClosedError",
    "StoreConfig",
    "StoreError",
    "StoreLockedError",
    "StoreStatistics",
    "__version__",
]
