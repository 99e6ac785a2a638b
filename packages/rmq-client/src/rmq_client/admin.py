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

from rmq_client._consumer_status import decode_consumer_table
from rmq_client._instance import MASTER_ID, ClientConfig, ClientInstance, check_response
from rmq_client.errors import (
    BrokerError,
    ClientClosedError,
    ClientError,
    OffsetNotFoundError,
    error_for_code,
)
from rmq_client.message import ReceivedMessage
from rmq_client.trace._codec import TRACE_TOPIC
from rmq_client.trace._query import MessageTrack, message_consumed_by, query_message_trace
from rmq_client.trace._view import MessageTrace
from rmq_protocol.codec.body import (
    ClusterInfo,
    Connection,
    ConsumerConnection,
    ConsumeStats,
    KVTable,
    MessageQueue,
    ProducerConnection,
    ResetOffsetBody,
    SubscriptionGroupConfig,
    TopicConfig,
    TopicList,
    TopicOffset,
    TopicRouteData,
    TopicStatsTable,
)
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import (
    AddWritePermOfBrokerRequestHeader,
    AddWritePermOfBrokerResponseHeader,
    CloneGroupOffsetRequestHeader,
    CreateTopicRequestHeader,
    DeleteKVConfigRequestHeader,
    DeleteSubscriptionGroupRequestHeader,
    DeleteTopicFromNamesrvRequestHeader,
    DeleteTopicRequestHeader,
    GetConsumerConnectionListRequestHeader,
    GetConsumerStatusRequestHeader,
    GetConsumeStatsRequestHeader,
    GetKVConfigRequestHeader,
    GetKVConfigResponseHeader,
    GetMaxOffsetRequestHeader,
    GetMaxOffsetResponseHeader,
    GetProducerConnectionListRequestHeader,
    GetTopicConfigRequestHeader,
    GetTopicStatsInfoRequestHeader,
    PullMessageRequestHeader,
    PutKVConfigRequestHeader,
    QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader,
    QueryMessageRequestHeader,
    ResetOffsetRequestHeader,
    SearchOffsetRequestHeader,
    UpdateConsumerOffsetRequestHeader,
    ViewMessageRequestHeader,
    WipeWritePermOfBrokerRequestHeader,
    WipeWritePermOfBrokerResponseHeader,
)
from rmq_protocol.codec.message import decode_messages
from rmq_protocol.codec.msgid import decode_offset_msg_id
from rmq_protocol.errors import ProtocolError

__all__ = ["Admin", "ConsumerProgress", "QueueProgress"]

logger = logging.getLogger(__name__)

_Build: TypeAlias = Callable[[ClientInstance], RemotingCommand]

TOOLS_CONSUMER_GROUP: Final = "TOOLS_CONSUMER"
_PERM_READ_WRITE: Final = 6
_CONSUMER_STATUS_CLIENT_WAIT: Final = 5.0  # seconds a broker waits for each client (Java)


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

    async def _to_masters(self, cluster: str | None, build: _Build) -> list[str]:
        instance = self.instance
        addrs = await self.master_addrs(cluster)
        await asyncio.gather(
            *(instance.invoke_checked(a, build(instance), timeout=self.timeout) for a in addrs)
        )
        return addrs

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
        self,
        group: str,
        *,
        cluster: str | None = None,
        clean_offset: bool = False,
        broker_addr: str | None = None,
    ) -> list[str]:
        """Delete a consumer group (and its offsets if ``clean_offset``) from the masters
        of ``cluster``, or only from the broker at ``broker_addr`` (mqadmin
        ``deleteSubGroup -b``; DELETE_SUBSCRIPTIONGROUP).

        Returns:
            The addresses of the brokers it was deleted from.
        """
        header = DeleteSubscriptionGroupRequestHeader(group_name=group, clean_offset=clean_offset)
        if broker_addr is not None:
            instance = self.instance
            cmd = instance.request(RequestCode.DELETE_SUBSCRIPTIONGROUP, header)
            await instance.invoke_checked(broker_addr, cmd, timeout=self.timeout)
            return [broker_addr]
        return await self._to_masters(
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
        the group has no offset on the topic yet, or the broker does not support that
        request, the offsets are written directly (SEARCH_OFFSET_BY_TIMESTAMP +
        UPDATE_CONSUMER_OFFSET), as mqadmin does for the first and last cases.

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
            # A broker answers SYSTEM_ERROR "THe consumer group <g> not exist" (Java's
            # remark) when the group has no offset on the topic yet: write them directly
            # then too (mqadmin gives up there).
            no_offsets = response.code == ResponseCode.SYSTEM_ERROR and (
                f"<{group}> not exist" in (response.remark or "")
            )
            if not no_offsets and response.code not in (
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

    async def clone_group_offset(
        self, src_group: str, dest_group: str, topic: str, *, offline: bool = False
    ) -> None:
        """Copy ``src_group``'s offsets on ``topic`` to ``dest_group`` on every master of
        the topic (CLONE_GROUP_OFFSET, as ``mqadmin cloneGroupOffset``). Unless
        ``offline``, a broker skips the topic when the running source group does not
        subscribe to it.

        Raises:
            BrokerError: a broker refused; REQUEST_CODE_NOT_SUPPORTED (code 3, the remark
                saying so) from a broker that cannot clone offsets.
        """
        instance = self.instance
        route = await instance.topic_route(topic, refresh=True)
        header = CloneGroupOffsetRequestHeader(
            src_group=src_group, dest_group=dest_group, topic=topic, offline=offline
        )
        for broker in route.broker_datas:
            addr = broker.broker_addrs.get(MASTER_ID)
            if addr is None:
                continue
            cmd = instance.request(RequestCode.CLONE_GROUP_OFFSET, header)
            response = await instance.invoke(addr, cmd, timeout=self.timeout)
            if response.code == ResponseCode.REQUEST_CODE_NOT_SUPPORTED:
                raise error_for_code(
                    response.code,
                    f"broker {broker.broker_name} cannot clone group offsets "
                    f"(CLONE_GROUP_OFFSET, code 314): {(response.remark or 'no remark').strip()}; "
                    "copy them with UPDATE_CONSUMER_OFFSET (Admin.update_consumer_offset)",
                    broker=addr,
                    request=RequestCode.CLONE_GROUP_OFFSET,
                )
            check_response(addr, cmd, response)

    async def consumer_status(
        self, group: str, topic: str, *, client_id: str | None = None
    ) -> dict[str, dict[MessageQueue, int]]:
        """The offsets each running client of ``group`` holds for ``topic``: client id →
        queue → offset (mqadmin ``getConsumerStatus``).

        Sends INVOKE_BROKER_TO_GET_CONSUMER_STATUS to a master of the topic's route (the
        next one if a broker fails to answer); the broker asks the group's clients
        (GET_CONSUMER_STATUS_FROM_CLIENT, up to 5 s each) and a client that does not
        answer is missing from the result. ``client_id``: ask only that client.

        Raises:
            TopicNotFoundError: no route for ``topic``.
            BrokerError: the broker refused: SYSTEM_ERROR when no client of the group is
                online, or a client is older than 3.0.7.
        """
        instance = self.instance
        route = await instance.topic_route(topic, refresh=True)
        header = GetConsumerStatusRequestHeader(topic=topic, group=group, client_addr=client_id)
        addrs = [
            b.broker_addrs[MASTER_ID] for b in route.broker_datas if MASTER_ID in b.broker_addrs
        ]
        if not addrs:
            raise ClientError(f"no master broker serves topic {topic!r}")
        # the broker waits up to 5 s for each client, so give it that much more time
        timeout = self.timeout + _CONSUMER_STATUS_CLIENT_WAIT

        async def ask(addr: str) -> dict[str, dict[MessageQueue, int]]:
            cmd = instance.request(RequestCode.INVOKE_BROKER_TO_GET_CONSUMER_STATUS, header)
            response = await instance.invoke_checked(addr, cmd, timeout=timeout)
            return decode_consumer_table(response.body)

        for addr in addrs[:-1]:
            try:
                return await ask(addr)
            except BrokerError:
                raise
            except ClientError as exc:  # unreachable or silent: the next master
                logger.info("consumer status of %s from %s failed: %s", group, addr, exc)
        return await ask(addrs[-1])

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

    # ------------------------------------------------------------------ admin CLI (issue 7)

    async def topic_list(self) -> list[str]:
        """Every topic the NameServer knows (GET_ALL_TOPIC_LIST_FROM_NAMESERVER), sorted."""
        instance = self.instance
        cmd = instance.request(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER)
        response = await instance.namesrv_invoke(cmd, timeout=self.timeout)
        check_response(None, cmd, response)
        return sorted(TopicList.from_json(response.body).topic_list)

    async def topic_config(self, broker_addr: str, topic: str) -> TopicConfig:
        """``topic``'s configuration on the broker at ``broker_addr`` (GET_TOPIC_CONFIG).

        Raises:
            TopicNotFoundError: the broker has no such topic.
        """
        instance = self.instance
        cmd = instance.request(
            RequestCode.GET_TOPIC_CONFIG, GetTopicConfigRequestHeader(topic=topic)
        )
        response = await instance.invoke_checked(broker_addr, cmd, timeout=self.timeout)
        return TopicConfig.from_json(response.body)

    async def update_topic_perm(
        self,
        topic: str,
        perm: int,
        *,
        cluster: str | None = None,
        broker_addr: str | None = None,
    ) -> dict[str, int]:
        """Set ``topic``'s permission (PermName bits: 2 W, 4 R, 6 RW) on every master of
        its route (of ``cluster`` only, when given; only the master at ``broker_addr``
        when given, as mqadmin ``updateTopicPerm -b``), keeping its other settings.

        Returns:
            broker address → the permission it had before.

        Raises:
            TopicNotFoundError: no route for the topic.
            ClientError: ``broker_addr`` is not a master serving the topic.
            ValueError: ``perm`` is not 2, 4 or 6.
        """
        if perm not in (2, 4, 6):
            raise ValueError(f"topic permission must be 2 (W), 4 (R) or 6 (RW), not {perm}")
        instance = self.instance
        route = await instance.topic_route(topic, refresh=True)
        masters = sorted(
            b.broker_addrs[MASTER_ID] for b in route.broker_datas if MASTER_ID in b.broker_addrs
        )
        if broker_addr is not None and broker_addr not in masters:
            raise ClientError(
                f"broker {broker_addr} is not a master serving topic {topic!r} "
                f"(its masters: {', '.join(masters) or 'none'}); give a master's address"
            )
        before: dict[str, int] = {}
        for broker in route.broker_datas:
            addr = broker.broker_addrs.get(MASTER_ID)
            if addr is None or (cluster is not None and broker.cluster != cluster):
                continue
            if broker_addr is not None and addr != broker_addr:
                continue
            config = await self.topic_config(addr, topic)
            before[addr] = config.perm
            header = CreateTopicRequestHeader(
                topic=topic,
                default_topic="TBW102",
                read_queue_nums=config.read_queue_nums,
                write_queue_nums=config.write_queue_nums,
                perm=perm,
                topic_filter_type=config.topic_filter_type.name,
                topic_sys_flag=config.topic_sys_flag,
                order=config.order,
            )
            cmd = instance.request(RequestCode.UPDATE_AND_CREATE_TOPIC, header)
            await instance.invoke_checked(addr, cmd, timeout=self.timeout)
        if not before:
            raise ClientError(f"no master broker serves topic {topic!r} in cluster {cluster!r}")
        return before

    async def broker_runtime_info(self, broker_addr: str) -> dict[str, str]:
        """The broker's runtime figures (GET_BROKER_RUNTIME_INFO: a KVTable)."""
        instance = self.instance
        cmd = instance.request(RequestCode.GET_BROKER_RUNTIME_INFO)
        response = await instance.invoke_checked(broker_addr, cmd, timeout=self.timeout)
        return dict(KVTable.from_json(response.body).table)

    async def broker_config(self, broker_addr: str) -> dict[str, str]:
        """The broker's configuration, key → value (GET_BROKER_CONFIG)."""
        instance = self.instance
        cmd = instance.request(RequestCode.GET_BROKER_CONFIG)
        response = await instance.invoke_checked(broker_addr, cmd, timeout=self.timeout)
        return _parse_properties(bytes(response.body).decode())

    async def update_broker_config(self, broker_addr: str, items: Mapping[str, str]) -> None:
        """Change broker configuration keys at run time (UPDATE_BROKER_CONFIG).

        Raises:
            BrokerError: the broker refused (rmq refuses unless its
                ``enableUpdateBrokerConfig`` is true; the remark says why).
        """
        instance = self.instance
        body = "".join(f"{k}={v}\n" for k, v in items.items()).encode()
        cmd = instance.request(RequestCode.UPDATE_BROKER_CONFIG, body=body)
        await instance.invoke_checked(broker_addr, cmd, timeout=self.timeout)

    async def namesrv_config(self) -> dict[str, dict[str, str]]:
        """Every NameServer's configuration: address → key → value (GET_NAMESRV_CONFIG)."""
        instance = self.instance
        out: dict[str, dict[str, str]] = {}
        for addr in instance.config.namesrv_addrs:
            cmd = instance.request(RequestCode.GET_NAMESRV_CONFIG)
            response = await instance.invoke_checked(addr, cmd, timeout=self.timeout)
            out[addr] = _parse_properties(bytes(response.body).decode())
        return out

    async def wipe_write_perm(self, broker_name: str) -> dict[str, int]:
        """Make ``broker_name``'s queues read-only in every NameServer
        (WIPE_WRITE_PERM_OF_BROKER). Returns NameServer address → topics changed."""
        instance = self.instance
        out: dict[str, int] = {}
        for addr in instance.config.namesrv_addrs:
            cmd = instance.request(
                RequestCode.WIPE_WRITE_PERM_OF_BROKER,
                WipeWritePermOfBrokerRequestHeader(broker_name=broker_name),
            )
            response = await instance.invoke_checked(addr, cmd, timeout=self.timeout)
            out[addr] = response.decode_header(WipeWritePermOfBrokerResponseHeader).wipe_topic_count
        return out

    async def add_write_perm(self, broker_name: str) -> dict[str, int]:
        """Give ``broker_name``'s queues their write permission back in every NameServer
        (ADD_WRITE_PERM_OF_BROKER). Returns NameServer address → topics changed."""
        instance = self.instance
        out: dict[str, int] = {}
        for addr in instance.config.namesrv_addrs:
            cmd = instance.request(
                RequestCode.ADD_WRITE_PERM_OF_BROKER,
                AddWritePermOfBrokerRequestHeader(broker_name=broker_name),
            )
            response = await instance.invoke_checked(addr, cmd, timeout=self.timeout)
            out[addr] = response.decode_header(AddWritePermOfBrokerResponseHeader).add_topic_count
        return out

    async def put_kv_config(self, namespace: str, key: str, value: str) -> None:
        """Set ``namespace``/``key`` = ``value`` in every NameServer (PUT_KV_CONFIG)."""
        instance = self.instance
        header = PutKVConfigRequestHeader(namespace=namespace, key=key, value=value)
        for addr in instance.config.namesrv_addrs:
            cmd = instance.request(RequestCode.PUT_KV_CONFIG, header)
            await instance.invoke_checked(addr, cmd, timeout=self.timeout)

    async def get_kv_config(self, namespace: str, key: str) -> str | None:
        """``namespace``/``key`` from the NameServers (GET_KV_CONFIG), None if unset."""
        instance = self.instance
        cmd = instance.request(
            RequestCode.GET_KV_CONFIG, GetKVConfigRequestHeader(namespace=namespace, key=key)
        )
        response = await instance.namesrv_invoke(cmd, timeout=self.timeout)
        if response.code == ResponseCode.QUERY_NOT_FOUND:
            return None
        check_response(None, cmd, response)
        return response.decode_header(GetKVConfigResponseHeader).value

    async def delete_kv_config(self, namespace: str, key: str) -> None:
        """Delete ``namespace``/``key`` from every NameServer (DELETE_KV_CONFIG)."""
        instance = self.instance
        header = DeleteKVConfigRequestHeader(namespace=namespace, key=key)
        for addr in instance.config.namesrv_addrs:
            cmd = instance.request(RequestCode.DELETE_KV_CONFIG, header)
            await instance.invoke_checked(addr, cmd, timeout=self.timeout)

    async def max_offset(self, queue: MessageQueue) -> int:
        """The next offset ``queue`` will be written at (GET_MAX_OFFSET)."""
        instance = self.instance
        await instance.topic_route(queue.topic)
        addr = await instance.find_broker_addr(queue.broker_name)
        cmd = instance.request(
            RequestCode.GET_MAX_OFFSET,
            GetMaxOffsetRequestHeader(topic=queue.topic, queue_id=queue.queue_id),
        )
        response = await instance.invoke_checked(addr, cmd, timeout=self.timeout)
        return response.decode_header(GetMaxOffsetResponseHeader).offset

    async def search_offset(self, queue: MessageQueue, timestamp: float) -> int:
        """The offset of the first message of ``queue`` stored at or after ``timestamp``
        (epoch seconds; SEARCH_OFFSET_BY_TIMESTAMP)."""
        instance = self.instance
        await instance.topic_route(queue.topic)
        addr = await instance.find_broker_addr(queue.broker_name)
        cmd = instance.request(
            RequestCode.SEARCH_OFFSET_BY_TIMESTAMP,
            SearchOffsetRequestHeader(
                topic=queue.topic, queue_id=queue.queue_id, timestamp=int(timestamp * 1000)
            ),
        )
        response = await instance.invoke_checked(addr, cmd, timeout=self.timeout)
        return int((response.ext_fields or {}).get("offset", "0"))

    async def update_consumer_offset(self, group: str, queue: MessageQueue, offset: int) -> None:
        """Write ``group``'s committed offset of ``queue`` (UPDATE_CONSUMER_OFFSET)."""
        instance = self.instance
        await instance.topic_route(queue.topic)
        addr = await instance.find_broker_addr(queue.broker_name)
        cmd = instance.request(
            RequestCode.UPDATE_CONSUMER_OFFSET,
            UpdateConsumerOffsetRequestHeader(
                consumer_group=group,
                topic=queue.topic,
                queue_id=queue.queue_id,
                commit_offset=offset,
            ),
        )
        await instance.invoke_checked(addr, cmd, timeout=self.timeout)

    async def committed_offsets(self, group: str, topic: str) -> dict[MessageQueue, int]:
        """``group``'s committed offset of every queue of ``topic`` that has one
        (QUERY_CONSUMER_OFFSET with ``setZeroIfNotFound=false`` to each queue's master;
        a queue without an offset is absent, not 0 as in consume stats)."""
        instance = self.instance
        await instance.topic_route(topic, refresh=True)
        out: dict[MessageQueue, int] = {}
        for mq in instance.subscribe_queues(topic):
            addr = await instance.find_broker_addr(mq.broker_name)
            cmd = instance.request(
                RequestCode.QUERY_CONSUMER_OFFSET,
                QueryConsumerOffsetRequestHeader(
                    consumer_group=group,
                    topic=topic,
                    queue_id=mq.queue_id,
                    set_zero_if_not_found=False,
                ),
            )
            response = await instance.invoke(addr, cmd, timeout=self.timeout)
            if response.code == ResponseCode.QUERY_NOT_FOUND:
                continue
            check_response(addr, cmd, response)
            out[mq] = response.decode_header(QueryConsumerOffsetResponseHeader).offset
        return dict(sorted(out.items()))

    async def skip_accumulated_messages(self, group: str, topic: str) -> dict[MessageQueue, int]:
        """Move ``group``'s offsets on ``topic`` to the end of every queue (mqadmin
        skipAccumulatedMessage).

        Each broker is asked first (INVOKE_BROKER_TO_RESET_OFFSET with timestamp -1, as
        mqadmin does), which also tells the group's running consumers. Where the broker
        cannot (the group has no committed offset there yet, no consumer is online, or the
        request is unsupported) the offsets are written directly (GET_MAX_OFFSET +
        UPDATE_CONSUMER_OFFSET); a consumer started later then begins at the end.

        Returns:
            The new offset of every queue.
        """
        instance = self.instance
        route = await instance.topic_route(topic, refresh=True)
        out: dict[MessageQueue, int] = {}
        for broker in route.broker_datas:
            addr = broker.broker_addrs.get(MASTER_ID)
            if addr is None:
                continue
            header = ResetOffsetRequestHeader(group=group, topic=topic, timestamp=-1, is_force=True)
            cmd = instance.request(RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, header)
            response = await instance.invoke(addr, cmd, timeout=self.timeout)
            if response.code == ResponseCode.SUCCESS and response.body:
                out.update(ResetOffsetBody.from_json(response.body).offset_table)
                continue
            no_offsets = response.code == ResponseCode.SYSTEM_ERROR and "not exist" in (
                response.remark or ""
            )
            if not no_offsets and response.code not in (
                ResponseCode.SUCCESS,
                ResponseCode.CONSUMER_NOT_ONLINE,
                ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
            ):
                check_response(addr, cmd, response)
            for mq in instance.subscribe_queues(topic):
                if mq.broker_name == broker.broker_name:
                    offset = await self.max_offset(mq)
                    await self.update_consumer_offset(group, mq, offset)
                    out[mq] = offset
        return dict(sorted(out.items()))

    async def pull_messages(
        self, queue: MessageQueue, offset: int, *, max_nums: int = 32, expression: str = "*"
    ) -> tuple[list[ReceivedMessage], int]:
        """Up to ``max_nums`` messages of ``queue`` from ``offset`` matching the tag
        ``expression`` (PULL_MESSAGE as TOOLS_CONSUMER, no offset committed).

        Returns:
            The messages and the offset to pull from next (the broker's
            ``nextBeginOffset``; ``offset`` when there is nothing new).
        """
        instance = self.instance
        await instance.topic_route(queue.topic)
        addr = await instance.find_broker_addr(queue.broker_name)
        header = PullMessageRequestHeader(
            consumer_group=TOOLS_CONSUMER_GROUP,
            topic=queue.topic,
            queue_id=queue.queue_id,
            queue_offset=offset,
            max_msg_nums=max_nums,
            sys_flag=0x4,
            commit_offset=0,
            suspend_timeout_millis=0,
            subscription=expression,
            sub_version=0,
            expression_type="TAG",
        )
        cmd = instance.request(RequestCode.PULL_MESSAGE, header)
        response = await instance.invoke(addr, cmd, timeout=self.timeout)
        next_offset = int((response.ext_fields or {}).get("nextBeginOffset", offset))
        if response.code != ResponseCode.SUCCESS or not response.body:
            if response.code not in _PULL_EMPTY_CODES:
                check_response(addr, cmd, response)
            return [], next_offset
        messages = decode_messages(response.body)
        tags = (
            None if expression.strip() in ("", "*") else {t.strip() for t in expression.split("||")}
        )
        if tags is not None:
            messages = [m for m in messages if m.tags in tags]
        return messages, next_offset

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

    async def create_topic_at(
        self,
        broker_addr: str,
        topic: str,
        *,
        read_queue_nums: int = 8,
        write_queue_nums: int = 8,
        perm: int = _PERM_READ_WRITE,
        order: bool = False,
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        """Create or update ``topic`` on the one broker at ``broker_addr`` (mqadmin
        ``updateTopic -b``; UPDATE_AND_CREATE_TOPIC). The NameServer learns it at the
        broker's next registration."""
        instance = self.instance
        header = CreateTopicRequestHeader(
            topic=topic,
            default_topic="TBW102",
            read_queue_nums=read_queue_nums,
            write_queue_nums=write_queue_nums,
            perm=perm,
            topic_filter_type="SINGLE_TAG",
            order=order,
            attributes=(
                ",".join(f"+{k}={v}" for k, v in sorted(attributes.items())) if attributes else None
            ),
        )
        cmd = instance.request(RequestCode.UPDATE_AND_CREATE_TOPIC, header)
        await instance.invoke_checked(broker_addr, cmd, timeout=self.timeout)

    async def create_subscription_group_at(
        self, broker_addr: str, config: SubscriptionGroupConfig
    ) -> None:
        """Create or update a consumer group on the one broker at ``broker_addr``
        (mqadmin ``updateSubGroup -b``; UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)."""
        instance = self.instance
        cmd = instance.request(
            RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, body=config.to_json()
        )
        await instance.invoke_checked(broker_addr, cmd, timeout=self.timeout)


_PULL_EMPTY_CODES: Final = frozenset(
    {
        ResponseCode.PULL_NOT_FOUND,
        ResponseCode.PULL_RETRY_IMMEDIATELY,
        ResponseCode.PULL_OFFSET_MOVED,
    }
)


def _parse_properties(text: str) -> dict[str, str]:
    """``key=value`` lines (Java properties as brokers and NameServers send them)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out
