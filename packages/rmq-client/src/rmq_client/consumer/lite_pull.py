"""PullConsumer: you poll for messages (Java ``DefaultLitePullConsumer``).

::

    consumer = PullConsumer("my-group", namesrv_addr="127.0.0.1:9876")
    consumer.subscribe("TopicTest", "*")          # or: consumer.assign([mq, ...])
    async with consumer:
        while True:
            for msg in await consumer.poll(timeout=5.0):
                handle(msg)

* **subscribe** shares the topic's queues with the group (rebalance as the push
  consumer: strategy, every 20 s, at once when members change); **assign** takes the
  given queues and nothing else (no rebalance). Use one or the other.
* Background tasks pull every owned queue (long polling, the expression sent with each
  pull) into a cache bounded by ``pull_threshold_for_queue`` messages per queue and
  ``pull_threshold_for_all`` overall; :meth:`poll` returns the next cached batch.
* **Offsets**: a message counts as consumed once :meth:`poll` returned it. With
  ``auto_commit`` (default) consumed offsets are committed every
  ``auto_commit_interval`` (5 s) during :meth:`poll` and at :meth:`aclose`; without it
  call :meth:`commit`. Clustering offsets live on the broker, broadcasting ones in the
  local offsets file.
* :meth:`seek`, :meth:`seek_to_begin`, :meth:`seek_to_end`, :meth:`offset_for_timestamp`
  move a queue; :meth:`pause` / :meth:`resume` stop and restart pulling queues.

Use from one event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Final, Self, final

from rmq_client._instance import ClientConfig, ClientInstance
from rmq_client.consumer._allocate import AllocateStrategy
from rmq_client.consumer._common import (
    ConsumerBase,
    ConsumerOptions,
    ConsumerSession,
    process_queue_table,
    queue_start_offset,
    start_session,
)
from rmq_client.consumer._common import started as _started
from rmq_client.consumer._offset_store import (
    OffsetStore,
    ReadOffsetType,
)
from rmq_client.consumer._process_queue import ProcessQueue
from rmq_client.consumer._pull import Puller, PullStatus, build_subscription, build_sys_flag
from rmq_client.consumer._rebalance import (
    Rebalancer,
    max_offset,
    min_offset,
    search_offset,
)
from rmq_client.errors import ClientClosedError, ClientError
from rmq_protocol.codec.body import (
    ConsumeFromWhere,
    ConsumeType,
    MessageModel,
    MessageQueue,
    SubscriptionData,
)
from rmq_protocol.codec.message import MessageExt
from rmq_protocol.errors import ProtocolError

__all__ = ["PullConsumer"]

logger = logging.getLogger(__name__)

BROKER_SUSPEND_MAX: Final = 20.0  # seconds (Java brokerSuspendMaxTimeMillis)
PULL_TIMEOUT: Final = 30.0  # seconds (Java consumerTimeoutMillisWhenSuspend)
PULL_DELAY_ON_EXCEPTION: Final = 1.0  # seconds
PULL_DELAY_PAUSED: Final = 1.0  # seconds between checks of a paused queue


@dataclasses.dataclass(slots=True, eq=False)
class _Queue:
    mq: MessageQueue
    pq: ProcessQueue
    next_offset: int
    space: asyncio.Event
    consumed: int = -1  # next offset after what poll() returned; -1 = nothing yet
    task: asyncio.Task[None] | None = None
    generation: int = 0  # bumped by seek: results of older pulls are dropped


@final
class PullConsumer(ConsumerBase):
    """A lite pull consumer (module docstring)."""

    def __init__(
        self,
        group: str,
        *,
        namesrv_addr: str | None = None,
        config: ClientConfig | None = None,
        message_model: MessageModel = MessageModel.CLUSTERING,
        consume_from: ConsumeFromWhere = ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET,
        consume_timestamp: float | None = None,
        allocate_strategy: AllocateStrategy | None = None,
        auto_commit: bool = True,
        auto_commit_interval: float = 5.0,
        pull_batch_size: int = 10,
        pull_threshold_for_queue: int = 1000,
        pull_threshold_for_all: int = 10000,
        offset_store_dir: Path | None = None,
    ) -> None:
        """
        Args:
            group: the consumer group.
            namesrv_addr: NameServer addresses, or give ``config``.
            config: client settings.
            message_model: CLUSTERING or BROADCASTING (subscribe mode).
            consume_from: where a queue without stored offset starts.
            consume_timestamp: CONSUME_FROM_TIMESTAMP start, seconds since the epoch
                (default 30 minutes ago).
            allocate_strategy: queue sharing in subscribe mode (default averagely).
            auto_commit: commit consumed offsets every ``auto_commit_interval`` seconds.
            pull_batch_size: most messages per pull (Java 10).
            pull_threshold_for_queue: cached messages per queue before pulling pauses.
            pull_threshold_for_all: cached messages overall before pulling pauses.
            offset_store_dir: directory of broadcasting offsets.

        Raises:
            ValueError: a bad option value.
        """
        self._opts = ConsumerOptions.build(
            group, namesrv_addr=namesrv_addr, config=config, message_model=message_model,
            consume_from=consume_from, consume_timestamp=consume_timestamp,
            allocate_strategy=allocate_strategy, pull_batch_size=pull_batch_size,
            offset_store_dir=offset_store_dir,
        )  # fmt: skip
        self._group = group
        self._model = message_model
        self._auto_commit = auto_commit
        self._auto_commit_interval = auto_commit_interval
        self._threshold_queue = pull_threshold_for_queue
        self._threshold_all = pull_threshold_for_all

        self._subscriptions: dict[str, SubscriptionData] = {}
        self._assigned: list[MessageQueue] | None = None
        self._queues: dict[MessageQueue, _Queue] = {}
        self._paused: set[MessageQueue] = set()
        self._cache: deque[tuple[list[MessageExt], _Queue, int]] = deque()
        self._cached = 0
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._session: ConsumerSession | None = None
        self._instance: ClientInstance | None = None
        self._store: OffsetStore | None = None
        self._puller: Puller | None = None
        self._rebalancer: Rebalancer | None = None
        self._rebalance_wanted = asyncio.Event()
        self._rebalance_lock = asyncio.Lock()
        self._service: list[asyncio.Task[None]] = []
        self._next_commit = 0.0
        self._started = False
        self._closed = False

    # ------------------------------------------------------------------ ConsumerHandle

    @property
    def consume_type(self) -> ConsumeType:
        return ConsumeType.CONSUME_ACTIVELY

    def topics(self) -> set[str]:
        topics = set(self._subscriptions)
        if self._assigned:
            topics |= {mq.topic for mq in self._assigned}
        return topics

    def rebalance_soon(self) -> None:
        if self._assigned is None:
            self._rebalance_wanted.set()

    async def persist_offsets(self) -> None:
        if self._store is not None and self._auto_commit:
            await self._store.persist_all(list(self._queues))

    async def reset_offsets(self, topic: str, offsets: dict[MessageQueue, int]) -> None:
        for mq, offset in offsets.items():
            if mq in self._queues:
                self.seek(mq, offset)

    def running_info(self) -> dict[str, object]:
        table = process_queue_table({mq: q.pq for mq, q in self._queues.items()}, self._store)
        return {
            "properties": {
                "consumeType": ConsumeType.CONSUME_ACTIVELY.value,
                "messageModel": self._model.value,
            },
            "subscriptionSet": [s.to_value() for s in self._subscriptions.values()],
            "mqTable": table,
            "statusTable": {},
        }

    # ------------------------------------------------------------------ configuration

    def subscribe(self, topic: str, expression: str = "*", *, sql: bool = False) -> None:
        """Consume ``topic``'s queues shared with the group (see PushConsumer.subscribe).

        Raises:
            ClientError: queues were assigned with :meth:`assign`.
        """
        if self._assigned is not None:
            raise ClientError("subscribe() and assign() cannot be mixed")
        sub = build_subscription(topic, expression, expression_type="SQL92" if sql else "TAG")
        self._subscriptions[topic] = sub
        if self._started:
            self.rebalance_soon()

    def assign(self, mqs: Iterable[MessageQueue], expression: str = "*") -> None:
        """Consume exactly ``mqs`` (no rebalance); ``expression`` filters by tag.

        Raises:
            ClientError: topics were subscribed with :meth:`subscribe`.
        """
        if self._assigned is None and self._subscriptions:
            raise ClientError("subscribe() and assign() cannot be mixed")
        self._assigned = sorted(set(mqs))
        for topic in {mq.topic for mq in self._assigned}:
            self._subscriptions.setdefault(topic, build_subscription(topic, expression))
        if self._started and not self._closed:
            task = asyncio.get_running_loop().create_task(self._apply_assignment())
            self._service.append(task)
            task.add_done_callback(self._service_done)

    def _service_done(self, task: asyncio.Task[None]) -> None:
        if task in self._service:
            self._service.remove(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error("pull consumer %s: assignment failed", self._group, exc_info=exc)

    def assignment(self) -> list[MessageQueue]:
        """The queues currently owned."""
        return sorted(self._queues)

    async def fetch_message_queues(self, topic: str) -> list[MessageQueue]:
        """Every readable queue of ``topic`` (from the NameServer).

        Raises:
            ClientError: the topic has no route.
        """
        instance = _started(self._instance)
        await instance.topic_route(topic, refresh=True)
        return sorted(instance.subscribe_queues(topic))

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Register and begin pulling.

        Raises:
            ClientError: nothing subscribed or assigned, or started twice.
        """
        if self._started:
            raise ClientError(f"consumer of group {self._group} was already started")
        if not self._subscriptions and self._assigned is None:
            raise ClientError("subscribe() or assign() before start()")
        self._started = True
        try:
            session = await start_session(self._opts, self, self.topics())
        except BaseException:
            self._closed = True
            raise
        self._session = session
        self._instance, self._store = session.instance, session.store
        self._puller, self._rebalancer = session.puller, session.rebalancer
        self._next_commit = time.monotonic() + self._auto_commit_interval
        loop = asyncio.get_running_loop()
        if self._assigned is None:
            self._service.append(
                loop.create_task(
                    self._rebalance_service(), name=f"rmq-lite-rebalance-{self._group}"
                )
            )
            await self._rebalance()
        else:
            await self._apply_assignment()

    async def aclose(self) -> None:
        """Stop pulling, commit consumed offsets (auto commit), unregister. Idempotent."""
        if self._closed or not self._started:
            self._closed = True
            return
        self._closed = True
        tasks = [*self._service, *(q.task for q in self._queues.values() if q.task)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        instance = _started(self._instance)
        if self._auto_commit:
            try:
                await self.commit()
            except (ClientError, ProtocolError) as exc:
                logger.warning("pull consumer %s: final commit failed: %s", self._group, exc)
        for q in self._queues.values():
            q.pq.dropped = True
        await instance.unregister_consumer(self._group)
        await instance.release()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ polling

    async def poll(self, timeout: float = 5.0) -> list[MessageExt]:
        """The next batch of messages, or ``[]`` after ``timeout`` seconds without any.

        Raises:
            ClientClosedError: the consumer is closed.
        """
        if self._closed:
            raise ClientClosedError(f"pull consumer of group {self._group} is closed")
        if self._auto_commit and time.monotonic() >= self._next_commit:
            self._next_commit = time.monotonic() + self._auto_commit_interval
            await self.commit()
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            while self._cache:
                msgs, q, generation = self._cache.popleft()
                self._cached -= len(msgs)
                if self._cached < self._threshold_all:
                    self._room.set()
                if q.pq.dropped or generation != q.generation or q.mq in self._paused:
                    if not q.pq.dropped and generation == q.generation:
                        self._cache.appendleft((msgs, q, generation))  # paused: keep it
                        self._cached += len(msgs)
                        break
                    continue
                offset = q.pq.remove(msgs)
                if offset >= 0:
                    q.consumed = offset
                    _started(self._store).update(q.mq, offset, increase_only=False)
                if not q.space.is_set() and q.pq.msg_count <= self._threshold_queue // 2:
                    q.space.set()
                return msgs
            self._arrived.clear()
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return []
            try:
                async with asyncio.timeout(remaining):
                    await self._arrived.wait()
            except TimeoutError:
                return []

    async def commit(self, offsets: dict[MessageQueue, int] | None = None) -> None:
        """Commit ``offsets`` (next offset to consume per queue), or what :meth:`poll`
        returned so far, to the offset store now."""
        store = _started(self._store)
        if offsets is not None:
            for mq, offset in offsets.items():
                store.update(mq, offset, increase_only=False)
            await store.persist_all(list(offsets))
            return
        await store.persist_all(list(self._queues))

    async def committed(self, mq: MessageQueue) -> int:
        """The committed offset of ``mq`` in the store (-1 if none)."""
        return await _started(self._store).read(mq, ReadOffsetType.READ_FROM_STORE)

    # ------------------------------------------------------------------ seeking

    def seek(self, mq: MessageQueue, offset: int) -> None:
        """Consume ``mq`` from ``offset`` next (cached messages of it are dropped).

        Raises:
            ClientError: ``mq`` is not owned by this consumer.
        """
        q = self._queues.get(mq)
        if q is None:
            raise ClientError(f"{mq.java_string()} is not assigned to this consumer")
        q.generation += 1
        q.pq.clear()
        q.next_offset = offset
        q.consumed = offset
        q.space.set()
        _started(self._store).update(mq, offset, increase_only=False)
        if q.task is not None:
            q.task.cancel()
        q.task = self._spawn_pull(q)

    async def seek_to_begin(self, mq: MessageQueue) -> None:
        """Seek to the queue's lowest stored offset."""
        self.seek(mq, await min_offset(_started(self._instance), mq))

    async def seek_to_end(self, mq: MessageQueue) -> None:
        """Seek past the queue's last message."""
        self.seek(mq, await max_offset(_started(self._instance), mq))

    async def offset_for_timestamp(self, mq: MessageQueue, timestamp: float) -> int:
        """The first offset stored at or after ``timestamp`` (seconds since the epoch)."""
        return await search_offset(_started(self._instance), mq, int(timestamp * 1000))

    def pause(self, mqs: Iterable[MessageQueue]) -> None:
        """Stop pulling (and returning) messages of ``mqs``."""
        self._paused |= set(mqs)

    def resume(self, mqs: Iterable[MessageQueue]) -> None:
        """Pull ``mqs`` again after :meth:`pause`."""
        self._paused -= set(mqs)
        if self._cache:
            self._arrived.set()

    # ------------------------------------------------------------------ internals

    def _spawn_pull(self, q: _Queue) -> asyncio.Task[None]:
        mq = q.mq
        return asyncio.get_running_loop().create_task(
            self._pull_loop(q, q.generation),
            name=f"rmq-lite-pull-{mq.topic}-{mq.broker_name}-{mq.queue_id}",
        )

    async def _add(self, mq: MessageQueue) -> None:
        offset = await queue_start_offset(_started(self._session), self._opts, mq)
        q = _Queue(mq, ProcessQueue(), offset, asyncio.Event())
        q.space.set()
        self._queues[mq] = q
        q.task = self._spawn_pull(q)

    async def _remove(self, mq: MessageQueue) -> None:
        store = _started(self._store)
        q = self._queues.pop(mq)
        q.pq.dropped = True
        if q.task is not None:
            q.task.cancel()
        if self._auto_commit:
            await store.persist(mq)
        store.remove(mq)

    async def _apply_assignment(self) -> None:
        wanted = set(self._assigned or [])
        for mq in [m for m in self._queues if m not in wanted]:
            await self._remove(mq)
        for mq in sorted(wanted - set(self._queues)):
            try:
                await self._add(mq)
            except (ClientError, ProtocolError) as exc:
                logger.warning("pull consumer %s: cannot start %s: %s", self._group, mq, exc)

    async def _rebalance(self) -> None:
        async with self._rebalance_lock:
            rebalancer = _started(self._rebalancer)
            wanted: dict[str, set[MessageQueue]] = {}
            for topic in list(self._subscriptions):
                allocated = await rebalancer.allocate(topic)
                if allocated is not None:
                    wanted[topic] = set(allocated)
            for mq in list(self._queues):
                if mq.topic not in self._subscriptions or (
                    mq.topic in wanted and mq not in wanted[mq.topic]
                ):
                    await self._remove(mq)
            for mq in sorted(m for mqs in wanted.values() for m in mqs):
                if mq not in self._queues and not self._closed:
                    try:
                        await self._add(mq)
                    except (ClientError, ProtocolError) as exc:
                        logger.warning(
                            "pull consumer %s: cannot start %s: %s", self._group, mq, exc
                        )

    async def _pull_loop(self, q: _Queue, generation: int) -> None:
        puller, store = _started(self._puller), _started(self._store)
        pq, mq = q.pq, q.mq
        while not self._closed and not pq.dropped and generation == q.generation:
            if mq in self._paused:
                await asyncio.sleep(PULL_DELAY_PAUSED)
                continue
            if pq.msg_count > self._threshold_queue:
                q.space.clear()
                await q.space.wait()
                continue
            if self._cached > self._threshold_all:
                self._room.clear()
                await self._room.wait()
                continue
            sub = self._subscriptions.get(mq.topic)
            if sub is None:
                return
            flag = build_sys_flag(commit_offset=False, suspend=True, subscription=True)
            try:
                result = await puller.pull(
                    mq,
                    sub,
                    offset=q.next_offset,
                    max_nums=self._opts.pull_batch_size,
                    sys_flag=flag,
                    suspend_timeout=BROKER_SUSPEND_MAX,
                    timeout=PULL_TIMEOUT,
                )
            except ClientClosedError:
                return
            except (ClientError, ProtocolError) as exc:
                logger.warning("pull consumer %s: pull of %s failed: %s", self._group, mq, exc)
                await asyncio.sleep(PULL_DELAY_ON_EXCEPTION)
                continue
            if generation != q.generation or pq.is_dropped():
                return
            pq.last_pull_time = time.monotonic()
            q.next_offset = result.next_begin_offset
            if result.status is PullStatus.FOUND and result.messages:
                pq.put(result.messages, broker_max_offset=result.max_offset)
                self._cache.append((result.messages, q, generation))
                self._cached += len(result.messages)
                self._arrived.set()
            elif result.status is PullStatus.OFFSET_ILLEGAL:
                logger.warning(
                    "pull consumer %s: offset of %s illegal; moving to %d",
                    self._group, mq, result.next_begin_offset,
                )  # fmt: skip
                store.update(mq, result.next_begin_offset, increase_only=False)
            elif not pq.has_messages():
                store.update(mq, q.next_offset, increase_only=False)
