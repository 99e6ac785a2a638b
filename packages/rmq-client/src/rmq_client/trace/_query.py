"""Trace and consumption queries behind :meth:`rmq_client.Admin.query_message_trace` and
:meth:`rmq_client.Admin.message_consumed_by` (mqadmin ``queryMsgTraceById`` and the
"consumed" column of ``queryMsgById``)."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rmq_client._instance import check_response
from rmq_client.errors import BrokerError, ClientError
from rmq_client.trace._codec import TraceFormatError, TraceRecord, decode_records
from rmq_client.trace._view import MessageTrace, build_trace
from rmq_protocol.codec.body import ConsumeStats, ConsumeType, GroupList, MessageModel
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.headers import (
    GetConsumeStatsRequestHeader,
    QueryTopicConsumeByWhoRequestHeader,
)

if TYPE_CHECKING:
    from rmq_client.admin import Admin
    from rmq_client.message import ReceivedMessage

__all__ = ["MessageTrack", "TrackType", "message_consumed_by", "query_message_trace"]

logger = logging.getLogger(__name__)


class TrackType(enum.StrEnum):
    """Java ``TrackType``: whether a group consumed a message."""

    CONSUMED = "CONSUMED"
    CONSUMED_BUT_FILTERED = "CONSUMED_BUT_FILTERED"
    PULL = "PULL"  # a pull consumer: the broker cannot tell
    NOT_CONSUME_YET = "NOT_CONSUME_YET"
    NOT_ONLINE = "NOT_ONLINE"
    CONSUME_BROADCASTING = "CONSUME_BROADCASTING"  # offsets live in the clients
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageTrack:
    """One consumer group's view of a message (Java ``MessageTrack``).

    Attributes:
        consumer_offset: the group's committed offset of the message's queue, when read.
        exception_desc: why the state is NOT_ONLINE/UNKNOWN (the broker's answer).
    """

    group: str
    track_type: TrackType
    consumer_offset: int | None = None
    exception_desc: str | None = None

    @property
    def consumed(self) -> bool:
        return self.track_type in (TrackType.CONSUMED, TrackType.CONSUMED_BUT_FILTERED)


async def query_message_trace(
    admin: Admin,
    msg_id: str,
    *,
    trace_topic: str,
    max_num: int = 64,
    begin: float = 0.0,
    end: float | None = None,
    check_dlq: bool = True,
) -> MessageTrace:
    """Trace messages indexed by ``msg_id`` (QUERY_MESSAGE on each broker of
    ``trace_topic``), decoded into ``msg_id``'s timeline.

    With ``check_dlq``, every group whose last attempt failed is looked up in its
    ``%DLQ%`` topic by unique key; groups that have the message there are listed in
    :attr:`MessageTrace.dlq_groups`.
    """
    found = await admin.query_messages(trace_topic, msg_id, max_num=max_num, begin=begin, end=end)
    entries: list[tuple[TraceRecord, str | None]] = []
    for carrier in found:
        try:
            records = decode_records(carrier.body)
        except (TraceFormatError, UnicodeDecodeError) as exc:
            logger.warning("trace message %s is not a valid trace: %s", carrier.msg_id, exc)
            continue
        host = carrier.born_host.host
        entries.extend((r, host) for r in records)
    trace = build_trace(msg_id, entries)
    if check_dlq:
        for group, attempts in trace.attempts.items():
            if not group or not attempts or attempts[-1].success is not False:
                continue
            try:
                dlq = await admin.query_messages(
                    f"%DLQ%{group}", msg_id, unique_key=True, max_num=1, begin=begin, end=end
                )
            except ClientError as exc:  # no DLQ topic: nothing went there
                logger.debug("no DLQ lookup for group %s: %s", group, exc)
                continue
            if dlq:
                trace.dlq_groups.add(group)
    return trace


async def message_consumed_by(admin: Admin, msg: ReceivedMessage) -> list[MessageTrack]:
    """Every group consuming ``msg.topic`` and whether it consumed ``msg``: its
    committed offset of the message's queue, on the broker that stored it (from
    GET_CONSUME_STATS), is past the message's queue offset (Java
    ``messageTrackDetail``)."""
    instance = admin.instance
    route = await instance.topic_route(msg.topic, refresh=True)
    groups: set[str] = set()
    for broker in route.broker_datas:
        addr = broker.broker_addrs.get(0)
        if addr is None:
            continue
        cmd = instance.request(
            RequestCode.QUERY_TOPIC_CONSUME_BY_WHO,
            QueryTopicConsumeByWhoRequestHeader(topic=msg.topic),
        )
        response = await instance.invoke_checked(addr, cmd, timeout=admin.timeout)
        groups.update(GroupList.from_json(response.body).group_list)
    return [await _track(admin, msg, group) for group in sorted(groups)]


async def _track(admin: Admin, msg: ReceivedMessage, group: str) -> MessageTrack:
    try:
        connection = await admin.consumer_connections(group)
    except BrokerError as exc:
        kind = (
            TrackType.NOT_ONLINE
            if exc.code == ResponseCode.CONSUMER_NOT_ONLINE
            else TrackType.UNKNOWN
        )
        return MessageTrack(group=group, track_type=kind, exception_desc=str(exc))
    except ClientError as exc:
        return MessageTrack(group=group, track_type=TrackType.UNKNOWN, exception_desc=str(exc))
    if connection.consume_type is ConsumeType.CONSUME_ACTIVELY:
        return MessageTrack(group=group, track_type=TrackType.PULL)
    if connection.message_model is MessageModel.BROADCASTING:
        return MessageTrack(group=group, track_type=TrackType.CONSUME_BROADCASTING)
    instance = admin.instance
    addr = str(msg.store_host)
    cmd = instance.request(
        RequestCode.GET_CONSUME_STATS,
        GetConsumeStatsRequestHeader(consumer_group=group, topic=msg.topic),
    )
    try:
        response = check_response(
            addr, cmd, await instance.invoke(addr, cmd, timeout=admin.timeout)
        )
    except BrokerError as exc:
        kind = {
            ResponseCode.CONSUMER_NOT_ONLINE: TrackType.NOT_ONLINE,
            ResponseCode.BROADCAST_CONSUMPTION: TrackType.CONSUME_BROADCASTING,
        }.get(exc.code or 0, TrackType.UNKNOWN)  # type: ignore[call-overload]
        return MessageTrack(group=group, track_type=kind, exception_desc=str(exc))
    except ClientError as exc:
        return MessageTrack(group=group, track_type=TrackType.UNKNOWN, exception_desc=str(exc))
    offset: int | None = None
    for mq, wrapper in ConsumeStats.from_json(response.body).offset_table.items():
        if mq.topic == msg.topic and mq.queue_id == msg.queue_id:
            offset = wrapper.consumer_offset
            break
    if offset is None or offset <= msg.queue_offset:
        return MessageTrack(
            group=group, track_type=TrackType.NOT_CONSUME_YET, consumer_offset=offset
        )
    sub = connection.subscription_table.get(msg.topic)
    filtered = (
        sub is not None
        and sub.expression_type in ("TAG", "")
        and bool(sub.tags_set)
        and "*" not in sub.tags_set
        and msg.tags not in sub.tags_set
    )
    kind = TrackType.CONSUMED_BUT_FILTERED if filtered else TrackType.CONSUMED
    return MessageTrack(group=group, track_type=kind, consumer_offset=offset)
