"""Consumer offsets, queue offsets and message lookups.

QUERY_CONSUMER_OFFSET and UPDATE_CONSUMER_OFFSET mirror ``ConsumerManageProcessor``;
GET_MAX_OFFSET, GET_MIN_OFFSET, SEARCH_OFFSET_BY_TIMESTAMP, GET_EARLIEST_MSG_STORETIME
mirror ``AdminBrokerProcessor``; VIEW_MESSAGE_BY_ID and QUERY_MESSAGE mirror
``QueryMessageProcessor`` (message bytes go from the store's mapped memory to the socket
without a copy, as for pulls).

QUERY_CONSUMER_OFFSET for a group with no stored offset is answered as Apache RocketMQ
answers it, and real clients depend on it: QUERY_NOT_FOUND (the client then starts from
the queue's max offset for CONSUME_FROM_LAST_OFFSET), except when the queue still starts
at offset 0 and its first message is in memory, then SUCCESS with offset 0 — so a new
group gets a young queue's backlog (captures.md, last bullet); ``setZeroIfNotFound=false``
always gives QUERY_NOT_FOUND.
"""

from __future__ import annotations

import logging
from typing import final

from rmq_broker.controller import BrokerController
from rmq_broker.processors._common import respond
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import (
    BoundaryType as WireBoundary,
)
from rmq_protocol.codec.headers import (
    GetEarliestMsgStoretimeRequestHeader,
    GetEarliestMsgStoretimeResponseHeader,
    GetMaxOffsetRequestHeader,
    GetMaxOffsetResponseHeader,
    GetMinOffsetRequestHeader,
    GetMinOffsetResponseHeader,
    QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader,
    QueryMessageRequestHeader,
    QueryMessageResponseHeader,
    SearchOffsetRequestHeader,
    SearchOffsetResponseHeader,
    UpdateConsumerOffsetRequestHeader,
    ViewMessageRequestHeader,
)
from rmq_protocol.transport import Connection, ProcessorRegistry
from rmq_store import BoundaryType, GetMessageStatus

__all__ = ["OffsetProcessor"]

logger = logging.getLogger(__name__)


@final
class OffsetProcessor:
    """Offsets of groups and queues, and message lookups by offset or key."""

    def __init__(self, controller: BrokerController) -> None:
        self._c = controller

    def register(self, registry: ProcessorRegistry) -> None:
        registry.register(RequestCode.QUERY_CONSUMER_OFFSET, self.query_consumer_offset)
        registry.register(RequestCode.UPDATE_CONSUMER_OFFSET, self.update_consumer_offset)
        registry.register(RequestCode.GET_MAX_OFFSET, self.get_max_offset)
        registry.register(RequestCode.GET_MIN_OFFSET, self.get_min_offset)
        registry.register(RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, self.search_offset_by_timestamp)
        registry.register(RequestCode.GET_EARLIEST_MSG_STORETIME, self.get_earliest_msg_storetime)
        registry.register(RequestCode.VIEW_MESSAGE_BY_ID, self.view_message_by_id)
        registry.register(RequestCode.QUERY_MESSAGE, self.query_message)

    # ------------------------------------------------------------------ consumer offsets

    def query_consumer_offset(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        c = self._c
        header = request.decode_header(QueryConsumerOffsetRequestHeader)
        offset = c.offsets.query_offset(header.consumer_group, header.topic, header.queue_id)
        if offset >= 0:
            return respond(request, header=QueryConsumerOffsetResponseHeader(offset=offset))
        if header.set_zero_if_not_found is False:
            return respond(
                request,
                ResponseCode.QUERY_NOT_FOUND,
                "Not found, do not set to zero, maybe this group boot first",
            )
        min_offset = c.store.get_min_offset_in_queue(header.topic, header.queue_id)
        if min_offset <= 0 and self._first_message_in_memory(header.topic, header.queue_id):
            return respond(request, header=QueryConsumerOffsetResponseHeader(offset=0))
        return respond(
            request,
            ResponseCode.QUERY_NOT_FOUND,
            "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first",
        )

    def _first_message_in_memory(self, topic: str, queue_id: int) -> bool:
        """Java ``checkInMemByConsumeOffset(topic, queueId, 0, 1)``: message 0 exists and
        is within the page-cache share of the commit log's tail."""
        result = self._c.store.get_messages(topic, queue_id, 0, max_count=1)
        found = result.status is GetMessageStatus.FOUND and not result.suggest_pulling_from_slave
        for view in result.messages:
            view.release()
        return found

    def update_consumer_offset(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        header = request.decode_header(UpdateConsumerOffsetRequestHeader)
        self._c.offsets.commit_offset(
            header.consumer_group, header.topic, header.queue_id, header.commit_offset
        )
        return respond(request)

    # ------------------------------------------------------------------ queue offsets

    def get_max_offset(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        header = request.decode_header(GetMaxOffsetRequestHeader)
        offset = self._c.store.get_max_offset_in_queue(header.topic, header.queue_id)
        return respond(request, header=GetMaxOffsetResponseHeader(offset=offset))

    def get_min_offset(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        header = request.decode_header(GetMinOffsetRequestHeader)
        offset = self._c.store.get_min_offset_in_queue(header.topic, header.queue_id)
        return respond(request, header=GetMinOffsetResponseHeader(offset=offset))

    def search_offset_by_timestamp(
        self, request: RemotingCommand, conn: Connection
    ) -> RemotingCommand:
        header = request.decode_header(SearchOffsetRequestHeader)
        boundary = (
            BoundaryType.UPPER if header.boundary_type is WireBoundary.UPPER else BoundaryType.LOWER
        )
        offset = self._c.store.get_offset_in_queue_by_time(
            header.topic, header.queue_id, header.timestamp, boundary
        )
        return respond(request, header=SearchOffsetResponseHeader(offset=offset))

    def get_earliest_msg_storetime(
        self, request: RemotingCommand, conn: Connection
    ) -> RemotingCommand:
        header = request.decode_header(GetEarliestMsgStoretimeRequestHeader)
        timestamp = self._c.store.get_earliest_message_time(header.topic, header.queue_id)
        return respond(
            request,
            header=GetEarliestMsgStoretimeResponseHeader(
                timestamp=-1 if timestamp is None else timestamp
            ),
        )

    # ------------------------------------------------------------------ lookups

    def view_message_by_id(
        self, request: RemotingCommand, conn: Connection
    ) -> RemotingCommand | None:
        header = request.decode_header(ViewMessageRequestHeader)
        view = self._c.store.read_message(header.offset)
        if view is None:
            return respond(
                request,
                ResponseCode.SYSTEM_ERROR,
                f"can not find message by the offset, {header.offset}",
            )
        if not request.is_oneway:
            conn.send_response(respond(request), [view])
        return None

    def query_message(self, request: RemotingCommand, conn: Connection) -> RemotingCommand | None:
        c = self._c
        header = request.decode_header(QueryMessageRequestHeader)
        max_num = c.config.default_query_max_num if header.unique_key_query else header.max_num
        result = c.store.query_message(
            header.topic,
            header.key,
            max_num=max_num,
            begin_ms=header.begin_timestamp,
            end_ms=header.end_timestamp,
        )
        response_header = QueryMessageResponseHeader(
            index_last_update_timestamp=result.index_last_update_timestamp,
            index_last_update_phyoffset=result.index_last_update_phy_offset,
        )
        if not result.messages:
            return respond(
                request,
                ResponseCode.QUERY_NOT_FOUND,
                "can not find message, maybe time range not correct",
                response_header,
            )
        if not request.is_oneway:
            conn.send_response(respond(request, header=response_header), result.messages)
        return None
