"""Consumer offset stores: on the broker (clustering) or in a local file (broadcasting).

Mirrors Java's ``RemoteBrokerOffsetStore`` and ``LocalFileOffsetStore``:

* :class:`RemoteOffsetStore` reads with QUERY_CONSUMER_OFFSET (QUERY_NOT_FOUND means
  "no offset yet", -1) and writes with UPDATE_CONSUMER_OFFSET (oneway) to the master of
  the queue's broker, every ``persist_consumer_offset_interval`` and at shutdown.
* :class:`LocalFileOffsetStore` keeps ``<base>/<clientId>/<group>/offsets.json``
  (``base`` defaults to ``~/.rocketmq_offsets`` as Java's
  ``rocketmq.client.localOffsetStoreDir``) in Java's ``OffsetSerializeWrapper`` form
  ``{"offsetTable":{{"brokerName":…,"queueId":…,"topic":…}:offset}}``, written
  atomically, the previous version kept as ``offsets.json.bak`` and read when the main
  file is missing or unreadable.

``read`` returns the offset, -1 when there is none, or -2 when the store could not be
asked (Java's values). Offsets in memory only grow unless ``increase_only=False``.
Not safe for use from several threads; use from the consumer's event loop.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Final, Protocol, final

from rmq_client.errors import ClientError, OffsetNotFoundError, error_for_code
from rmq_protocol.codec.body import MessageQueue, ResetOffsetBody
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import (
    QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader,
    UpdateConsumerOffsetRequestHeader,
)
from rmq_protocol.errors import ProtocolError

__all__ = [
    "LocalFileOffsetStore",
    "OffsetStore",
    "ReadOffsetType",
    "RemoteOffsetStore",
    "default_offset_dir",
]

logger = logging.getLogger(__name__)

_QUERY_TIMEOUT: Final = 5.0  # seconds (Java 1000 * 5)
_UPDATE_TIMEOUT: Final = 5.0


def default_offset_dir() -> Path:
    """``~/.rocketmq_offsets`` (Java's default ``rocketmq.client.localOffsetStoreDir``)."""
    return Path.home() / ".rocketmq_offsets"


class ReadOffsetType(enum.Enum):
    """Where :meth:`OffsetStore.read` looks (Java ``ReadOffsetType``)."""

    READ_FROM_MEMORY = "READ_FROM_MEMORY"
    READ_FROM_STORE = "READ_FROM_STORE"
    MEMORY_FIRST_THEN_STORE = "MEMORY_FIRST_THEN_STORE"


class OffsetStore(Protocol):
    """What consumers need from an offset store."""

    async def load(self) -> None:
        """Read persisted offsets into memory (local store); no-op for the broker store."""
        ...

    def update(self, mq: MessageQueue, offset: int, *, increase_only: bool = True) -> None:
        """Set the in-memory offset of ``mq``."""
        ...

    async def read(self, mq: MessageQueue, kind: ReadOffsetType) -> int:
        """The offset of ``mq``: ≥ 0, -1 when none is stored, -2 when the store failed."""
        ...

    async def persist_all(self, mqs: Iterable[MessageQueue]) -> None:
        """Write the in-memory offsets of ``mqs`` to the store."""
        ...

    async def persist(self, mq: MessageQueue) -> None:
        """Write one queue's in-memory offset to the store."""
        ...

    def remove(self, mq: MessageQueue) -> None:
        """Forget ``mq`` in memory (its queue was taken away by a rebalance)."""
        ...

    def offsets(self, topic: str | None = None) -> dict[MessageQueue, int]:
        """A copy of the in-memory offsets (of ``topic`` only, if given)."""
        ...

    def offset(self, mq: MessageQueue) -> int:
        """The in-memory offset of ``mq``, -1 when there is none (no copy)."""
        ...


class _Broker(Protocol):
    """The part of ClientInstance the broker store uses."""

    async def find_broker_addr(self, broker_name: str, *, master_only: bool = True) -> str: ...

    async def invoke(
        self, addr: str, cmd: RemotingCommand, *, timeout: float
    ) -> RemotingCommand: ...

    async def invoke_oneway(self, addr: str, cmd: RemotingCommand, *, timeout: float) -> None: ...


class _MemoryOffsets:
    """The in-memory table both stores share."""

    def __init__(self) -> None:
        self._table: dict[MessageQueue, int] = {}

    def update(self, mq: MessageQueue, offset: int, *, increase_only: bool = True) -> None:
        old = self._table.get(mq)
        if old is None or not increase_only or offset > old:
            self._table[mq] = offset

    def remove(self, mq: MessageQueue) -> None:
        self._table.pop(mq, None)

    def offset(self, mq: MessageQueue) -> int:
        return self._table.get(mq, -1)

    def offsets(self, topic: str | None = None) -> dict[MessageQueue, int]:
        if topic is None:
            return dict(self._table)
        return {mq: off for mq, off in self._table.items() if mq.topic == topic}


@final
class RemoteOffsetStore(_MemoryOffsets):
    """Offsets of a clustering consumer group, kept by the brokers."""

    def __init__(self, client: _Broker, group: str) -> None:
        super().__init__()
        self._client = client
        self.group = group
        self._persisted: dict[MessageQueue, int] = {}

    async def load(self) -> None:
        """Nothing to load: offsets are read from the broker per queue."""

    async def read(self, mq: MessageQueue, kind: ReadOffsetType) -> int:
        """See :class:`OffsetStore`."""
        if kind is not ReadOffsetType.READ_FROM_STORE:
            offset = self._table.get(mq)
            if offset is not None:
                return offset
            if kind is ReadOffsetType.READ_FROM_MEMORY:
                return -1
        try:
            offset = await self.fetch(mq)
        except OffsetNotFoundError:
            return -1
        except (ClientError, ProtocolError) as exc:
            logger.warning("cannot read the offset of %s for group %s: %s", mq, self.group, exc)
            return -2
        self.update(mq, offset, increase_only=False)
        self._persisted[mq] = offset
        return offset

    async def fetch(self, mq: MessageQueue) -> int:
        """QUERY_CONSUMER_OFFSET for ``mq`` from its broker's master.

        Raises:
            OffsetNotFoundError: the broker has no offset for the group and queue.
            ClientError: the broker could not be asked or answered another error.
        """
        addr = await self._client.find_broker_addr(mq.broker_name)
        header = QueryConsumerOffsetRequestHeader(
            consumer_group=self.group, topic=mq.topic, queue_id=mq.queue_id, bname=mq.broker_name
        )
        cmd = RemotingCommand.request(RequestCode.QUERY_CONSUMER_OFFSET, header)
        response = await self._client.invoke(addr, cmd, timeout=_QUERY_TIMEOUT)
        if response.code == ResponseCode.SUCCESS:
            return response.decode_header(QueryConsumerOffsetResponseHeader).offset
        raise error_for_code(
            response.code,
            response.remark,
            broker=addr,
            request=RequestCode.QUERY_CONSUMER_OFFSET,
        )

    async def update_to_broker(self, mq: MessageQueue, offset: int, *, oneway: bool = True) -> None:
        """UPDATE_CONSUMER_OFFSET for ``mq`` (oneway by default, as Java).

        Raises:
            ClientError: the broker could not be reached (or, two-way, refused it).
        """
        addr = await self._client.find_broker_addr(mq.broker_name)
        header = UpdateConsumerOffsetRequestHeader(
            consumer_group=self.group,
            topic=mq.topic,
            queue_id=mq.queue_id,
            commit_offset=offset,
            bname=mq.broker_name,
        )
        if oneway:
            cmd = RemotingCommand.request(RequestCode.UPDATE_CONSUMER_OFFSET, header, oneway=True)
            await self._client.invoke_oneway(addr, cmd, timeout=_UPDATE_TIMEOUT)
            return
        cmd = RemotingCommand.request(RequestCode.UPDATE_CONSUMER_OFFSET, header)
        response = await self._client.invoke(addr, cmd, timeout=_UPDATE_TIMEOUT)
        if response.code != ResponseCode.SUCCESS:
            raise error_for_code(
                response.code,
                response.remark,
                broker=addr,
                request=RequestCode.UPDATE_CONSUMER_OFFSET,
            )

    async def persist_all(self, mqs: Iterable[MessageQueue]) -> None:
        """Send the changed offsets of ``mqs``; forget the queues not in ``mqs``.

        Errors are logged (the next round retries), as Java does.
        """
        wanted = set(mqs)
        for mq, offset in list(self._table.items()):
            if mq not in wanted:
                # Java removes queues it no longer owns from the table here.
                del self._table[mq]
                self._persisted.pop(mq, None)
                continue
            if self._persisted.get(mq) == offset:
                continue
            try:
                await self.update_to_broker(mq, offset)
            except (ClientError, ProtocolError) as exc:
                logger.warning(
                    "cannot persist offset %d of %s for group %s: %s", offset, mq, self.group, exc
                )
                continue
            self._persisted[mq] = offset

    async def persist(self, mq: MessageQueue) -> None:
        """Send one queue's offset now (errors logged)."""
        offset = self._table.get(mq)
        if offset is None:
            return
        try:
            await self.update_to_broker(mq, offset)
        except (ClientError, ProtocolError) as exc:
            logger.warning("cannot persist offset %d of %s: %s", offset, mq, exc)
        else:
            self._persisted[mq] = offset

    def remove(self, mq: MessageQueue) -> None:
        """See :class:`OffsetStore`."""
        super().remove(mq)
        self._persisted.pop(mq, None)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    if path.exists():
        os.replace(path, path.with_name(path.name + ".bak"))
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_table(path: Path) -> dict[MessageQueue, int] | None:
    """The table in ``path`` (or its ``.bak``); None if neither is readable."""
    for candidate in (path, path.with_name(path.name + ".bak")):
        try:
            data = candidate.read_bytes()
        except FileNotFoundError:
            continue
        if not data.strip():
            continue
        try:
            return dict(ResetOffsetBody.from_json(data).offset_table)
        except ProtocolError as exc:
            logger.warning("ignoring unreadable offsets file %s: %s", candidate, exc)
    return None


@final
class LocalFileOffsetStore(_MemoryOffsets):
    """Offsets of a broadcasting consumer, in a JSON file of this client."""

    def __init__(self, client_id: str, group: str, *, base_dir: Path | None = None) -> None:
        super().__init__()
        self.group = group
        root = base_dir if base_dir is not None else default_offset_dir()
        self.path = root / client_id.replace(os.sep, "_") / group / "offsets.json"

    async def load(self) -> None:
        """Read the file into memory (no file: start empty)."""
        table = await asyncio.to_thread(_read_table, self.path)
        if table:
            self._table.update(table)
            logger.info("loaded %d offsets of group %s from %s", len(table), self.group, self.path)

    async def read(self, mq: MessageQueue, kind: ReadOffsetType) -> int:
        """See :class:`OffsetStore`."""
        if kind is not ReadOffsetType.READ_FROM_STORE:
            offset = self._table.get(mq)
            if offset is not None:
                return offset
            if kind is ReadOffsetType.READ_FROM_MEMORY:
                return -1
        table = await asyncio.to_thread(_read_table, self.path)
        if table is None or mq not in table:
            return -1
        self.update(mq, table[mq], increase_only=False)
        return table[mq]

    async def persist_all(self, mqs: Iterable[MessageQueue]) -> None:
        """Merge the in-memory offsets of ``mqs`` into the file."""
        wanted = set(mqs)
        if not wanted:
            return
        mine = {mq: off for mq, off in self._table.items() if mq in wanted}
        await asyncio.to_thread(self._merge, mine)

    async def persist(self, mq: MessageQueue) -> None:
        """Merge one queue's offset into the file."""
        offset = self._table.get(mq)
        if offset is not None:
            await asyncio.to_thread(self._merge, {mq: offset})

    def _merge(self, offsets: dict[MessageQueue, int]) -> None:
        table = _read_table(self.path) or {}
        table.update(offsets)
        _write_atomically(self.path, ResetOffsetBody(table).to_json())
