"""PushConsumer: pulls in the background and calls your listener (Java ``DefaultMQPushConsumer``).

::

    async def on_messages(messages: list[ReceivedMessage]) -> ConsumeResult:
        for msg in messages:
            print(msg.topic, msg.queue_offset, msg.body)
        return ConsumeResult.SUCCESS

    consumer = PushConsumer("my-group", namesrv_addr="127.0.0.1:9876", listener=on_messages)
    consumer.subscribe("TopicTest", "TagA || TagB")
    async with consumer:          # start() ... aclose()
        await asyncio.sleep(60)

How it works (Java's design, asyncio's tools):

* **Rebalance** (at start, every 20 s via the client instance, and at once on
  NOTIFY_CONSUMER_IDS_CHANGED): the allocation strategy picks this client's queues;
  a new queue starts at the stored offset or per ``consume_from``; a queue taken away is
  dropped and its offset persisted (orderly: unlocked).
* **Pulling**: one task per owned queue, long polling (``suspendTimeoutMillis`` 15 s),
  ``pull_batch_size`` 32; per-queue flow control at ``pull_threshold_for_queue`` (1,000
  messages), ``pull_threshold_size_for_queue`` (100 MiB) and, concurrent only,
  ``consume_concurrently_max_span`` (2,000 offsets). ``pull_threshold_for_topic`` /
  ``pull_threshold_size_for_topic`` (off, -1, by default) replace the two per-queue
  limits after each rebalance by the topic limit divided by the number of queues held
  (at least 1), as Java's do.
* **Concurrent listener**: ``consume_concurrency`` worker tasks (Java's 20 consume
  threads) call ``listener`` with up to ``consume_batch_size`` messages. The listener is
  an ``async def`` or a plain function (plain functions run on the event loop: keep them
  short). It returns :attr:`ConsumeResult.SUCCESS` or
  :attr:`ConsumeResult.RECONSUME_LATER`; an exception or any other value counts as
  RECONSUME_LATER (as Java treats exceptions and null). Failed messages of a clustering
  consumer go back to the broker with CONSUMER_SEND_MSG_BACK (delay level 0: the broker
  decides; DLQ after ``max_reconsume_times``, 16); if that fails they are re-sent to
  ``%RETRY%<group>`` as Java does; if that fails too they are consumed again here after
  5 s. Broadcasting consumers drop failed messages (logged), as Java does.
  The committed offset of a queue is its lowest offset still being consumed.
* **Consume timeout** (concurrent only; Java ``cleanExpireMsg``): every
  ``consume_timeout`` seconds (15 minutes, Java's ``consumeTimeout``), per queue, while
  the lowest offset still held is a message whose listener call began more than
  ``consume_timeout`` ago (at most 16 per queue and round), that message is sent back
  (CONSUMER_SEND_MSG_BACK, delay level 3, else re-sent to ``%RETRY%<group>``) and
  removed, so the queue's offset can move on. The stuck call is not cancelled; if it
  later fails, the message is not sent back a second time. Messages not yet handed to
  the listener never expire. A message can therefore stay stuck for up to twice
  ``consume_timeout`` before it is sent back, as in Java.
* **Orderly listener** (``orderly=True``): one consumer at a time per queue, in offset
  order; clustering consumers hold the broker's queue lock (LOCK_BATCH_MQ, renewed every
  20 s, trusted for 30 s). SUSPEND_CURRENT_QUEUE_A_MOMENT retries the same messages after
  ``suspend_current_queue_time`` (1 s) until ``max_reconsume_times`` (unbounded by
  default), then sends them to ``%RETRY%<group>``, which the broker turns into the DLQ.
* **Offsets**: clustering on the broker (every 5 s, piggy-backed on pulls, and at
  shutdown), broadcasting in ``~/.rocketmq_offsets/<clientId>/<group>/offsets.json``.
* **Shutdown** (:meth:`aclose`): stops pulling, lets listener calls in progress finish
  (up to ``await_termination`` seconds, then cancels them), persists offsets, unlocks
  queues, unregisters. Every message whose listener call returned is committed, also
  when a later call for the same pulled batch was cancelled; messages pulled but not yet
  handed to the listener, or whose call was cancelled, are not committed and will be
  delivered again (at least once).

Not implemented (Java has them): the
``MIN_OFFSET``/``MAX_OFFSET`` properties on received messages, and
``ConsumeConcurrentlyContext.ackIndex`` (a batch succeeds or fails as a whole).
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Final, Self, TypeAlias, final

from rmq_client._instance import (
    CLIENT_INNER_PRODUCER_GROUP,
    DEFAULT_TOPIC,
    ClientConfig,
    ClientInstance,
)
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
)
from rmq_client.consumer._process_queue import REBALANCE_LOCK_INTERVAL, ProcessQueue, Run
from rmq_client.consumer._pull import (
    Puller,
    PullStatus,
    build_subscription,
    build_sys_flag,
)
from rmq_client.consumer._rebalance import RETRY_PREFIX, Rebalancer
from rmq_client.errors import ClientClosedError, ClientError
from rmq_client.trace._dispatcher import TraceDispatcher, wrap_listener
from rmq_protocol.codec import properties as props
from rmq_protocol.codec.body import (
    ConsumeFromWhere,
    ConsumeType,
    MessageModel,
    MessageQueue,
    SubscriptionData,
)
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.headers import (
    ConsumerSendMsgBackRequestHeader,
    SendMessageRequestHeaderV2,
)
from rmq_protocol.codec.message import MessageExt
from rmq_protocol.errors import ProtocolError

__all__ = [
    "ConcurrentListener",
    "ConsumeOrderlyResult",
    "ConsumeResult",
    "OrderlyListener",
    "PushConsumer",
]

logger = logging.getLogger(__name__)

PULL_DELAY_ON_EXCEPTION: Final = 3.0  # seconds (Java pullTimeDelayMillsWhenException)
PULL_DELAY_ON_SUSPEND: Final = 1.0  # seconds a paused consumer waits between checks
RETRY_LOCAL_DELAY: Final = 5.0  # seconds before re-consuming a message not sent back
LOCK_RETRY_DELAY: Final = 3.0  # seconds before an orderly queue tries its lock again
BROKER_SUSPEND_MAX: Final = 15.0  # seconds (BROKER_SUSPEND_MAX_TIME_MILLIS)
PULL_TIMEOUT_WHEN_SUSPEND: Final = 30.0  # seconds (CONSUMER_TIMEOUT_MILLIS_WHEN_SUSPEND)
SEND_BACK_TIMEOUT: Final = 3.0  # seconds
CONSUME_TIMEOUT: Final = 15 * 60.0  # seconds (Java consumeTimeout, 15 minutes)
EXPIRED_DELAY_LEVEL: Final = 3  # delay level of a message sent back for its timeout (Java)
EXPIRE_MAX_PER_QUEUE: Final = 16  # messages sent back per queue and round (Java)
DEFAULT_MAX_RECONSUME: Final = 16
MISSING_ROUTE_FIRST_DELAY: Final = 0.5  # seconds before rebalancing again without a route
MISSING_ROUTE_MAX_DELAY: Final = 20.0
_ORDERLY_UNBOUNDED: Final = 2**31 - 1


class ConsumeResult(enum.Enum):
    """What a concurrent listener returns (Java ``ConsumeConcurrentlyStatus``)."""

    SUCCESS = "CONSUME_SUCCESS"
    RECONSUME_LATER = "RECONSUME_LATER"


class ConsumeOrderlyResult(enum.Enum):
    """What an orderly listener returns (Java ``ConsumeOrderlyStatus``)."""

    SUCCESS = "SUCCESS"
    SUSPEND_CURRENT_QUEUE_A_MOMENT = "SUSPEND_CURRENT_QUEUE_A_MOMENT"


ConcurrentListener: TypeAlias = Callable[
    [list[MessageExt]], "ConsumeResult | Awaitable[ConsumeResult]"
]
OrderlyListener: TypeAlias = Callable[
    [list[MessageExt]], "ConsumeOrderlyResult | Awaitable[ConsumeOrderlyResult]"
]


@dataclasses.dataclass(slots=True, eq=False)
class _Queue:
    """One owned queue: its process queue, pull task and flow-control signal."""

    mq: MessageQueue
    pq: ProcessQueue
    next_offset: int
    space: asyncio.Event
    lock: asyncio.Lock  # orderly: one consumer of the queue at a time
    task: asyncio.Task[None] | None = None


# (messages, their queue, what ProcessQueue.put returned when they are one whole pull)
_Work: TypeAlias = "tuple[list[MessageExt], _Queue, Run | None] | None"


def _reset_retry_topic(msgs: list[MessageExt], retry_topic: str) -> list[MessageExt]:
    """Messages from ``%RETRY%group`` get their original topic back (Java
    ``resetRetryAndNamespace``)."""
    out = msgs
    for i, msg in enumerate(msgs):
        if msg.topic == retry_topic:
            original = msg.properties.get(props.RETRY_TOPIC)
            if original:
                if out is msgs:
                    out = list(msgs)
                out[i] = dataclasses.replace(msg, topic=original)
    return out


@final
class PushConsumer(ConsumerBase):
    """A push consumer group member (module docstring). Use from one event loop."""

    def __init__(
        self,
        group: str,
        *,
        namesrv_addr: str | None = None,
        config: ClientConfig | None = None,
        listener: ConcurrentListener | OrderlyListener | None = None,
        orderly: bool = False,
        message_model: MessageModel = MessageModel.CLUSTERING,
        consume_from: ConsumeFromWhere = ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET,
        consume_timestamp: float | None = None,
        allocate_strategy: AllocateStrategy | None = None,
        consume_concurrency: int = 20,
        consume_batch_size: int = 1,
        pull_batch_size: int = 32,
        pull_threshold_for_queue: int = 1000,
        pull_threshold_size_for_queue: int = 100 * 1024 * 1024,
        pull_threshold_for_topic: int = -1,
        pull_threshold_size_for_topic: int = -1,
        consume_concurrently_max_span: int = 2000,
        max_reconsume_times: int = -1,
        suspend_current_queue_time: float = 1.0,
        post_subscription_when_pull: bool = False,
        offset_store_dir: Path | None = None,
        await_termination: float = 30.0,
        consume_timeout: float = CONSUME_TIMEOUT,
        enable_trace: bool = False,
        trace_topic: str | None = None,
    ) -> None:
        """
        Args:
            group: the consumer group.
            namesrv_addr: NameServer addresses (``"host:port;host:port"``), or give ``config``.
            config: client settings (instance name, timeouts, intervals).
            listener: called with received messages; see the module docstring.
            orderly: the listener is an orderly one (returns ConsumeOrderlyResult).
            message_model: CLUSTERING (queues shared by the group) or BROADCASTING.
            consume_from: where a group without stored offset starts.
            consume_timestamp: for CONSUME_FROM_TIMESTAMP, seconds since the epoch
                (default: 30 minutes ago, as Java).
            allocate_strategy: how queues are shared (default averagely).
            consume_concurrency: concurrent listener calls (Java consumeThreadMax, 20).
            consume_batch_size: most messages per listener call (Java 1).
            pull_batch_size: most messages per pull (Java 32).
            pull_threshold_for_queue: messages held per queue before pulling pauses.
            pull_threshold_size_for_queue: body bytes held per queue before pulling pauses.
            pull_threshold_for_topic: messages held by this consumer (all its queues)
                before pulling pauses; -1 (default) is off. When set, after each
                rebalance ``pull_threshold_for_queue`` becomes this divided by the number
                of queues held (at least 1), as Java's ``pullThresholdForTopic``.
            pull_threshold_size_for_topic: the same for body bytes (Java counts MiB, we
                count bytes); -1 (default) is off; when set it overrides
                ``pull_threshold_size_for_queue`` the same way.
            consume_concurrently_max_span: offset span held per queue before pulling pauses.
            max_reconsume_times: deliveries before the DLQ; -1 is 16 (concurrent) or
                unbounded (orderly), as Java.
            suspend_current_queue_time: seconds an orderly queue waits after a failure.
            post_subscription_when_pull: send the expression with every pull (flag 0x4).
            offset_store_dir: directory of broadcasting offsets (``~/.rocketmq_offsets``).
            await_termination: seconds :meth:`aclose` waits for listener calls.
            consume_timeout: seconds after which a message whose (concurrent) listener
                call has not returned is sent back (Java consumeTimeout, 15 minutes).
            enable_trace: write trace records around each listener call (:mod:`rmq_client.trace`).
            trace_topic: where trace records go (default RMQ_SYS_TRACE_TOPIC).

        Raises:
            ValueError: a bad option value.
        """
        self._opts = ConsumerOptions.build(
            group, namesrv_addr=namesrv_addr, config=config, message_model=message_model,
            consume_from=consume_from, consume_timestamp=consume_timestamp,
            allocate_strategy=allocate_strategy, pull_batch_size=pull_batch_size,
            offset_store_dir=offset_store_dir,
        )  # fmt: skip
        for name, value in (
            ("consume_concurrency", consume_concurrency),
            ("consume_batch_size", consume_batch_size),
            ("pull_threshold_for_queue", pull_threshold_for_queue),
        ):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, not {value}")
        for name, value in (
            ("pull_threshold_for_topic", pull_threshold_for_topic),
            ("pull_threshold_size_for_topic", pull_threshold_size_for_topic),
        ):
            if value != -1 and value < 1:
                raise ValueError(f"{name} must be -1 (off) or >= 1, not {value}")
        if not consume_timeout > 0:
            raise ValueError(f"consume_timeout must be > 0 seconds, not {consume_timeout}")
        self._group = group
        self._model = message_model
        self._listener = listener
        self._orderly = orderly
        self._concurrency = consume_concurrency
        self._batch = consume_batch_size
        self._threshold_count = pull_threshold_for_queue
        self._threshold_size = pull_threshold_size_for_queue
        self._threshold_count_topic = pull_threshold_for_topic
        self._threshold_size_topic = pull_threshold_size_for_topic
        self._max_span = consume_concurrently_max_span
        if max_reconsume_times == -1:
            max_reconsume_times = _ORDERLY_UNBOUNDED if orderly else DEFAULT_MAX_RECONSUME
        self._max_reconsume = max_reconsume_times
        self._suspend_time = suspend_current_queue_time
        self._post_subscription = post_subscription_when_pull
        self._await_termination = await_termination
        self._consume_timeout = consume_timeout
        self._trace = (  # message trace (rmq_client.trace): SubBefore/SubAfter records
            TraceDispatcher(self._opts.config, group=group, kind="CONSUME", trace_topic=trace_topic)
            if enable_trace
            else None
        )

        self._subscriptions: dict[str, SubscriptionData] = {}
        self._queues: dict[MessageQueue, _Queue] = {}
        self._session: ConsumerSession | None = None
        self._instance: ClientInstance | None = None
        self._store: OffsetStore | None = None
        self._puller: Puller | None = None
        self._rebalancer: Rebalancer | None = None
        self._work: asyncio.Queue[_Work] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        # Listener calls in progress, per worker: (monotonic start, messages, queue).
        self._calls: dict[int, tuple[float, list[MessageExt], _Queue]] = {}
        self._orderly_tasks: set[asyncio.Task[None]] = set()
        self._service: list[asyncio.Task[None]] = []
        self._later: set[asyncio.TimerHandle] = set()
        self._rebalance_wanted = asyncio.Event()
        self._rebalance_lock = asyncio.Lock()
        self._missing_route_delay = MISSING_ROUTE_FIRST_DELAY
        self._running = False
        self._stopping = False
        self._paused = False
        self._started = False
        self._closed = False
        self.consumed = 0  # messages the listener finished with (any result)
        self.failed = 0  # messages the listener failed (RECONSUME_LATER / exception)

    # ------------------------------------------------------------------ ConsumerHandle

    @property
    def consume_type(self) -> ConsumeType:
        return ConsumeType.CONSUME_PASSIVELY

    @property
    def retry_topic(self) -> str:
        """``%RETRY%<group>``."""
        return RETRY_PREFIX + self._group

    @property
    def client_id(self) -> str:
        """The client id (after :meth:`start`)."""
        if self._instance is None:
            raise ClientError("the consumer is not started")
        return self._instance.client_id

    def topics(self) -> set[str]:
        return set(self._subscriptions)

    def rebalance_soon(self) -> None:
        """Ask for a rebalance (the client instance calls this)."""
        self._rebalance_wanted.set()

    async def persist_offsets(self) -> None:
        """Commit the offsets of owned queues to the store."""
        if self._store is not None:
            await self._store.persist_all(list(self._queues))

    async def reset_offsets(self, topic: str, offsets: dict[MessageQueue, int]) -> None:
        """RESET_CONSUMER_CLIENT_OFFSET: restart the given queues at the given offsets."""
        store = self._store
        if store is None:
            return
        for mq, offset in offsets.items():
            store.update(mq, offset, increase_only=False)
            await store.persist(mq)
            q = self._queues.pop(mq, None)
            if q is not None:
                self._drop(q)
        self.rebalance_soon()

    def running_info(self) -> dict[str, object]:
        """ConsumerRunningInfo-shaped counters."""
        mq_table = process_queue_table({mq: q.pq for mq, q in self._queues.items()}, self._store)
        return {
            "properties": {
                "consumeOrderly": str(self._orderly).lower(),
                "consumeType": ConsumeType.CONSUME_PASSIVELY.value,
                "messageModel": self._model.value,
                "consumeFromWhere": self._opts.consume_from.value,
                "PROP_CONSUMER_START_TIMESTAMP": str(int(time.time() * 1000)),
            },
            "subscriptionSet": [s.to_value() for s in self._subscriptions.values()],
            "mqTable": mq_table,
            "statusTable": {},
        }

    # ------------------------------------------------------------------ configuration

    def subscribe(self, topic: str, expression: str = "*", *, sql: bool = False) -> None:
        """Subscribe to ``topic``: a tag expression (``"*"``, ``"A || B"``) or, with
        ``sql=True``, an SQL92 expression the broker evaluates on properties.

        Raises:
            ValueError: an empty SQL92 expression.
        """
        sub = build_subscription(topic, expression, expression_type="SQL92" if sql else "TAG")
        self._subscriptions[topic] = sub
        if self._started and not self._closed:
            self.rebalance_soon()

    def unsubscribe(self, topic: str) -> None:
        """Stop consuming ``topic`` (its queues are dropped at the next rebalance)."""
        self._subscriptions.pop(topic, None)
        if self._started:
            self.rebalance_soon()

    def set_listener(
        self, listener: ConcurrentListener | OrderlyListener, *, orderly: bool = False
    ) -> None:
        """Set the listener before :meth:`start`."""
        if self._started:
            raise ClientError("set the listener before start()")
        self._listener = listener
        if orderly != self._orderly and self._max_reconsume in (
            _ORDERLY_UNBOUNDED,
            DEFAULT_MAX_RECONSUME,
        ):
            self._max_reconsume = _ORDERLY_UNBOUNDED if orderly else DEFAULT_MAX_RECONSUME
        self._orderly = orderly

    def pause(self) -> None:
        """Stop pulling (messages already pulled are still consumed)."""
        self._paused = True

    def resume(self) -> None:
        """Pull again after :meth:`pause`."""
        self._paused = False

    @property
    def assigned_queues(self) -> list[MessageQueue]:
        """The queues this consumer currently owns."""
        return sorted(self._queues)

    def offsets(self) -> dict[MessageQueue, int]:
        """The in-memory consumer offsets (next offset to consume, per queue)."""
        return self._store.offsets() if self._store is not None else {}

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Register with the brokers, rebalance and begin consuming.

        Raises:
            ClientError: no listener or no subscription, or started twice.
        """
        if self._started:
            raise ClientError(f"consumer of group {self._group} was already started")
        if self._listener is None:
            raise ClientError("set a listener before start()")
        if not self._subscriptions:
            raise ClientError("subscribe to a topic before start()")
        self._started = True
        self._running = True
        if self._model is MessageModel.CLUSTERING:
            self._subscriptions[self.retry_topic] = build_subscription(self.retry_topic)
        try:
            session = await start_session(self._opts, self, self._subscriptions)
        except BaseException:
            self._running = False
            self._closed = True
            raise
        self._session = session
        instance = self._instance = session.instance
        self._store, self._puller, self._rebalancer = (
            session.store,
            session.puller,
            session.rebalancer,
        )
        if self._trace is not None:  # message trace hook: wraps the listener
            await self._trace.start()
            ok = ConsumeOrderlyResult.SUCCESS if self._orderly else ConsumeResult.SUCCESS
            self._listener = wrap_listener(_started(self._listener), self._trace, self._group, ok)
        loop = asyncio.get_running_loop()
        if not self._orderly:
            self._workers = [
                loop.create_task(self._worker(i), name=f"rmq-consume-{self._group}-{i}")
                for i in range(self._concurrency)
            ]
            self._service.append(
                loop.create_task(self._expire_service(), name=f"rmq-expire-{self._group}")
            )
        self._service.append(
            loop.create_task(self._rebalance_service(), name=f"rmq-rebalance-{self._group}")
        )
        if self._orderly and self._model is MessageModel.CLUSTERING:
            self._service.append(
                loop.create_task(self._lock_service(), name=f"rmq-lock-{self._group}")
            )
        await self._rebalance()
        logger.info(
            "push consumer %s started: client %s, %s, %s",
            self._group,
            instance.client_id,
            self._model.value,
            "orderly" if self._orderly else "concurrent",
        )

    async def aclose(self) -> None:
        """Stop consuming, wait for listener calls in progress, persist offsets, unregister.

        Idempotent.
        """
        if self._closed or not self._started:
            self._closed = True
            return
        self._closed = True
        self._running = False
        self._stopping = True
        for handle in self._later:
            handle.cancel()
        self._later.clear()
        for task in self._service:
            task.cancel()
        pulls = [q.task for q in self._queues.values() if q.task is not None]
        for task in pulls:
            task.cancel()
        await asyncio.gather(*self._service, *pulls, return_exceptions=True)
        # Let listener calls in progress finish; queued work is left (not committed).
        for _ in self._workers:
            self._work.put_nowait(None)
        waiting = [*self._workers, *self._orderly_tasks]
        if waiting:
            _, pending = await asyncio.wait(waiting, timeout=self._await_termination)
            for task in pending:
                task.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)
        instance = _started(self._instance)
        try:
            await self.persist_offsets()
            if self._orderly and self._model is MessageModel.CLUSTERING and self._rebalancer:
                await self._rebalancer.unlock(list(self._queues))
        except (ClientError, ProtocolError) as exc:
            logger.warning("consumer %s: final offset commit failed: %s", self._group, exc)
        for q in self._queues.values():
            q.pq.dropped = True
        if self._trace is not None:
            await self._trace.aclose()
        await instance.unregister_consumer(self._group)
        await instance.release()
        logger.info("push consumer %s closed", self._group)

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

    # ------------------------------------------------------------------ rebalance

    async def _rebalance(self) -> None:
        """Java ``RebalanceImpl.doRebalance``: allocate, drop lost queues, add new ones."""
        async with self._rebalance_lock:
            await self._rebalance_locked()
            self._apply_topic_thresholds()

    def _apply_topic_thresholds(self) -> None:
        """Per-queue thresholds from the per-topic ones (Java ``RebalancePushImpl.
        messageQueueChanged``): the topic value divided by the queues held, at least 1."""
        held = len(self._queues)
        if held == 0:
            return
        count, size = self._threshold_count, self._threshold_size
        if self._threshold_count_topic != -1:
            count = max(1, self._threshold_count_topic // held)
        if self._threshold_size_topic != -1:
            size = max(1, self._threshold_size_topic // held)
        if (count, size) == (self._threshold_count, self._threshold_size):
            return
        logger.info(
            "consumer %s: %d queues held: pull thresholds per queue %d -> %d messages, "
            "%d -> %d bytes",
            self._group, held, self._threshold_count, count, self._threshold_size, size,
        )  # fmt: skip
        self._threshold_count, self._threshold_size = count, size
        for q in self._queues.values():
            q.space.set()  # paused pull loops check the new limits

    @property
    def pull_threshold_for_queue(self) -> int:
        """Messages held per queue before its pulling pauses (derived from
        ``pull_threshold_for_topic`` after each rebalance when that is set)."""
        return self._threshold_count

    @property
    def pull_threshold_size_for_queue(self) -> int:
        """Body bytes held per queue before its pulling pauses (derived from
        ``pull_threshold_size_for_topic`` when that is set)."""
        return self._threshold_size

    async def _rebalance_locked(self) -> None:
        session = _started(self._session)
        rebalancer, store = session.rebalancer, session.store
        if not self._running:
            return
        wanted_by_topic: dict[str, set[MessageQueue]] = {}
        for topic in list(self._subscriptions):
            allocated = await rebalancer.allocate(topic)
            if allocated is not None:
                wanted_by_topic[topic] = set(allocated)
        if len(wanted_by_topic) < len(self._subscriptions):
            # A route is not known yet (typically %RETRY%group, created by our first
            # heartbeat): try again soon rather than at the next 20 s tick, backing off.
            self._rebalance_later()
        else:
            self._missing_route_delay = MISSING_ROUTE_FIRST_DELAY
        for mq, q in list(self._queues.items()):
            wanted = wanted_by_topic.get(mq.topic)
            gone = mq.topic not in self._subscriptions
            if gone or (wanted is not None and mq not in wanted) or q.pq.is_pull_expired():
                del self._queues[mq]
                self._drop(q)
                await store.persist(mq)
                store.remove(mq)
                if self._orderly and self._model is MessageModel.CLUSTERING:
                    await rebalancer.unlock([mq])
                logger.info("consumer %s: dropped %s", self._group, mq.java_string())
        new = sorted(mq for mqs in wanted_by_topic.values() for mq in mqs if mq not in self._queues)
        if not new or not self._running:
            return
        locked: set[MessageQueue] = set(new)
        if self._orderly and self._model is MessageModel.CLUSTERING:
            locked = await rebalancer.lock(new)
        for mq in new:
            if mq not in locked:
                logger.info(
                    "consumer %s: %s not added: its lock is held by another client",
                    self._group,
                    mq.java_string(),
                )
                continue
            try:
                offset = await queue_start_offset(session, self._opts, mq)
            except (ClientError, ProtocolError) as exc:
                logger.warning(
                    "consumer %s: no start offset for %s: %s", self._group, mq.java_string(), exc
                )
                continue
            if not self._is_running():
                return
            pq = ProcessQueue()
            if mq in locked and self._orderly:
                pq.locked = True
                pq.last_lock_time = time.monotonic()
            q = _Queue(mq, pq, offset, asyncio.Event(), asyncio.Lock())
            q.space.set()
            self._queues[mq] = q
            q.task = asyncio.get_running_loop().create_task(
                self._pull_loop(q), name=f"rmq-pull-{mq.topic}-{mq.broker_name}-{mq.queue_id}"
            )
            logger.info(
                "consumer %s: added %s from offset %d", self._group, mq.java_string(), offset
            )

    def _rebalance_later(self) -> None:
        delay = self._missing_route_delay
        self._missing_route_delay = min(delay * 2, MISSING_ROUTE_MAX_DELAY)

        def wake() -> None:
            self._later.discard(handle)
            self.rebalance_soon()

        handle = asyncio.get_running_loop().call_later(delay, wake)
        self._later.add(handle)

    def _is_running(self) -> bool:
        return self._running

    def _drop(self, q: _Queue) -> None:
        q.pq.dropped = True
        q.space.set()
        if q.task is not None and q.task is not asyncio.current_task():
            q.task.cancel()

    async def _lock_service(self) -> None:
        """Orderly clustering: renew the queue locks every 20 s (Java ``lockAll``)."""
        rebalancer = _started(self._rebalancer)
        while True:
            await asyncio.sleep(REBALANCE_LOCK_INTERVAL)
            mqs = list(self._queues)
            if not mqs:
                continue
            locked = await rebalancer.lock(mqs)
            now = time.monotonic()
            for mq in mqs:
                q = self._queues.get(mq)
                if q is None:
                    continue
                q.pq.locked = mq in locked
                if mq in locked:
                    q.pq.last_lock_time = now
                    if q.pq.has_messages():
                        self._submit_orderly(q)

    # ------------------------------------------------------------------ pulling

    async def _pull_loop(self, q: _Queue) -> None:
        puller, store = _started(self._puller), _started(self._store)
        pq, mq = q.pq, q.mq
        clustering = self._model is MessageModel.CLUSTERING
        while self._running and not pq.dropped:
            if self._paused:
                await asyncio.sleep(PULL_DELAY_ON_SUSPEND)
                continue
            if (
                pq.msg_count > self._threshold_count
                or pq.msg_size > self._threshold_size
                or (not self._orderly and pq.max_span > self._max_span)
            ):
                q.space.clear()
                await q.space.wait()
                continue
            if self._orderly and clustering and not pq.locked:
                await asyncio.sleep(LOCK_RETRY_DELAY)
                continue
            sub = self._subscriptions.get(mq.topic)
            if sub is None:
                return
            commit = store.offset(mq) if clustering else -1
            flag = build_sys_flag(
                commit_offset=commit > 0,
                suspend=True,
                subscription=self._post_subscription and not sub.class_filter_mode,
                class_filter=sub.class_filter_mode,
            )
            try:
                result = await puller.pull(
                    mq,
                    sub,
                    offset=q.next_offset,
                    max_nums=self._opts.pull_batch_size,
                    sys_flag=flag,
                    commit_offset=max(commit, 0),
                    suspend_timeout=BROKER_SUSPEND_MAX,
                    timeout=PULL_TIMEOUT_WHEN_SUSPEND,
                )
            except ClientClosedError:
                return
            except (ClientError, ProtocolError) as exc:
                if not self._is_running():
                    return
                logger.warning(
                    "consumer %s: pull of %s failed: %s", self._group, mq.java_string(), exc
                )
                await asyncio.sleep(PULL_DELAY_ON_EXCEPTION)
                continue
            if pq.is_dropped():
                return
            pq.last_pull_time = time.monotonic()
            status = result.status
            if status is PullStatus.FOUND:
                q.next_offset = result.next_begin_offset
                msgs = result.messages
                if msgs:
                    run = pq.put(msgs, broker_max_offset=result.max_offset)
                    if self._orderly:
                        self._submit_orderly(q)
                    else:
                        self._dispatch(msgs, q, run)
                elif not pq.has_messages():
                    store.update(mq, q.next_offset)
            elif status is PullStatus.OFFSET_ILLEGAL:
                logger.warning(
                    "consumer %s: offset %d of %s is illegal; moving to %d",
                    self._group, q.next_offset, mq.java_string(), result.next_begin_offset,
                )  # fmt: skip
                pq.dropped = True
                store.update(mq, result.next_begin_offset, increase_only=False)
                await store.persist(mq)
                if self._queues.get(mq) is q:
                    del self._queues[mq]
                self.rebalance_soon()
                return
            else:  # NO_NEW_MSG, NO_MATCHED_MSG
                q.next_offset = result.next_begin_offset
                if not pq.has_messages():
                    store.update(mq, q.next_offset)

    # ------------------------------------------------------------------ concurrent

    def _dispatch(self, msgs: list[MessageExt], q: _Queue, run: Run | None) -> None:
        work = self._work
        step = self._batch
        if work.qsize() > 0 or len(msgs) <= step or self._listener_is_sync():
            # Keep the pulled batch whole when the workers are busy anyway, or when the
            # listener is a plain function: it runs on the loop, so splitting the batch
            # across workers would add queue hops and no concurrency.
            work.put_nowait((msgs, q, run))
            return
        parts = min(self._concurrency, -(-len(msgs) // step))
        size = -(-len(msgs) // parts)
        size = -(-size // step) * step
        for i in range(0, len(msgs), size):
            work.put_nowait((msgs[i : i + size], q, None))

    def _listener_is_sync(self) -> bool:
        listener = self._listener
        return listener is not None and not inspect.iscoroutinefunction(
            getattr(listener, "__call__", None)  # noqa: B004 - an async __call__ method
            if not inspect.isfunction(listener)
            else listener
        )

    async def _settle(self, result: Awaitable[object], msgs: list[MessageExt]) -> object:
        try:
            return await result
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("listener of group %s failed on %d messages", self._group, len(msgs))
            return None

    async def _call(self, msgs: list[MessageExt]) -> object:
        listener = _started(self._listener)
        try:
            result = listener(msgs)
            if inspect.isawaitable(result):
                result = await result
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception(
                "listener of group %s failed on %d messages (first %s)",
                self._group, len(msgs), msgs[0].msg_id,
            )  # fmt: skip
            return None
        return result

    async def _worker(self, wid: int) -> None:
        """One of ``consume_concurrency`` workers: takes work items (one pull's messages,
        or a share of them) and calls the listener with ``consume_batch_size`` at a time.

        Each chunk is settled (committed, or sent back when it failed) as soon as its call
        returns, as each chunk is its own ConsumeRequest in Java: a later call of the same
        item that hangs (consume timeout) or that :meth:`aclose` cancels then holds back
        only its own messages, not the ones already consumed.
        """
        work, batch = self._work, self._batch
        calls, monotonic = self._calls, time.monotonic
        retry_topic = self.retry_topic
        success = ConsumeResult.SUCCESS
        sync = self._listener if self._listener_is_sync() else None
        while True:
            item = await work.get()
            if item is None or self._stopping:
                return
            msgs, q, run = item
            if q.pq.dropped:
                continue
            msgs = _reset_retry_topic(msgs, retry_topic) if q.mq.topic == retry_topic else msgs
            if sync is None:
                for i in range(0, len(msgs), batch):
                    chunk = msgs[i : i + batch] if len(msgs) > batch else msgs
                    calls[wid] = (monotonic(), chunk, q)
                    try:
                        ok = await self._call(chunk) is success
                    finally:
                        del calls[wid]
                    whole = run if chunk is msgs else None
                    await self._settle_chunk(chunk, [] if ok else chunk, q, whole)
                    if q.pq.is_dropped():
                        break
                continue
            # Fast path for a plain-function listener (the common no-I/O case): it runs on
            # the loop, so nothing can look at the queue between its calls; settle the
            # whole item at once, or the part before a call that returned an awaitable.
            failed: list[MessageExt] = []
            settled = 0
            result: object
            for i in range(0, len(msgs), batch):
                chunk = msgs[i : i + batch] if len(msgs) > batch else msgs
                try:
                    result = sync(chunk)
                except Exception:
                    logger.exception("listener of group %s failed", self._group)
                    result = None
                if result is not success:
                    if inspect.isawaitable(result):
                        if i > settled:
                            await self._settle_chunk(msgs[settled:i], failed, q)
                            failed, settled = [], i
                        calls[wid] = (monotonic(), chunk, q)
                        try:
                            result = await self._settle(result, chunk)
                        finally:
                            del calls[wid]
                    if result is not success:
                        failed.extend(chunk)
            if settled:
                await self._settle_chunk(msgs[settled:], failed, q)
            else:
                await self._settle_chunk(msgs, failed, q, run)

    async def _settle_chunk(
        self, msgs: list[MessageExt], failed: list[MessageExt], q: _Queue, run: Run | None = None
    ) -> None:
        """After the listener returned for ``msgs``: send ``failed`` back, forget the rest
        and commit the queue's new offset (Java ``processConsumeResult``)."""
        self.consumed += len(msgs)
        pq = q.pq
        if pq.dropped:
            return
        keep: list[MessageExt] = []
        if failed:
            self.failed += len(failed)
            # A message sent back for its consume timeout is no longer held.
            failed = [m for m in failed if m in pq]
            keep = await self._handle_failed(failed, q) if failed else []
        if keep:
            kept = {id(m) for m in keep}
            done = [m for m in msgs if id(m) not in kept]
        else:
            done = msgs
        offset = pq.remove(done, run=run if done is msgs else None)
        if offset >= 0 and not pq.dropped:
            _started(self._store).update(q.mq, offset)
        if not q.space.is_set() and pq.msg_count <= self._threshold_count // 2:
            q.space.set()
        if keep:
            self._consume_later(keep, q)

    async def _expire_service(self) -> None:
        """Java ``cleanExpireMsg``, every ``consume_timeout`` seconds (module docstring)."""
        while True:
            await asyncio.sleep(self._consume_timeout)
            try:
                await self.clean_expired_messages()
            except (ClientError, ProtocolError) as exc:
                logger.warning("consumer %s: consume timeout check failed: %s", self._group, exc)

    async def clean_expired_messages(self) -> int:
        """Send back and drop the messages past ``consume_timeout`` (see the module
        docstring); the number sent back. The consumer runs this every
        ``consume_timeout`` seconds."""
        store = _started(self._store)
        sent = 0
        for q in list(self._queues.values()):
            pq = q.pq
            for _ in range(min(pq.msg_count, EXPIRE_MAX_PER_QUEUE)):
                head = pq.min_offset()
                msg = self._expired_call(q, head) if head is not None else None
                if msg is None or pq.dropped or not self._running:
                    break
                if not await self.send_back(msg, q.mq.broker_name, delay_level=EXPIRED_DELAY_LEVEL):
                    break  # neither sent back nor re-sent: keep it (offset stays)
                sent += 1
                logger.info(
                    "consumer %s: message %s of %s (offset %d) consumed for more than %g s; "
                    "sent back",
                    self._group, msg.msg_id, q.mq.java_string(), msg.queue_offset,
                    self._consume_timeout,
                )  # fmt: skip
                if pq.min_offset() == msg.queue_offset and not pq.dropped:
                    offset = pq.remove([msg])
                    if offset >= 0:
                        store.update(q.mq, offset)
                    if not q.space.is_set() and pq.msg_count <= self._threshold_count // 2:
                        q.space.set()
        return sent

    def _expired_call(self, q: _Queue, offset: int) -> MessageExt | None:
        """The message at ``offset`` of ``q`` if a listener call holding it began more
        than ``consume_timeout`` ago."""
        deadline = time.monotonic() - self._consume_timeout
        for began, chunk, cq in list(self._calls.values()):
            if cq is q and began < deadline:
                for msg in chunk:
                    if msg.queue_offset == offset:
                        return msg
        return None

    async def _handle_failed(self, failed: list[MessageExt], q: _Queue) -> list[MessageExt]:
        """Send failed messages back; the ones that could not be sent back."""
        if self._model is MessageModel.BROADCASTING:
            for msg in failed:
                logger.warning(
                    "consumer %s (broadcasting) drops failed message %s", self._group, msg.msg_id
                )
            return []
        return [m for m in failed if not await self.send_back(m, q.mq.broker_name)]

    def _consume_later(self, msgs: list[MessageExt], q: _Queue) -> None:
        def resubmit() -> None:
            self._later.discard(handle)
            if not q.pq.dropped and self._running:
                self._work.put_nowait((msgs, q, None))

        handle = asyncio.get_running_loop().call_later(RETRY_LOCAL_DELAY, resubmit)
        self._later.add(handle)

    async def send_back(self, msg: MessageExt, broker_name: str, *, delay_level: int = 0) -> bool:
        """Return a failed message to the broker (Java ``sendMessageBack``).

        CONSUMER_SEND_MSG_BACK first; if the broker refuses or cannot be reached, the
        message is sent to ``%RETRY%<group>`` with RECONSUME_TIME + 1 and delay level
        ``3 + reconsume_times``. True if either worked.
        """
        instance = _started(self._instance)
        try:
            addr = instance.broker_addr(broker_name) or str(msg.store_host)
            header = ConsumerSendMsgBackRequestHeader(
                offset=msg.commit_log_offset,
                group=self._group,
                delay_level=delay_level,
                origin_msg_id=msg.msg_id,
                origin_topic=msg.topic,
                unit_mode=False,
                max_reconsume_times=self._max_reconsume,
                bname=broker_name,
            )
            cmd = instance.request(RequestCode.CONSUMER_SEND_MSG_BACK, header)
            response = await instance.invoke(addr, cmd, timeout=SEND_BACK_TIMEOUT)
            if response.code == ResponseCode.SUCCESS:
                return True
            logger.info(
                "consumer %s: CONSUMER_SEND_MSG_BACK to %s answered %d (%s); re-sending to %s",
                self._group, addr, response.code, response.remark, self.retry_topic,
            )  # fmt: skip
        except (ClientError, ProtocolError) as exc:
            logger.info(
                "consumer %s: CONSUMER_SEND_MSG_BACK failed (%s); re-sending", self._group, exc
            )
        return await self._resend_to_retry(
            msg, broker_name, reconsume_times=msg.reconsume_times + 1,
            delay_level=3 + msg.reconsume_times,
        )  # fmt: skip

    async def _resend_to_retry(
        self, msg: MessageExt, broker_name: str, *, reconsume_times: int, delay_level: int
    ) -> bool:
        instance = _started(self._instance)
        retry_topic = self.retry_topic
        properties = dict(msg.properties)
        properties.setdefault(props.ORIGIN_MESSAGE_ID, msg.msg_id)
        properties[props.RETRY_TOPIC] = msg.topic
        properties[props.RECONSUME_TIME] = str(reconsume_times)
        properties[props.MAX_RECONSUME_TIMES] = str(self._max_reconsume)
        properties[props.DELAY_TIME_LEVEL] = str(delay_level)
        properties.pop(props.TRANSACTION_PREPARED, None)
        queues = [
            mq for mq in instance.publish_queues(retry_topic) if mq.broker_name == broker_name
        ]
        queue_id = queues[msg.queue_offset % len(queues)].queue_id if queues else 0
        header = SendMessageRequestHeaderV2(
            producer_group=CLIENT_INNER_PRODUCER_GROUP,
            topic=retry_topic,
            default_topic=DEFAULT_TOPIC,
            default_topic_queue_nums=4,
            queue_id=queue_id,
            sys_flag=0,
            born_timestamp=int(time.time() * 1000),
            flag=msg.flag,
            properties=props.encode_properties(properties),
            reconsume_times=reconsume_times,
            unit_mode=False,
            max_reconsume_times=self._max_reconsume,
        )
        try:
            addr = await instance.find_broker_addr(broker_name)
            cmd = instance.request(RequestCode.SEND_MESSAGE_V2, header, body=msg.body)
            await instance.invoke_checked(addr, cmd, timeout=SEND_BACK_TIMEOUT)
        except (ClientError, ProtocolError) as exc:
            logger.warning(
                "consumer %s: cannot re-send message %s to %s: %s; consuming it again later",
                self._group, msg.msg_id, retry_topic, exc,
            )  # fmt: skip
            return False
        return True

    # ------------------------------------------------------------------ orderly

    def _submit_orderly(self, q: _Queue) -> None:
        pq = q.pq
        if pq.consuming or pq.dropped or self._stopping:
            return
        pq.consuming = True
        task = asyncio.get_running_loop().create_task(
            self._consume_orderly(q), name=f"rmq-orderly-{q.mq.topic}-{q.mq.queue_id}"
        )
        self._orderly_tasks.add(task)
        task.add_done_callback(self._orderly_tasks.discard)

    async def _consume_orderly(self, q: _Queue) -> None:
        """Java ``ConsumeMessageOrderlyService.ConsumeRequest``: one queue, in order."""
        store = _started(self._store)
        pq, mq = q.pq, q.mq
        clustering = self._model is MessageModel.CLUSTERING
        retry_topic = self.retry_topic
        local_retries: dict[int, int] = {}
        try:
            async with q.lock:
                while not pq.dropped and not self._stopping:
                    if clustering and (not pq.locked or pq.is_lock_expired()):
                        pq.consuming = False  # the lock service resubmits once locked
                        return
                    msgs = pq.take(self._batch)
                    if not msgs:
                        return
                    view = [
                        dataclasses.replace(
                            m, reconsume_times=m.reconsume_times + local_retries[m.queue_offset]
                        )
                        if m.queue_offset in local_retries
                        else m
                        for m in msgs
                    ]
                    if mq.topic == retry_topic:
                        view = _reset_retry_topic(view, retry_topic)
                    result = await self._call(view)
                    self.consumed += len(msgs)
                    if pq.is_dropped():
                        return
                    if result is ConsumeOrderlyResult.SUCCESS:
                        for m in msgs:
                            local_retries.pop(m.queue_offset, None)
                        offset = pq.commit()
                        if offset >= 0:
                            store.update(mq, offset, increase_only=False)
                        if not q.space.is_set() and pq.msg_count <= self._threshold_count // 2:
                            q.space.set()
                        continue
                    self.failed += len(msgs)
                    if await self._past_max_reconsume(view, mq, local_retries):
                        offset = pq.commit()  # handed to the retry topic / DLQ
                        if offset >= 0:
                            store.update(mq, offset, increase_only=False)
                        continue
                    for m in msgs:
                        local_retries[m.queue_offset] = local_retries.get(m.queue_offset, 0) + 1
                    pq.reconsume(msgs)
                    await asyncio.sleep(self._suspend_time)
        finally:
            if pq.consuming and not pq.dropped and not self._stopping and pq.has_messages():
                pq.consuming = False
                self._submit_orderly(q)
            else:
                pq.consuming = False

    async def _past_max_reconsume(
        self, view: Sequence[MessageExt], mq: MessageQueue, local_retries: dict[int, int]
    ) -> bool:
        """Java ``checkReconsumeTimes``: True if every message is past the maximum and was
        handed to ``%RETRY%group`` (the broker sends it on to the DLQ)."""
        if any(m.reconsume_times < self._max_reconsume for m in view):
            return False
        for m in view:
            ok = await self._resend_to_retry(
                m,
                mq.broker_name,
                reconsume_times=m.reconsume_times,
                delay_level=3 + m.reconsume_times,
            )
            if not ok:
                return False
        return True
