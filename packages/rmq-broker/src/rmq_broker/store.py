"""What the broker needs from a message store: :class:`BrokerStore`.

:class:`rmq_store.MessageStore` satisfies it; tests may pass fakes. Every method is
called on the broker's event loop except the listeners, which the store calls on its
writing thread (``add_arrival_listener``: the thread that appended, here the loop) and
its flush thread (``add_flush_listener``).
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Collection, Sequence
from typing import Protocol

from rmq_protocol.codec.message import MessageExt
from rmq_store import (
    BoundaryType,
    GetResult,
    PutResult,
    QueryResult,
    StoreConfig,
    StoreStatistics,
)

__all__ = ["BrokerStore"]


class BrokerStore(Protocol):
    """The store interface of the broker (a subset of :class:`rmq_store.MessageStore`)."""

    @property
    def config(self) -> StoreConfig: ...

    @property
    def flushed_offset(self) -> int: ...

    def add_arrival_listener(self, listener: Callable[[str, int, int, int], None]) -> None: ...

    def add_flush_listener(self, listener: Callable[[int], None]) -> None: ...

    def remove_flush_listener(self, listener: Callable[[int], None]) -> None: ...

    def flush_future(self, offset: int) -> concurrent.futures.Future[int]: ...

    def append_messages(self, messages: Sequence[MessageExt]) -> PutResult: ...

    def get_messages(
        self,
        topic: str,
        queue_id: int,
        offset: int,
        *,
        max_count: int = 32,
        max_bytes: int = 4 * 1024 * 1024,
        tags_codes: Collection[int] | None = None,
        message_filter: Callable[[MessageExt], bool] | None = None,
    ) -> GetResult: ...

    def read_message(self, phy_offset: int, size: int | None = None) -> memoryview | None: ...

    def query_message(
        self, topic: str, key: str, *, max_num: int, begin_ms: int = 0, end_ms: int | None = None
    ) -> QueryResult: ...

    def get_min_offset_in_queue(self, topic: str, queue_id: int) -> int: ...

    def get_max_offset_in_queue(self, topic: str, queue_id: int) -> int: ...

    def get_offset_in_queue_by_time(
        self,
        topic: str,
        queue_id: int,
        timestamp: int,
        boundary: BoundaryType = BoundaryType.LOWER,
    ) -> int: ...

    def get_earliest_message_time(
        self, topic: str | None = None, queue_id: int | None = None
    ) -> int | None: ...

    def get_message_store_timestamp(self, topic: str, queue_id: int, offset: int) -> int | None: ...

    def statistics(self) -> StoreStatistics: ...

    def close(self) -> None: ...
