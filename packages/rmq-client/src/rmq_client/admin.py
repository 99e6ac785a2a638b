"""Admin: manage topics and groups, inspect routes, progress and messages (what Java's
``DefaultMQAdminExt`` / ``mqadmin`` do).

::

    async with Admin("127.0.0.1:9876") as admin:
        await admin.create_topic("TopicTest", queue_nums=8)
        await admin.create_subscription_group("CID_demo")
        progress = await admin.consumer_progress("CID_demo")
        print(progress.total_lag, [q.lag for q in progress.queues])
        msg = await admin.query_message_by_id(result.offset_msg_id)
        await admin.reset_offsets_by_timestamp("CID_demo", "TopicTest", time.time() - 3600)

Topic and group changes go to every master broker of the cluster (all clusters the
NameServer knows when ``cluster`` is None). Timestamps are seconds since the epoch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Self, TypeAlias, final

from rmq_client._instance import MASTER_ID, ClientConfig, ClientInstance, check_response
from rmq_client.errors import BrokerError, ClientClosedError, ClientError, OffsetNotFoundError
from rmq_client.message import ReceivedMessage
from rmq_client.trace._codec import TRACE_TOPIC
from rmq_client.trace._query import MessageTrack, message_consumed_by, query_message_trace
from rmq_client.trace._view import MessageTrace
from rmq_protocol.codec.body import (
    ClusterInfo,
    Connection,
    ConsumerConnection,
    ConsumeStats,
    MessageQueue,
    ProducerConnection,
    ResetOffsetBody,
    SubscriptionGroupConfig,
    TopicOffset,
    TopicRouteData,
    TopicStatsTable,
)
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import (
    CreateTopicRequestHeader,
    DeleteSubscriptionGroupRequestHeader,
    DeleteTopicFromNamesrvRequestHeader,
    DeleteTopicRequestHeader,
    GetConsumerConnectionListRequestHeader,
    GetConsumeStatsRequestHeader,
    GetProducerConnectionListRequestHeader,
    GetTopicStatsInfoRequestHeader,
    PullMessageRequestHeader,
    QueryMessageRequestHeader,
    ResetOffsetRequestHeader,
    SearchOffsetRequestHeader,
    UpdateConsumerOffsetRequestHeader,
    ViewMessageRequestHeader,
)
from rmq_protocol.codec.message import decode_messages
from rmq_protocol.codec.msgid import decode_offset_msg_id
from rmq_protocol.errors import ProtocolError

__all__ = ["Admin", "ConsumerProgress", "QueueProgress"]

logger = logging.getLogger(__name__)

_Build: TypeAlias = Callable[[ClientInstance], RemotingCommand]

TOOLS_CONSUMER_GROUP: Final = "TOOLS_CONSUMER"
_PERM_READ_WRITE: Final = 6


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueProgress:
    """One queue of a consumer group's progress (mqadmin consumerProgress line).

    Attributes:
        queue: the queue.
        broker_offset: next offset the broker will write (max offset).
        consumer_offset: the group's committed offset.
        lag: messages not consumed yet (``broker_offset - consumer_offset``).
        last_timestamp: store time (s) of the last consumed message, 0 if unknown.
        lag_seconds: how long the oldest unconsumed message has been waiting (s),
            estimated as now − ``last_timestamp`` when ``lag`` > 0, else 0.
    """

    queue: MessageQueue
    broker_offset: int
    consumer_offset: int
    lag: int
    last_timestamp: float
    lag_seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsumerProgress:
    """A consumer group's progress over all its queues."""

    group: str
    queues: tuple[QueueProgress, ...]
    consume_tps: float

    @property
    def total_lag(self) -> int:
        return sum(q.lag for q in self.queues)

    @property
    def max_lag_seconds(self) -> float:
        return max((q.lag_seconds for q in self.queues), default=0.0)


@final
class Admin:
    """Administrative requests to NameServers and brokers (one event loop)."""

    def __init__(
        self,
        namesrv_addr: str | None = None,
        *,
        config: ClientConfig | None = None,
        timeout: float = 3.0,
    ) -> None:
        if config is None:
            if namesrv_addr is None:
                raise ValueError("Admin needs namesrv_addr or config")
            config = ClientConfig(namesrv_addr=namesrv_addr)
        self.config = config
        self.timeout = timeout
        self._instance: ClientInstance | None = None
        self._closed = False

    async def start(self) -> None:
        """Join the client instance. Idempotent."""
        if self._closed:
            raise ClientClosedError("admin is closed")
        if self._instance is None:
            instance = ClientInstance.acquire(self.config)
            try:
                await instance.start()
            except BaseException:
                await instance.release()
                raise
            self._instance = instance

    async def aclose(self) -> None:
        """Release the client instance. Idempotent."""
        self._closed = True
        instance, self._instance = self._instance, None
        if instance is not None:
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

    @property
    def instance(self) -> ClientInstance:
        if self._instance is None:
            raise ClientClosedError(f"admin is {'closed' if self._closed else 'not started'}")
        return self._instance

    # ------------------------------------------------------------------ cluster

    async def cluster_info(self) -> ClusterInfo:
        """Brokers and clusters the NameServer knows (GET_BROKER_CLUSTER_INFO)."""
        instance = self.instance
        cmd = instance.request(RequestCode.GET_BROKER_CLUSTER_INFO)
        response = await instance.namesrv_invoke(cmd, timeout=self.timeout)
        check_response(None, cmd, response)
        return ClusterInfo.from_json(response.body)

    async def master_addrs(self, cluster: str | None = None) -> list[str]:
        """Addresses of the master brokers of ``cluster`` (every cluster when None).

        Raises:
            ClientError: the cluster is unknown or has no master.
        """
        info = await self.cluster_info()
        if cluster is None:
            names = set(info.broker_addr_table)
        elif cluster in info.cluster_addr_table:
            names = set(info.cluster_addr_table[cluster])
        else:
            raise ClientError(
                f"cluster {cluster!r} unknown to the NameServer "
                f"(known: {', '.join(sorted(info.cluster_addr_table)) or 'none'})"
            )
        addrs = sorted(
            data.broker_addrs[MASTER_ID]
            for name, data in info.broker_addr_table.items()
            if name in names and MASTER_ID in data.broker_addrs
        )
        if not addrs:
            raise ClientError(f"no master broker in cluster {cluster or '(any)'}")
        return addrs

    async def _to_masters(self, cluster: str | None, build: _Build) -> None:
        instance = self.instance
        addrs = await self.master_addrs(cluster)
        await asyncio.gather(
            *(instance.invoke_checked(a, build(instance), timeout=self.timeout) for a in addrs)
        )

    # ------------------------------------------------------------------ topics

    async def create_topic(
        self,
        topic: str,
        *,
        queue_nums: int = 8,
        read_queue_nums: int | None = None,
        write_queue_nums: int | None = None,
        perm: int = _PERM_READ_WRITE,
        order: bool = False,
        cluster: str | None = None,
        multi_tag: bool = False,
        attributes: Mapping[str, str] | None = None,
        wait_route: bool = True,
    ) -> None:
        """Create or update ``topic`` on every master of ``cluster`` (UPDATE_AND_CREATE_TOPIC).

        ``wait_route``: return only once the NameServer routes the topic (the brokers
        register it asynchronously), for up to ``timeout`` seconds.

        Raises:
            BrokerError: a broker refused (bad name, …).
        """
        header = CreateTopicRequestHeader(
            topic=topic,
            default_topic="TBW102",
            read_queue_nums=read_queue_nums or queue_nums,
            write_queue_nums=write_queue_nums or queue_nums,
            perm=perm,
            topic_filter_type="MULTI_TAG" if multi_tag else "SINGLE_TAG",
            order=order,
            attributes=(
                ",".join(f"+{k}={v}" for k, v in sorted(attributes.items())) if attributes else None
            ),
        )
        await self._to_masters(
            cluster, lambda i: i.request(RequestCode.UPDATE_AND_CREATE_TOPIC, header)
        )
        if wait_route:
            await self._wait_route(topic, present=True)

    async def _wait_route(self, topic: str, *, present: bool) -> None:
        instance = self.instance
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                await instance.topic_route(topic, refresh=True)
                found = True
            except BrokerError as exc:
                if exc.code != ResponseCode.TOPIC_NOT_EXIST:
                    raise
                found = False
            if found == present or time.monotonic() >= deadline:
                return
            await asyncio.sleep(0.05)

    async def delete_topic(self, topic: str, *, cluster: str | None = None) -> None:
        """Delete ``topic`` from the masters of ``cluster`` and from the NameServers."""
        await self._to_masters(
            cluster,
            lambda i: i.request(
                RequestCode.DELETE_TOPIC_IN_BROKER, DeleteTopicRequestHeader(topic=topic)
            ),
        )
        instance = self.instance
        cmd = instance.request(
            RequestCode.DELETE_TOPIC_IN_NAMESRV,
            DeleteTopicFromNamesrvRequestHeader(topic=topic, cluster_name=cluster),
        )
        for addr in instance.config.namesrv_addrs:
            await instance.invoke_checked(addr, cmd, timeout=self.timeout)
        instance.forget_route(topic)

    async def topic_route(self, topic: str) -> TopicRouteData:
        """The NameServer's route of ``topic`` (fresh).

        Raises:
            TopicNotFoundError: no such topic.
        """
        return await self.instance.topic_route(topic, refresh=True)

    async def topic_status(self, topic: str) -> dict[MessageQueue, TopicOffset]:
        """Min/max offset and last update time of every queue of ``topic``
        (GET_TOPIC_STATS_INFO to each broker of its route)."""
        instance = self.instance
        route = await instance.topic_route(topic, refresh=True)
        out: dict[MessageQueue, TopicOffset] = {}
        for broker in route.broker_datas:
            addr = broker.broker_addrs.get(MASTER_ID)
            if addr is None:
                continue
            cmd = instance.request(
                RequestCode.GET_TOPIC_STATS_INFO, GetTopicStatsInfoRequestHeader(topic=topic)
            )
            response = await instance.invoke_checked(addr, cmd, timeout=self.timeout)
            out.update(TopicStatsTable.from_json(response.body).offset_table)
        return dict(sorted(out.items()))

    # ------------------------------------------------------------------ groups

    async def create_subscription_group(
        self,
        group: str,
        *,
        cluster: str | None = None,
        retry_max_times: int = 16,
        retry_queue_nums: int = 1,
        consume_broadcast_enable: bool = True,
        consume_message_orderly: bool = False,
        consume_enable: bool = True,
    ) -> None:
        """Create or update a consumer group on every master of ``cluster``."""
        body = SubscriptionGroupConfig(
            group_name=group,
            retry_max_times=retry_max_times,
            retry_queue_nums=retry_queue_nums,
            consume_broadcast_enable=consume_broadcast_enable,
            consume_message_orderly=consume_message_orderly,
            consume_enable=consume_enable,
        ).to_json()
        await self._to_masters(
            cluster, lambda i: i.request(RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, body=body)
        )

    async def delete_subscription_group(
        self, group: str, *, cluster: str | None = None, clean_offset: bool = False
    ) -> None:
        """Delete a consumer group (and its offsets if ``clean_offset``) from the masters."""
        header = DeleteSubscriptionGroupRequestHeader(group_name=group, clean_offset=clean_offset)
        await self._to_masters(
            cluster, lambda i: i.request(RequestCode.DELETE_SUBSCRIPTIONGROUP, header)
        )

    async def consumer_connections(self, group: str) -> ConsumerConnection:
        """The online clients of ``group`` and their subscriptions (from the first
        broker that knows the group; GET_CONSUMER_CONNECTION_LIST).

        Raises:
            BrokerError: CONSUMER_NOT_ONLINE (206) when no client of the group is connected.
        """
        instance = self.instance
        header = GetConsumerConnectionListRequestHeader(consumer_group=group)
        error: BrokerError | None = None
        for addr in await self._group_brokers(group):
            cmd = instance.request(RequestCode.GET_CONSUMER_CONNECTION_LIST, header)
            try:
                response = await instance.invoke_checked(addr, cmd, timeout=self.timeout)
            except BrokerError as exc:
                error = exc
                continue
            return ConsumerConnection.from_json(response.body)
        if error is not None:
            raise error
        raise ClientError(f"no broker to ask about group {group!r}")

    async def producer_connections(self, group: str) -> ProducerConnection:
        """The clients of producer ``group`` every master knows (GET_PRODUCER_CONNECTION_LIST),
        merged."""
        instance = self.instance
        header = GetProducerConnectionListRequestHeader(producer_group=group)
        seen: dict[str, Connection] = {}
        for addr in await self.master_addrs():
            cmd = instance.request(RequestCode.GET_PRODUCER_CONNECTION_LIST, header)
            response = await instance.invoke(addr, cmd, timeout=self.timeout)
            if response.code == ResponseCode.SUCCESS and response.body:
                for c in ProducerConnection.from_json(response.body).connection_set:
                    seen.setdefault(c.client_id, c)
        return ProducerConnection(tuple(seen.values()))

    async def _group_brokers(self, group: str) -> list[str]:
        """Master addresses where ``group`` may be (its retry topic's route, else all)."""
        instance = self.instance
        try:
            route = await instance.topic_route(f"%RETRY%{group}", refresh=True)
        except BrokerError:
            return await self.master_addrs()
        return sorted(
            b.broker_addrs[MASTER_ID] for b in route.broker_datas if MASTER_ID in b.broker_addrs
        )

    async def consumer_progress(self, group: str, *, topic: str | None = None) -> ConsumerProgress:
        """Per-queue broker offset, consumer offset and lag of ``group``
        (GET_CONSUME_STATS to every master; lag in messages and seconds)."""
        instance = self.instance
        header = GetConsumeStatsRequestHeader(consumer_group=group, topic=topic)
        queues: list[QueueProgress] = []
        tps = 0.0
        now = time.time()
        for addr in await self.master_addrs():
            cmd = instance.request(RequestCode.GET_CONSUME_STATS, header)
            response = await instance.invoke(addr, cmd, timeout=self.timeout)
            if response.code != ResponseCode.SUCCESS:
                if response.code in (
                    ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
                    ResponseCode.CONSUMER_NOT_ONLINE,
                    ResponseCode.SYSTEM_ERROR,
                ):
                    logger.debug("consume stats of %s at %s: %s", group, addr, response.remark)
                    continue
                check_response(addr, cmd, response)
            stats = ConsumeStats.from_json(response.body)
            tps += stats.consume_tps
            for mq, w in stats.offset_table.items():
                lag = max(w.broker_offset - w.consumer_offset, 0)
                last = w.last_timestamp / 1000
                queues.append(
                    QueueProgress(
                        queue=mq,
                        broker_offset=w.broker_offset,
                        consumer_offset=w.consumer_offset,
                        lag=lag,
                        last_timestamp=last,
                        lag_seconds=max(now - last, 0.0) if lag and last else 0.0,
                    )
                )
        queues.sort(key=lambda q: q.queue)
        return ConsumerProgress(group=group, queues=tuple(queues), consume_tps=tps)

    async def reset_offsets_by_timestamp(
        self, group: str, topic: str, timestamp: float, *, force: bool = True
    ) -> dict[MessageQueue, int]:
        """Move ``group``'s offsets on ``topic`` to the first message stored at or after
        ``timestamp`` (seconds since the epoch), also while the group runs.

        Asks each broker (INVOKE_BROKER_TO_RESET_OFFSET), which tells the running
        consumers (RESET_CONSUMER_CLIENT_OFFSET). If no consumer of the group is online,
        or the broker does not support that request, the offsets are written directly
        (SEARCH_OFFSET_BY_TIMESTAMP + UPDATE_CONSUMER_OFFSET), as mqadmin does.

        Returns:
            The new offset of every queue.
        """
        instance = self.instance
        route = await instance.topic_route(topic, refresh=True)
        millis = int(timestamp * 1000)
        result: dict[MessageQueue, int] = {}
        for broker in route.broker_datas:
            addr = broker.broker_addrs.get(MASTER_ID)
            if addr is None:
                continue
            header = ResetOffsetRequestHeader(
                group=group, topic=topic, timestamp=millis, is_force=force
            )
            cmd = instance.request(RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, header)
            response = await instance.invoke(addr, cmd, timeout=self.timeout)
            if response.code == ResponseCode.SUCCESS and response.body:
                result.update(ResetOffsetBody.from_json(response.body).offset_table)
                continue
            if response.code not in (
                ResponseCode.SUCCESS,
                ResponseCode.CONSUMER_NOT_ONLINE,
                ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
            ):
                check_response(addr, cmd, response)
            logger.info(
                "broker %s did not reset group %s through its consumers (%s); writing offsets",
                addr,
                group,
                response.remark,
            )
            result.update(
                await self._reset_directly(addr, broker.broker_name, group, topic, millis)
            )
        return dict(sorted(result.items()))

    async def _reset_directly(
        self, addr: str, broker_name: str, group: str, topic: str, millis: int
    ) -> dict[MessageQueue, int]:
        instance = self.instance
        out: dict[MessageQueue, int] = {}
        for mq in instance.subscribe_queues(topic):
            if mq.broker_name != broker_name:
                continue
            search = instance.request(
                RequestCode.SEARCH_OFFSET_BY_TIMESTAMP,
                SearchOffsetRequestHeader(topic=topic, queue_id=mq.queue_id, timestamp=millis),
            )
            response = await instance.invoke_checked(addr, search, timeout=self.timeout)
            offset = int((response.ext_fields or {}).get("offset", "0"))
            update = instance.request(
                RequestCode.UPDATE_CONSUMER_OFFSET,
                UpdateConsumerOffsetRequestHeader(
                    consumer_group=group, topic=topic, queue_id=mq.queue_id, commit_offset=offset
                ),
            )
            await instance.invoke_checked(addr, update, timeout=self.timeout)
            out[mq] = offset
        return out

    # ------------------------------------------------------------------ messages

    async def query_message_by_id(
        self, msg_id: str, *, topic: str | None = None
    ) -> ReceivedMessage:
        """The message with offset id ``msg_id`` (VIEW_MESSAGE_BY_ID), or, when
        ``msg_id`` is not an offset id of a known broker and ``topic`` is given, the
        message with that unique key (UNIQ_KEY).

        Raises:
            OffsetNotFoundError: no such message.
        """
        instance = self.instance
        try:
            host, port, offset = decode_offset_msg_id(msg_id)
        except ProtocolError:
            host = ""
        known = {a for name in instance.broker_names for a in instance.broker_addrs(name).values()}
        if host and (topic is None or f"{host}:{port}" in known):
            addr = f"{host}:{port}"
            cmd = instance.request(
                RequestCode.VIEW_MESSAGE_BY_ID, ViewMessageRequestHeader(topic=topic, offset=offset)
            )
            try:
                response = await instance.invoke_checked(addr, cmd, timeout=self.timeout)
            except ClientError:
                if topic is None:
                    raise
            else:
                return decode_messages(response.body)[0]
        if topic is None:
            raise OffsetNotFoundError(
                f"{msg_id!r} is not an offset message id; give the topic to look it up as a "
                "unique key",
                broker=None,
                code=ResponseCode.QUERY_NOT_FOUND,
            )
        found = await self.query_messages(topic, msg_id, unique_key=True, max_num=1)
        if not found:
            raise OffsetNotFoundError(
                f"no message with id {msg_id} in topic {topic}",
                broker=None,
                code=ResponseCode.QUERY_NOT_FOUND,
            )
        return found[0]

    async def query_messages(
        self,
        topic: str,
        key: str,
        *,
        max_num: int = 32,
        begin: float = 0.0,
        end: float | None = None,
        unique_key: bool = False,
    ) -> list[ReceivedMessage]:
        """Messages of ``topic`` with business key ``key`` (or UNIQ_KEY when
        ``unique_key``) stored between ``begin`` and ``end`` (epoch seconds), from every
        broker of the topic (QUERY_MESSAGE). An empty list when none."""
        instance = self.instance
        route = await instance.topic_route(topic, refresh=True)
        end_ms = int((time.time() if end is None else end) * 1000)
        header = QueryMessageRequestHeader(
            topic=topic,
            key=key,
            max_num=max_num,
            begin_timestamp=int(begin * 1000),
            end_timestamp=end_ms,
            unique_key_query=unique_key,
        )
        out: list[ReceivedMessage] = []
        for broker in route.broker_datas:
            addr = broker.broker_addrs.get(MASTER_ID)
            if addr is None:
                continue
            cmd = instance.request(RequestCode.QUERY_MESSAGE, header)
            response = await instance.invoke(addr, cmd, timeout=self.timeout)
            if response.code == ResponseCode.QUERY_NOT_FOUND:
                continue
            check_response(addr, cmd, response)
            for msg in decode_messages(response.body):
                if unique_key:
                    if msg.msg_id == key:
                        out.append(msg)
                elif key in msg.keys:
                    out.append(msg)
        return out[:max_num] if unique_key else out

    async def query_message_by_queue_offset(
        self, queue: MessageQueue, offset: int
    ) -> ReceivedMessage | None:
        """The message at ``offset`` of ``queue`` (a one-message PULL_MESSAGE as
        TOOLS_CONSUMER), or None if the queue has no message there."""
        instance = self.instance
        await instance.topic_route(queue.topic)
        addr = await instance.find_broker_addr(queue.broker_name)
        header = PullMessageRequestHeader(
            consumer_group=TOOLS_CONSUMER_GROUP,
            topic=queue.topic,
            queue_id=queue.queue_id,
            queue_offset=offset,
            max_msg_nums=1,
            sys_flag=0x4,
            commit_offset=0,
            suspend_timeout_millis=0,
            subscription="*",
            sub_version=0,
            expression_type="TAG",
        )
        cmd = instance.request(RequestCode.PULL_MESSAGE, header)
        response = await instance.invoke(addr, cmd, timeout=self.timeout)
        if response.code != ResponseCode.SUCCESS or not response.body:
            return None
        messages = decode_messages(response.body)
        return messages[0] if messages and messages[0].queue_offset == offset else None

    # ------------------------------------------------------------------ message trace

    async def query_message_trace(
        self,
        msg_id: str,
        *,
        trace_topic: str = TRACE_TOPIC,
        max_num: int = 64,
        begin: float = 0.0,
        end: float | None = None,
        check_dlq: bool = True,
    ) -> MessageTrace:
        """The trace of message ``msg_id`` (its UNIQ_KEY): sends, consumption attempts per
        group with result, cost and retry count, DLQ moves (mqadmin ``queryMsgTraceById``;
        reads records written by Java clients too). See :mod:`rmq_client.trace`."""
        return await query_message_trace(
            self, msg_id, trace_topic=trace_topic, max_num=max_num, begin=begin, end=end,
            check_dlq=check_dlq,
        )  # fmt: skip

    async def message_consumed_by(self, msg: ReceivedMessage) -> list[MessageTrack]:
        """Each group consuming ``msg.topic`` and whether it has consumed ``msg``
        (committed offset past the message; the "consumed" column of mqadmin
        ``queryMsgById``)."""
        return await message_consumed_by(self, msg)
