"""Trace dispatcher: ships trace records to the trace topic in the background (Java
``AsyncTraceDispatcher``), and the producer/consumer hooks that make the records.

One :class:`TraceDispatcher` per traced client. Its hooks only build a record and
``put_nowait`` it into a bounded queue (``queue_size``, 2048 as Java): they never
await, never raise into the user's send or listener, and count what they drop
(:attr:`TraceDispatcher.dropped`). A task owned by the dispatcher takes what is queued
(up to ``batch_size`` records, or after ``linger`` seconds), encodes it and sends one
trace message per ``max_message_size`` bytes, up to ``max_inflight`` (4) at once, with
an internal producer (group
``_INNER_TRACE_PRODUCER-<group>-<PRODUCE|CONSUME>-<n>``, instance
``PID_CLIENT_INNER_TRACE_PRODUCER_<namesrv>``, as Java). A trace message's KEYS are the
traced messages' ids and keys, so the broker's index finds it by message id.

:meth:`TraceDispatcher.aclose` sends what is still queued (within ``close_timeout``)
then cancels the task and closes the internal producer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Final, Literal, cast

from rmq_client.errors import ClientError
from rmq_client.message import Message, SendStatus
from rmq_client.trace._codec import (
    DEFAULT_REGION,
    KEY_SEPARATOR,
    TRACE_TOPIC,
    ConsumeReturnType,
    EndTransactionTrace,
    PubTrace,
    SubAfterTrace,
    SubBeforeTrace,
    TraceMessageType,
    TraceRecord,
    encode_record,
    trace_keys,
)
from rmq_protocol.codec import properties as props
from rmq_protocol.errors import ProtocolError

if TYPE_CHECKING:
    from rmq_client._instance import ClientConfig
    from rmq_client.consumer.push import ConcurrentListener, OrderlyListener
    from rmq_client.message import ReceivedMessage, SendResult
    from rmq_client.producer import Producer

__all__ = ["TraceDispatcher", "wrap_listener"]

logger = logging.getLogger(__name__)

GROUP_PREFIX: Final = "_INNER_TRACE_PRODUCER"
INSTANCE_PREFIX: Final = "PID_CLIENT_INNER_TRACE_PRODUCER"
MAX_MESSAGE_SIZE: Final = 128_000  # Java's trace producer maxMessageSize
_counter = itertools.count(1)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class TraceDispatcher:
    """Collects trace records of one client and sends them to ``trace_topic``."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        group: str,
        kind: Literal["PRODUCE", "CONSUME"],
        trace_topic: str | None = None,
        queue_size: int = 2048,
        batch_size: int = 20,
        linger: float = 0.05,
        max_message_size: int = MAX_MESSAGE_SIZE,
        close_timeout: float = 5.0,
        max_inflight: int = 4,
    ) -> None:
        if queue_size < 1 or batch_size < 1:
            raise ValueError(f"queue_size {queue_size} and batch_size {batch_size} must be >= 1")
        self.trace_topic = trace_topic or TRACE_TOPIC
        self.group = group
        self.kind = kind
        self.batch_size = min(batch_size, 20)  # Java caps traceBatchNum at 20
        self.linger = linger
        self.max_message_size = max_message_size
        self.close_timeout = close_timeout
        self.max_inflight = max(max_inflight, 1)
        self._config = dataclasses.replace(
            config, instance_name=f"{INSTANCE_PREFIX}_{config.namesrv_addr}"
        )
        self._inner_group = f"{GROUP_PREFIX}-{group}-{kind}-{next(_counter)}"
        self._queue: asyncio.Queue[TraceRecord] = asyncio.Queue(queue_size)
        self._producer: Producer | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.dropped = 0  # records lost: queue full, or their trace message failed
        self.sent_records = 0
        self.sent_messages = 0

    async def start(self) -> None:
        """Start the internal producer and the sending task (idempotent)."""
        if self._task is not None:
            return
        from rmq_client.producer import Producer  # producer.py imports this module

        producer = Producer(self._inner_group, config=self._config, send_timeout=5.0)
        await producer.start()
        self._producer = producer
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"rmq-trace-{self._inner_group}"
        )

    async def aclose(self) -> None:
        """Send what is queued (at most ``close_timeout`` s), then stop. Idempotent."""
        if self._closed:
            return
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            try:
                async with asyncio.timeout(self.close_timeout):
                    await self._queue.join()
            except TimeoutError:
                logger.warning(
                    "trace dispatcher %s: %d records not sent at close",
                    self._inner_group,
                    self._queue.qsize(),
                )
                self.dropped += self._queue.qsize()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.aclose()

    def append(self, record: TraceRecord) -> bool:
        """Queue ``record`` (never blocks); False (and counted) if the queue is full."""
        if self._closed:
            self.dropped += 1
            return False
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.warning(
                    "trace dispatcher %s: queue full, %d records dropped",
                    self._inner_group,
                    self.dropped,
                )
            return False
        return True

    async def _run(self) -> None:
        """Take batches off the queue; up to ``max_inflight`` trace messages are sent
        at once (Java's 2-4 sending threads). Owns the sending tasks it starts."""
        queue = self._queue
        slots = asyncio.Semaphore(self.max_inflight)
        sending: set[asyncio.Task[None]] = set()

        async def send(batch: list[TraceRecord]) -> None:
            try:
                await self._send(batch)
            finally:
                slots.release()
                for _ in batch:
                    queue.task_done()

        try:
            while True:
                batch = [await queue.get()]
                if self.linger > 0 and queue.qsize() < self.batch_size - 1:
                    await asyncio.sleep(self.linger)
                while len(batch) < self.batch_size and not queue.empty():
                    batch.append(queue.get_nowait())
                await slots.acquire()
                task = asyncio.get_running_loop().create_task(send(batch))
                sending.add(task)
                task.add_done_callback(sending.discard)
        finally:
            for task in sending:
                task.cancel()
            await asyncio.gather(*sending, return_exceptions=True)

    async def _send(self, batch: Sequence[TraceRecord]) -> None:
        """Pack ``batch`` into trace messages of at most ``max_message_size`` chars."""
        text: list[str] = []
        keys: dict[str, None] = {}
        size = count = 0
        for record in batch:
            encoded = encode_record(record)
            text.append(encoded)
            keys.update(dict.fromkeys(trace_keys(record)))
            size += len(encoded)
            count += 1
            if size >= self.max_message_size:
                await self._send_one("".join(text), list(keys), count)
                text, keys, size, count = [], {}, 0, 0
        if count:
            await self._send_one("".join(text), list(keys), count)

    async def _send_one(self, data: str, keys: list[str], count: int) -> None:
        producer = self._producer
        if producer is None:  # pragma: no cover - closed while sending
            self.dropped += count
            return
        try:
            await producer.send(
                Message(self.trace_topic, data.encode(), keys=KEY_SEPARATOR.join(keys))
            )
        except (ClientError, ProtocolError, OSError) as exc:
            self.dropped += count
            logger.warning(
                "trace dispatcher %s: cannot send %d records to %s: %s",
                self._inner_group,
                count,
                self.trace_topic,
                exc,
            )
            return
        self.sent_records += count
        self.sent_messages += 1

    # ------------------------------------------------------------------ producer hook

    def on_send(
        self,
        message: Message,
        result: SendResult,
        *,
        broker_addr: str,
        began_ms: int,
        group: str,
        sys_flag_prepared: bool,
    ) -> None:
        """Record a ``Pub`` for a send the broker answered (Java
        ``SendMessageTraceHookImpl``). Never raises."""
        try:
            if not result.trace_on or message.topic == self.trace_topic:
                return
            wire = message.wire_properties()
            if sys_flag_prepared:
                msg_type = TraceMessageType.TRANS_HALF
            elif props.DELAY_TIME_LEVEL in wire or "__STARTDELIVERTIME" in wire:
                msg_type = TraceMessageType.DELAY
            else:
                msg_type = TraceMessageType.NORMAL
            self.append(
                PubTrace(
                    timestamp=began_ms,
                    region_id=result.region_id or DEFAULT_REGION,
                    group=group,
                    topic=message.topic,
                    msg_id=result.msg_id,
                    tags=message.tags,
                    keys=wire.get(props.KEYS),
                    store_host=broker_addr,
                    body_length=len(message.body),
                    cost_ms=max(_now_ms() - began_ms, 0),
                    msg_type=msg_type,
                    offset_msg_id=result.offset_msg_id,
                    success=result.status is SendStatus.SEND_OK,
                )
            )
        except Exception:  # tracing must never fail a send
            self.dropped += 1
            logger.exception("trace dispatcher %s: cannot trace a send", self._inner_group)

    def on_end_transaction(
        self,
        *,
        topic: str,
        msg_id: str,
        properties: Mapping[str, str],
        broker_addr: str | None,
        transaction_id: str | None,
        state: str,
        from_check: bool,
        group: str,
    ) -> None:
        """Record an ``EndTransaction`` (Java ``EndTransactionTraceHookImpl``): the
        commit/rollback/unknown a producer sent, by itself or answering a check.
        ``properties`` are the message's (tags, keys, region). Never raises."""
        try:
            self.append(
                EndTransactionTrace(
                    timestamp=_now_ms(),
                    region_id=properties.get(props.MSG_REGION) or DEFAULT_REGION,
                    group=group,
                    topic=topic,
                    msg_id=msg_id,
                    tags=properties.get(props.TAGS),
                    keys=properties.get(props.KEYS),
                    store_host=broker_addr,
                    msg_type=TraceMessageType.TRANS_COMMIT,  # as Java, whatever the state
                    transaction_id=transaction_id,
                    transaction_state=state,
                    from_transaction_check=from_check,
                )
            )
        except Exception:  # tracing must never fail a transaction
            self.dropped += 1
            logger.exception("trace dispatcher %s: cannot trace a transaction", self._inner_group)

    # ------------------------------------------------------------------ consumer hooks

    def before_consume(self, group: str, msgs: Sequence[ReceivedMessage]) -> _Attempt | None:
        """Record ``SubBefore`` for each traced message; the attempt to end later."""
        try:
            traced = [m for m in msgs if m.properties.get(props.TRACE_SWITCH) != "false"]
            if not traced:
                return None
            attempt = _Attempt(
                request_id=uuid.uuid4().hex.upper(),
                began_ms=_now_ms(),
                group=group,
                msgs=traced,
                count=len(msgs),
            )
            for m in traced:
                self.append(
                    SubBeforeTrace(
                        timestamp=attempt.began_ms,
                        region_id=m.properties.get(props.MSG_REGION) or DEFAULT_REGION,
                        group=group,
                        request_id=attempt.request_id,
                        msg_id=m.msg_id,
                        retry_times=m.reconsume_times,
                        keys=m.properties.get(props.KEYS),
                    )
                )
            return attempt
        except Exception:  # tracing must never fail a consumption
            logger.exception("trace dispatcher %s: cannot trace a consumption", self._inner_group)
            return None

    def after_consume(
        self, attempt: _Attempt | None, success: bool, code: ConsumeReturnType
    ) -> None:
        """Record ``SubAfter`` for each message of ``attempt`` (cost split per message,
        as Java)."""
        if attempt is None:
            return
        try:
            cost = max(_now_ms() - attempt.began_ms, 0) // max(attempt.count, 1)
            for m in attempt.msgs:
                self.append(
                    SubAfterTrace(
                        request_id=attempt.request_id,
                        msg_id=m.msg_id,
                        cost_ms=cost,
                        success=success,
                        keys=m.properties.get(props.KEYS),
                        context_code=int(code),
                        timestamp=attempt.began_ms,
                        group=attempt.group,
                    )
                )
        except Exception:  # tracing must never fail a consumption
            logger.exception("trace dispatcher %s: cannot trace a consumption", self._inner_group)


@dataclasses.dataclass(slots=True)
class _Attempt:
    request_id: str
    began_ms: int
    group: str
    msgs: list[ReceivedMessage]
    count: int


def _outcome(result: object, success: object) -> tuple[bool, ConsumeReturnType]:
    if result is None:
        return False, ConsumeReturnType.RETURNNULL
    if result is success:
        return True, ConsumeReturnType.SUCCESS
    return False, ConsumeReturnType.FAILED


def wrap_listener(
    listener: Callable[[list[ReceivedMessage]], object],
    dispatcher: TraceDispatcher,
    group: str,
    success: object,
) -> ConcurrentListener | OrderlyListener:
    """``listener`` with SubBefore/SubAfter tracing around each call.

    A plain function stays a plain function and a coroutine function stays one, so the
    consumer's fast path for plain listeners still applies. ``success`` is the result
    that counts as consumed (ConsumeResult.SUCCESS or ConsumeOrderlyResult.SUCCESS);
    None counts as RETURNNULL, an exception as EXCEPTION (and is re-raised).
    """
    fn = listener
    call = fn if inspect.isfunction(fn) else getattr(fn, "__call__", None)  # noqa: B004

    if inspect.iscoroutinefunction(call):

        async def traced_async(msgs: list[ReceivedMessage]) -> object:
            attempt = dispatcher.before_consume(group, msgs)
            try:
                result = await fn(msgs)  # type: ignore[misc]  # a coroutine function
            except BaseException:
                dispatcher.after_consume(attempt, False, ConsumeReturnType.EXCEPTION)
                raise
            dispatcher.after_consume(attempt, *_outcome(result, success))
            return result

        return cast("ConcurrentListener", traced_async)

    def traced(msgs: list[ReceivedMessage]) -> object:
        attempt = dispatcher.before_consume(group, msgs)
        try:
            result = fn(msgs)
        except BaseException:
            dispatcher.after_consume(attempt, False, ConsumeReturnType.EXCEPTION)
            raise
        if inspect.isawaitable(result):
            return _finish(result, attempt)
        dispatcher.after_consume(attempt, *_outcome(result, success))
        return result

    async def _finish(pending: Awaitable[object], attempt: _Attempt | None) -> object:
        try:
            result = await pending
        except BaseException:
            dispatcher.after_consume(attempt, False, ConsumeReturnType.EXCEPTION)
            raise
        dispatcher.after_consume(attempt, *_outcome(result, success))
        return result

    return cast("ConcurrentListener", traced)
