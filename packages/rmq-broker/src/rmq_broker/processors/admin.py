"""The topic admin codes: UPDATE_AND_CREATE_TOPIC, DELETE_TOPIC_IN_BROKER, GET_ALL_TOPIC_CONFIG.

Mirrors the topic part of ``AdminBrokerProcessor`` (what ``mqadmin updateTopic`` /
``deleteTopic`` / ``topicList`` use). The other admin codes of issue 4 come later.
"""

from __future__ import annotations

import logging
from typing import final

from rmq_broker.controller import BrokerController
from rmq_broker.processors._common import respond
from rmq_broker.topic_config import validate_topic
from rmq_protocol.codec.body import TopicConfig, TopicFilterType
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import (
    CreateTopicRequestHeader,
    DeleteTopicRequestHeader,
    GetAllTopicConfigResponseHeader,
)
from rmq_protocol.transport import Connection, ProcessorRegistry

__all__ = ["AdminTopicProcessor"]

logger = logging.getLogger(__name__)


def _parse_attributes(text: str | None) -> dict[str, str]:
    """Java ``AttributeParser.parseToMap``: ``+k=v,-k2`` (additions keep their sign)."""
    attributes: dict[str, str] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        key, _, value = item.partition("=")
        attributes[key] = value
    return attributes


@final
class AdminTopicProcessor:
    """Topic creation, deletion and listing."""

    def __init__(self, controller: BrokerController) -> None:
        self._c = controller

    def register(self, registry: ProcessorRegistry) -> None:
        registry.register(RequestCode.UPDATE_AND_CREATE_TOPIC, self.update_and_create_topic)
        registry.register(RequestCode.DELETE_TOPIC_IN_BROKER, self.delete_topic)
        registry.register(RequestCode.GET_ALL_TOPIC_CONFIG, self.get_all_topic_config)

    def update_and_create_topic(
        self, request: RemotingCommand, conn: Connection
    ) -> RemotingCommand:
        c = self._c
        header = request.decode_header(CreateTopicRequestHeader)
        topic = header.topic
        logger.info("update or create topic %s requested by %s", topic, conn.peer)
        invalid = validate_topic(topic)
        if invalid is not None:
            return respond(request, ResponseCode.INVALID_PARAMETER, invalid)
        if c.topics.is_system_topic(topic):
            return respond(
                request,
                ResponseCode.INVALID_PARAMETER,
                f"The topic[{topic}] is conflict with system topic.",
            )
        filter_type = TopicFilterType.__members__.get(header.topic_filter_type)
        if filter_type is None:
            return respond(
                request,
                ResponseCode.INVALID_PARAMETER,
                f"topicFilterType {header.topic_filter_type!r} is not SINGLE_TAG or MULTI_TAG",
            )
        c.topics.update(
            TopicConfig(
                topic_name=topic,
                read_queue_nums=header.read_queue_nums,
                write_queue_nums=header.write_queue_nums,
                perm=header.perm,
                topic_filter_type=filter_type,
                topic_sys_flag=header.topic_sys_flag or 0,
                order=header.order,
                attributes=_parse_attributes(header.attributes),
            )
        )
        return respond(request)

    def delete_topic(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        c = self._c
        topic = request.decode_header(DeleteTopicRequestHeader).topic
        if c.topics.is_system_topic(topic):
            return respond(
                request,
                ResponseCode.INVALID_PARAMETER,
                f"The topic[{topic}] is conflict with system topic.",
            )
        c.topics.delete(topic)
        return respond(request)

    def get_all_topic_config(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        wrapper = self._c.topics.wrapper()
        return respond(
            request,
            header=GetAllTopicConfigResponseHeader(total_topic_num=len(wrapper.topic_config_table)),
            body=wrapper.to_json(),
        )
