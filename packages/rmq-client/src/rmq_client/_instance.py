"""ClientInstance: what producers, consumers and admins of one client id share.

Mirrors Java's ``MQClientInstance`` + ``MQClientAPIImpl``: one connection pool
(:class:`~rmq_protocol.transport.RemotingClient`), the topic-route cache, the broker
address table, heartbeats, and the processors for the requests brokers send to
clients (NOTIFY_CONSUMER_IDS_CHANGED, CHECK_TRANSACTION_STATE,
RESET_CONSUMER_CLIENT_OFFSET, GET_CONSUMER_STATUS_FROM_CLIENT,
GET_CONSUMER_RUNNING_INFO, CONSUME_MESSAGE_DIRECTLY).

Life cycle (the one way to get an instance)::

    instance = ClientInstance.acquire(config)   # shared per (event loop, client id)
    await instance.start()                      # idempotent
    ...
    await instance.release()                    # the last release closes it

``acquire`` counts references: clients built with the same :class:`ClientConfig`
client id on the same event loop share one instance (one connection per broker).
As in Java 4.9+, ``instance_name="DEFAULT"`` is replaced by ``"<pid>#<ns clock>"``,
so clients share an instance only when given the same explicit instance name.
``aclose()`` closes at once whatever the reference count (tests, shutdown).

The instance owns its periodic tasks and cancels them on close: route refresh every
``poll_name_server_interval`` (30 s), heartbeats every ``heartbeat_interval`` (30 s),
consumer offset persistence every ``persist_consumer_offset_interval`` (5 s; calls
each consumer's ``persist_offsets``) and a rebalance tick every
``rebalance_interval`` (20 s; calls each consumer's ``rebalance_soon``).

Not thread-safe: use it from the event loop that acquired it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import random
import re
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ClassVar, Final, Protocol, final

from rmq_client._consumer_status import consumer_offsets, consumer_status_body
from rmq_client.errors import (
    BrokerError,
    ClientClosedError,
    ClientError,
    NotConnectedError,
    RequestTimeout,
    error_for_code,
)
from rmq_protocol.codec.body import (
    ConsumeFromWhere,
    ConsumerData,
    ConsumeType,
    HeartbeatData,
    MessageModel,
    MessageQueue,
    ProducerData,
    ResetOffsetBody,
    SubscriptionData,
    TopicRouteData,
)
from rmq_protocol.codec.codes import LanguageCode, RequestCode, ResponseCode, SerializeType
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.fastjson import dumps
from rmq_protocol.codec.header import CommandHeader
from rmq_protocol.codec.headers import (
    CheckTransactionStateRequestHeader,
    ConsumeMessageDirectlyResultRequestHeader,
    GetConsumerRunningInfoRequestHeader,
    GetConsumerStatusRequestHeader,
    GetRouteInfoRequestHeader,
    NotifyConsumerIdsChangedRequestHeader,
    ResetOffsetRequestHeader,
    UnregisterClientRequestHeader,
)
from rmq_protocol.codec.message import MessageExt, decode_message
from rmq_protocol.codec.version import CURRENT_VERSION
from rmq_protocol.errors import (
    ConnectError,
    ConnectionClosedError,
    ConnectionLostError,
    ProtocolError,
    RequestTimeoutError,
)
from rmq_protocol.transport import Connection, ProcessorRegistry, RemotingClient

__all__ = [
    "CLIENT_INNER_PRODUCER_GROUP",
    "DEFAULT_TOPIC",
    "ClientConfig",
    "ClientInstance",
    "ConsumerHandle",
    "ProducerHandle",
    "check_group",
    "check_response",
    "local_ip",
]

logger = logging.getLogger(__name__)

CLIENT_INNER_PRODUCER_GROUP: Final = "CLIENT_INNER_PRODUCER"
DEFAULT_TOPIC: Final = "TBW102"  # template topic for auto-created topics
MASTER_ID: Final = 0
PERM_READ: Final = 4
PERM_WRITE: Final = 2

GROUP_MAX_LENGTH: Final = 120  # Java Validators: %RETRY%<group> must stay a valid topic
_GROUP_CHARS: Final = re.compile(r"[%|a-zA-Z0-9_-]+")
_make_command: Final = RemotingCommand._make
_JSON: Final = SerializeType.JSON

_local_ip: str | None = None


def check_group(group: str, *, what: str = "group") -> str:
    """``group`` if it is a valid producer/consumer group name (Java ``Validators.checkGroup``).

    Raises:
        ValueError: blank, longer than 120 characters, or a character outside
            ``[%|a-zA-Z0-9_-]`` (a NameServer address given as the group lands here).
    """
    if not group.strip():
        raise ValueError(f"{what} must not be blank")
    if len(group) > GROUP_MAX_LENGTH:
        raise ValueError(f"{what} {group!r} is longer than {GROUP_MAX_LENGTH} characters")
    if not _GROUP_CHARS.fullmatch(group):
        hint = ""
        if ":" in group:
            hint = " (a NameServer address? the group comes first: (group, namesrv_addr=...))"
        raise ValueError(f"{what} {group!r} has characters outside [%|a-zA-Z0-9_-]{hint}")
    return group


def local_ip() -> str:
    """This host's outbound IPv4 address (no packet is sent), 127.0.0.1 if none."""
    global _local_ip  # computed once per process
    if _local_ip is None:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.connect(("192.0.2.1", 9))  # TEST-NET-1: routing lookup only
                _local_ip = str(s.getsockname()[0])
        except OSError:
            _local_ip = "127.0.0.1"
    return _local_ip


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    """Settings shared by every client of one client id (Java ``ClientConfig``).

    Attributes:
        namesrv_addr: NameServer addresses, ``"host:port;host:port"``.
        instance_name: ``"DEFAULT"`` becomes ``"<pid>#<ns clock>"`` (Java 4.9+).
        client_ip: address put in the client id and in message ids.
        unit_name: appended to the client id (``ip@instance@unit``) when set.
        request_timeout: seconds for NameServer and admin requests (mqClientApiTimeout).
        poll_name_server_interval: seconds between route refreshes.
        heartbeat_interval: seconds between heartbeats to every broker.
        persist_consumer_offset_interval: seconds between consumer offset commits.
        rebalance_interval: seconds between rebalance ticks sent to consumers.
        language: LanguageCode put in every request; JAVA by default, as ali-ons does,
            so brokers treat us exactly as the Java client (spec captures).
        vip_channel: use the broker's port − 2 (Java's vipChannelEnabled).
    """

    namesrv_addr: str
    instance_name: str = "DEFAULT"
    client_ip: str = dataclasses.field(default_factory=local_ip)
    unit_name: str | None = None
    request_timeout: float = 3.0  # seconds
    poll_name_server_interval: float = 30.0  # seconds
    heartbeat_interval: float = 30.0  # seconds
    persist_consumer_offset_interval: float = 5.0  # seconds
    rebalance_interval: float = 20.0  # seconds
    language: LanguageCode = LanguageCode.JAVA
    vip_channel: bool = False

    def resolved(self) -> ClientConfig:
        """This config with ``instance_name`` "DEFAULT" replaced as Java does."""
        if self.instance_name != "DEFAULT":
            return self
        return dataclasses.replace(self, instance_name=f"{os.getpid()}#{time.perf_counter_ns()}")

    @property
    def client_id(self) -> str:
        """``ip@instance[@unit]`` (Java ``buildMQClientId``)."""
        cid = f"{self.client_ip}@{self.instance_name}"
        if self.unit_name:
            cid += f"@{self.unit_name}"
        return cid

    @property
    def namesrv_addrs(self) -> list[str]:
        return [a.strip() for a in self.namesrv_addr.split(";") if a.strip()]


class ConsumerHandle(Protocol):
    """What the instance needs from a consumer (push or pull) it serves."""

    @property
    def group(self) -> str: ...
    @property
    def message_model(self) -> MessageModel: ...
    @property
    def consume_type(self) -> ConsumeType: ...
    @property
    def consume_from_where(self) -> ConsumeFromWhere: ...
    @property
    def unit_mode(self) -> bool: ...

    def subscriptions(self) -> list[SubscriptionData]:
        """Subscriptions to put in heartbeats (including ``%RETRY%group``)."""
        ...

    def topics(self) -> set[str]:
        """Topics whose routes the instance keeps fresh."""
        ...

    def rebalance_soon(self) -> None:
        """Rebalance soon (NOTIFY_CONSUMER_IDS_CHANGED, and every rebalance tick)."""
        ...

    async def persist_offsets(self) -> None:
        """Commit consumer offsets (every ``persist_consumer_offset_interval``)."""
        ...

    async def reset_offsets(self, topic: str, offsets: dict[MessageQueue, int]) -> None:
        """Move to ``offsets`` (RESET_CONSUMER_CLIENT_OFFSET from the broker)."""
        ...

    def running_info(self) -> dict[str, object]:
        """JSON-able ConsumerRunningInfo (GET_CONSUMER_RUNNING_INFO)."""
        ...


class ProducerHandle(Protocol):
    """What the instance needs from a producer it serves."""

    @property
    def group(self) -> str: ...

    async def check_transaction_state(
        self, addr: str, msg: MessageExt, header: CheckTransactionStateRequestHeader
    ) -> None:
        """Answer a broker's CHECK_TRANSACTION_STATE with END_TRANSACTION."""
        ...


def check_response(
    addr: str | None,
    request: RemotingCommand,
    response: RemotingCommand,
    ok: Iterable[int] = (ResponseCode.SUCCESS,),
) -> RemotingCommand:
    """``response`` if its code is in ``ok``, else raise its error from the code table.

    Raises:
        BrokerError: (a subclass per code) with the address, code and remark.
    """
    if response.code in ok:
        return response
    raise error_for_code(response.code, response.remark, broker=addr, request=request.code)


def _translate(addr: str, code: int, exc: ProtocolError, timeout: float) -> ClientError:
    if isinstance(exc, RequestTimeoutError):
        return RequestTimeout(str(exc), broker=addr, timeout=timeout)
    if isinstance(exc, ConnectError | ConnectionLostError):
        return NotConnectedError(str(exc), broker=addr)
    if isinstance(exc, ConnectionClosedError):
        return NotConnectedError(str(exc), broker=addr)
    return ClientError(f"request {code} to {addr} failed: {exc}", broker=addr)


_InstanceKey = tuple[int, str]


@final
class ClientInstance:
    """The shared client runtime of one client id on one event loop (module docstring)."""

    _registry: ClassVar[dict[_InstanceKey, ClientInstance]] = {}

    def __init__(self, config: ClientConfig) -> None:
        """Prefer :meth:`acquire`; a directly built instance is not shared."""
        self.config = config.resolved()
        self.client_id = self.config.client_id
        self._language = self.config.language
        self._version = CURRENT_VERSION
        registry = ProcessorRegistry()
        self._remoting = RemotingClient(registry, connect_timeout=self.config.request_timeout)
        self._register_processors(registry)
        self._namesrvs = self.config.namesrv_addrs
        if not self._namesrvs:
            raise ValueError(f"namesrv_addr {config.namesrv_addr!r} names no NameServer")
        self._namesrv_index = random.randrange(len(self._namesrvs))  # noqa: S311 - spreading load
        self._routes: dict[str, TopicRouteData] = {}
        self._publish: dict[str, list[MessageQueue]] = {}
        self._subscribe: dict[str, list[MessageQueue]] = {}
        self._brokers: dict[str, dict[int, str]] = {}
        self._route_fetches: dict[str, asyncio.Future[TopicRouteData]] = {}
        self._producers: dict[str, ProducerHandle] = {}
        self._consumers: dict[str, ConsumerHandle] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._side_tasks: set[asyncio.Task[Any]] = set()
        self._heartbeat_lock = asyncio.Lock()
        self._start_lock = asyncio.Lock()
        self._started = False
        self._closed = False
        self._closing = False
        self._refs = 0
        self._key: _InstanceKey | None = None

    # ------------------------------------------------------------------ life cycle

    @classmethod
    def acquire(cls, config: ClientConfig) -> ClientInstance:
        """The shared instance for ``config``'s client id on the running loop (+1 ref).

        Must be called from a coroutine. Pair every acquire with :meth:`release`.
        """
        loop = asyncio.get_running_loop()
        resolved = config.resolved()
        key = (id(loop), resolved.client_id)
        instance = cls._registry.get(key)
        if instance is None or instance._closed or instance._closing:
            instance = cls(resolved)
            instance._key = key
            cls._registry[key] = instance
        instance._refs += 1
        return instance

    async def release(self) -> None:
        """Drop one reference; the last one closes the instance."""
        self._refs -= 1
        if self._refs <= 0:
            await self.aclose()

    async def start(self) -> None:
        """Start the periodic tasks (idempotent).

        Raises:
            ClientClosedError: the instance was closed.
        """
        async with self._start_lock:
            if self._closed or self._closing:
                raise ClientClosedError(f"client instance {self.client_id} is closed")
            if self._started:
                return
            self._started = True
            c = self.config
            self._tasks = [
                self._every(c.poll_name_server_interval, self.refresh_routes, "route-refresh"),
                self._every(c.heartbeat_interval, self.send_heartbeat_to_all_brokers, "heartbeat"),
                self._every(
                    c.persist_consumer_offset_interval, self._persist_all_offsets, "persist-offsets"
                ),
                self._every(c.rebalance_interval, self._rebalance_tick, "rebalance-tick"),
            ]
            logger.info("client instance %s started", self.client_id)

    def _every(
        self, interval: float, fn: Callable[[], Awaitable[None]], name: str
    ) -> asyncio.Task[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    await fn()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("%s of client %s failed", name, self.client_id)

        return asyncio.get_running_loop().create_task(loop(), name=f"rmq-client-{name}")

    @property
    def closed(self) -> bool:
        return self._closed

    async def aclose(self) -> None:
        """Stop the periodic tasks, unregister the inner producer, close connections.

        Idempotent; registered producers and consumers should have left first.
        """
        if self._closed or self._closing:
            return
        # Closing, not yet closed: UNREGISTER_CLIENT for the inner producer still needs
        # invoke(), which refuses a closed instance; acquire() no longer hands it out.
        self._closing = True
        if self._key is not None and self._registry.get(self._key) is self:
            del self._registry[self._key]
        tasks = [*self._tasks, *self._side_tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            if self._started:
                await self._unregister_all(producer_group=CLIENT_INNER_PRODUCER_GROUP)
        finally:
            self._closed = True
            await self._remoting.aclose(timeout=self.config.request_timeout)
        logger.info("client instance %s closed", self.client_id)

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosedError(f"client instance {self.client_id} is closed")

    # ------------------------------------------------------------------ requests

    def request(
        self,
        code: int,
        header: CommandHeader | None = None,
        *,
        body: bytes | bytearray | memoryview = b"",
        ext_fields: dict[str, str] | None = None,
    ) -> RemotingCommand:
        """A request command in this client's dialect (language, version).

        ``ext_fields`` without a ``header`` is used as it is (not copied): the send
        paths build a fresh dict per request.
        """
        if header is None:
            # NamedTuple._make from a tuple in field order: a third of the keyword
            # constructor's cost (one per send).
            return _make_command(
                (code, self._language, self._version, 0, 0, None, ext_fields, body, _JSON)
            )
        return RemotingCommand.request(
            code,
            header,
            body=body,
            ext_fields=ext_fields,
            language=self._language,
            version=self._version,
        )

    async def invoke(self, addr: str, cmd: RemotingCommand, *, timeout: float) -> RemotingCommand:
        """Send ``cmd`` to ``addr`` and return the response, whatever its code.

        Raises:
            RequestTimeout: no answer within ``timeout`` seconds.
            NotConnectedError: no connection, or it broke.
            ClientClosedError: the instance is closed.
        """
        if self._closed:
            self._check_open()
        try:
            return await self._remoting.request(addr, cmd, timeout=timeout)
        except ProtocolError as exc:
            raise self.invoke_error(addr, cmd.code, exc, timeout) from exc

    @property
    def dialect(self) -> tuple[LanguageCode, int]:
        """The (language, version) this client's requests carry."""
        return self._language, self._version

    @property
    def raw_request(self) -> Callable[..., Awaitable[RemotingCommand]]:
        """``RemotingClient.request(addr, cmd, timeout=...)``: what :meth:`invoke` awaits.

        The producer's send path awaits it directly (one coroutine fewer per send) and
        turns its :class:`~rmq_protocol.errors.ProtocolError` into a client error with
        :meth:`invoke_error`, as :meth:`invoke` does.
        """
        return self._remoting.request

    def invoke_error(self, addr: str, code: int, exc: ProtocolError, timeout: float) -> ClientError:
        """The client error :meth:`invoke` raises for ``exc`` (from :attr:`raw_request`)."""
        if self._closed:
            return ClientClosedError(
                f"client instance {self.client_id} closed during the call", broker=addr
            )
        return _translate(addr, code, exc, timeout)

    async def invoke_oneway(self, addr: str, cmd: RemotingCommand, *, timeout: float) -> None:
        """Send ``cmd`` oneway to ``addr`` (returns once written).

        Raises:
            RequestTimeout, NotConnectedError, ClientClosedError: as :meth:`invoke`.
        """
        self._check_open()
        try:
            await self._remoting.send_oneway(addr, cmd, timeout=timeout)
        except ProtocolError as exc:
            raise _translate(addr, cmd.code, exc, timeout) from exc

    async def invoke_checked(
        self, addr: str, cmd: RemotingCommand, *, timeout: float | None = None
    ) -> RemotingCommand:
        """:meth:`invoke`, raising :class:`BrokerError` for a code other than SUCCESS."""
        t = self.config.request_timeout if timeout is None else timeout
        return check_response(addr, cmd, await self.invoke(addr, cmd, timeout=t))

    async def namesrv_invoke(
        self, cmd: RemotingCommand, *, timeout: float | None = None
    ) -> RemotingCommand:
        """Send ``cmd`` to a NameServer, trying the next one on transport failure.

        Sticks with the last NameServer that answered (as Java does).

        Raises:
            RequestTimeout, NotConnectedError: no NameServer answered.
        """
        t = self.config.request_timeout if timeout is None else timeout
        last: ClientError | None = None
        count = len(self._namesrvs)
        for step in range(count):
            index = (self._namesrv_index + step) % count
            addr = self._namesrvs[index]
            try:
                response = await self.invoke(addr, cmd, timeout=t)
            except (RequestTimeout, NotConnectedError) as exc:
                last = exc
                continue
            self._namesrv_index = index
            return response
        if last is None:  # pragma: no cover - there is at least one NameServer
            raise ClientError("no NameServer configured")
        raise last

    # ------------------------------------------------------------------ routes

    async def topic_route(self, topic: str, *, refresh: bool = False) -> TopicRouteData:
        """The route of ``topic`` (cached; ``refresh`` asks the NameServer again).

        Concurrent fetches of one topic share one request.

        Raises:
            TopicNotFoundError: the NameServer knows no such topic.
            RequestTimeout, NotConnectedError: no NameServer answered.
        """
        if not refresh:
            route = self._routes.get(topic)
            if route is not None:
                return route
        fetch = self._route_fetches.get(topic)
        if fetch is None:
            fetch = asyncio.ensure_future(self._fetch_route(topic))
            self._route_fetches[topic] = fetch
            fetch.add_done_callback(lambda f: self._route_done(topic, f))
        return await asyncio.shield(fetch)

    def _route_done(self, topic: str, fetch: asyncio.Future[TopicRouteData]) -> None:
        if self._route_fetches.get(topic) is fetch:
            del self._route_fetches[topic]
        if not fetch.cancelled():
            fetch.exception()  # retrieved: waiters may all have gone

    async def _fetch_route(self, topic: str) -> TopicRouteData:
        cmd = self.request(
            RequestCode.GET_ROUTEINFO_BY_TOPIC, GetRouteInfoRequestHeader(topic=topic)
        )
        response = await self.namesrv_invoke(cmd)
        check_response(self._namesrvs[self._namesrv_index], cmd, response)
        route = TopicRouteData.from_json(response.body)
        self.update_route(topic, route)
        return route

    def update_route(self, topic: str, route: TopicRouteData) -> None:
        """Cache ``route`` for ``topic`` and the queues and addresses it implies."""
        old = self._routes.get(topic)
        self._routes[topic] = route
        discovered = False
        for broker in route.broker_datas:
            addrs = dict(broker.broker_addrs)
            if self._brokers.get(broker.broker_name) != addrs:
                discovered = True
            self._brokers[broker.broker_name] = addrs
        if discovered and self._started and not self._closed and self._producers:
            # A broker we have not told about our groups yet: heartbeat now (the C++ and
            # 5.x clients do), so it can call back (transaction checks) before the tick.
            self.spawn(self.send_heartbeat_to_all_brokers(), name="rmq-client-heartbeat-new")
        if old == route and topic in self._publish:
            return
        masters = {b.broker_name for b in route.broker_datas if MASTER_ID in b.broker_addrs}
        publish: list[MessageQueue] = []
        subscribe: list[MessageQueue] = []
        for qd in sorted(route.queue_datas, key=lambda q: q.broker_name):
            if qd.perm & PERM_WRITE and qd.broker_name in masters:
                publish += (
                    MessageQueue(topic, qd.broker_name, i) for i in range(qd.write_queue_nums)
                )
            if qd.perm & PERM_READ:
                subscribe += (
                    MessageQueue(topic, qd.broker_name, i) for i in range(qd.read_queue_nums)
                )
        self._publish[topic] = publish
        self._subscribe[topic] = subscribe
        if old is not None:
            logger.info("route of topic %s changed: %s", topic, route)

    def forget_route(self, topic: str) -> None:
        """Drop the cached route of ``topic``."""
        self._routes.pop(topic, None)
        self._publish.pop(topic, None)
        self._subscribe.pop(topic, None)

    def cached_route(self, topic: str) -> TopicRouteData | None:
        return self._routes.get(topic)

    def broker_addr(self, broker_name: str, broker_id: int = MASTER_ID) -> str | None:
        """The address of ``broker_name``'s broker ``broker_id`` from cached routes."""
        addrs = self._brokers.get(broker_name)
        if addrs is None:
            return None
        addr = addrs.get(broker_id)
        if addr is not None and self.config.vip_channel:
            host, _, port = addr.rpartition(":")
            addr = f"{host}:{int(port) - 2}"
        return addr

    def broker_addrs(self, broker_name: str) -> dict[int, str]:
        """Every known address of ``broker_name`` by broker id."""
        return dict(self._brokers.get(broker_name, {}))

    @property
    def broker_names(self) -> list[str]:
        return sorted(self._brokers)

    async def find_broker_addr(self, broker_name: str, *, master_only: bool = True) -> str:
        """The address of ``broker_name`` (master, or any broker when not ``master_only``),
        refreshing routes once if it is unknown.

        Raises:
            ClientError: no broker of that name is known.
        """
        for attempt in range(2):
            addrs = self._brokers.get(broker_name, {})
            addr = self.broker_addr(broker_name, MASTER_ID)
            if addr is None and not master_only and addrs:
                addr = addrs[min(addrs)]
            if addr is not None:
                return addr
            if attempt == 0:
                await self.refresh_routes()
        raise ClientError(
            f"no {'master ' if master_only else ''}address known for broker {broker_name!r}; "
            "is it registered with the NameServer?"
        )

    def publish_queues(self, topic: str) -> list[MessageQueue]:
        """Writable queues of ``topic`` on brokers with a master (cached route)."""
        return self._publish.get(topic, [])

    def subscribe_queues(self, topic: str) -> list[MessageQueue]:
        """Readable queues of ``topic`` (cached route)."""
        return self._subscribe.get(topic, [])

    async def refresh_routes(self) -> None:
        """Re-fetch the route of every topic in use (cached or subscribed)."""
        topics = set(self._routes)
        for consumer in list(self._consumers.values()):
            topics |= consumer.topics()
        for topic in sorted(topics):
            try:
                await self.topic_route(topic, refresh=True)
            except BrokerError as exc:
                logger.debug("route of %s not refreshed: %s", topic, exc)
            except (RequestTimeout, NotConnectedError) as exc:
                logger.warning("route refresh failed (%s); keeping cached routes", exc)
                return

    # ------------------------------------------------------------------ registration

    def register_producer(self, group: str, producer: ProducerHandle) -> None:
        """Serve ``producer`` (heartbeats, transaction checks).

        Raises:
            ClientError: another producer of ``group`` is registered on this instance.
        """
        self._check_open()
        if group in self._producers and self._producers[group] is not producer:
            raise ClientError(
                f"producer group {group!r} is already registered by client {self.client_id}; "
                "use another group or instance_name"
            )
        self._producers[group] = producer

    async def unregister_producer(self, group: str) -> None:
        """Stop serving the producer of ``group`` and tell every broker."""
        if self._producers.pop(group, None) is not None and not self._closed:
            await self._unregister_all(producer_group=group)

    def register_consumer(self, group: str, consumer: ConsumerHandle) -> None:
        """Serve ``consumer`` (heartbeats, rebalance ticks, broker requests).

        Raises:
            ClientError: another consumer of ``group`` is registered on this instance.
        """
        self._check_open()
        if group in self._consumers and self._consumers[group] is not consumer:
            raise ClientError(
                f"consumer group {group!r} is already registered by client {self.client_id}; "
                "use another group or instance_name"
            )
        self._consumers[group] = consumer

    async def unregister_consumer(self, group: str) -> None:
        """Stop serving the consumer of ``group`` and send UNREGISTER_CLIENT to every broker."""
        if self._consumers.pop(group, None) is not None and not self._closed:
            await self._unregister_all(consumer_group=group)

    def producer(self, group: str) -> ProducerHandle | None:
        return self._producers.get(group)

    def consumer(self, group: str) -> ConsumerHandle | None:
        return self._consumers.get(group)

    async def _unregister_all(
        self, *, producer_group: str | None = None, consumer_group: str | None = None
    ) -> None:
        header = UnregisterClientRequestHeader(
            client_id=self.client_id, producer_group=producer_group, consumer_group=consumer_group
        )
        addrs = {a for addrs in self._brokers.values() for a in addrs.values()}

        async def one(addr: str) -> None:
            try:
                await self.invoke(
                    addr,
                    self.request(RequestCode.UNREGISTER_CLIENT, header),
                    timeout=self.config.request_timeout,
                )
            except ClientError as exc:
                logger.info("UNREGISTER_CLIENT to %s failed: %s", addr, exc)

        await asyncio.gather(*(one(a) for a in sorted(addrs)))

    # ------------------------------------------------------------------ heartbeats

    def heartbeat_data(self) -> HeartbeatData:
        """This client's HEART_BEAT body (Java's dialect: enum names, inner producer)."""
        producers = [ProducerData(g) for g in self._producers]
        producers.append(ProducerData(CLIENT_INNER_PRODUCER_GROUP))
        consumers = [
            ConsumerData(
                group_name=c.group,
                consume_type=c.consume_type,
                message_model=c.message_model,
                consume_from_where=c.consume_from_where,
                subscription_data_set=tuple(c.subscriptions()),
                unit_mode=c.unit_mode,
            )
            for c in self._consumers.values()
        ]
        return HeartbeatData(
            client_id=self.client_id,
            producer_data_set=tuple(producers),
            consumer_data_set=tuple(consumers),
        )

    async def send_heartbeat_to_all_brokers(self) -> None:
        """HEART_BEAT to every known broker (masters only when no consumer is registered).

        Failures are logged, not raised: the next tick tries again.
        """
        if self._closed or (not self._producers and not self._consumers):
            return
        async with self._heartbeat_lock:
            body = self.heartbeat_data().to_json()
            with_slaves = bool(self._consumers)
            addrs = sorted(
                {
                    addr
                    for addrs in self._brokers.values()
                    for bid, addr in addrs.items()
                    if with_slaves or bid == MASTER_ID
                }
            )

            async def one(addr: str) -> None:
                cmd = self.request(RequestCode.HEART_BEAT, body=body)
                try:
                    await self.invoke_checked(addr, cmd)
                except ClientError as exc:
                    logger.warning("heartbeat to %s failed: %s", addr, exc)

            await asyncio.gather(*(one(a) for a in addrs))

    async def _persist_all_offsets(self) -> None:
        for consumer in list(self._consumers.values()):
            try:
                await consumer.persist_offsets()
            except ClientError as exc:
                logger.warning("persisting offsets of group %s failed: %s", consumer.group, exc)

    async def _rebalance_tick(self) -> None:
        for consumer in list(self._consumers.values()):
            consumer.rebalance_soon()

    # ------------------------------------------------------------------ server -> client

    def spawn(self, coro: Awaitable[Any], *, name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a task the instance owns (cancelled on close)."""

        async def run() -> Any:
            return await coro

        task = asyncio.get_running_loop().create_task(run(), name=name)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_done)
        return task

    def _side_done(self, task: asyncio.Task[Any]) -> None:
        self._side_tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error(
                "task %s of client %s failed", task.get_name(), self.client_id, exc_info=exc
            )

    def _register_processors(self, registry: ProcessorRegistry) -> None:
        registry.register(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, self._on_ids_changed)
        registry.register(RequestCode.CHECK_TRANSACTION_STATE, self._on_check_transaction)
        registry.register(RequestCode.RESET_CONSUMER_CLIENT_OFFSET, self._on_reset_offset)
        registry.register(RequestCode.GET_CONSUMER_STATUS_FROM_CLIENT, self._on_consumer_status)
        registry.register(RequestCode.GET_CONSUMER_RUNNING_INFO, self._on_running_info)
        registry.register(RequestCode.CONSUME_MESSAGE_DIRECTLY, self._on_consume_directly)

    def _answer(
        self,
        cmd: RemotingCommand,
        code: int = ResponseCode.SUCCESS,
        remark: str | None = None,
        *,
        body: bytes = b"",
    ) -> RemotingCommand:
        return RemotingCommand.response_to(
            cmd, code, remark, body=body, language=self._language, version=self._version
        )

    def _on_ids_changed(self, cmd: RemotingCommand, conn: Connection) -> RemotingCommand | None:
        header = cmd.decode_header(NotifyConsumerIdsChangedRequestHeader)
        consumer = self._consumers.get(header.consumer_group)
        logger.info("broker %s: consumer ids of group %s changed", conn.peer, header.consumer_group)
        if consumer is not None:
            consumer.rebalance_soon()
        return None

    def _on_check_transaction(
        self, cmd: RemotingCommand, conn: Connection
    ) -> RemotingCommand | None:
        header = cmd.decode_header(CheckTransactionStateRequestHeader)
        msg, _ = decode_message(bytes(cmd.body))
        group = msg.properties.get("PGROUP")
        producer = self._producers.get(group) if group else None
        if producer is None:
            logger.warning(
                "CHECK_TRANSACTION_STATE from %s for group %s: no such producer here",
                conn.peer,
                group,
            )
            return None
        self.spawn(
            producer.check_transaction_state(conn.peer, msg, header),
            name=f"rmq-client-check-transaction-{header.commit_log_offset}",
        )
        return None

    async def _on_reset_offset(self, cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
        header = cmd.decode_header(ResetOffsetRequestHeader)
        consumer = self._consumers.get(header.group)
        if consumer is None:
            return self._answer(
                cmd, ResponseCode.SYSTEM_ERROR, f"no consumer of group {header.group} here"
            )
        offsets = dict(ResetOffsetBody.from_json(cmd.body).offset_table) if cmd.body else {}
        logger.info(
            "broker %s resets offsets of group %s topic %s: %d queues",
            conn.peer,
            header.group,
            header.topic,
            len(offsets),
        )
        await consumer.reset_offsets(header.topic, offsets)
        return self._answer(cmd)

    def _on_consumer_status(self, cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
        header = cmd.decode_header(GetConsumerStatusRequestHeader)
        offsets = consumer_offsets(self._consumers.get(header.group), header.topic)
        return self._answer(cmd, body=consumer_status_body(offsets))  # see _consumer_status

    def _on_running_info(self, cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
        header = cmd.decode_header(GetConsumerRunningInfoRequestHeader)
        consumer = self._consumers.get(header.consumer_group)
        if consumer is None:
            return self._answer(
                cmd,
                ResponseCode.SYSTEM_ERROR,
                f"The Consumer Group <{header.consumer_group}> not exist in this consumer",
            )
        body = dumps(consumer.running_info(), object_keys=True)  # type: ignore[arg-type]
        return self._answer(cmd, body=body)

    async def _on_consume_directly(self, cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
        header = cmd.decode_header(ConsumeMessageDirectlyResultRequestHeader)
        consumer = self._consumers.get(header.consumer_group)
        direct = getattr(consumer, "consume_directly", None)
        if consumer is None or direct is None:
            return self._answer(
                cmd,
                ResponseCode.SYSTEM_ERROR,
                f"The Consumer Group <{header.consumer_group}> not exist in this consumer "
                "or cannot consume directly",
            )
        msg, _ = decode_message(bytes(cmd.body))
        result = await direct(msg)
        return self._answer(cmd, body=dumps(result))

    # ------------------------------------------------------------------ misc

    def statistics(self) -> dict[str, int]:
        """Counters: connections, cached routes, registered clients."""
        return {
            "connections": len(self._remoting.addresses),
            "routes": len(self._routes),
            "producers": len(self._producers),
            "consumers": len(self._consumers),
        }
