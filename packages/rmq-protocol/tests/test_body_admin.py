"""Admin bodies added for the broker's admin codes: SubscriptionGroupWrapper, GroupList."""

from __future__ import annotations

from rmq_protocol.codec.body import (
    DataVersion,
    GroupList,
    SubscriptionGroupConfig,
    SubscriptionGroupWrapper,
)
from rmq_protocol.codec.fastjson import loads


def test_subscription_group_wrapper_as_java_writes_it() -> None:
    wrapper = SubscriptionGroupWrapper(
        subscription_group_table={"g1": SubscriptionGroupConfig(group_name="g1")},
        forbidden_table={"g1": {"t": 2}},
        data_version=DataVersion(timestamp=5, counter=2),
    )
    text = wrapper.to_json()
    assert text.startswith(
        b'{"dataVersion":{"counter":2,"stateVersion":0,"timestamp":5},'
        b'"forbiddenTable":{"g1":{"t":2}},"subscriptionGroupTable":{"g1":{"attributes":{},'
        b'"brokerId":0,'
    )
    assert SubscriptionGroupWrapper.from_json(text) == wrapper


def test_subscription_group_wrapper_reads_a_4x_file() -> None:
    # 4.x: no forbiddenTable, no 5.x members in the group config.
    text = (
        b'{"subscriptionGroupTable":{"cg":{"groupName":"cg","consumeEnable":false,'
        b'"retryMaxTimes":3}},"dataVersion":{"counter":{"value":7},"timestamp":1}}\n'
    )
    wrapper = SubscriptionGroupWrapper.from_json(text)
    group = wrapper.subscription_group_table["cg"]
    assert (group.consume_enable, group.retry_max_times, group.retry_queue_nums) == (False, 3, 1)
    assert wrapper.forbidden_table == {}
    assert wrapper.data_version == DataVersion(timestamp=1, counter=7)


def test_group_list() -> None:
    body = GroupList(("cg1", "cg2"))
    assert body.to_json() == b'{"groupList":["cg1","cg2"]}'
    assert GroupList.from_json(b'{"groupList":["a"]}') == GroupList(("a",))
    assert loads(GroupList().to_json()) == {"groupList": []}
