"""Topic and subscription-group admin codes, against a real broker."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rmq_broker import Broker, BrokerSettings
from rmq_protocol.codec.body import (
    GroupList,
    SubscriptionGroupConfig,
    SubscriptionGroupWrapper,
    TopicConfig,
)
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.fastjson import loads
from rmq_protocol.codec.headers import (
    DeleteSubscriptionGroupRequestHeader,
    DeleteTopicRequestHeader,
    GetAllSubscriptionGroupResponseHeader,
    GetSubscriptionGroupConfigRequestHeader,
    GetTopicConfigRequestHeader,
    QueryTopicConsumeByWhoRequestHeader,
    UpdateConsumerOffsetRequestHeader,
)
from rmq_protocol.transport import RemotingClient

if TYPE_CHECKING:
    from conftest import Builders, Send


def _commit(group: str, topic: str, queue_id: int, offset: int) -> RemotingCommand:
    return RemotingCommand.request(
        RequestCode.UPDATE_CONSUMER_OFFSET,
        UpdateConsumerOffsetRequestHeader(
            consumer_group=group, topic=topic, queue_id=queue_id, commit_offset=offset
        ),
    )


async def test_delete_topic_removes_config_and_offsets(
    broker: Broker, client: RemotingClient, send: Send
) -> None:
    assert (await send("TopicGone")).code == ResponseCode.SUCCESS
    assert (await send("TopicKept")).code == ResponseCode.SUCCESS
    for topic in ("TopicGone", "TopicKept"):
        response = await client.request(broker.address, _commit("cg", topic, 0, 1), timeout=5)
        assert response.code == ResponseCode.SUCCESS
    delete = RemotingCommand.request(
        RequestCode.DELETE_TOPIC_IN_BROKER, DeleteTopicRequestHeader(topic="TopicGone")
    )
    response = await client.request(broker.address, delete, timeout=5)
    assert (response.code, response.remark) == (ResponseCode.SUCCESS, None)
    offsets = broker.controller.offsets
    assert offsets.query_offset("cg", "TopicGone", 0) == -1
    assert offsets.query_offset("cg", "TopicKept", 0) == 1
    assert broker.controller.topics.select("TopicGone") is None

    get = RemotingCommand.request(
        RequestCode.GET_TOPIC_CONFIG, GetTopicConfigRequestHeader(topic="TopicGone")
    )
    response = await client.request(broker.address, get, timeout=5)
    assert (response.code, response.remark) == (
        ResponseCode.TOPIC_NOT_EXIST,
        "No topic in this broker. topic: TopicGone",
    )
    # Deleting again is still SUCCESS (Java: idempotent); system topics are refused.
    assert (await client.request(broker.address, delete, timeout=5)).code == ResponseCode.SUCCESS
    system = RemotingCommand.request(
        RequestCode.DELETE_TOPIC_IN_BROKER, DeleteTopicRequestHeader(topic="TBW102")
    )
    response = await client.request(broker.address, system, timeout=5)
    assert (response.code, response.remark) == (
        ResponseCode.INVALID_PARAMETER,
        "The topic[TBW102] is conflict with system topic.",
    )

    # The offsets file no longer has the topic after the next write.
    await broker.persist(force=True)
    written = loads(broker.controller.offsets.path.read_bytes())
    assert isinstance(written, dict)
    table = written["offsetTable"]
    assert isinstance(table, dict)
    assert set(table) == {"TopicKept@cg"}


async def test_get_topic_config(broker: Broker, client: RemotingClient, send: Send) -> None:
    assert (await send("TopicShown")).code == ResponseCode.SUCCESS
    get = RemotingCommand.request(
        RequestCode.GET_TOPIC_CONFIG, GetTopicConfigRequestHeader(topic="TopicShown")
    )
    response = await client.request(broker.address, get, timeout=5)
    assert response.code == ResponseCode.SUCCESS
    config = TopicConfig.from_json(response.body)
    assert (config.topic_name, config.read_queue_nums, config.perm) == ("TopicShown", 4, 6)


async def test_subscription_groups_create_list_get_delete(
    broker: Broker, client: RemotingClient, settings: BrokerSettings
) -> None:
    config = SubscriptionGroupConfig(
        group_name="CID_admin", consume_broadcast_enable=False, retry_max_times=3
    )
    create = RemotingCommand.request(
        RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, body=config.to_json()
    )
    response = await client.request(broker.address, create, timeout=5)
    assert (response.code, response.remark) == (ResponseCode.SUCCESS, None)

    listing = await client.request(
        broker.address,
        RemotingCommand.request(RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG),
        timeout=5,
    )
    assert listing.code == ResponseCode.SUCCESS
    wrapper = SubscriptionGroupWrapper.from_json(listing.body)
    assert wrapper.subscription_group_table["CID_admin"] == config
    assert "TOOLS_CONSUMER" in wrapper.subscription_group_table  # built-in groups too
    total = listing.decode_header(GetAllSubscriptionGroupResponseHeader).total_group_num
    assert total == len(wrapper.subscription_group_table)
    assert wrapper.data_version == broker.controller.groups.data_version

    get = RemotingCommand.request(
        RequestCode.GET_SUBSCRIPTIONGROUP_CONFIG,
        GetSubscriptionGroupConfigRequestHeader(group="CID_admin"),
    )
    response = await client.request(broker.address, get, timeout=5)
    assert SubscriptionGroupConfig.from_json(response.body) == config

    # persisted in subscriptionGroup.json
    await broker.persist()
    path = Path(settings.store.store_path_root_dir) / "config" / "subscriptionGroup.json"
    on_disk = SubscriptionGroupWrapper.from_json(path.read_bytes())
    assert on_disk.subscription_group_table["CID_admin"] == config

    # delete with cleanOffset: the group's offsets go too
    commit = _commit("CID_admin", "TopicX", 0, 5)
    assert (await client.request(broker.address, commit, timeout=5)).code == 0
    delete = RemotingCommand.request(
        RequestCode.DELETE_SUBSCRIPTIONGROUP,
        DeleteSubscriptionGroupRequestHeader(group_name="CID_admin", clean_offset=True),
    )
    assert (await client.request(broker.address, delete, timeout=5)).code == ResponseCode.SUCCESS
    assert broker.controller.groups.get("CID_admin") is None
    assert broker.controller.offsets.query_offset("CID_admin", "TopicX", 0) == -1
    await broker.persist()
    on_disk = SubscriptionGroupWrapper.from_json(path.read_bytes())
    assert "CID_admin" not in on_disk.subscription_group_table


async def test_subscription_group_invalid_name_refused(
    broker: Broker, client: RemotingClient
) -> None:
    bad = SubscriptionGroupConfig(group_name="bad group!")
    create = RemotingCommand.request(
        RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, body=bad.to_json()
    )
    response = await client.request(broker.address, create, timeout=5)
    assert response.code == ResponseCode.INVALID_PARAMETER
    assert response.remark is not None
    assert "contains illegal characters" in response.remark
    garbage = RemotingCommand.request(RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, body=b"[1")
    response = await client.request(broker.address, garbage, timeout=5)
    assert response.code == ResponseCode.INVALID_PARAMETER


async def test_get_group_not_exist_without_auto_create(
    settings: BrokerSettings, client: RemotingClient, build: Builders
) -> None:
    async with Broker(build.with_broker(settings, auto_create_subscription_group=False)) as broker:
        get = RemotingCommand.request(
            RequestCode.GET_SUBSCRIPTIONGROUP_CONFIG,
            GetSubscriptionGroupConfigRequestHeader(group="CID_none"),
        )
        response = await client.request(broker.address, get, timeout=5)
        assert (response.code, response.remark) == (
            ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
            "No group in this broker",
        )


async def test_query_topic_consume_by_who(
    broker: Broker, client: RemotingClient, build: Builders
) -> None:
    beat = build.heartbeat("client-1", consumer_group="CID_live", topic="TopicWho")
    assert (await client.request(broker.address, beat, timeout=5)).code == 0
    commit = _commit("CID_stored", "TopicWho", 0, 3)
    assert (await client.request(broker.address, commit, timeout=5)).code == 0
    query = RemotingCommand.request(
        RequestCode.QUERY_TOPIC_CONSUME_BY_WHO,
        QueryTopicConsumeByWhoRequestHeader(topic="TopicWho"),
    )
    response = await client.request(broker.address, query, timeout=5)
    assert response.code == ResponseCode.SUCCESS
    assert set(GroupList.from_json(response.body).group_list) == {"CID_live", "CID_stored"}
