"""Synchronous facades over the asyncio clients, for code without an event loop.

::

    from rmq_client import Message
    from rmq_client.sync import SyncProducer

    with SyncProducer("PG", namesrv_addr="127.0.0.1:9876") as producer:
        result = producer.send(Message("TopicTest", b"hello"))
        future = producer.send_async(Message("TopicTest", b"later"))   # concurrent.futures
        future.result()

Every facade runs its asyncio client on one shared background loop thread
(:class:`rmq_client._sync.LoopThread`) and takes the same keyword-only options.
Callbacks (``send_async``'s) run on that loop thread: keep them short and never call
a facade from them.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self, final

from rmq_client._selector import MessageQueueSelector
from rmq_client._sync import Facade
from rmq_client._transaction import TransactionSendResult
from rmq_client.admin import Admin, ConsumerProgress
from rmq_client.message import Message, ReceivedMessage, SendResult
from rmq_client.producer import Producer, SendCallback
from rmq_protocol.codec.body import (
    ClusterInfo,
    ConsumerConnection,
    MessageQueue,
    ProducerConnection,
    TopicOffset,
    TopicRouteData,
)

__all__ = ["SyncAdmin", "SyncProducer"]


@final
class SyncProducer(Facade):
    """:class:`~rmq_client.Producer`, blocking. Thread-safe. Started on construction."""

    def __init__(self, group: str = "DEFAULT_PRODUCER", **options: Any) -> None:
        """Arguments as :class:`~rmq_client.Producer` (group first, then keywords)."""
        super().__init__()
        try:
            self.producer = self._build(lambda: Producer(group, **options))
            self._call(self.producer.start())
        except BaseException:
            self._release()
            raise

    def send(
        self,
        message: Message,
        *,
        queue: MessageQueue | None = None,
        selector: MessageQueueSelector | None = None,
        arg: object = None,
        timeout: float | None = None,
    ) -> SendResult:
        """:meth:`Producer.send`, waiting for the result."""
        return self._call(
            self.producer.send(message, queue=queue, selector=selector, arg=arg, timeout=timeout)
        )

    def send_oneway(
        self,
        message: Message,
        *,
        queue: MessageQueue | None = None,
        selector: MessageQueueSelector | None = None,
        arg: object = None,
    ) -> None:
        """:meth:`Producer.send_oneway`."""
        self._call(self.producer.send_oneway(message, queue=queue, selector=selector, arg=arg))

    def send_async(
        self,
        message: Message,
        *,
        callback: SendCallback | None = None,
        queue: MessageQueue | None = None,
        selector: MessageQueueSelector | None = None,
        arg: object = None,
    ) -> concurrent.futures.Future[SendResult]:
        """:meth:`Producer.send_async`; returns at once. ``callback`` runs on the loop
        thread."""

        async def run() -> SendResult:
            return await self.producer.send_async(
                message, callback=callback, queue=queue, selector=selector, arg=arg
            )

        return self._runner.submit(run())

    def send_batch(
        self, messages: Sequence[Message], *, queue: MessageQueue | None = None
    ) -> list[SendResult]:
        """:meth:`Producer.send_batch`."""
        return self._call(self.producer.send_batch(messages, queue=queue))

    def send_message_in_transaction(
        self, message: Message, arg: object = None
    ) -> TransactionSendResult:
        """:meth:`Producer.send_message_in_transaction` (the listener runs on the loop)."""
        return self._call(self.producer.send_message_in_transaction(message, arg))

    def close(self) -> None:
        """Wait for async sends, unregister, stop. Idempotent."""
        self._shutdown(self.producer.aclose)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@final
class SyncAdmin(Facade):
    """:class:`~rmq_client.Admin`, blocking. Thread-safe. Started on construction."""

    def __init__(self, namesrv_addr: str | None = None, **options: Any) -> None:
        super().__init__()
        try:
            self.admin = self._build(lambda: Admin(namesrv_addr, **options))
            self._call(self.admin.start())
        except BaseException:
            self._release()
            raise

    def cluster_info(self) -> ClusterInfo:
        return self._call(self.admin.cluster_info())

    def create_topic(self, topic: str, **options: Any) -> None:
        self._call(self.admin.create_topic(topic, **options))

    def delete_topic(self, topic: str, *, cluster: str | None = None) -> None:
        self._call(self.admin.delete_topic(topic, cluster=cluster))

    def topic_route(self, topic: str) -> TopicRouteData:
        return self._call(self.admin.topic_route(topic))

    def topic_status(self, topic: str) -> dict[MessageQueue, TopicOffset]:
        return self._call(self.admin.topic_status(topic))

    def create_subscription_group(self, group: str, **options: Any) -> None:
        self._call(self.admin.create_subscription_group(group, **options))

    def delete_subscription_group(self, group: str, **options: Any) -> None:
        self._call(self.admin.delete_subscription_group(group, **options))

    def consumer_connections(self, group: str) -> ConsumerConnection:
        return self._call(self.admin.consumer_connections(group))

    def producer_connections(self, group: str) -> ProducerConnection:
        return self._call(self.admin.producer_connections(group))

    def consumer_progress(self, group: str, *, topic: str | None = None) -> ConsumerProgress:
        return self._call(self.admin.consumer_progress(group, topic=topic))

    def reset_offsets_by_timestamp(
        self, group: str, topic: str, timestamp: float, *, force: bool = True
    ) -> dict[MessageQueue, int]:
        return self._call(
            self.admin.reset_offsets_by_timestamp(group, topic, timestamp, force=force)
        )

    def query_message_by_id(self, msg_id: str, *, topic: str | None = None) -> ReceivedMessage:
        return self._call(self.admin.query_message_by_id(msg_id, topic=topic))

    def query_messages(self, topic: str, key: str, **options: Any) -> list[ReceivedMessage]:
        return self._call(self.admin.query_messages(topic, key, **options))

    def query_message_by_queue_offset(
        self, queue: MessageQueue, offset: int
    ) -> ReceivedMessage | None:
        return self._call(self.admin.query_message_by_queue_offset(queue, offset))

    def close(self) -> None:
        self._shutdown(self.admin.aclose)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# Consumer facades (rmq_client.sync_consumer), appended by the consumer engineer.
from rmq_client.sync_consumer import SyncPullConsumer, SyncPushConsumer  # noqa: E402

__all__ += ["SyncPullConsumer", "SyncPushConsumer"]
