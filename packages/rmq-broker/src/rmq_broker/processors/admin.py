"""Topic and subscription-group admin codes.

Mirrors the topic and group parts of ``AdminBrokerProcessor`` (what ``mqadmin
updateTopic`` / ``deleteTopic`` / ``topicList`` / ``updateSubGroup`` / ``deleteSubGroup``
/ ``topicConsumeByWho`` use):

* UPDATE_AND_CREATE_TOPIC, DELETE_TOPIC_IN_BROKER (also forgets every group's offsets of
  the topic, as Java's ``cleanOffsetByTopic``), GET_ALL_TOPIC_CONFIG, GET_TOPIC_CONFIG;
* UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (body: a SubscriptionGroupConfig; persisted in
  ``subscriptionGroup.json``), DELETE_SUBSCRIPTIONGROUP (``cleanOffset`` also forgets the
  group's offsets), GET_ALL_SUBSCRIPTIONGROUP_CONFIG, GET_SUBSCRIPTIONGROUP_CONFIG;
* QUERY_TOPIC_CONSUME_BY_WHO: groups subscribed now or with an offset on the topic.

The stats and connection codes are in :mod:`rmq_broker.processors.admin_stats`, the broker
config codes in :mod:`rmq_broker.processors.admin_config`.
"""

from __future__ import annotations

import logging
from typing import final

from rmq_broker.controller import BrokerController
from rmq_broker.processors._common import respond
from rmq_broker.topic_config import validate_group, validate_topic
from rmq_protocol.codec.body import GroupList, SubscriptionGroupConfig, TopicConfig, TopicFilterType
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import (
    CreateTopicRequestHeader,
    DeleteSubscriptionGroupRequestHeader,
    DeleteTopicRequestHeader,
    GetAllSubscriptionGroupResponseHeader,
    GetAllTopicConfigResponseHeader,
    GetSubscriptionGroupConfigRequestHeader,
    GetTopicConfigRequestHeader,
    QueryTopicConsumeByWhoRequestHeader,
)
from rmq_protocol.errors import RemoteProtocolError
from rmq_protocol.transport import Connection, ProcessorRegistry

__all__ = ["AdminGroupProcessor", "AdminTopicProcessor"]

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
        registry.register(RequestCode.GET_TOPIC_CONFIG, self.get_topic_config)
        registry.register(RequestCode.QUERY_TOPIC_CONSUME_BY_WHO, self.query_topic_consume_by_who)

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
        """Java answers SUCCESS for a topic it does not have (deleting is idempotent
        across a cluster); so do we. The topic's messages stay in the commit log and
        its consume queues on disk until retention removes them: rmq-store has no
        per-topic delete yet."""
        c = self._c
        topic = request.decode_header(DeleteTopicRequestHeader).topic
        logger.info("delete topic %s requested by %s", topic, conn.peer)
        if not topic.strip():
            return respond(request, ResponseCode.INVALID_PARAMETER, "The specified topic is blank.")
        if c.topics.is_system_topic(topic):
            return respond(
                request,
                ResponseCode.INVALID_PARAMETER,
                f"The topic[{topic}] is conflict with system topic.",
            )
        existed = c.topics.delete(topic)
        cleaned = c.offsets.clean_offset_by_topic(topic)
        if cleaned:
            c.metadata_dirty.set()
        logger.info(
            "topic %s %s; offsets of %d group(s) removed",
            topic,
            "deleted" if existed else "was not configured",
            cleaned,
        )
        return respond(request)

    def get_all_topic_config(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        wrapper = self._c.topics.wrapper()
        return respond(
            request,
            header=GetAllTopicConfigResponseHeader(total_topic_num=len(wrapper.topic_config_table)),
            body=wrapper.to_json(),
        )

    def get_topic_config(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        """GET_TOPIC_CONFIG: Java's ``TopicConfigAndQueueMapping`` (a TopicConfig; no
        static-topic mapping here, so ``mappingDetail`` is absent)."""
        topic = request.decode_header(GetTopicConfigRequestHeader).topic
        config = self._c.topics.select(topic)
        if config is None:
            return respond(
                request, ResponseCode.TOPIC_NOT_EXIST, f"No topic in this broker. topic: {topic}"
            )
        return respond(request, body=config.to_json())

    def query_topic_consume_by_who(
        self, request: RemotingCommand, conn: Connection
    ) -> RemotingCommand:
        c = self._c
        topic = request.decode_header(QueryTopicConsumeByWhoRequestHeader).topic
        groups = c.clients.query_topic_consume_by_who(topic) | c.offsets.which_group_by_topic(topic)
        return respond(request, body=GroupList(tuple(sorted(groups))).to_json())


@final
class AdminGroupProcessor:
    """Subscription-group creation, deletion and listing."""

    def __init__(self, controller: BrokerController) -> None:
        self._c = controller

    def register(self, registry: ProcessorRegistry) -> None:
        registry.register(
            RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, self.update_and_create_group
        )
        registry.register(RequestCode.DELETE_SUBSCRIPTIONGROUP, self.delete_group)
        registry.register(RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG, self.get_all_groups)
        registry.register(RequestCode.GET_SUBSCRIPTIONGROUP_CONFIG, self.get_group)

    def update_and_create_group(
        self, request: RemotingCommand, conn: Connection
    ) -> RemotingCommand:
        logger.info("update or create subscription group requested by %s", conn.peer)
        if not request.body:
            return respond(request)  # Java: a null body is a no-op answered SUCCESS
        try:
            config = SubscriptionGroupConfig.from_json(request.body)
        except RemoteProtocolError as exc:
            return respond(
                request,
                ResponseCode.INVALID_PARAMETER,
                f"the body is not a SubscriptionGroupConfig: {exc}",
            )
        invalid = validate_group(config.group_name)
        if invalid is not None:
            return respond(request, ResponseCode.INVALID_PARAMETER, invalid)
        self._c.groups.update(config)
        return respond(request)

    def delete_group(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        c = self._c
        header = request.decode_header(DeleteSubscriptionGroupRequestHeader)
        group = header.group_name
        logger.info(
            "delete subscription group %s (cleanOffset=%s) requested by %s",
            group,
            header.clean_offset,
            conn.peer,
        )
        c.groups.delete(group)
        if header.clean_offset:
            c.offsets.remove_group(group)
            c.metadata_dirty.set()
        return respond(request)

    def get_all_groups(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        """The whole table (Java's answer when split metadata is off, its default)."""
        groups = self._c.groups
        return respond(
            request,
            header=GetAllSubscriptionGroupResponseHeader(total_group_num=len(groups.table)),
            body=groups.wrapper().to_json(),
        )

    def get_group(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        group = request.decode_header(GetSubscriptionGroupConfigRequestHeader).group
        config = self._c.groups.find(group)  # as Java: auto-created when that is on
        if config is None:
            return respond(
                request, ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST, "No group in this broker"
            )
        return respond(request, body=config.to_json())
