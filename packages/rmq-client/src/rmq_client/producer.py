"""Producer: send messages to RocketMQ brokers (Java ``DefaultMQProducer`` and
``TransactionMQProducer``).

::

    async with Producer("PG", namesrv_addr="127.0.0.1:9876") as producer:
        result = await producer.send(Message("TopicTest", b"hello", tags="TagA"))
        future = producer.send_async(Message("TopicTest", b"later"))
        await producer.send_oneway(Message("TopicTest", b"fire and forget"))
        results = await producer.send_batch([Message("TopicTest", b"%d" % i) for i in range(100)])
        ordered = await producer.send(msg, selector=HashSelector(), arg="order-42")

Sends pick a queue round robin among the topic's writable queues, avoiding brokers
that were slow or failed lately (:mod:`rmq_client._fault`). A synchronous send is
retried ``retry_times`` times (2) on another broker when the error is one Java retries
(transport failures and codes 1, 2, 14, 16, 17, 204, 205, 1500). Sends to a chosen
queue or through a selector are not retried elsewhere (that would break ordering).
Bodies of ``compress_over`` bytes (4 KiB) or more are compressed (zlib level 5, or
zstd). A topic the NameServer does not know is sent with the route of ``TBW102`` so
that the broker creates it (``autoCreateTopicEnable``), as Java producers do.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from types import TracebackType
from typing import Any, Final, Self, final

from rmq_client._fault import FaultStrategy
from rmq_client._instance import DEFAULT_TOPIC, ClientConfig, ClientInstance, check_group
from rmq_client._selector import MessageQueueSelector
from rmq_client._transaction import (
    COMMIT_OR_ROLLBACK,
    LocalTransactionState,
    TransactionListener,
    TransactionSendResult,
)
from rmq_client.errors import (
    BrokerError,
    ClientClosedError,
    ClientError,
    MessageTooLargeError,
    NoRouteError,
    NotConnectedError,
    RequestTimeout,
    TopicNotFoundError,
    TransactionError,
    error_for_code,
)
from rmq_client.message import (
    Message,
    ReceivedMessage,
    SendResult,
    SendStatus,
    _new_send_result,
)
from rmq_client.trace._dispatcher import TraceDispatcher
from rmq_protocol.codec import properties as props
from rmq_protocol.codec.body import MessageQueue, QueueData, TopicRouteData
from rmq_protocol.codec.codes import RequestCode, ResponseCode, SerializeType
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import (
    CheckTransactionStateRequestHeader,
    EndTransactionRequestHeader,
)
from rmq_protocol.codec.message import (
    BatchEntry,
    CompressionType,
    SysFlag,
    compress_body,
    encode_batch,
)
from rmq_protocol.codec.msgid import UniqueIdGenerator, decode_offset_msg_id
from rmq_protocol.codec.properties import encode_properties
from rmq_protocol.errors import LocalProtocolError, ProtocolError

__all__ = ["Producer", "SendCallback"]

logger = logging.getLogger(__name__)

SendCallback = Callable[[SendResult | None, BaseException | None], object]
"""``callback(result, error)`` of :meth:`Producer.send_async`: one of them is None."""

MAX_MESSAGE_SIZE: Final = 4 * 1024 * 1024  # bytes, Java maxMessageSize
_STATUS: Final = {
    ResponseCode.SUCCESS: SendStatus.SEND_OK,
    ResponseCode.FLUSH_DISK_TIMEOUT: SendStatus.FLUSH_DISK_TIMEOUT,
    ResponseCode.FLUSH_SLAVE_TIMEOUT: SendStatus.FLUSH_SLAVE_TIMEOUT,
    ResponseCode.SLAVE_NOT_AVAILABLE: SendStatus.SLAVE_NOT_AVAILABLE,
}
_SEND_V2: Final = int(RequestCode.SEND_MESSAGE_V2)
_SEND_BATCH: Final = int(RequestCode.SEND_BATCH_MESSAGE)
_RETRY_PREFIX: Final = "%RETRY%"
_PREPARED: Final = int(SysFlag.TRANSACTION_PREPARED_TYPE)
_make_command: Final = RemotingCommand._make  # a header-less request from a field tuple
_JSON: Final = SerializeType.JSON
_UNIQ_KEY_NAME: Final = f"{props.UNIQ_KEY}\x01"
_NO_PROPERTIES: Final[dict[str, str]] = {}  # never written to

_ids: UniqueIdGenerator | None = None


def _unique_ids(ip: str) -> UniqueIdGenerator:
    """The process's UNIQ_KEY generator (one per process, as Java's static one)."""
    global _ids
    if _ids is None:
        try:
            _ids = UniqueIdGenerator(ip, os.getpid(), id(UniqueIdGenerator) & 0xFFFFFFFF)
        except LocalProtocolError:
            _ids = UniqueIdGenerator(None, os.getpid(), id(UniqueIdGenerator) & 0xFFFFFFFF)
    return _ids


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@final
class Producer:
    """Sends messages; one producer group per client instance.

    Use as an async context manager, or call :meth:`start` and :meth:`aclose`.
    Safe for concurrent use by many tasks of one event loop.
    """

    def __init__(
        self,
        group: str = "DEFAULT_PRODUCER",
        *,
        namesrv_addr: str | None = None,
        config: ClientConfig | None = None,
        send_timeout: float = 3.0,
        retry_times: int = 2,
        retry_times_async: int = 2,
        retry_another_broker_when_not_store_ok: bool = False,
        compress_over: int = 4096,
        compress_level: int = 5,
        compression: CompressionType = CompressionType.ZLIB,
        max_message_size: int = MAX_MESSAGE_SIZE,
        latency_fault_avoidance: bool = True,
        default_topic_queue_nums: int = 4,
        create_topic_key: str = DEFAULT_TOPIC,
        max_async_inflight: int = 65535,
        transaction_listener: TransactionListener | None = None,
        enable_trace: bool = False,
        trace_topic: str | None = None,
    ) -> None:
        """
        Args:
            group: producer group (transaction checks go to a producer of the group);
                first, as for the consumers.
            namesrv_addr: NameServer addresses ``"host:port;host:port"`` (or ``config``).
            config: client settings (instance name, timeouts, …) instead of namesrv_addr.
            send_timeout: seconds for one send, retries included (sendMsgTimeout).
            retry_times: extra attempts of a synchronous send on another broker.
            retry_times_async: the same for :meth:`send_async`.
            retry_another_broker_when_not_store_ok: also retry when the broker stored
                the message but reported a flush/replication timeout.
            compress_over: compress bodies of at least this many bytes.
            compress_level: zlib/zstd level.
            compression: ZLIB (default, what Java uses) or ZSTD (needs zstandard).
            max_message_size: largest body (or batch) in bytes.
            latency_fault_avoidance: avoid slow or failing brokers for a while.
            default_topic_queue_nums: queues of a topic the broker auto-creates.
            create_topic_key: template topic for auto-creation (TBW102).
            max_async_inflight: most :meth:`send_async` sends in flight at once.
            transaction_listener: enables :meth:`send_message_in_transaction` and
                answers the broker's transaction checks.
            enable_trace: write a trace record per send (:mod:`rmq_client.trace`).
            trace_topic: where trace records go (default RMQ_SYS_TRACE_TOPIC).

        Raises:
            ValueError: not exactly one of namesrv_addr and config, or a bad group name.
        """
        if namesrv_addr is not None and config is None:
            config = ClientConfig(namesrv_addr=namesrv_addr)
        elif namesrv_addr is not None or config is None:
            raise ValueError("give exactly one of namesrv_addr and config")
        self.config = config
        self.group = check_group(group, what="producer group")
        self.send_timeout = send_timeout
        self.retry_times = retry_times
        self.retry_times_async = retry_times_async
        self.retry_another_broker_when_not_store_ok = retry_another_broker_when_not_store_ok
        self.compress_over = compress_over
        self.compress_level = compress_level
        self.compression = compression
        self.max_message_size = max_message_size
        self.default_topic_queue_nums = default_topic_queue_nums
        self.create_topic_key = create_topic_key
        self.transaction_listener = transaction_listener
        self.fault = FaultStrategy(enabled=latency_fault_avoidance)
        self._async_slots = asyncio.Semaphore(max_async_inflight)
        self._async_tasks: set[asyncio.Task[SendResult]] = set()
        self._instance: ClientInstance | None = None
        self._closed = False
        self._ids: UniqueIdGenerator | None = None
        # id(queue) -> (queue, its SEND_MESSAGE_V2 header template, retry topic?)
        self._templates: dict[int, tuple[MessageQueue, dict[str, str], bool]] = {}
        # (tags, wait) -> properties map of a batch message without user properties or
        # keys, copied per message
        self._batch_bases: dict[tuple[str | None, bool], dict[str, str]] = {}
        # (tags, delay level, wait) -> properties string without UNIQ_KEY (see _send)
        self._prefixes: dict[tuple[str | None, int, bool], str] = {}
        self._trace = (  # message trace (rmq_client.trace): a Pub record per answered send
            TraceDispatcher(config, group=group, kind="PRODUCE", trace_topic=trace_topic)
            if enable_trace
            else None
        )

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Join the shared client instance and register the group. Idempotent.

        Raises:
            ClientError: another producer of this group uses the same instance.
            ClientClosedError: the producer was closed.
        """
        if self._closed:
            raise ClientClosedError(f"producer {self.group} is closed")
        if self._instance is not None:
            return
        instance = ClientInstance.acquire(self.config)
        try:
            instance.register_producer(self.group, self)
            await instance.start()
        except BaseException:
            await instance.release()
            raise
        self._ids = _unique_ids(instance.config.client_ip)
        self._instance = instance
        if self._trace is not None:
            await self._trace.start()
        logger.info("producer %s started (client %s)", self.group, instance.client_id)

    async def aclose(self) -> None:
        """Wait for async sends in flight, unregister, release the instance. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._async_tasks:
            await asyncio.gather(*list(self._async_tasks), return_exceptions=True)
        if self._trace is not None:
            await self._trace.aclose()
        instance, self._instance = self._instance, None
        if instance is not None:
            await instance.unregister_producer(self.group)
            await instance.release()
            logger.info("producer %s closed", self.group)

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

    @property
    def instance(self) -> ClientInstance:
        """The shared client instance.

        Raises:
            ClientClosedError: not started, or closed.
        """
        instance = self._instance
        if instance is None:
            raise ClientClosedError(
                f"producer {self.group} is {'closed' if self._closed else 'not started'}"
            )
        return instance

    # ------------------------------------------------------------------ routes

    async def publish_queues(self, topic: str) -> list[MessageQueue]:
        """The writable queues of ``topic`` (fetching its route, or TBW102's, if needed).

        Raises:
            NoRouteError: neither the topic nor the template topic has a route.
        """
        instance = self.instance
        queues = instance.publish_queues(topic)
        if queues:
            return queues
        try:
            await instance.topic_route(topic)
        except TopicNotFoundError:
            await self._use_default_route(topic)
        queues = instance.publish_queues(topic)
        if not queues:
            raise NoRouteError(
                f"no writable queue for topic {topic!r} (route of {topic} and "
                f"{self.create_topic_key} have none); create the topic or check the brokers",
                topic=topic,
            )
        return queues

    async def _use_default_route(self, topic: str) -> None:
        """Send to an unknown topic with the template topic's brokers (Java's
        ``isDefault`` route): the broker then creates the topic."""
        instance = self.instance
        try:
            template = await instance.topic_route(self.create_topic_key)
        except TopicNotFoundError:
            raise NoRouteError(
                f"topic {topic!r} does not exist and auto-creation is off (no "
                f"{self.create_topic_key} route); create it with Admin.create_topic",
                topic=topic,
            ) from None
        nums = self.default_topic_queue_nums
        route = TopicRouteData(
            queue_datas=tuple(
                QueueData(
                    broker_name=q.broker_name,
                    read_queue_nums=min(nums, q.read_queue_nums),
                    write_queue_nums=min(nums, q.write_queue_nums),
                    perm=q.perm,
                    topic_sys_flag=q.topic_sys_flag,
                )
                for q in template.queue_datas
            ),
            broker_datas=template.broker_datas,
        )
        if instance.cached_route(topic) is None:
            instance.update_route(topic, route)

    # ------------------------------------------------------------------ sending

    def _check(self, message: Message) -> None:
        if not message.topic:
            raise ValueError("message topic is empty")
        size = len(message.body)
        if size == 0:
            raise ValueError(f"message body for topic {message.topic!r} is empty")
        if size > self.max_message_size:
            raise MessageTooLargeError(
                f"message body of {size} bytes for topic {message.topic!r} exceeds "
                f"max_message_size {self.max_message_size}; split it or raise the limit",
                size=size,
                limit=self.max_message_size,
            )

    def send(
        self,
        message: Message,
        *,
        queue: MessageQueue | None = None,
        selector: MessageQueueSelector | None = None,
        arg: object = None,
        timeout: float | None = None,
    ) -> Coroutine[Any, Any, SendResult]:
        """Send one message and wait for the broker's answer: ``await producer.send(m)``.

        Returns the coroutine of the send (a plain method returning it saves a coroutine
        per send; nothing happens until it is awaited or made a task).

        Args:
            message: what to send.
            queue: send to this queue (no retry elsewhere).
            selector: choose the queue with ``selector(queues, message, arg)`` (no retry
                elsewhere); e.g. :class:`~rmq_client.HashSelector` for ordered messages.
            arg: passed to the selector.
            timeout: seconds, retries included (default ``send_timeout``).

        Raises:
            BrokerError: the broker refused the message (after retries if retriable).
            RequestTimeout, NotConnectedError: transport failure on the last attempt.
            MessageTooLargeError, ValueError: the message cannot be sent.
            NoRouteError: no queue to send to.
        """
        return self._send(message, queue, selector, arg, timeout, self.retry_times, oneway=False)

    async def send_oneway(
        self,
        message: Message,
        *,
        queue: MessageQueue | None = None,
        selector: MessageQueueSelector | None = None,
        arg: object = None,
        timeout: float | None = None,
    ) -> None:
        """Send without waiting for an answer (returns once written; no retry)."""
        await self._send(message, queue, selector, arg, timeout, 0, oneway=True)

    def send_async(
        self,
        message: Message,
        *,
        callback: SendCallback | None = None,
        queue: MessageQueue | None = None,
        selector: MessageQueueSelector | None = None,
        arg: object = None,
        timeout: float | None = None,
    ) -> asyncio.Future[SendResult]:
        """Start a send in the background; its future (and ``callback(result, error)``)
        reports the outcome. At most ``max_async_inflight`` run at once; more wait.

        Must be called from the producer's event loop.
        """
        self.instance  # noqa: B018 - raises if not started

        async def run() -> SendResult:
            async with self._async_slots:
                return await self._send(
                    message, queue, selector, arg, timeout, self.retry_times_async, oneway=False
                )

        task = asyncio.get_running_loop().create_task(run(), name="rmq-client-send-async")
        self._async_tasks.add(task)
        task.add_done_callback(self._async_tasks.discard)
        if callback is not None:

            def done(t: asyncio.Task[SendResult]) -> None:
                if t.cancelled():
                    callback(None, asyncio.CancelledError())
                elif (exc := t.exception()) is not None:
                    callback(None, exc)
                else:
                    callback(t.result(), None)

            task.add_done_callback(done)
        return task

    async def _send(
        self,
        message: Message,
        queue: MessageQueue | None,
        selector: MessageQueueSelector | None,
        arg: object,
        timeout: float | None,
        retries: int,
        *,
        oneway: bool,
        extra_properties: dict[str, str] | None = None,
        sys_flag: int = 0,
    ) -> SendResult:
        # The hot path of every send: one coroutine from here to the connection (the
        # request is built inline, not by a helper coroutine), cached header values,
        # and the properties encoded once for all attempts.
        instance = self._instance
        ids = self._ids
        if instance is None or ids is None:
            self.instance  # noqa: B018 - raises
            raise AssertionError  # pragma: no cover
        topic = message.topic
        body = message.body
        size = len(body)
        if not topic or size == 0 or size > self.max_message_size:
            self._check(message)  # raises the precise error
        if timeout is None:
            timeout = self.send_timeout
        deadline = time.monotonic() + timeout
        # The properties string is the message's properties, then UNIQ_KEY (always
        # last; its value is hex): the part before UNIQ_KEY of a message without user
        # properties, keys or sharding key is cached per (tags, delay level, wait).
        properties: dict[str, str]
        if (
            message.properties
            or message.keys is not None
            or message.sharding_key is not None
            or extra_properties
        ):
            properties = message.wire_properties()
            if extra_properties:
                properties.update(extra_properties)
            prefix = encode_properties(properties)
        else:
            properties = _NO_PROPERTIES
            key = (message.tags, message.delay_level, message.wait_store_msg_ok)
            prefix_or_none = self._prefixes.get(key)
            if prefix_or_none is None:
                prefix_or_none = self._prefix(message, key)
            prefix = prefix_or_none
        now_ms = time.time_ns() // 1_000_000
        uniq = ids.next_id(now_ms)
        encoded_properties = f"{prefix}{_UNIQ_KEY_NAME}{uniq}\x02"
        language, version = instance.dialect
        if size >= self.compress_over:
            body, flags = compress_body(body, self.compression, self.compress_level)
            sys_flag |= flags
        fixed = queue is not None or selector is not None
        queues: list[MessageQueue] = []
        if queue is None:
            queues = instance.publish_queues(topic) or await self.publish_queues(topic)
            if selector is not None:
                queue = selector(queues, message, arg)
        elif not instance.publish_queues(queue.topic):
            await self.publish_queues(queue.topic)  # brokers' addresses
        fault = self.fault
        last_broker: str | None = None
        attempts = 1 if fixed or oneway else 1 + retries
        error: BaseException | None = None
        request = instance.raw_request
        for attempt in range(attempts):
            mq = queue if queue is not None else fault.select(queues, last_broker)
            started = time.monotonic()
            remaining = deadline - started
            if remaining <= 0:
                break
            broker_name = mq.broker_name
            addr: str | None = None
            try:
                addr = instance.broker_addr(broker_name)
                if addr is None:
                    addr = await instance.find_broker_addr(broker_name)
                # SEND_MESSAGE_V2's one-letter header (spec §2.2): the fields fixed per
                # queue come from a cached dict, the rest are set here (the typed header
                # costs several µs per message).
                template = self._templates.get(id(mq))
                if template is None or template[0] is not mq:
                    template = self._template(mq)
                ext = template[1].copy()
                ext["g"] = str(now_ms if attempt == 0 else time.time_ns() // 1_000_000)
                ext["i"] = encoded_properties
                if sys_flag:
                    ext["f"] = str(sys_flag)
                if message.flag:
                    ext["h"] = str(message.flag)
                if template[2]:  # a retry topic
                    ext["j"] = properties.get(props.RECONSUME_TIME, "0")
                    if (max_times := properties.get(props.MAX_RECONSUME_TIMES)) is not None:
                        ext["l"] = max_times
                cmd = _make_command((_SEND_V2, language, version, 0, 0, None, ext, body, _JSON))
                if oneway:
                    await instance.invoke_oneway(addr, cmd, timeout=remaining)
                    return SendResult(
                        status=SendStatus.SEND_OK,
                        msg_id=uniq,
                        offset_msg_id="",
                        queue=mq,
                        queue_offset=-1,
                    )
                began = _now_ms() if self._trace is not None else 0
                try:
                    response = await request(addr, cmd, timeout=remaining)
                except ProtocolError as exc:
                    raise instance.invoke_error(addr, _SEND_V2, exc, remaining) from exc
                result = _send_result(addr, cmd, response, mq, uniq)
                if self._trace is not None:  # message trace hook (rmq_client.trace)
                    self._trace.on_send(
                        message, result, broker_addr=addr, began_ms=began, group=self.group,
                        sys_flag_prepared=bool(sys_flag & _PREPARED),
                    )  # fmt: skip
            except (RequestTimeout, NotConnectedError) as exc:
                fault.update(
                    broker_name,
                    (time.monotonic() - started) * 1000,
                    isolation=True,
                    reachable=isinstance(exc, RequestTimeout),
                )
                error = exc
            except BrokerError as exc:
                fault.update(broker_name, (time.monotonic() - started) * 1000, isolation=True)
                if not exc.retriable:
                    raise
                error = exc
            else:
                fault.update(broker_name, (time.monotonic() - started) * 1000)
                if (
                    result.status is SendStatus.SEND_OK
                    or not self.retry_another_broker_when_not_store_ok
                    or attempt == attempts - 1
                ):
                    return result
                error = None
            last_broker = broker_name
            if attempt < attempts - 1:
                logger.info(
                    "send to %s of topic %s failed (%s); retrying on another broker",
                    broker_name,
                    topic,
                    error,
                )
        if error is None:
            raise RequestTimeout(
                f"send of a message to topic {topic!r} did not finish within {timeout:g} s",
                broker=None,
                timeout=timeout,
            )
        raise error

    def _prefix(self, message: Message, key: tuple[str | None, int, bool]) -> str:
        """The encoded properties (without UNIQ_KEY) of a message without user
        properties, keys or sharding key, cached by ``key`` (tags, delay level, wait).

        Raises:
            LocalProtocolError: the tags cannot be encoded (nothing is cached).
        """
        prefix = encode_properties(message.wire_properties())
        prefixes = self._prefixes
        if len(prefixes) >= 1024:  # many distinct tags: start afresh
            prefixes.clear()
        prefixes[key] = prefix
        return prefix

    def _template(self, mq: MessageQueue) -> tuple[MessageQueue, dict[str, str], bool]:
        """The SEND_MESSAGE_V2 header fields fixed for ``mq`` (cached by the queue
        object's id, kept with the queue so that the id stays its own), and whether
        ``mq`` is a retry topic."""
        templates = self._templates
        if len(templates) >= 4096:  # routes were replaced many times: start afresh
            templates.clear()
        topic = mq.topic
        fields = {
            "a": self.group,
            "b": topic,
            "c": self.create_topic_key,
            "d": str(self.default_topic_queue_nums),
            "e": str(mq.queue_id),
            "f": "0",
            "g": "0",
            "h": "0",
            "i": "",
            "j": "0",
            "k": "false",
            "m": "false",
            "n": mq.broker_name,
        }
        template = (mq, fields, topic.startswith(_RETRY_PREFIX))
        templates[id(mq)] = template
        return template

    # ------------------------------------------------------------------ batches

    async def send_batch(
        self,
        messages: Sequence[Message],
        *,
        queue: MessageQueue | None = None,
        timeout: float | None = None,
    ) -> list[SendResult]:
        """Send messages of one topic as SEND_BATCH_MESSAGE requests, split so that no
        request body exceeds ``max_message_size``.

        Each request goes to one queue (``queue``, or the next one round robin);
        requests are sent one after another, in order. Batches carry no delay level
        and are not compressed (as in Java).

        Returns:
            One SendResult per request (its ``msg_id`` lists the messages' ids).

        Raises:
            ValueError: mixed topics, a delay level, a retry topic, or no messages.
            MessageTooLargeError: one message alone exceeds the limit.
            BrokerError, RequestTimeout, NotConnectedError: as :meth:`send`.
        """
        if not messages:
            raise ValueError("send_batch needs at least one message")
        first = messages[0]
        topic = first.topic
        wait = first.wait_store_msg_ok
        ids = self._ids
        if ids is None:
            self.instance  # noqa: B018 - raises
            raise AssertionError  # pragma: no cover
        if first.delay_level > 0:
            raise ValueError("batch messages cannot have a delay level")
        if topic.startswith(_RETRY_PREFIX):
            raise ValueError("batch messages cannot go to a retry topic")
        limit = self.max_message_size
        all_uniqs = ids.next_ids(_now_ms(), len(messages))
        entries: list[BatchEntry] = []
        bases = self._batch_bases
        for message, uniq in zip(messages, all_uniqs, strict=True):
            if message.topic != topic:
                raise ValueError(f"a batch holds one topic: {message.topic!r} after {topic!r}")
            if message.delay_level > 0:
                raise ValueError("batch messages cannot have a delay level")
            if message.wait_store_msg_ok != wait:
                raise ValueError("batch messages must agree on wait_store_msg_ok")
            body = message.body
            if not body or len(body) > limit:
                self._check(message)  # raises the precise error
            if message.properties or message.keys is not None or message.sharding_key is not None:
                properties = message.wire_properties()
            else:  # a copy of the properties map of its tags (cached, never changed)
                key = (message.tags, wait)
                base = bases.get(key)
                if base is None:
                    if len(bases) >= 1024:  # many distinct tags: start afresh
                        bases.clear()
                    base = bases[key] = message.wire_properties()
                properties = base.copy()
            properties[props.UNIQ_KEY] = uniq
            entries.append(_new_batch_entry(body, message.flag, properties))
        # One encoding of the whole batch; only a batch over the limit is split.
        whole = encode_batch(entries)
        chunks = (
            [([whole], all_uniqs)]
            if len(whole) <= limit
            else _split_batch(entries, all_uniqs, limit)
        )
        results = []
        for parts, uniqs in chunks:
            body = parts[0] if len(parts) == 1 else b"".join(parts)
            results.append(await self._send_batch_chunk(topic, body, uniqs, wait, queue, timeout))
        return results

    async def _send_batch_chunk(
        self,
        topic: str,
        body: bytes,
        uniqs: list[str],
        wait: bool,
        queue: MessageQueue | None,
        timeout: float | None,
    ) -> SendResult:
        instance = self.instance
        timeout = self.send_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        assert self._ids is not None  # noqa: S101 - started
        properties = {
            props.WAIT_STORE_MSG_OK: "true" if wait else "false",
            props.UNIQ_KEY: self._ids.next_id(_now_ms()),
        }
        queues = await self.publish_queues(topic) if queue is None else [queue]
        attempts = 1 if queue is not None else 1 + self.retry_times
        last_broker: str | None = None
        error: BaseException | None = None
        for _ in range(attempts):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            mq = queue if queue is not None else self.fault.select(queues, last_broker)
            addr = instance.broker_addr(mq.broker_name) or await instance.find_broker_addr(
                mq.broker_name
            )
            ext = {
                "a": self.group,
                "b": topic,
                "c": self.create_topic_key,
                "d": str(self.default_topic_queue_nums),
                "e": str(mq.queue_id),
                "f": "0",
                "g": str(_now_ms()),
                "h": "0",
                "i": encode_properties(properties),
                "j": "0",
                "k": "false",
                "m": "true",
                "n": mq.broker_name,
            }
            cmd = instance.request(_SEND_BATCH, ext_fields=ext, body=body)
            started = time.monotonic()
            try:
                response = await instance.invoke(addr, cmd, timeout=remaining)
                result = _send_result(addr, cmd, response, mq, ",".join(uniqs))
            except (RequestTimeout, NotConnectedError) as exc:
                self.fault.update(mq.broker_name, 0, isolation=True)
                error = exc
            except BrokerError as exc:
                self.fault.update(mq.broker_name, 0, isolation=True)
                if not exc.retriable:
                    raise
                error = exc
            else:
                self.fault.update(mq.broker_name, (time.monotonic() - started) * 1000)
                return result
            last_broker = mq.broker_name
        if error is None:
            raise RequestTimeout(
                f"batch send to topic {topic!r} did not finish within {timeout:g} s",
                broker=None,
                timeout=timeout,
            )
        raise error

    # ------------------------------------------------------------------ transactions

    async def send_message_in_transaction(
        self, message: Message, arg: object = None, *, timeout: float | None = None
    ) -> TransactionSendResult:
        """Send ``message`` as a half message, run the listener's local transaction,
        then commit or roll back (END_TRANSACTION, oneway).

        Raises:
            TransactionError: no ``transaction_listener`` was given.
            BrokerError, RequestTimeout, NotConnectedError: the half message was not stored.
        """
        listener = self.transaction_listener
        if listener is None:
            raise TransactionError(
                "send_message_in_transaction needs Producer(transaction_listener=...)"
            )
        if message.delay_level:
            # Java clears the delay level of transactional messages.
            message = Message(
                message.topic,
                message.body,
                tags=message.tags,
                keys=message.keys,
                properties=message.properties,
                flag=message.flag,
                wait_store_msg_ok=message.wait_store_msg_ok,
                sharding_key=message.sharding_key,
            )
        result = await self._send(
            message,
            None,
            None,
            None,
            timeout,
            self.retry_times,
            oneway=False,
            extra_properties={props.TRANSACTION_PREPARED: "true", props.PRODUCER_GROUP: self.group},
            sys_flag=_PREPARED,
        )
        local_error: BaseException | None = None
        if result.status is SendStatus.SEND_OK:
            try:
                state = await _maybe_await(listener.execute_local_transaction(message, arg))
            except Exception as exc:  # noqa: BLE001 - the application's code: UNKNOW
                logger.warning(
                    "local transaction of message %s failed: %r; the broker will check it",
                    result.msg_id,
                    exc,
                )
                state, local_error = LocalTransactionState.UNKNOW, exc
        else:
            state = LocalTransactionState.ROLLBACK_MESSAGE
        try:
            await self._end_transaction(result, state, local_error)
        except ClientError as exc:
            logger.warning(
                "END_TRANSACTION for message %s failed (%s); the broker will check it",
                result.msg_id,
                exc,
            )
        if self._trace is not None:  # message trace hook (rmq_client.trace)
            self._trace.on_end_transaction(
                topic=message.topic, msg_id=result.msg_id, properties=message.wire_properties(),
                broker_addr=self.instance.broker_addr(result.queue.broker_name),
                transaction_id=result.transaction_id, state=state.value, from_check=False,
                group=self.group,
            )  # fmt: skip
        return TransactionSendResult(send_result=result, local_transaction_state=state)

    async def _end_transaction(
        self,
        result: SendResult,
        state: LocalTransactionState,
        local_error: BaseException | None,
    ) -> None:
        instance = self.instance
        _, _, commit_log_offset = decode_offset_msg_id(result.offset_msg_id)
        header = EndTransactionRequestHeader(
            topic=result.queue.topic,
            producer_group=self.group,
            tran_state_table_offset=result.queue_offset,
            commit_log_offset=commit_log_offset,
            commit_or_rollback=COMMIT_OR_ROLLBACK[state],
            from_transaction_check=False,
            msg_id=result.msg_id,
            transaction_id=result.transaction_id,
        )
        addr = await instance.find_broker_addr(result.queue.broker_name)
        cmd = RemotingCommand.request(
            RequestCode.END_TRANSACTION,
            header,
            oneway=True,
            remark=None
            if local_error is None
            else f"executeLocalTransactionBranch exception: {local_error!r}",
            language=instance.config.language,
        )
        await instance.invoke_oneway(addr, cmd, timeout=self.send_timeout)

    async def check_transaction_state(
        self, addr: str, msg: ReceivedMessage, header: CheckTransactionStateRequestHeader
    ) -> None:
        """Answer the broker's CHECK_TRANSACTION_STATE (called by the client instance)."""
        listener = self.transaction_listener
        if listener is None:
            logger.warning(
                "broker %s checks transaction %s of group %s, but this producer has no "
                "transaction listener",
                addr,
                header.transaction_id,
                self.group,
            )
            return
        try:
            state = await _maybe_await(listener.check_local_transaction(msg))
        except Exception as exc:  # noqa: BLE001 - the application's code: UNKNOW
            logger.warning("check_local_transaction for %s failed: %r", msg.msg_id, exc)
            state = LocalTransactionState.UNKNOW
        unique = msg.properties.get(props.UNIQ_KEY) or msg.msg_id
        end = EndTransactionRequestHeader(
            topic=msg.topic,
            producer_group=self.group,
            tran_state_table_offset=header.tran_state_table_offset,
            commit_log_offset=header.commit_log_offset,
            commit_or_rollback=COMMIT_OR_ROLLBACK[state],
            from_transaction_check=True,
            msg_id=unique,
            transaction_id=header.transaction_id,
        )
        instance = self.instance
        cmd = RemotingCommand.request(
            RequestCode.END_TRANSACTION, end, oneway=True, language=instance.config.language
        )
        try:
            await instance.invoke_oneway(addr, cmd, timeout=self.send_timeout)
        except ClientError as exc:
            logger.warning("END_TRANSACTION (check) to %s failed: %s", addr, exc)
        if self._trace is not None:  # message trace hook (rmq_client.trace)
            self._trace.on_end_transaction(
                topic=msg.topic, msg_id=unique, properties=msg.properties, broker_addr=addr,
                transaction_id=header.transaction_id, state=state.value, from_check=True,
                group=self.group,
            )  # fmt: skip


def _split_batch(
    entries: list[BatchEntry], uniqs: list[str], limit: int
) -> list[tuple[list[bytes], list[str]]]:
    """Encoded entries grouped so that no group exceeds ``limit`` bytes, in order.

    Raises:
        MessageTooLargeError: one entry alone exceeds ``limit``.
    """
    chunks: list[tuple[list[bytes], list[str]]] = []
    parts: list[bytes] = []
    chunk_uniqs: list[str] = []
    size = 0
    for entry, uniq in zip(entries, uniqs, strict=True):
        encoded = encode_batch((entry,))
        if len(encoded) > limit:
            raise MessageTooLargeError(
                f"a batch entry of {len(encoded)} bytes exceeds max_message_size {limit}",
                size=len(encoded),
                limit=limit,
            )
        if size + len(encoded) > limit and parts:
            chunks.append((parts, chunk_uniqs))
            parts, chunk_uniqs, size = [], [], 0
        parts.append(encoded)
        chunk_uniqs.append(uniq)
        size += len(encoded)
    chunks.append((parts, chunk_uniqs))
    return chunks


_SET_ENTRY: Final = tuple(
    BatchEntry.__dict__[name].__set__ for name in ("body", "flag", "properties")
)


def _new_batch_entry(body: bytes, flag: int, properties: dict[str, str]) -> BatchEntry:
    """``BatchEntry(body, flag, properties)`` through its slot setters (the frozen
    dataclass's ``__init__`` costs twice as much; one per batched message)."""
    entry: BatchEntry = object.__new__(BatchEntry)
    set_body, set_flag, set_properties = _SET_ENTRY
    set_body(entry, body)
    set_flag(entry, flag)
    set_properties(entry, properties)
    return entry


async def _maybe_await(
    value: LocalTransactionState | Awaitable[LocalTransactionState],
) -> LocalTransactionState:
    if inspect.isawaitable(value):
        return LocalTransactionState(await value)
    return LocalTransactionState(value)


def _send_result(
    addr: str, cmd: RemotingCommand, response: RemotingCommand, mq: MessageQueue, uniq: str
) -> SendResult:
    code = response.code
    status = _STATUS.get(code)  # type: ignore[call-overload]
    if status is None:
        raise error_for_code(code, response.remark, broker=addr, request=cmd.code)
    ext = response.ext_fields or {}
    try:
        queue_id = int(ext["queueId"])
        queue_offset = int(ext["queueOffset"])
        offset_msg_id = ext["msgId"]
    except (KeyError, ValueError) as exc:
        raise BrokerError(
            f"send response without a valid header ({exc!r})",
            broker=addr,
            code=code,
            request=cmd.code,
        ) from None
    if queue_id != mq.queue_id:
        mq = MessageQueue(mq.topic, mq.broker_name, queue_id)
    return _new_send_result(
        status,
        uniq,
        offset_msg_id,
        mq,
        queue_offset,
        ext.get("transactionId"),
        ext.get(props.MSG_REGION, "DefaultRegion"),
        ext.get(props.TRACE_SWITCH, "true") != "false",
    )
