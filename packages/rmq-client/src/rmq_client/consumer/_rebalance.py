"""Rebalance helpers shared by the push and the lite pull consumer.

Mirrors the parts of Java's ``RebalanceImpl`` / ``RebalancePushImpl`` /
``MQAdminImpl`` / ``MQClientAPIImpl`` consumers need:

* :meth:`Rebalancer.allocate`: the queues of a topic this client owns — every readable
  queue for broadcasting; for clustering the strategy's share, given the group's client
  ids from GET_CONSUMER_LIST_BY_GROUP (asked of one broker of the topic's route);
* :meth:`Rebalancer.lock` / :meth:`Rebalancer.unlock`: LOCK_BATCH_MQ / UNLOCK_BATCH_MQ
  per broker, for orderly consumption;
* :func:`start_offset`: where a queue new to this consumer starts (Java
  ``computePullFromWhereWithException``): the stored offset, else by
  ``consume_from_where`` — last: the queue's max offset (0 for ``%RETRY%`` topics);
  first: 0; timestamp: SEARCH_OFFSET_BY_TIMESTAMP (max offset for ``%RETRY%``);
* max/min offset and offset-by-time queries.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Final, final

from rmq_client._instance import ClientInstance, check_response
from rmq_client.consumer._allocate import AllocateStrategy
from rmq_client.consumer._offset_store import OffsetStore, ReadOffsetType
from rmq_client.errors import ClientError
from rmq_protocol.codec.body import (
    ConsumeFromWhere,
    GetConsumerListByGroupResponseBody,
    LockBatchRequestBody,
    LockBatchResponseBody,
    MessageModel,
    MessageQueue,
    UnlockBatchRequestBody,
)
from rmq_protocol.codec.codes import RequestCode
from rmq_protocol.codec.headers import (
    GetConsumerListByGroupRequestHeader,
    GetMaxOffsetRequestHeader,
    GetMaxOffsetResponseHeader,
    GetMinOffsetRequestHeader,
    GetMinOffsetResponseHeader,
    LockBatchMqRequestHeader,
    SearchOffsetRequestHeader,
    SearchOffsetResponseHeader,
    UnlockBatchMqRequestHeader,
)

__all__ = [
    "RETRY_PREFIX",
    "Rebalancer",
    "max_offset",
    "min_offset",
    "search_offset",
    "start_offset",
]

logger = logging.getLogger(__name__)

RETRY_PREFIX: Final = "%RETRY%"
_LOCK_TIMEOUT: Final = 1.0  # seconds (Java 1000 ms)


async def max_offset(client: ClientInstance, mq: MessageQueue) -> int:
    """GET_MAX_OFFSET: the queue's next offset to be written.

    Raises:
        ClientError: the broker is unknown, unreachable or refused.
    """
    addr = await client.find_broker_addr(mq.broker_name)
    cmd = client.request(
        RequestCode.GET_MAX_OFFSET,
        GetMaxOffsetRequestHeader(topic=mq.topic, queue_id=mq.queue_id, bname=mq.broker_name),
    )
    response = await client.invoke_checked(addr, cmd)
    return response.decode_header(GetMaxOffsetResponseHeader).offset


async def min_offset(client: ClientInstance, mq: MessageQueue) -> int:
    """GET_MIN_OFFSET: the queue's lowest offset still stored.

    Raises:
        ClientError: the broker is unknown, unreachable or refused.
    """
    addr = await client.find_broker_addr(mq.broker_name)
    cmd = client.request(
        RequestCode.GET_MIN_OFFSET,
        GetMinOffsetRequestHeader(topic=mq.topic, queue_id=mq.queue_id, bname=mq.broker_name),
    )
    response = await client.invoke_checked(addr, cmd)
    return response.decode_header(GetMinOffsetResponseHeader).offset


async def search_offset(client: ClientInstance, mq: MessageQueue, timestamp_ms: int) -> int:
    """SEARCH_OFFSET_BY_TIMESTAMP: the first offset stored at or after ``timestamp_ms``.

    Raises:
        ClientError: the broker is unknown, unreachable or refused.
    """
    addr = await client.find_broker_addr(mq.broker_name)
    cmd = client.request(
        RequestCode.SEARCH_OFFSET_BY_TIMESTAMP,
        SearchOffsetRequestHeader(
            topic=mq.topic, queue_id=mq.queue_id, timestamp=timestamp_ms, bname=mq.broker_name
        ),
    )
    response = await client.invoke_checked(addr, cmd)
    return response.decode_header(SearchOffsetResponseHeader).offset


_FROM_LAST: Final = frozenset(
    {
        ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET,
        ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST,
        ConsumeFromWhere.CONSUME_FROM_MIN_OFFSET,
        ConsumeFromWhere.CONSUME_FROM_MAX_OFFSET,
    }
)


async def start_offset(
    client: ClientInstance,
    store: OffsetStore,
    mq: MessageQueue,
    consume_from: ConsumeFromWhere,
    timestamp_ms: int,
) -> int:
    """Where consumption of ``mq`` starts (module docstring).

    Raises:
        ClientError: the stored offset could not be read (-2), or a broker query failed.
    """
    stored = await store.read(mq, ReadOffsetType.READ_FROM_STORE)
    if stored >= 0:
        return stored
    if stored != -1:
        raise ClientError(f"cannot read the stored offset of {mq.java_string()}")
    retry = mq.topic.startswith(RETRY_PREFIX)
    if consume_from in _FROM_LAST:
        return 0 if retry else await max_offset(client, mq)
    if consume_from is ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET:
        return 0
    if retry:
        return await max_offset(client, mq)
    return await search_offset(client, mq, timestamp_ms)


@final
class Rebalancer:
    """Queue allocation and queue locks for one consumer group (module docstring)."""

    def __init__(
        self,
        client: ClientInstance,
        group: str,
        *,
        model: MessageModel,
        strategy: AllocateStrategy,
    ) -> None:
        self.client = client
        self.group = group
        self.model = model
        self.strategy = strategy

    async def client_ids(self, topic: str) -> list[str]:
        """The group's client ids, from one broker of ``topic``'s route (Java
        ``findConsumerIdList``); empty when no broker answers."""
        route = self.client.cached_route(topic)
        names = sorted({b.broker_name for b in route.broker_datas}) if route else []
        for name in names:
            addr = self.client.broker_addr(name) or next(
                iter(self.client.broker_addrs(name).values()), None
            )
            if addr is None:
                continue
            cmd = self.client.request(
                RequestCode.GET_CONSUMER_LIST_BY_GROUP,
                GetConsumerListByGroupRequestHeader(consumer_group=self.group),
            )
            try:
                response = await self.client.invoke_checked(addr, cmd)
            except ClientError as exc:
                logger.warning("consumer ids of group %s from %s: %s", self.group, addr, exc)
                continue
            if response.body:
                body = GetConsumerListByGroupResponseBody.from_json(response.body)
                return list(body.consumer_id_list)
        return []

    async def allocate(self, topic: str) -> list[MessageQueue] | None:
        """The queues of ``topic`` this client owns; None when unknown (no route, no ids):
        the caller then keeps what it has."""
        mqs = self.client.subscribe_queues(topic)
        if not mqs:
            try:
                await self.client.topic_route(topic)
            except ClientError as exc:
                logger.debug("rebalance of group %s: no route for %s: %s", self.group, topic, exc)
                return None
            mqs = self.client.subscribe_queues(topic)
            if not mqs:
                return None
        if self.model is MessageModel.BROADCASTING:
            return sorted(mqs)
        cids = await self.client_ids(topic)
        if not cids:
            logger.warning(
                "rebalance of group %s topic %s: no consumer id known", self.group, topic
            )
            return None
        return self.strategy.allocate(self.group, self.client.client_id, mqs, cids)

    # ------------------------------------------------------------------ locks

    @staticmethod
    def _by_broker(mqs: Iterable[MessageQueue]) -> dict[str, list[MessageQueue]]:
        grouped: dict[str, list[MessageQueue]] = defaultdict(list)
        for mq in mqs:
            grouped[mq.broker_name].append(mq)
        return grouped

    async def lock(self, mqs: Sequence[MessageQueue]) -> set[MessageQueue]:
        """LOCK_BATCH_MQ ``mqs`` on their brokers; the queues locked for this client."""
        locked: set[MessageQueue] = set()
        for broker_name, group_mqs in self._by_broker(mqs).items():
            addr = self.client.broker_addr(broker_name)
            if addr is None:
                continue
            body = LockBatchRequestBody(
                consumer_group=self.group, client_id=self.client.client_id, mq_set=tuple(group_mqs)
            )
            cmd = self.client.request(
                RequestCode.LOCK_BATCH_MQ, LockBatchMqRequestHeader(), body=body.to_json()
            )
            try:
                response = await self.client.invoke(addr, cmd, timeout=_LOCK_TIMEOUT)
                check_response(addr, cmd, response)
            except ClientError as exc:
                logger.warning("LOCK_BATCH_MQ of group %s to %s: %s", self.group, addr, exc)
                continue
            if response.body:
                locked |= set(LockBatchResponseBody.from_json(response.body).lock_ok_mq_set)
        return locked

    async def unlock(self, mqs: Sequence[MessageQueue]) -> None:
        """UNLOCK_BATCH_MQ ``mqs`` (oneway; errors logged)."""
        for broker_name, group_mqs in self._by_broker(mqs).items():
            addr = self.client.broker_addr(broker_name)
            if addr is None:
                continue
            body = UnlockBatchRequestBody(
                consumer_group=self.group, client_id=self.client.client_id, mq_set=tuple(group_mqs)
            )
            cmd = self.client.request(
                RequestCode.UNLOCK_BATCH_MQ, UnlockBatchMqRequestHeader(), body=body.to_json()
            )
            try:
                await self.client.invoke(addr, cmd, timeout=_LOCK_TIMEOUT)
            except ClientError as exc:
                logger.info("UNLOCK_BATCH_MQ of group %s to %s: %s", self.group, addr, exc)
