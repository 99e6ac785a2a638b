"""Producers and consumers connected to the broker, and queue locks of orderly consumers.

Mirrors ``org.apache.rocketmq.broker.client.ProducerManager``, ``ConsumerManager``,
``ConsumerGroupInfo``, ``ClientHousekeepingService`` and
``org.apache.rocketmq.broker.client.rebalance.RebalanceLockManager``:

* HEART_BEAT registers the client's connection in each producer and consumer group it
  names; a consumer group keeps the subscriptions of its latest heartbeats;
* when a consumer group gains or loses a connection (or its topics change), every member
  is told with NOTIFY_CONSUMER_IDS_CHANGED (unless the group turned that off) so that
  clients rebalance at once instead of at their next 20 s rebalance;
* a closed connection leaves every group at once; a client silent for
  ``channelExpiredTimeout`` (120 s) is dropped by :meth:`ClientManager.scan_not_active`
  and its connection closed;
* LOCK_BATCH_MQ locks queues for one client of a group for 60 s (refreshed by every
  lock request of that client).

Subscriptions are normalised as Java's ``FilterAPI.buildSubscriptionData`` builds them:
C++ clients send no ``tagsSet``/``codeSet``, so they are derived from ``subString``.

Not thread-safe: used on the broker's event loop.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Final, final

from rmq_broker.filtering import SubscriptionGuard
from rmq_protocol.codec.body import (
    ConsumeFromWhere,
    ConsumerData,
    ConsumeType,
    HeartbeatData,
    MessageModel,
    MessageQueue,
    SubscriptionData,
)
from rmq_protocol.codec.codes import LanguageCode
from rmq_protocol.codec.hashing import java_string_hash
from rmq_protocol.transport import Connection

__all__ = [
    "LOCK_MAX_LIVE_TIME_MS",
    "SUB_ALL",
    "ClientChannelInfo",
    "ClientManager",
    "ConsumerGroupInfo",
    "RebalanceLockManager",
    "build_subscription",
    "is_tag_type",
]

logger = logging.getLogger(__name__)

SUB_ALL: Final = "*"
LOCK_MAX_LIVE_TIME_MS: Final = 60_000  # rocketmq.broker.rebalance.lockMaxLiveTime


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def is_tag_type(expression_type: str | None) -> bool:
    """Java ``ExpressionType.isTagType``: absent, empty or ``TAG``."""
    return not expression_type or expression_type == "TAG"


def build_subscription(
    topic: str, sub_string: str | None, expression_type: str | None = None, sub_version: int = 0
) -> SubscriptionData:
    """A SubscriptionData as Java's ``FilterAPI.build`` makes it: for TAG expressions
    ``TagA || TagB`` gives tagsSet ``("TagA", "TagB")`` and their hash codes; empty or
    ``*`` subscribes to everything."""
    if not is_tag_type(expression_type):
        return SubscriptionData(
            topic=topic,
            sub_string=sub_string or "",
            expression_type=expression_type or "TAG",
            sub_version=sub_version,
        )
    if not sub_string or sub_string.strip() in ("", SUB_ALL):
        return SubscriptionData(topic=topic, sub_string=SUB_ALL, sub_version=sub_version)
    tags = tuple(dict.fromkeys(t.strip() for t in sub_string.split("||") if t.strip()))
    return SubscriptionData(
        topic=topic,
        sub_string=sub_string,
        tags_set=tags,
        code_set=tuple(java_string_hash(t) for t in tags),
        sub_version=sub_version,
    )


def _normalised(sub: SubscriptionData) -> SubscriptionData:
    """``sub`` with tagsSet/codeSet filled in when the client sent only ``subString``."""
    if not is_tag_type(sub.expression_type) or sub.code_set:
        return sub
    if not sub.sub_string or sub.sub_string.strip() == SUB_ALL:
        return sub if sub.sub_string == SUB_ALL else dataclasses.replace(sub, sub_string=SUB_ALL)
    built = build_subscription(sub.topic, sub.sub_string, sub.expression_type, sub.sub_version)
    return dataclasses.replace(sub, tags_set=built.tags_set, code_set=built.code_set)


@dataclasses.dataclass(slots=True, kw_only=True)
class ClientChannelInfo:
    """One client connection in a group (Java ``ClientChannelInfo``)."""

    connection: Connection
    client_id: str
    language: LanguageCode
    version: int
    last_update_ms: int


@dataclasses.dataclass(slots=True, kw_only=True)
class ConsumerGroupInfo:
    """A consumer group's members and subscriptions (Java ``ConsumerGroupInfo``)."""

    group_name: str
    consume_type: ConsumeType | None
    message_model: MessageModel | None
    consume_from_where: ConsumeFromWhere | None
    channels: dict[Connection, ClientChannelInfo] = dataclasses.field(default_factory=dict)
    subscriptions: dict[str, SubscriptionData] = dataclasses.field(default_factory=dict)
    last_update_ms: int = 0

    def client_ids(self) -> list[str]:
        """Member client ids, in connection order (GET_CONSUMER_LIST_BY_GROUP)."""
        return [info.client_id for info in self.channels.values()]

    def find_subscription(self, topic: str) -> SubscriptionData | None:
        return self.subscriptions.get(topic)

    def _update_channel(
        self,
        info: ClientChannelInfo,
        consume_type: ConsumeType | None,
        message_model: MessageModel | None,
        consume_from_where: ConsumeFromWhere | None,
    ) -> bool:
        self.consume_type = consume_type
        self.message_model = message_model
        self.consume_from_where = consume_from_where
        old = self.channels.get(info.connection)
        added = old is None
        if old is None or old.client_id != info.client_id:
            self.channels[info.connection] = info
        else:
            old.last_update_ms = info.last_update_ms
        self.last_update_ms = info.last_update_ms
        return added

    def _update_subscriptions(self, subs: Iterable[SubscriptionData]) -> bool:
        updated = False
        topics = set()
        for sub in subs:
            topics.add(sub.topic)
            old = self.subscriptions.get(sub.topic)
            if old is None:
                self.subscriptions[sub.topic] = sub
                updated = True
            elif sub.sub_version > old.sub_version:
                self.subscriptions[sub.topic] = sub
        for topic in [t for t in self.subscriptions if t not in topics]:
            del self.subscriptions[topic]
            updated = True
        return updated


NotifyConsumers = Callable[[str, list[Connection]], None]
"""``notify(group, connections)``: send NOTIFY_CONSUMER_IDS_CHANGED to each."""


@final
class ClientManager:
    """Producer and consumer tables (Java ``ProducerManager`` + ``ConsumerManager``)."""

    def __init__(
        self,
        *,
        notify: NotifyConsumers,
        channel_expired_timeout_ms: int = 120_000,
        clock_ms: Callable[[], int] = _now_ms,
    ) -> None:
        self._notify = notify
        self._expiry = channel_expired_timeout_ms
        self._clock_ms = clock_ms
        self.producers: dict[str, dict[Connection, ClientChannelInfo]] = {}
        self.consumers: dict[str, ConsumerGroupInfo] = {}
        self.guard = SubscriptionGuard()  # members of a group subscribing differently

    # ------------------------------------------------------------------ registration

    def channel_info(
        self, conn: Connection, client_id: str, language: LanguageCode, version: int
    ) -> ClientChannelInfo:
        return ClientChannelInfo(
            connection=conn,
            client_id=client_id,
            language=language,
            version=version,
            last_update_ms=self._clock_ms(),
        )

    def register_producer(self, group: str, info: ClientChannelInfo) -> None:
        members = self.producers.setdefault(group, {})
        old = members.get(info.connection)
        if old is None or old.client_id != info.client_id:
            if old is None:
                logger.info(
                    "new producer connected, group %s: %s %s",
                    group,
                    info.client_id,
                    info.connection.peer,
                )
            members[info.connection] = info
        else:
            old.last_update_ms = info.last_update_ms

    def unregister_producer(self, group: str, conn: Connection) -> None:
        members = self.producers.get(group)
        if members is not None and members.pop(conn, None) is not None:
            logger.info("producer unregistered, group %s: %s", group, conn.peer)
            if not members:
                del self.producers[group]

    def register_consumer(
        self,
        data: ConsumerData,
        info: ClientChannelInfo,
        *,
        notify_enabled: bool,
        update_subscriptions: bool = True,
    ) -> bool:
        """Add or refresh a consumer; True if the group's membership or topics changed."""
        group = data.group_name
        group_info = self.consumers.get(group)
        if group_info is None:
            group_info = self.consumers[group] = ConsumerGroupInfo(
                group_name=group,
                consume_type=data.consume_type,
                message_model=data.message_model,
                consume_from_where=data.consume_from_where,
            )
        added = group_info._update_channel(
            info, data.consume_type, data.message_model, data.consume_from_where
        )
        if added:
            logger.info(
                "new consumer connected, group %s: %s %s",
                group,
                info.client_id,
                info.connection.peer,
            )
        changed_topics = False
        if update_subscriptions:
            changed_topics = group_info._update_subscriptions(
                _normalised(s) for s in data.subscription_data_set
            )
            self.guard.observe(group, info.client_id, data.subscription_data_set)
        changed = added or changed_topics
        if changed and notify_enabled and group_info.message_model is not MessageModel.BROADCASTING:
            self._notify(group, list(group_info.channels))
        return changed

    def unregister_consumer(self, group: str, conn: Connection, *, notify_enabled: bool) -> None:
        group_info = self.consumers.get(group)
        left = None if group_info is None else group_info.channels.pop(conn, None)
        if group_info is None or left is None:
            return
        self.guard.forget(group, left.client_id)
        logger.info("consumer unregistered, group %s: %s", group, conn.peer)
        if not group_info.channels:
            del self.consumers[group]
            return
        if notify_enabled and group_info.message_model is not MessageModel.BROADCASTING:
            self._notify(group, list(group_info.channels))

    def register_heartbeat(
        self,
        heartbeat: HeartbeatData,
        conn: Connection,
        language: LanguageCode,
        version: int,
        *,
        notify_enabled: Callable[[str], bool | None],
    ) -> None:
        """Everything a HEART_BEAT says. ``notify_enabled(group)`` is the group's
        ``notifyConsumerIdsChangedEnable`` or None to skip the group (unknown group)."""
        info_of = self.channel_info
        for data in heartbeat.consumer_data_set:
            enabled = notify_enabled(data.group_name)
            if enabled is None:
                continue
            keep = heartbeat.heartbeat_fingerprint != 0 and heartbeat.without_sub
            self.register_consumer(
                data,
                info_of(conn, heartbeat.client_id, language, version),
                notify_enabled=enabled,
                update_subscriptions=not keep,
            )
        for producer in heartbeat.producer_data_set:
            self.register_producer(
                producer.group_name, info_of(conn, heartbeat.client_id, language, version)
            )

    # ------------------------------------------------------------------ housekeeping

    def on_channel_closed(self, conn: Connection, *, notify_enabled: Callable[[str], bool]) -> None:
        """Remove a closed connection from every group (Java ``doChannelCloseEvent``)."""
        for group in [g for g, m in self.producers.items() if conn in m]:
            self.unregister_producer(group, conn)
        for group in [g for g, c in self.consumers.items() if conn in c.channels]:
            self.unregister_consumer(group, conn, notify_enabled=notify_enabled(group))

    def scan_not_active(self, *, notify_enabled: Callable[[str], bool]) -> list[Connection]:
        """Drop clients silent for longer than the channel expiry; returns their
        connections (the caller closes them)."""
        now = self._clock_ms()
        expired: list[Connection] = []
        for group, members in list(self.producers.items()):
            for conn, info in list(members.items()):
                if now - info.last_update_ms > self._expiry:
                    logger.warning(
                        "producer %s of group %s expired (silent %d ms)",
                        info.client_id,
                        group,
                        now - info.last_update_ms,
                    )
                    expired.append(conn)
                    self.unregister_producer(group, conn)
        for group, group_info in list(self.consumers.items()):
            for conn, info in list(group_info.channels.items()):
                if now - info.last_update_ms > self._expiry:
                    logger.warning(
                        "consumer %s of group %s expired (silent %d ms)",
                        info.client_id,
                        group,
                        now - info.last_update_ms,
                    )
                    expired.append(conn)
                    self.unregister_consumer(group, conn, notify_enabled=notify_enabled(group))
        return list(dict.fromkeys(expired))

    # ------------------------------------------------------------------ lookups

    def consumer_group(self, group: str) -> ConsumerGroupInfo | None:
        return self.consumers.get(group)

    def producer_group(self, group: str) -> Mapping[Connection, ClientChannelInfo] | None:
        """The connections of a producer group, None if it has none."""
        return self.producers.get(group)

    def find_producer_channel(self, group: str) -> Connection | None:
        """A live connection of producer group ``group``, chosen at random as Java's
        ``getAvailableChannel`` does (transaction checks), or None."""
        members = self.producers.get(group)
        live = [conn for conn in members or () if not conn.is_closing]
        return random.choice(live) if live else None  # noqa: S311 - spreading, not security

    def find_subscription(self, group: str, topic: str) -> SubscriptionData | None:
        """``group``'s registered subscription of ``topic``, or None."""
        group_info = self.consumers.get(group)
        return None if group_info is None else group_info.subscriptions.get(topic)

    def query_topic_consume_by_who(self, topic: str) -> set[str]:
        """Consumer groups subscribed to ``topic`` (Java ``queryTopicConsumeByWho``)."""
        return {name for name, info in self.consumers.items() if topic in info.subscriptions}

    def compensate_subscription(self, group: str, subscription: SubscriptionData) -> None:
        """Record a subscription a pull carried (sysFlag 0x4) for a group without one."""
        group_info = self.consumers.get(group)
        if group_info is None:
            group_info = self.consumers[group] = ConsumerGroupInfo(
                group_name=group,
                consume_type=ConsumeType.CONSUME_PASSIVELY,
                message_model=MessageModel.CLUSTERING,
                consume_from_where=ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET,
                last_update_ms=self._clock_ms(),
            )
        group_info.subscriptions.setdefault(subscription.topic, subscription)


@dataclasses.dataclass(slots=True)
class _Lock:
    client_id: str
    last_update_ms: int


@final
class RebalanceLockManager:
    """Queue locks of orderly consumers (Java ``RebalanceLockManager``)."""

    def __init__(
        self, *, max_live_ms: int = LOCK_MAX_LIVE_TIME_MS, clock_ms: Callable[[], int] = _now_ms
    ) -> None:
        self._max_live_ms = max_live_ms
        self._clock_ms = clock_ms
        self._table: dict[str, dict[MessageQueue, _Lock]] = {}

    def try_lock_batch(
        self, group: str, queues: Iterable[MessageQueue], client_id: str
    ) -> list[MessageQueue]:
        """Lock what is free, expired or already ``client_id``'s; returns those queues."""
        now = self._clock_ms()
        locks = self._table.setdefault(group, {})
        locked: list[MessageQueue] = []
        for mq in queues:
            entry = locks.get(mq)
            if (
                entry is None
                or entry.client_id == client_id
                or now - entry.last_update_ms > self._max_live_ms
            ):
                if entry is not None and entry.client_id != client_id:
                    logger.warning(
                        "queue lock of %s expired for %s; now %s's",
                        mq.java_string(),
                        entry.client_id,
                        client_id,
                    )
                locks[mq] = _Lock(client_id, now)
                locked.append(mq)
        return locked

    def unlock_batch(self, group: str, queues: Iterable[MessageQueue], client_id: str) -> None:
        locks = self._table.get(group)
        if locks is None:
            return
        for mq in queues:
            entry = locks.get(mq)
            if entry is not None and entry.client_id == client_id:
                del locks[mq]
        if not locks:
            del self._table[group]

    def is_locked(self, group: str, mq: MessageQueue, client_id: str) -> bool:
        entry = self._table.get(group, {}).get(mq)
        return (
            entry is not None
            and entry.client_id == client_id
            and self._clock_ms() - entry.last_update_ms <= self._max_live_ms
        )

    def is_lock_all_expired(self, group: str) -> bool:
        now = self._clock_ms()
        return all(
            now - e.last_update_ms > self._max_live_ms for e in self._table.get(group, {}).values()
        )

    @property
    def table(self) -> Mapping[str, Mapping[MessageQueue, _Lock]]:
        return self._table
