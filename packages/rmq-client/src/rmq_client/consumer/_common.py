"""What the push and the lite pull consumer share: options, start-up, start offsets.

* :class:`ConsumerOptions`: the options both take (Java's ``DefaultMQPushConsumer`` and
  ``DefaultLitePullConsumer`` fields of the same names), checked once;
* :func:`start_session`: acquire the client instance, open the offset store of the
  message model (broker for clustering, local file for broadcasting), register the
  consumer, fetch the routes of its topics and send a first heartbeat;
* :func:`queue_start_offset`: where a queue new to the consumer starts (the stored
  offset, else per ``consume_from``; Java ``computePullFromWhereWithException``);
* :func:`process_queue_table`: the ``mqTable`` of a consumer's running info;
* :class:`ConsumerBase`: the ConsumerHandle properties and the rebalance service loop.

Use from the consumer's event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final, Self, TypeVar, final

from rmq_client._instance import ClientConfig, ClientInstance, ConsumerHandle, check_group
from rmq_client.consumer._allocate import AllocateAveragely, AllocateStrategy
from rmq_client.consumer._offset_store import (
    LocalFileOffsetStore,
    OffsetStore,
    RemoteOffsetStore,
)
from rmq_client.consumer._process_queue import ProcessQueue
from rmq_client.consumer._pull import Puller
from rmq_client.consumer._rebalance import Rebalancer, start_offset
from rmq_client.errors import ClientError
from rmq_protocol.codec.body import (
    ConsumeFromWhere,
    MessageModel,
    MessageQueue,
    SubscriptionData,
)
from rmq_protocol.errors import ProtocolError

__all__ = [
    "ConsumerBase",
    "ConsumerOptions",
    "ConsumerSession",
    "process_queue_table",
    "queue_start_offset",
    "start_session",
    "started",
]

logger = logging.getLogger(__name__)

DEFAULT_TIMESTAMP_AGE: Final = 1800.0  # seconds: CONSUME_FROM_TIMESTAMP default, 30 min ago

_T = TypeVar("_T")


def started(value: _T | None) -> _T:
    """``value``, or ClientError when the consumer has not started (it is None).

    Raises:
        ClientError: ``value`` is None.
    """
    if value is None:
        raise ClientError("the consumer is not started")
    return value


@final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ConsumerOptions:
    """Options common to the push and the lite pull consumer (see :meth:`build`)."""

    group: str
    config: ClientConfig
    message_model: MessageModel
    consume_from: ConsumeFromWhere
    consume_timestamp_ms: int  # CONSUME_FROM_TIMESTAMP start, milliseconds since the epoch
    allocate_strategy: AllocateStrategy
    pull_batch_size: int  # most messages per pull
    offset_store_dir: Path | None  # broadcasting offsets (None: ~/.rocketmq_offsets)

    @classmethod
    def build(
        cls,
        group: str,
        *,
        namesrv_addr: str | None,
        config: ClientConfig | None,
        message_model: MessageModel,
        consume_from: ConsumeFromWhere,
        consume_timestamp: float | None,
        allocate_strategy: AllocateStrategy | None,
        pull_batch_size: int,
        offset_store_dir: Path | None,
    ) -> Self:
        """Check and complete the options as both consumers' constructors take them.

        ``consume_timestamp`` is in seconds since the epoch (None: 30 minutes ago, as
        Java); ``allocate_strategy`` None is averagely.

        Raises:
            ValueError: not exactly one of ``namesrv_addr`` and ``config``, a bad group
                name, or ``pull_batch_size`` below 1.
        """
        if (namesrv_addr is None) == (config is None):
            raise ValueError("give exactly one of namesrv_addr and config")
        check_group(group, what="consumer group")
        if pull_batch_size < 1:
            raise ValueError(f"pull_batch_size must be >= 1, not {pull_batch_size}")
        ts = consume_timestamp
        if ts is None:
            ts = time.time() - DEFAULT_TIMESTAMP_AGE
        return cls(
            group=group,
            config=config if config is not None else ClientConfig(namesrv_addr=namesrv_addr or ""),
            message_model=message_model,
            consume_from=consume_from,
            consume_timestamp_ms=int(ts * 1000),
            allocate_strategy=allocate_strategy or AllocateAveragely(),
            pull_batch_size=pull_batch_size,
            offset_store_dir=offset_store_dir,
        )


@final
@dataclasses.dataclass(frozen=True, slots=True)
class ConsumerSession:
    """What a started consumer works with."""

    instance: ClientInstance
    store: OffsetStore
    puller: Puller
    rebalancer: Rebalancer


async def start_session(
    options: ConsumerOptions, consumer: ConsumerHandle, topics: Iterable[str]
) -> ConsumerSession:
    """Acquire and start the client instance, open the offset store, register
    ``consumer``, fetch the routes of ``topics`` (a missing one is logged: the rebalance
    tries again) and send a heartbeat. On failure the instance is released.

    Raises:
        ClientError: the instance is closed, or ``consumer``'s group is already
            registered on it.
    """
    instance = ClientInstance.acquire(options.config)
    try:
        await instance.start()
        store: OffsetStore
        if options.message_model is MessageModel.CLUSTERING:
            store = RemoteOffsetStore(instance, options.group)
        else:
            store = LocalFileOffsetStore(
                instance.client_id, options.group, base_dir=options.offset_store_dir
            )
        await store.load()
        session = ConsumerSession(
            instance,
            store,
            Puller(instance, options.group),
            Rebalancer(
                instance,
                options.group,
                model=options.message_model,
                strategy=options.allocate_strategy,
            ),
        )
        instance.register_consumer(options.group, consumer)
        for topic in list(topics):
            try:
                await instance.topic_route(topic, refresh=True)
            except ClientError as exc:
                logger.warning(
                    "consumer %s: no route for topic %s yet: %s", options.group, topic, exc
                )
        await instance.send_heartbeat_to_all_brokers()
    except BaseException:
        await instance.release()
        raise
    return session


async def queue_start_offset(
    session: ConsumerSession, options: ConsumerOptions, mq: MessageQueue
) -> int:
    """The offset a queue new to this consumer starts at: its stored offset, else per
    ``options.consume_from`` (the in-memory offset is forgotten first).

    Raises:
        ClientError, ProtocolError: the broker could not be asked.
    """
    session.store.remove(mq)
    return await start_offset(
        session.instance, session.store, mq, options.consume_from, options.consume_timestamp_ms
    )


def process_queue_table(
    queues: Mapping[MessageQueue, ProcessQueue], store: OffsetStore | None
) -> dict[object, object]:
    """The running info's ``mqTable``: each queue's ProcessQueueInfo and commit offset."""
    offsets = store.offsets() if store is not None else {}
    table: dict[object, object] = {}
    for mq, pq in queues.items():
        info = pq.info()
        info["commitOffset"] = offsets.get(mq, -1)
        table[mq.to_key()] = info
    return table


class ConsumerBase:
    """What PushConsumer and PullConsumer share of the ConsumerHandle protocol, and their
    rebalance service (a rebalance whenever :attr:`_rebalance_wanted` is set)."""

    _opts: ConsumerOptions
    _subscriptions: dict[str, SubscriptionData]
    _rebalance_wanted: asyncio.Event

    @property
    def group(self) -> str:
        """The consumer group."""
        return self._opts.group

    @property
    def message_model(self) -> MessageModel:
        return self._opts.message_model

    @property
    def consume_from_where(self) -> ConsumeFromWhere:
        return self._opts.consume_from

    @property
    def unit_mode(self) -> bool:
        return False

    def subscriptions(self) -> list[SubscriptionData]:
        """The subscriptions sent in heartbeats."""
        return list(self._subscriptions.values())

    async def _rebalance(self) -> None:
        raise NotImplementedError

    async def _rebalance_service(self) -> None:
        while True:
            await self._rebalance_wanted.wait()
            self._rebalance_wanted.clear()
            try:
                await self._rebalance()
            except (ClientError, ProtocolError) as exc:
                logger.warning("rebalance of group %s failed: %s", self._opts.group, exc)
