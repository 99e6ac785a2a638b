"""topics.json, subscriptionGroup.json, consumerOffset.json: Java's formats, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rmq_broker import BrokerConfig, MetadataFileError
from rmq_broker.consumer_offset import ConsumerOffsetManager
from rmq_broker.jsonfile import pretty_json, read_json_file, write_json_file
from rmq_broker.subscription_group import SubscriptionGroupManager
from rmq_broker.topic_config import (
    TopicConfigManager,
    perm_to_string,
    topic_config_string,
    validate_group,
    validate_topic,
)
from rmq_protocol.codec.body import TopicConfig, TopicFilterType


def _topics(tmp_path: Path, **changes: object) -> TopicConfigManager:
    config = BrokerConfig(broker_name="broker-a", **changes)  # type: ignore[arg-type]
    return TopicConfigManager(config, tmp_path / "config" / "topics.json", clock_ms=lambda: 1000)


def test_system_topics(tmp_path: Path) -> None:
    topics = _topics(tmp_path)
    tbw = topics.select("TBW102")
    assert tbw is not None
    assert (tbw.perm, tbw.read_queue_nums, tbw.write_queue_nums) == (7, 8, 8)
    assert topics.select("SELF_TEST_TOPIC") is not None
    schedule = topics.select("SCHEDULE_TOPIC_XXXX")
    assert schedule is not None
    assert schedule.write_queue_nums == 18
    cluster = topics.select("DefaultCluster")
    assert cluster is not None
    assert cluster.perm == 7
    assert topics.select("broker-a") is not None
    assert topics.select("DefaultCluster_REPLY_TOPIC") is not None
    assert topics.select("RMQ_SYS_TRANS_HALF_TOPIC") is not None
    assert topics.is_system_topic("TBW102")
    assert topics.is_system_topic("rmq_sys_anything")
    assert not topics.is_system_topic("TopicTest")


def test_no_tbw102_without_auto_create(tmp_path: Path) -> None:
    topics = _topics(tmp_path, auto_create_topic_enable=False)
    assert topics.select("TBW102") is None
    assert topics.create_in_send_message("T1", "TBW102", 4, 0, "peer") is None


def test_auto_create_from_tbw102(tmp_path: Path) -> None:
    changes: list[int] = []
    topics = _topics(tmp_path)
    topics._on_change = lambda: changes.append(topics.data_version.counter)
    created = topics.create_in_send_message("TopicNew", "TBW102", 4, 0, "127.0.0.1:5000")
    assert created is not None
    assert (created.read_queue_nums, created.write_queue_nums, created.perm) == (4, 4, 6)
    assert changes == [1]
    # the client asks for more queues than the template has: the template wins
    bigger = topics.create_in_send_message("TopicBig", "TBW102", 64, 0, "peer")
    assert bigger is not None
    assert bigger.write_queue_nums == 8
    # a template without INHERIT creates nothing
    assert topics.create_in_send_message("TopicX", "SELF_TEST_TOPIC", 4, 0, "peer") is None
    assert topics.create_in_send_message("TopicY", "NoSuchTemplate", 4, 0, "peer") is None


def test_topics_round_trip_in_javas_format(tmp_path: Path) -> None:
    topics = _topics(tmp_path)
    topics.update(TopicConfig(topic_name="TopicA", read_queue_nums=2, write_queue_nums=2))
    write_json_file(topics.path, topics.to_value())
    text = topics.path.read_text()
    assert text.startswith('{\n\t"dataVersion":{\n\t\t"counter":1,')
    document = json.loads(text)
    assert document["topicConfigTable"]["TopicA"] == {
        "attributes": {},
        "order": False,
        "perm": 6,
        "readQueueNums": 2,
        "topicFilterType": "SINGLE_TAG",
        "topicName": "TopicA",
        "topicSysFlag": 0,
        "writeQueueNums": 2,
    }
    again = _topics(tmp_path)
    again.load()
    assert again.select("TopicA") == topics.select("TopicA")
    assert again.data_version == topics.data_version


def test_a_java_topics_json_loads(tmp_path: Path) -> None:
    path = tmp_path / "config" / "topics.json"
    path.parent.mkdir()
    path.write_text(
        '{\n\t"dataVersion":{\n\t\t"counter":3,\n\t\t"stateVersion":0,\n\t\t"timestamp":1700000000000\n'
        '\t},\n\t"topicConfigTable":{\n\t\t"TopicJava":{\n\t\t\t"order":false,\n\t\t\t"perm":6,\n'
        '\t\t\t"readQueueNums":4,\n\t\t\t"topicFilterType":"MULTI_TAG",\n\t\t\t"topicName":"TopicJava",\n'
        '\t\t\t"topicSysFlag":0,\n\t\t\t"writeQueueNums":4\n\t\t}\n\t}\n}'
    )
    topics = _topics(tmp_path)
    topics.load()
    loaded = topics.select("TopicJava")
    assert loaded is not None
    assert loaded.topic_filter_type is TopicFilterType.MULTI_TAG
    assert topics.data_version.counter == 3


def test_backup_is_read_when_the_file_is_torn(tmp_path: Path) -> None:
    path = tmp_path / "config" / "topics.json"
    write_json_file(path, {"a": 1})
    write_json_file(path, {"a": 2})  # the first content is now the .bak
    assert json.loads(path.with_name("topics.json.bak").read_text()) == {"a": 1}
    path.write_text('{"a": ')  # torn by hand
    assert read_json_file(path) == {"a": 1}
    path.with_name("topics.json.bak").write_text("garbage{")
    with pytest.raises(MetadataFileError, match=r"topics\.json"):
        read_json_file(path)


def test_offsets_round_trip_and_fastjson_keys(tmp_path: Path) -> None:
    offsets = ConsumerOffsetManager(tmp_path / "consumerOffset.json")
    assert offsets.query_offset("g", "T", 0) == -1
    offsets.commit_offset("g", "T", 0, 12)
    offsets.commit_offset("g", "T", 1, 3)
    assert offsets.dirty
    write_json_file(offsets.path, offsets.to_value())
    again = ConsumerOffsetManager(offsets.path)
    again.load()
    assert again.query_offset("g", "T", 0) == 12
    assert again.query_offset("g", "T", 1) == 3
    assert again.query_offset("g", "Other", 0) == -1
    # fastjson writes the queue ids unquoted
    offsets.path.write_text('{"offsetTable":{"T@g":{0:42,1:7}}}')
    java = ConsumerOffsetManager(offsets.path)
    java.load()
    assert java.query_offsets("g", "T") == {0: 42, 1: 7}


def test_subscription_groups(tmp_path: Path) -> None:
    path = tmp_path / "subscriptionGroup.json"
    groups = SubscriptionGroupManager(BrokerConfig(), path)
    assert groups.get("TOOLS_CONSUMER") is not None
    assert groups.get("CID_new") is None
    created = groups.find("CID_new")
    assert created is not None
    assert created.retry_queue_nums == 1
    assert created.retry_max_times == 16
    assert groups.find("bad group!") is None
    write_json_file(path, groups.to_value())
    again = SubscriptionGroupManager(BrokerConfig(), path)
    again.load()
    assert again.get("CID_new") == created
    off = SubscriptionGroupManager(BrokerConfig(auto_create_subscription_group=False), path)
    assert off.find("CID_other") is None


def test_validators_use_javas_remarks() -> None:
    assert validate_topic("TopicTest") is None
    assert validate_topic("%RETRY%group") is None
    assert validate_topic("") == "The specified topic is blank."
    assert validate_topic("a b") == (
        "The specified topic: a b, contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$"
    )
    assert validate_topic("x" * 128) == (
        f"The specified topic: {'x' * 128}, is longer than topic max length: 127"
    )
    assert validate_topic("%RETRY%" + "x" * 200) is None
    assert validate_group("g" * 121) == (
        f"The specified group: {'g' * 121}, is longer than group max length: 120"
    )
    assert perm_to_string(7) == "RWX"
    assert perm_to_string(4) == "R--"
    assert topic_config_string(
        TopicConfig(topic_name="T", read_queue_nums=4, write_queue_nums=4)
    ) == (
        "TopicConfig [topicName=T, readQueueNums=4, writeQueueNums=4, perm=RW-, "
        "topicFilterType=SINGLE_TAG, topicSysFlag=0, order=false, attributes={}]"
    )


def test_pretty_json_is_fastjsons_layout() -> None:
    assert pretty_json({"a": {"b": [1, 2]}, "c": {}, "d": []}) == (
        b'{\n\t"a":{\n\t\t"b":[\n\t\t\t1,\n\t\t\t2\n\t\t]\n\t},\n\t"c":{},\n\t"d":[]\n}'
    )
