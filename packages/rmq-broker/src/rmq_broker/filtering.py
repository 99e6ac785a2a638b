"""Message filtering for pulls, and the subscription-consistency guard.

Mirrors ``org.apache.rocketmq.broker.filter.ExpressionMessageFilter``,
``ExpressionForRetryMessageFilter`` and ``ConsumerFilterManager`` (spec §6.2, §8), with
:mod:`rmq_filter` doing the parsing and evaluation:

* TAG subscriptions: the store keeps consume-queue units whose tags code is one of the
  subscription's codes, as Java does; the clients re-check the tag string. A broker-side
  exact check would need each candidate decoded: measured 2.2 µs → 16 µs of broker CPU
  per examined message, against DESIGN.md's pull budget, so it is not done (a tag whose
  Java hash collides with a subscribed one, ``Aa``/``BB``, reaches the client, which drops
  it);
* SQL92 subscriptions, when ``enablePropertyFilter`` is true: the compiled selector is
  evaluated on the message's properties; FALSE, NULL and evaluation errors do not match.
  With ``enablePropertyFilter`` false they are refused with SYSTEM_ERROR
  ``The broker does not support consumer to filter message by SQL92`` (Java's code and
  remark, at pull, CHECK_CLIENT_CONFIG and heartbeat); an expression that does not
  compile is SUBSCRIPTION_PARSE_FAILED;
* retry topics, with ``filterSupportRetry``: a ``%RETRY%<group>`` pull whose
  subscription is SQL92 evaluates, for each message, the group's SQL92 subscription of the
  message's original topic (its RETRY_TOPIC property); no such subscription → delivered.
  As in Java, a retry subscription of type TAG (what clients send: ``*``) is not filtered;
* messages filtered out still advance the pull: the store moves ``nextBeginOffset`` past
  them and answers NO_MATCHED_MESSAGE (PULL_RETRY_IMMEDIATELY) when none matched, so a
  group never stalls behind messages it does not want.

:class:`SubscriptionGuard` (not in Apache RocketMQ) watches the heartbeats of each
consumer group: when its members subscribe differently (other topics, or other
expressions for a topic) it logs one WARNING per change naming the group, the clients
and the subscriptions, and keeps the finding for GET_BROKER_RUNTIME_INFO.

Not thread-safe: used on the broker's event loop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, final

from rmq_filter import FilterError, SqlFilter, compile_sql
from rmq_protocol.codec.body import SubscriptionData
from rmq_protocol.codec.codes import ResponseCode
from rmq_protocol.codec.message import MessageExt
from rmq_protocol.codec.properties import RETRY_TOPIC

if TYPE_CHECKING:
    from rmq_broker.config import BrokerConfig

__all__ = [
    "SUB_ALL",
    "FilterRefusal",
    "GroupSubscriptionConflict",
    "SubscriptionGuard",
    "check_client_config_body",
    "check_subscription",
    "message_filter",
]

logger = logging.getLogger(__name__)

SUB_ALL: Final = "*"
RETRY_GROUP_TOPIC_PREFIX: Final = "%RETRY%"
SQL92: Final = "SQL92"

MessageFilter = Callable[[MessageExt], bool]
"""Keeps a decoded message (body not inflated) when it returns True."""
GroupSubscriptions = Callable[[str, str], SubscriptionData | None]
"""``lookup(group, topic)``: the group's registered subscription of a topic."""


def _is_tag_type(expression_type: str | None) -> bool:
    return not expression_type or expression_type == "TAG"


@dataclass(frozen=True, slots=True)
class FilterRefusal:
    """Why a subscription cannot be served: the response code and remark to answer."""

    code: ResponseCode
    remark: str


def check_subscription(
    subscription: SubscriptionData, config: BrokerConfig
) -> FilterRefusal | None:
    """None when the broker can filter for ``subscription``, else the answer to give.

    TAG subscriptions always pass. Others need ``enablePropertyFilter`` (SYSTEM_ERROR, as
    Java) and, being SQL92 (the only other type RocketMQ has), an expression that compiles
    (SUBSCRIPTION_PARSE_FAILED with the compiler's message, which names the position).
    """
    expression_type = subscription.expression_type
    if _is_tag_type(expression_type):
        return None
    if not config.enable_property_filter:
        return FilterRefusal(
            ResponseCode.SYSTEM_ERROR,
            f"The broker does not support consumer to filter message by {expression_type}",
        )
    if expression_type != SQL92:
        return FilterRefusal(
            ResponseCode.SUBSCRIPTION_PARSE_FAILED,
            f"unknown expression type {expression_type!r} for topic {subscription.topic}: "
            "use TAG or SQL92",
        )
    try:
        compile_sql(subscription.sub_string)
    except FilterError as exc:
        return FilterRefusal(ResponseCode.SUBSCRIPTION_PARSE_FAILED, str(exc))
    return None


def check_client_config_body(
    body: bytes | bytearray | memoryview | None, config: BrokerConfig
) -> FilterRefusal | None:
    """CHECK_CLIENT_CONFIG (``ClientManageProcessor.checkClientConfig``): the body is a
    ``CheckClientRequestBody`` JSON (clientId, group, subscriptionData)."""
    if not body:
        return None
    try:
        data = json.loads(bytes(body))
    except ValueError as exc:
        return FilterRefusal(ResponseCode.SYSTEM_ERROR, f"bad CHECK_CLIENT_CONFIG body: {exc}")
    sub = data.get("subscriptionData") if isinstance(data, dict) else None
    if not isinstance(sub, dict):
        return None
    subscription = SubscriptionData(
        topic=str(sub.get("topic") or ""),
        sub_string=str(sub.get("subString") or ""),
        expression_type=str(sub.get("expressionType") or "TAG"),
    )
    return check_subscription(subscription, config)


def _sql_matcher(selector: SqlFilter) -> MessageFilter:
    matches = selector.matches

    def keep(message: MessageExt) -> bool:
        return matches(message.properties)

    return keep


def message_filter(
    subscription: SubscriptionData,
    *,
    group: str,
    config: BrokerConfig,
    lookup: GroupSubscriptions,
) -> MessageFilter | None:
    """The per-message check of a pull after the consume-queue tag-hash pre-filter, or
    None when every candidate is delivered (TAG subscriptions: the hash is the filter).
    Call :func:`check_subscription` first: an expression that does not compile raises.

    Raises:
        FilterError: the subscription's SQL92 expression does not compile.
    """
    if _is_tag_type(subscription.expression_type):
        return None
    if config.filter_support_retry and subscription.topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
        return _retry_matcher(group, lookup)
    return _sql_matcher(compile_sql(subscription.sub_string))


def _retry_matcher(group: str, lookup: GroupSubscriptions) -> MessageFilter:
    """``ExpressionForRetryMessageFilter``: each retried message is judged by the group's
    SQL92 subscription of its original topic."""

    def keep(message: MessageExt) -> bool:
        properties = message.properties
        real_topic = properties.get(RETRY_TOPIC)
        sub = lookup(group, real_topic) if real_topic is not None else None
        if sub is None or sub.expression_type != SQL92:
            return True
        try:
            selector = compile_sql(sub.sub_string)
        except FilterError:
            return True  # Java: no compiled filter data for it → delivered
        return selector.matches(properties)

    return keep


# --------------------------------------------------------------------------- the guard


@dataclass(frozen=True, slots=True)
class GroupSubscriptionConflict:
    """Members of one consumer group that subscribe differently.

    ``by_client`` maps each client id to its subscriptions, as sorted
    ``topic [TYPE] expression`` strings.
    """

    group: str
    by_client: Mapping[str, tuple[str, ...]]

    def describe(self) -> str:
        variants: dict[tuple[str, ...], list[str]] = {}
        for client, subs in sorted(self.by_client.items()):
            variants.setdefault(subs, []).append(client)
        return "; ".join(
            f"{', '.join(clients)}: {{{', '.join(subs) or 'nothing'}}}"
            for subs, clients in variants.items()
        )


def _signature(subscriptions: Iterable[SubscriptionData]) -> tuple[str, ...]:
    return tuple(
        sorted(
            f"{s.topic} [{s.expression_type or 'TAG'}] {s.sub_string or SUB_ALL}"
            for s in subscriptions
            if not s.topic.startswith(RETRY_GROUP_TOPIC_PREFIX)
        )
    )


@final
class SubscriptionGuard:
    """Detects consumer groups whose members subscribe differently (Apache RocketMQ
    silently keeps the newest subscription per topic, so members then lose messages).

    :meth:`observe` takes each member's subscriptions from its heartbeats; a WARNING is
    logged when a group becomes inconsistent or its inconsistency changes, and an INFO
    line when it is consistent again — not on every heartbeat.
    """

    def __init__(self) -> None:
        self._members: dict[str, dict[str, tuple[str, ...]]] = {}
        self._conflicts: dict[str, GroupSubscriptionConflict] = {}

    def observe(
        self, group: str, client_id: str, subscriptions: Iterable[SubscriptionData]
    ) -> None:
        """Record ``client_id``'s subscriptions in ``group`` (from a heartbeat)."""
        members = self._members.setdefault(group, {})
        signature = _signature(subscriptions)
        if members.get(client_id) == signature:
            return
        members[client_id] = signature
        self._evaluate(group)

    def forget(self, group: str, client_id: str) -> None:
        """``client_id`` left ``group`` (connection closed, unregistered, expired)."""
        members = self._members.get(group)
        if members is None or members.pop(client_id, None) is None:
            return
        if not members:
            del self._members[group]
        self._evaluate(group)

    def _evaluate(self, group: str) -> None:
        members = self._members.get(group, {})
        previous = self._conflicts.get(group)
        if len(set(members.values())) <= 1:
            if previous is not None:
                del self._conflicts[group]
                logger.info("consumer group %s: members subscribe alike again", group)
            return
        conflict = GroupSubscriptionConflict(group, dict(members))
        if previous is not None and previous.by_client == conflict.by_client:
            return
        self._conflicts[group] = conflict
        logger.warning(
            "consumer group %s: members subscribe differently, so each topic follows the "
            "newest heartbeat and messages can be lost: %s",
            group,
            conflict.describe(),
        )

    def conflicts(self) -> dict[str, GroupSubscriptionConflict]:
        """The groups whose members currently subscribe differently."""
        return dict(self._conflicts)

    def runtime_info(self) -> str:
        """The GET_BROKER_RUNTIME_INFO value: ``group1{...}|group2{...}`` or empty."""
        return "|".join(
            f"{group}{{{conflict.describe()}}}"
            for group, conflict in sorted(self._conflicts.items())
        )
