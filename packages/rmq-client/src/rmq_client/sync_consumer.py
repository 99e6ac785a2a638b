"""Synchronous facades of the consumers (re-exported by :mod:`rmq_client.sync`).

::

    from rmq_client.sync_consumer import SyncPushConsumer, SyncPullConsumer

    def on_messages(messages):
        for msg in messages:
            print(msg.body)
        return ConsumeResult.SUCCESS

    with SyncPushConsumer("my-group", namesrv_addr="127.0.0.1:9876", listener=on_messages,
                          subscriptions={"TopicTest": "*"}):
        time.sleep(60)

    with SyncPullConsumer("my-group", namesrv_addr="127.0.0.1:9876") as consumer:
        consumer.subscribe("TopicTest")
        consumer.start()
        messages = consumer.poll(timeout=5)

The asyncio consumers run on the shared background loop thread
(:class:`rmq_client._sync.LoopThread`). A push listener given here is a plain function
and runs in the loop's default thread pool, so it may block.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Self, final

from rmq_client._sync import Facade
from rmq_client.consumer.lite_pull import PullConsumer
from rmq_client.consumer.push import ConsumeOrderlyResult, ConsumeResult, PushConsumer
from rmq_client.message import ReceivedMessage
from rmq_protocol.codec.body import MessageQueue

__all__ = ["SyncPullConsumer", "SyncPushConsumer"]


@final
class SyncPushConsumer(Facade):
    """A :class:`~rmq_client.consumer.PushConsumer` for code without an event loop.

    Takes PushConsumer's options, a blocking ``listener`` (run in a worker thread) and
    optionally ``subscriptions`` (topic → expression). Started by :meth:`start` or
    ``with``; :meth:`close` waits for listener calls in progress and commits offsets.
    """

    def __init__(
        self,
        group: str,
        *,
        listener: Callable[[list[ReceivedMessage]], ConsumeResult]
        | Callable[[list[ReceivedMessage]], ConsumeOrderlyResult],
        subscriptions: Mapping[str, str] | None = None,
        **options: Any,
    ) -> None:
        super().__init__()
        blocking = listener

        async def in_thread(msgs: list[ReceivedMessage]) -> object:
            return await asyncio.get_running_loop().run_in_executor(None, blocking, msgs)

        try:
            self._consumer = self._build(
                lambda: PushConsumer(group, listener=in_thread, **options)  # type: ignore[arg-type]
            )
        except BaseException:
            self._release()
            raise
        for topic, expression in (subscriptions or {}).items():
            self._consumer.subscribe(topic, expression)

    def subscribe(self, topic: str, expression: str = "*", *, sql: bool = False) -> None:
        """See PushConsumer.subscribe (before :meth:`start`)."""
        self._consumer.subscribe(topic, expression, sql=sql)

    def start(self, *, timeout: float | None = 30.0) -> None:
        """Start consuming (returns once registered and rebalanced)."""
        self._call(self._consumer.start(), timeout)

    def close(self) -> None:
        """Stop, wait for listener calls, commit offsets, unregister. Idempotent."""
        self._shutdown(self._consumer.aclose)

    @property
    def assigned_queues(self) -> list[MessageQueue]:
        return self._consumer.assigned_queues

    def offsets(self) -> dict[MessageQueue, int]:
        return self._consumer.offsets()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@final
class SyncPullConsumer(Facade):
    """A :class:`~rmq_client.consumer.PullConsumer` for code without an event loop.

    ``with`` closes it (it does not start it: subscribe or assign, then :meth:`start`).
    """

    def __init__(self, group: str, **options: Any) -> None:
        super().__init__()
        try:
            self._consumer = self._build(lambda: PullConsumer(group, **options))
        except BaseException:
            self._release()
            raise

    def subscribe(self, topic: str, expression: str = "*", *, sql: bool = False) -> None:
        self._consumer.subscribe(topic, expression, sql=sql)

    def assign(self, mqs: Iterable[MessageQueue], expression: str = "*") -> None:
        async def run() -> None:
            self._consumer.assign(mqs, expression)

        self._call(run())

    def start(self, *, timeout: float | None = 30.0) -> None:
        self._call(self._consumer.start(), timeout)

    def poll(self, timeout: float = 5.0) -> list[ReceivedMessage]:
        """The next batch of messages, or ``[]`` after ``timeout`` seconds."""
        return self._call(self._consumer.poll(timeout))

    def commit(self, offsets: dict[MessageQueue, int] | None = None) -> None:
        self._call(self._consumer.commit(offsets))

    def seek(self, mq: MessageQueue, offset: int) -> None:
        async def run() -> None:
            self._consumer.seek(mq, offset)

        self._call(run())

    def seek_to_begin(self, mq: MessageQueue) -> None:
        self._call(self._consumer.seek_to_begin(mq))

    def seek_to_end(self, mq: MessageQueue) -> None:
        self._call(self._consumer.seek_to_end(mq))

    def pause(self, mqs: Iterable[MessageQueue]) -> None:
        self._consumer.pause(list(mqs))

    def resume(self, mqs: Iterable[MessageQueue]) -> None:
        items = list(mqs)
        self._runner.call_soon(lambda: self._consumer.resume(items))

    def assignment(self) -> list[MessageQueue]:
        return self._consumer.assignment()

    def fetch_message_queues(self, topic: str) -> list[MessageQueue]:
        return self._call(self._consumer.fetch_message_queues(topic))

    def close(self) -> None:
        """Commit (auto commit), unregister, stop. Idempotent."""
        self._shutdown(self._consumer.aclose)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
