"""Queue allocation strategies: which queues of a topic this consumer pulls.

Mirrors Java's ``AllocateMessageQueueAveragely``, ``AllocateMessageQueueAveragelyByCircle``
and ``AllocateMessageQueueConsistentHash`` (spec §6.7), with the same results for the same
inputs, so rmq consumers and Java consumers can share a group.

Inputs of :meth:`AllocateStrategy.allocate`: every queue of the topic and every client
id of the group. Both are sorted here (queues by (topic, broker_name, queue_id), ids as
strings), as Java's ``RebalanceImpl`` sorts them before calling the strategy.
A client id that is not in the list gets nothing.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Sequence
from typing import Final, Protocol, final, runtime_checkable

from rmq_protocol.codec.body import MessageQueue

__all__ = [
    "AllocateAveragely",
    "AllocateAveragelyByCircle",
    "AllocateConsistentHash",
    "AllocateStrategy",
    "md5_hash",
]


@runtime_checkable
class AllocateStrategy(Protocol):
    """A queue allocation strategy (pluggable: any object with these two members)."""

    @property
    def name(self) -> str:
        """Java's ``getName()`` (``AVG``, ``AVG_BY_CIRCLE``, ``CONSISTENT_HASH``)."""
        ...

    def allocate(
        self,
        group: str,
        client_id: str,
        queues: Sequence[MessageQueue],
        client_ids: Sequence[str],
    ) -> list[MessageQueue]:
        """The queues ``client_id`` consumes among ``queues`` shared by ``client_ids``."""
        ...


def _prepare(
    client_id: str, queues: Sequence[MessageQueue], client_ids: Sequence[str]
) -> tuple[list[MessageQueue], list[str], int] | None:
    """Sorted inputs and our index, or None when we get nothing (as Java's ``check``)."""
    if not client_id:
        raise ValueError("client_id is empty")
    if not queues or not client_ids:
        return None
    mqs = sorted(set(queues))
    cids = sorted(set(client_ids))
    try:
        index = cids.index(client_id)
    except ValueError:
        return None
    return mqs, cids, index


@final
class AllocateAveragely:
    """Contiguous blocks, the first ``n % c`` clients one queue more (Java's default, ``AVG``).

    8 queues, 3 clients → [0, 1, 2] [3, 4, 5] [6, 7].
    """

    name: Final = "AVG"

    def allocate(
        self,
        group: str,
        client_id: str,
        queues: Sequence[MessageQueue],
        client_ids: Sequence[str],
    ) -> list[MessageQueue]:
        """See :class:`AllocateStrategy`."""
        prepared = _prepare(client_id, queues, client_ids)
        if prepared is None:
            return []
        mqs, cids, index = prepared
        n, c = len(mqs), len(cids)
        mod = n % c
        if n <= c:
            size = 1
        elif mod > 0 and index < mod:
            size = n // c + 1
        else:
            size = n // c
        start = index * size if mod > 0 and index < mod else index * size + mod
        count = min(size, n - start)
        return mqs[start : start + count] if count > 0 else []


@final
class AllocateAveragelyByCircle:
    """Round robin: queue ``j`` goes to client ``j % c`` (``AVG_BY_CIRCLE``).

    8 queues, 3 clients → [0, 3, 6] [1, 4, 7] [2, 5].
    """

    name: Final = "AVG_BY_CIRCLE"

    def allocate(
        self,
        group: str,
        client_id: str,
        queues: Sequence[MessageQueue],
        client_ids: Sequence[str],
    ) -> list[MessageQueue]:
        """See :class:`AllocateStrategy`."""
        prepared = _prepare(client_id, queues, client_ids)
        if prepared is None:
            return []
        mqs, cids, index = prepared
        return mqs[index :: len(cids)]


def md5_hash(key: str) -> int:
    """Java ``ConsistentHashRouter.MD5Hash``: the first 4 MD5 bytes, unsigned big-endian."""
    return int.from_bytes(hashlib.md5(key.encode(), usedforsecurity=False).digest()[:4], "big")


@final
class AllocateConsistentHash:
    """A hash ring of ``virtual_nodes`` nodes per client (``CONSISTENT_HASH``).

    Node keys are ``"<clientId>-<k>"``; a queue is keyed by its Java ``toString()``
    (``MessageQueue [topic=T, brokerName=B, queueId=Q]``) and goes to the first node whose
    hash is ≥ the queue's, wrapping around. Two nodes with the same hash: the later one
    (in client id order) wins, as in Java's ``TreeMap.put``.
    """

    name: Final = "CONSISTENT_HASH"

    def __init__(
        self, *, virtual_nodes: int = 10, hash_function: Callable[[str], int] = md5_hash
    ) -> None:
        """
        Args:
            virtual_nodes: ring nodes per client (Java's ``virtualNodeCnt``, 10).
            hash_function: key → integer (Java's ``HashFunction``; default MD5).

        Raises:
            ValueError: ``virtual_nodes`` is negative.
        """
        if virtual_nodes < 0:
            raise ValueError(f"virtual_nodes must be >= 0, not {virtual_nodes}")
        self.virtual_nodes = virtual_nodes
        self._hash = hash_function

    def allocate(
        self,
        group: str,
        client_id: str,
        queues: Sequence[MessageQueue],
        client_ids: Sequence[str],
    ) -> list[MessageQueue]:
        """See :class:`AllocateStrategy`."""
        prepared = _prepare(client_id, queues, client_ids)
        if prepared is None:
            return []
        mqs, cids, _ = prepared
        ring: dict[int, str] = {}
        for cid in cids:
            for k in range(self.virtual_nodes):
                ring[self._hash(f"{cid}-{k}")] = cid
        if not ring:
            return []
        points = sorted(ring)
        mine = []
        for mq in mqs:
            at = bisect.bisect_left(points, self._hash(mq.java_string()))
            owner = ring[points[at if at < len(points) else 0]]
            if owner == client_id:
                mine.append(mq)
        return mine
