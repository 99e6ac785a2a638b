"""Tests of rmq_protocol.codec.body: JSON bodies of remoting commands."""

from __future__ import annotations

import contextlib
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, TypeVar, final

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmq_protocol.codec.body import (
    BrokerData,
    ClusterInfo,
    Connection,
    ConsumeFromWhere,
    ConsumerConnection,
    ConsumerData,
    ConsumeStats,
    ConsumeType,
    DataVersion,
    GetConsumerListByGroupResponseBody,
    HeartbeatData,
    KVTable,
    LockBatchRequestBody,
    LockBatchResponseBody,
    MessageModel,
    MessageQueue,
    OffsetWrapper,
    ProducerConnection,
    ProducerData,
    QueueData,
    RegisterBrokerBody,
    ResetOffsetBody,
    SimpleSubscriptionData,
    SubscriptionData,
    SubscriptionGroupConfig,
    TopicConfig,
    TopicConfigSerializeWrapper,
    TopicFilterType,
    TopicList,
    TopicOffset,
    TopicRouteData,
    TopicStatsTable,
    UnlockBatchRequestBody,
    _Body,
    _json_body,
    decode_properties_text,
    encode_properties_text,
)
from rmq_protocol.codec.codes import LanguageCode
from rmq_protocol.codec.fastjson import JSONValue, loads
from rmq_protocol.errors import RemoteProtocolError

if TYPE_CHECKING:
    from conftest import Mutator


def _keys(text: bytes) -> list[str]:
    """Top-level member names of a JSON object, in written order."""
    value = loads(text)
    assert isinstance(value, dict)
    return [str(k) for k in value]


# captures.md: the real 4.9.8 namesrv's GET_ROUTEINFO_BY_TOPIC answer (235 bytes).
CAPTURED_ROUTE = (
    b'{"brokerDatas":[{"brokerAddrs":{"0":"127.0.0.1:10911"},"brokerName":"broker-a",'
    b'"cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":'
    b'"broker-a","perm":6,"readQueueNums":8,"topicSysFlag":0,"writeQueueNums":8}]}'
)

# remoting-protocol.md §5.1, compacted.
SPEC_ROUTE = (
    b'{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"},'
    b'"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}],'
    b'"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,'
    b'"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}'
)

# remoting-protocol.md §6.1, compacted.
SPEC_HEARTBEAT = (
    b'{"clientID":"10.0.0.5@12345#4823749823749","consumerDataSet":[{"consumeFromWhere":'
    b'"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"cg1",'
    b'"messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,'
    b'"codeSet":[2598919],"expressionType":"TAG","subString":"TagA","subVersion":'
    b'1700000000000,"tagsSet":["TagA"],"topic":"TopicTest"}],"unitMode":false}],'
    b'"heartbeatFingerprint":0,"producerDataSet":[{"groupName":"pg1"},'
    b'{"groupName":"CLIENT_INNER_PRODUCER"}],"withoutSub":false}'
)

# captures.md: C++ heartbeat: ordinals, string subVersion, no classFilterMode/tagsSet/
# codeSet, keys sorted, trailing newline.
CPP_HEARTBEAT = (
    b'{"clientID":"127.0.0.1@29369#DEFAULT","consumerDataSet":[{"consumeFromWhere":0,'
    b'"consumeType":1,"groupName":"CID_capC","messageModel":1,"subscriptionDataSet":['
    b'{"expressionType":"TAG","subString":"*","subVersion":"1700000000000",'
    b'"topic":"TopicCapC"},{"expressionType":"TAG","subString":"*","subVersion":'
    b'"1700000000001","topic":"%RETRY%CID_capC"}],"unitMode":false}],"producerDataSet":'
    b'[{"groupName":"CLIENT_INNER_PRODUCER"}]}\n'
)

# captures.md: REGISTER_BROKER body of the real 4.9.8 broker (plain form).
CAPTURED_REGISTER = (
    b'{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":3,'
    b'"timestamp":1700000000000},"topicConfigTable":{"TopicTest":{"order":false,"perm":6,'
    b'"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"TopicTest",'
    b'"topicSysFlag":0,"writeQueueNums":4},"TBW102":{"order":false,"perm":7,'
    b'"readQueueNums":8,"topicFilterType":"SINGLE_TAG","topicName":"TBW102",'
    b'"topicSysFlag":0,"writeQueueNums":8}}}}'
)

MQ = MessageQueue("t", "b", 0)

# --------------------------------------------------------------------------- routes


def test_captured_route_decodes() -> None:
    route = TopicRouteData.from_json(CAPTURED_ROUTE)
    assert route == TopicRouteData(
        queue_datas=(
            QueueData(broker_name="broker-a", read_queue_nums=8, write_queue_nums=8, perm=6),
        ),
        broker_datas=(
            BrokerData(
                cluster="DefaultCluster",
                broker_name="broker-a",
                broker_addrs={0: "127.0.0.1:10911"},
            ),
        ),
    )
    assert route.order_topic_conf is None
    assert route.topic_queue_mapping_by_broker is None


def test_spec_route_decodes_and_encodes_byte_for_byte() -> None:
    route = TopicRouteData.from_json(SPEC_ROUTE)
    assert route.broker_datas[0].broker_addrs == {0: "10.0.0.1:10911", 1: "10.0.0.2:10911"}
    assert route.queue_datas[0].write_queue_nums == 4
    assert route.to_json() == SPEC_ROUTE


def test_route_written_compact_with_quoted_sorted_ids() -> None:
    route = TopicRouteData(
        broker_datas=(
            BrokerData(
                cluster="c",
                broker_name="b",
                broker_addrs={10: "h:3", 2: "h:2", 0: "h:1"},
                zone_name="z1",
            ),
        ),
        order_topic_conf="b:4",
    )
    text = route.to_json()
    assert b" " not in text
    assert b'"brokerAddrs":{"0":"h:1","2":"h:2","10":"h:3"}' in text
    assert b'"filterServerTable":{}' in text
    assert b'"orderTopicConf":"b:4"' in text
    assert b'"zoneName":"z1"' in text
    assert b"topicQueueMappingByBroker" not in text
    assert _keys(text) == ["brokerDatas", "filterServerTable", "orderTopicConf", "queueDatas"]


def test_unquoted_broker_ids_decode() -> None:
    fastjson_default = CAPTURED_ROUTE.replace(b'{"0":', b"{0:")
    assert fastjson_default != CAPTURED_ROUTE
    assert TopicRouteData.from_json(fastjson_default) == TopicRouteData.from_json(CAPTURED_ROUTE)


def test_route_optional_members() -> None:
    text = (
        b'{"brokerDatas":[],"filterServerTable":{"10.0.0.1:10911":["10.0.0.1:30000"]},'
        b'"orderTopicConf":"broker-a:4","queueDatas":[],'
        b'"topicQueueMappingByBroker":{"broker-a":{"bname":"broker-a","currIdMap":{0:0},'
        b'"epoch":1,"topic":"T","totalQueues":1}}}'
    )
    route = TopicRouteData.from_json(text)
    assert route.filter_server_table == {"10.0.0.1:10911": ("10.0.0.1:30000",)}
    assert route.order_topic_conf == "broker-a:4"
    mapping = route.topic_queue_mapping_by_broker
    assert mapping is not None
    assert mapping["broker-a"] == {
        "bname": "broker-a",
        "currIdMap": {"0": 0},
        "epoch": 1,
        "topic": "T",
        "totalQueues": 1,
    }
    assert TopicRouteData.from_json(route.to_json()) == route


def test_bad_broker_id_names_the_member() -> None:
    with pytest.raises(RemoteProtocolError, match=r"brokerDatas\[0\]\.brokerAddrs"):
        TopicRouteData.from_json(b'{"brokerDatas":[{"brokerAddrs":{"x":"h:1"}}]}')


@pytest.mark.parametrize(
    "text",
    [b"", b"null", b"[]", b'"x"', b'{"queueDatas":{}}', b'{"queueDatas":[1]}', b"{x"],
)
def test_unreadable_route(text: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        TopicRouteData.from_json(text)


def test_cluster_info_round_trip() -> None:
    info = ClusterInfo(
        broker_addr_table={
            "broker-a": BrokerData(cluster="c", broker_name="broker-a", broker_addrs={0: "h:1"})
        },
        cluster_addr_table={"c": ("broker-a",)},
    )
    text = info.to_json()
    assert text.startswith(b'{"brokerAddrTable":{"broker-a":{"brokerAddrs":{"0":"h:1"}')
    assert text.endswith(b'"clusterAddrTable":{"c":["broker-a"]}}')
    assert ClusterInfo.from_json(text) == info
    assert ClusterInfo.from_json(b"{}") == ClusterInfo()


def test_topic_list_and_kv_table() -> None:
    topics = TopicList(topic_list=("A", "B"), broker_addr="h:1")
    assert topics.to_json() == b'{"brokerAddr":"h:1","topicList":["A","B"]}'
    assert TopicList.from_json(topics.to_json()) == topics
    assert TopicList(topic_list=("A",)).to_json() == b'{"topicList":["A"]}'
    kv = KVTable(table={"k": "v"})
    assert kv.to_json() == b'{"table":{"k":"v"}}'
    assert KVTable.from_json(b'{"table":{"k":"v","n":1}}').table == {"k": "v", "n": "1"}


# --------------------------------------------------------------------------- heartbeat


def test_java_heartbeat_decodes_and_encodes_byte_for_byte() -> None:
    hb = HeartbeatData.from_json(SPEC_HEARTBEAT)
    assert hb.client_id == "10.0.0.5@12345#4823749823749"
    assert hb.producer_data_set == (ProducerData("pg1"), ProducerData("CLIENT_INNER_PRODUCER"))
    (consumer,) = hb.consumer_data_set
    assert consumer.consume_type is ConsumeType.CONSUME_PASSIVELY
    assert consumer.message_model is MessageModel.CLUSTERING
    assert consumer.consume_from_where is ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET
    (sub,) = consumer.subscription_data_set
    assert sub == SubscriptionData(
        topic="TopicTest",
        sub_string="TagA",
        tags_set=("TagA",),
        code_set=(2598919,),
        sub_version=1700000000000,
    )
    assert hb.to_json() == SPEC_HEARTBEAT


def test_cpp_heartbeat_decodes() -> None:
    hb = HeartbeatData.from_json(CPP_HEARTBEAT)
    assert hb.client_id == "127.0.0.1@29369#DEFAULT"
    assert hb.heartbeat_fingerprint == 0
    assert hb.without_sub is False
    (consumer,) = hb.consumer_data_set
    assert consumer.group_name == "CID_capC"
    assert consumer.consume_type is ConsumeType.CONSUME_PASSIVELY
    assert consumer.message_model is MessageModel.CLUSTERING
    assert consumer.consume_from_where is ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET
    subs = consumer.subscription_data_set
    assert [s.topic for s in subs] == ["TopicCapC", "%RETRY%CID_capC"]
    assert subs[0].sub_version == 1700000000000
    assert subs[0].tags_set == ()
    assert subs[0].code_set == ()
    assert subs[0].class_filter_mode is False
    # Re-encoded the Java way: enum NAMEs, numeric subVersion.
    text = hb.to_json()
    assert b'"consumeType":"CONSUME_PASSIVELY"' in text
    assert b'"subVersion":1700000000000' in text
    assert HeartbeatData.from_json(text) == hb


@pytest.mark.parametrize(
    ("member", "value", "expected"),
    [
        ("consumeType", "0", ConsumeType.CONSUME_ACTIVELY),
        ("consumeType", 2, ConsumeType.CONSUME_POP),
        ("consumeType", "CONSUME_POP", ConsumeType.CONSUME_POP),
        ("consumeType", "NO_SUCH_NAME", None),
        ("messageModel", 0, MessageModel.BROADCASTING),
        ("consumeFromWhere", 4, ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET),
        ("consumeFromWhere", 5, ConsumeFromWhere.CONSUME_FROM_TIMESTAMP),
    ],
)
def test_enum_names_and_ordinals(member: str, value: JSONValue, expected: object) -> None:
    consumer = ConsumerData.from_value({"groupName": "g", member: value})
    got = {
        "consumeType": consumer.consume_type,
        "messageModel": consumer.message_model,
        "consumeFromWhere": consumer.consume_from_where,
    }[member]
    assert got is expected


@pytest.mark.parametrize("value", [3, -1, True, 1.5, [0]])
def test_bad_enum_values(value: JSONValue) -> None:
    with pytest.raises(RemoteProtocolError, match=r"ConsumerData\.consumeType"):
        ConsumerData.from_value({"consumeType": value})


def test_enum_ordinals_match_java() -> None:
    assert [m.ordinal for m in ConsumeType] == [0, 1, 2]
    assert MessageModel.CLUSTERING.ordinal == 1
    assert ConsumeFromWhere.from_ordinal(4) is ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET
    with pytest.raises(ValueError, match="ordinal"):
        MessageModel.from_ordinal(2)


def test_lenient_scalars() -> None:
    sub = SubscriptionData.from_value(
        {"topic": "T", "subVersion": " 12 ", "classFilterMode": "true", "codeSet": ["7", 8]}
    )
    assert (sub.sub_version, sub.class_filter_mode, sub.code_set) == (12, True, (7, 8))
    assert sub.expression_type == "TAG"
    assert DataVersion.from_json(b'{"counter":{"value":5},"timestamp":"9"}') == DataVersion(
        counter=5, timestamp=9
    )
    with pytest.raises(RemoteProtocolError, match=r"SubscriptionData\.subVersion"):
        SubscriptionData.from_value({"subVersion": "soon"})


# --------------------------------------------------------------------------- register broker


def test_topic_config_line() -> None:
    config = TopicConfig(topic_name="TopicTest", read_queue_nums=4, write_queue_nums=4)
    assert config.encode_line() == "TopicTest 4 4 6 SINGLE_TAG {}"
    assert config.encode_line(with_attributes=False) == "TopicTest 4 4 6 SINGLE_TAG"
    assert TopicConfig.decode_line("TopicTest 4 4 6 SINGLE_TAG {}") == config
    assert TopicConfig.decode_line("TopicTest 4 4 6 SINGLE_TAG") == config
    with_attrs = TopicConfig.decode_line('T 1 2 7 MULTI_TAG {"+message.type":"FIFO"}')
    assert with_attrs.attributes == {"+message.type": "FIFO"}
    assert with_attrs.topic_filter_type is TopicFilterType.MULTI_TAG
    # Unparsable attributes are ignored, as Java ignores them.
    assert TopicConfig.decode_line("T 1 2 7 SINGLE_TAG {oops").attributes == {}


@pytest.mark.parametrize(
    "line", ["", "T 1 2 6", "T x 2 6 SINGLE_TAG", "T 1 2 6 NO_SUCH_TYPE", "T 1 2 99999999999 X"]
)
def test_bad_topic_config_line(line: str) -> None:
    with pytest.raises(RemoteProtocolError, match="topic config line"):
        TopicConfig.decode_line(line)


def test_topic_config_json() -> None:
    config = TopicConfig(topic_name="T", perm=7, order=True, attributes={"b": "2", "a": "1"})
    assert config.to_json() == (
        b'{"attributes":{"a":"1","b":"2"},"order":true,"perm":7,"readQueueNums":16,'
        b'"topicFilterType":"SINGLE_TAG","topicName":"T","topicSysFlag":0,"writeQueueNums":16}'
    )
    assert TopicConfig.from_json(config.to_json()) == config
    assert TopicConfig.from_json(b'{"topicName":"T"}') == TopicConfig(topic_name="T")


def test_captured_register_body_plain() -> None:
    body = RegisterBrokerBody.decode(CAPTURED_REGISTER)
    assert body == RegisterBrokerBody.from_json(CAPTURED_REGISTER)
    wrapper = body.topic_config_serialize_wrapper
    assert wrapper.data_version == DataVersion(counter=3, timestamp=1700000000000)
    assert set(wrapper.topic_config_table) == {"TopicTest", "TBW102"}
    assert wrapper.topic_config_table["TBW102"].perm == 7
    assert wrapper.mapping_data_version is None
    assert body.filter_server_list == ()
    text = body.to_json()
    assert text.startswith(b'{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":')
    assert b"topicQueueMappingInfoMap" not in text
    assert RegisterBrokerBody.from_json(text) == body


def _v5_wrapper() -> TopicConfigSerializeWrapper:
    info: JSONValue = {
        "bname": "broker-a",
        "currIdMap": {"0": 0},
        "dirty": False,
        "epoch": 5,
        "scope": "__global__",
        "topic": "Static",
        "totalQueues": 1,
    }
    return TopicConfigSerializeWrapper(
        topic_config_table={
            "TopicTest": TopicConfig(topic_name="TopicTest", read_queue_nums=4, write_queue_nums=4),
            "Static": TopicConfig(topic_name="Static", attributes={"+message.type": "NORMAL"}),
        },
        data_version=DataVersion(state_version=1, timestamp=1700000000000, counter=2),
        topic_queue_mapping_info_map={"Static": info},
    )


def test_register_body_compressed_round_trip_v5() -> None:
    body = RegisterBrokerBody(topic_config_serialize_wrapper=_v5_wrapper())
    data = body.encode(compressed=True)
    assert data[:2] == b"\x78\xda"  # zlib, BEST_COMPRESSION
    assert RegisterBrokerBody.decode(data) == body
    # The plain form carries the same content plus the mapping members.
    plain = body.encode()
    assert plain == body.to_json()
    assert RegisterBrokerBody.decode(plain) == body


def test_register_body_compressed_round_trip_v4() -> None:
    wrapper = TopicConfigSerializeWrapper(
        topic_config_table={"T": TopicConfig(topic_name="T", read_queue_nums=2)},
        data_version=DataVersion(counter=1, timestamp=5),
    )
    body = RegisterBrokerBody(topic_config_serialize_wrapper=wrapper, filter_server_list=("f:1",))
    data = body.encode(compressed=True)
    raw = zlib.decompress(data)
    assert b"T 2 16 6 SINGLE_TAG" in raw
    assert b"SINGLE_TAG {}" not in raw  # 4.x five-field lines
    assert raw.endswith(b'["f:1"]')  # no mapping section
    assert RegisterBrokerBody.decode(data) == body


def _java_layout(sections: list[bytes], *, counts: dict[int, int]) -> bytes:
    """Build the compressed layout by hand: sections with int32 lengths, or counts."""
    out = b""
    for i, section in enumerate(sections):
        if i in counts:
            out += struct.pack(">i", counts[i])
        out += struct.pack(">i", len(section)) + section
    return zlib.compress(out, 9)


def test_register_body_compressed_java_layout() -> None:
    data = _java_layout(
        [
            b'{"counter":7,"stateVersion":0,"timestamp":1700000000000}',
            b"TopicTest 4 4 6 SINGLE_TAG {}",
            b"%RETRY%g 1 1 6 SINGLE_TAG {}",
            b"[]",
            b'{"bname":"b","currIdMap":{0:0},"epoch":1,"topic":"S","totalQueues":1}',
        ],
        counts={1: 2, 4: 1},
    )
    body = RegisterBrokerBody.decode(data)
    wrapper = body.topic_config_serialize_wrapper
    assert wrapper.data_version.counter == 7
    assert list(wrapper.topic_config_table) == ["TopicTest", "%RETRY%g"]
    assert wrapper.topic_config_table["%RETRY%g"].read_queue_nums == 1
    infos = wrapper.topic_queue_mapping_info_map
    assert infos is not None
    assert list(infos) == ["S"]


def test_register_body_compressed_errors() -> None:
    good = RegisterBrokerBody(topic_config_serialize_wrapper=_v5_wrapper()).encode(compressed=True)
    raw = zlib.decompress(good)
    with pytest.raises(RemoteProtocolError, match="zlib"):
        RegisterBrokerBody.decode(b"\x78\x00garbage")
    with pytest.raises(RemoteProtocolError, match=r"truncated|does not fit"):
        RegisterBrokerBody.decode(zlib.compress(raw[:-3]))
    with pytest.raises(RemoteProtocolError, match="max_decompressed_size"):
        RegisterBrokerBody.decode(good, max_decompressed_size=10)
    with pytest.raises(RemoteProtocolError, match="does not fit"):
        RegisterBrokerBody.decode(zlib.compress(struct.pack(">i", 1000) + b"{}"))


# --------------------------------------------------------------------------- queues, locks, stats


def test_message_queue_order_and_json() -> None:
    queues = [MessageQueue("b", "x", 1), MessageQueue("a", "y", 10), MessageQueue("a", "y", 2)]
    assert sorted(queues) == [queues[2], queues[1], queues[0]]
    assert MQ.to_json() == b'{"brokerName":"b","queueId":0,"topic":"t"}'
    assert MessageQueue.from_json(MQ.to_json()) == MQ
    assert MQ.java_string() == "MessageQueue [topic=t, brokerName=b, queueId=0]"
    assert {MQ: 1}[MessageQueue("t", "b", 0)] == 1


def test_lock_bodies() -> None:
    request = LockBatchRequestBody(consumer_group="g", client_id="c", mq_set=(MQ,))
    assert request.to_json() == (
        b'{"clientId":"c","consumerGroup":"g","mqSet":[{"brokerName":"b","queueId":0,'
        b'"topic":"t"}],"onlyThisBroker":false}'
    )
    assert LockBatchRequestBody.from_json(request.to_json()) == request
    unlock = UnlockBatchRequestBody(consumer_group="g", client_id="c", only_this_broker=True)
    assert UnlockBatchRequestBody.from_json(unlock.to_json()) == unlock
    response = LockBatchResponseBody((MQ,))
    assert response.to_json().startswith(b'{"lockOKMQSet":[{"brokerName":"b"')
    assert LockBatchResponseBody.from_json(response.to_json()) == response


def test_consumer_list_and_connections() -> None:
    ids = GetConsumerListByGroupResponseBody(("c1", "c2"))
    assert ids.to_json() == b'{"consumerIdList":["c1","c2"]}'
    assert (
        GetConsumerListByGroupResponseBody.from_json(b"{}") == GetConsumerListByGroupResponseBody()
    )
    conn = Connection(client_id="c1", client_addr="h:1", language=LanguageCode.CPP, version=333)
    assert conn.to_json() == b'{"clientAddr":"h:1","clientId":"c1","language":"CPP","version":333}'
    assert Connection.from_value({"language": 13}).language is LanguageCode.NODE_JS
    assert Connection.from_value({"language": "COBOL"}).language is None
    consumers = ConsumerConnection(
        connection_set=(conn,),
        subscription_table={"T": SubscriptionData(topic="T", sub_string="*")},
        consume_type=ConsumeType.CONSUME_ACTIVELY,
        message_model=MessageModel.BROADCASTING,
        consume_from_where=ConsumeFromWhere.CONSUME_FROM_TIMESTAMP,
    )
    assert _keys(consumers.to_json()) == [
        "connectionSet",
        "consumeFromWhere",
        "consumeType",
        "messageModel",
        "subscriptionTable",
    ]
    assert ConsumerConnection.from_json(consumers.to_json()) == consumers
    producers = ProducerConnection((conn,))
    assert ProducerConnection.from_json(producers.to_json()) == producers


def test_subscription_group_defaults() -> None:
    config = SubscriptionGroupConfig.from_json(b'{"groupName":"g"}')
    assert config == SubscriptionGroupConfig(group_name="g")
    assert config.consume_enable
    assert config.consume_from_min_enable
    assert config.consume_broadcast_enable
    assert config.notify_consumer_ids_changed_enable
    assert not config.consume_message_orderly
    assert (config.retry_queue_nums, config.retry_max_times) == (1, 16)
    assert (config.broker_id, config.which_broker_when_consume_slowly) == (0, 1)
    assert (config.group_sys_flag, config.consume_timeout_minute) == (0, 15)
    assert config.group_retry_policy == {"type": "CUSTOMIZED"}
    assert config.subscription_data_set is None
    text = config.to_json()
    assert b"subscriptionDataSet" not in text
    assert b'"groupRetryPolicy":{"type":"CUSTOMIZED"}' in text
    with_subs = SubscriptionGroupConfig(
        group_name="g",
        subscription_data_set=(SimpleSubscriptionData(topic="T", expression="*", version=1),),
        attributes={"k": "v"},
    )
    assert SubscriptionGroupConfig.from_json(with_subs.to_json()) == with_subs


def test_consume_stats_fastjson_form() -> None:
    stats = ConsumeStats(
        offset_table={
            MQ: OffsetWrapper(broker_offset=10, consumer_offset=7, pull_offset=8, last_timestamp=1)
        },
        consume_tps=2.5,
    )
    text = stats.to_json()
    assert text == (
        b'{"consumeTps":2.5,"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:'
        b'{"brokerOffset":10,"consumerOffset":7,"lastTimestamp":1,"pullOffset":8}}}'
    )
    assert ConsumeStats.from_json(text) == stats
    # Key members in any order, as another writer might put them.
    reordered = text.replace(
        b'{"brokerName":"b","queueId":0,"topic":"t"}', b'{"topic":"t","brokerName":"b","queueId":0}'
    )
    assert ConsumeStats.from_json(reordered) == stats
    assert ConsumeStats().to_json() == b'{"consumeTps":0.0,"offsetTable":{}}'


def test_reset_offset_body_fastjson_form() -> None:
    other = MessageQueue("t", "b", 1)
    body = ResetOffsetBody({MQ: 100, other: 200})
    text = body.to_json()
    assert text == (
        b'{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:100,'
        b'{"brokerName":"b","queueId":1,"topic":"t"}:200}}'
    )
    assert ResetOffsetBody.from_json(text) == body
    # Keys holding the MessageQueue JSON as a string are read too.
    stringly = (
        b'{"offsetTable":{"{\\"brokerName\\":\\"b\\",\\"queueId\\":0,\\"topic\\":\\"t\\"}":100}}'
    )
    assert ResetOffsetBody.from_json(stringly) == ResetOffsetBody({MQ: 100})
    with pytest.raises(RemoteProtocolError, match="MessageQueue"):
        ResetOffsetBody.from_json(b'{"offsetTable":{"t":1}}')


def test_topic_stats_table_fastjson_form() -> None:
    table = TopicStatsTable(
        offset_table={MQ: TopicOffset(min_offset=0, max_offset=9, last_update_timestamp=3)},
        topic_put_tps=0.5,
    )
    text = table.to_json()
    assert text == (
        b'{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:'
        b'{"lastUpdateTimestamp":3,"maxOffset":9,"minOffset":0}},"topicPutTps":0.5}'
    )
    assert TopicStatsTable.from_json(text) == table


# --------------------------------------------------------------------------- properties text


def test_properties_text() -> None:
    props = {"listenPort": "9876", "namesrvAddr": "127.0.0.1:9876;127.0.0.2:9876"}
    assert encode_properties_text(props) == (
        b"listenPort=9876\nnamesrvAddr=127.0.0.1:9876;127.0.0.2:9876\n"
    )
    assert decode_properties_text(encode_properties_text(props)) == props


def test_properties_text_java_syntax() -> None:
    text = (
        b"# comment\n! also a comment\n\n   a = 1\nb:2\nc 3\r\nd=x\\\n    y\n"
        b"e=\\u0041\\t\\\\\nf\\ g=h\nempty=\nk=v=w\n"
    )
    assert decode_properties_text(text) == {
        "a": "1",
        "b": "2",
        "c": "3",
        "d": "xy",
        "e": "A\t\\",
        "f g": "h",
        "empty": "",
        "k": "v=w",
    }
    with pytest.raises(RemoteProtocolError, match="uxxxx"):
        decode_properties_text(b"a=\\u12")


def test_properties_text_escapes_round_trip() -> None:
    props = {"k y": "\\path\nnext", "#x": " lead", "a=b": "c:d", "é": "ü"}
    assert decode_properties_text(encode_properties_text(props)) == props


# --------------------------------------------------------------------------- hypothesis

_names = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789%|_-"),
    min_size=1,
    max_size=12,
)
_text = st.text(max_size=12)
_ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_small = st.integers(min_value=0, max_value=1024)


_T = TypeVar("_T")


def _opt(strategy: st.SearchStrategy[_T]) -> st.SearchStrategy[_T | None]:
    return st.none() | strategy


_queue_datas = st.builds(
    QueueData,
    broker_name=_text,
    read_queue_nums=_small,
    write_queue_nums=_small,
    perm=st.integers(0, 15),
    topic_sys_flag=st.integers(0, 3),
)
_broker_datas = st.builds(
    BrokerData,
    cluster=_text,
    broker_name=_text,
    broker_addrs=st.dictionaries(_ints, _text, max_size=4),
    zone_name=_opt(_text),
    enable_acting_master=st.booleans(),
)
_mapping_info: st.SearchStrategy[JSONValue] = st.fixed_dictionaries(
    {"bname": _text, "epoch": _ints, "currIdMap": st.dictionaries(st.just("0"), _small)}
)
_routes = st.builds(
    TopicRouteData,
    order_topic_conf=_opt(_text),
    queue_datas=st.lists(_queue_datas, max_size=3).map(tuple),
    broker_datas=st.lists(_broker_datas, max_size=3).map(tuple),
    filter_server_table=st.dictionaries(_text, st.lists(_text, max_size=2).map(tuple), max_size=2),
    topic_queue_mapping_by_broker=_opt(st.dictionaries(_text, _mapping_info, max_size=2)),
)
_subscriptions = st.builds(
    SubscriptionData,
    class_filter_mode=st.booleans(),
    topic=_text,
    sub_string=_text,
    tags_set=st.lists(_text, max_size=3).map(tuple),
    code_set=st.lists(_ints, max_size=3).map(tuple),
    sub_version=_ints,
    expression_type=st.sampled_from(["TAG", "SQL92"]),
)
_consumers = st.builds(
    ConsumerData,
    group_name=_text,
    consume_type=_opt(st.sampled_from(ConsumeType)),
    message_model=_opt(st.sampled_from(MessageModel)),
    consume_from_where=_opt(st.sampled_from(ConsumeFromWhere)),
    subscription_data_set=st.lists(_subscriptions, max_size=3).map(tuple),
    unit_mode=st.booleans(),
)
_heartbeats = st.builds(
    HeartbeatData,
    client_id=_text,
    producer_data_set=st.lists(st.builds(ProducerData, _text), max_size=3).map(tuple),
    consumer_data_set=st.lists(_consumers, max_size=3).map(tuple),
    heartbeat_fingerprint=_ints,
    without_sub=st.booleans(),
)
_data_versions = st.builds(DataVersion, state_version=_ints, timestamp=_ints, counter=_ints)


@st.composite
def _register_bodies(draw: st.DrawFn, *, for_compressed: bool) -> RegisterBrokerBody:
    v5 = draw(st.booleans())
    table: dict[str, TopicConfig] = {}
    for name in draw(st.lists(_names, max_size=5, unique=True)):
        attributes = draw(st.dictionaries(_text, _text, max_size=2)) if v5 else {}
        table[name] = TopicConfig(
            topic_name=name,
            read_queue_nums=draw(_small),
            write_queue_nums=draw(_small),
            perm=draw(st.integers(0, 15)),
            topic_filter_type=draw(st.sampled_from(TopicFilterType)),
            # The compressed line carries neither of these.
            topic_sys_flag=0 if for_compressed else draw(st.integers(0, 3)),
            order=False if for_compressed else draw(st.booleans()),
            attributes=attributes,
        )
    infos: dict[str, JSONValue] | None = None
    if v5:
        infos = {}
        for topic in draw(st.lists(_names, max_size=3, unique=True)):
            infos[topic] = {"bname": draw(_text), "epoch": draw(_ints), "topic": topic}
    wrapper = TopicConfigSerializeWrapper(
        topic_config_table=table,
        data_version=draw(_data_versions),
        mapping_data_version=None if for_compressed or not v5 else draw(_data_versions),
        topic_queue_mapping_info_map=infos,
        topic_queue_mapping_detail_map=None if for_compressed or not v5 else {},
    )
    return RegisterBrokerBody(
        topic_config_serialize_wrapper=wrapper,
        filter_server_list=tuple(draw(st.lists(_text, max_size=2))),
    )


@settings(max_examples=200, deadline=None)
@given(_routes)
def test_route_round_trip(route: TopicRouteData) -> None:
    text = route.to_json()
    assert TopicRouteData.from_json(text) == route
    assert TopicRouteData.from_json(text + b"\n") == route


@settings(max_examples=200, deadline=None)
@given(_heartbeats)
def test_heartbeat_round_trip(heartbeat: HeartbeatData) -> None:
    assert HeartbeatData.from_json(heartbeat.to_json()) == heartbeat


@settings(max_examples=200, deadline=None)
@given(_register_bodies(for_compressed=False))
def test_register_body_plain_round_trip(body: RegisterBrokerBody) -> None:
    assert RegisterBrokerBody.decode(body.encode()) == body


@settings(max_examples=200, deadline=None)
@given(_register_bodies(for_compressed=True))
def test_register_body_compressed_round_trip(body: RegisterBrokerBody) -> None:
    assert RegisterBrokerBody.decode(body.encode(compressed=True)) == body


# --------------------------------------------------------------------------- fuzzing

BODY_CLASSES = (
    DataVersion,
    TopicConfig,
    TopicConfigSerializeWrapper,
    RegisterBrokerBody,
    QueueData,
    BrokerData,
    TopicRouteData,
    ClusterInfo,
    TopicList,
    KVTable,
    SubscriptionData,
    ProducerData,
    ConsumerData,
    HeartbeatData,
    MessageQueue,
    LockBatchRequestBody,
    UnlockBatchRequestBody,
    LockBatchResponseBody,
    GetConsumerListByGroupResponseBody,
    Connection,
    ConsumerConnection,
    ProducerConnection,
    SimpleSubscriptionData,
    SubscriptionGroupConfig,
    ResetOffsetBody,
    OffsetWrapper,
    ConsumeStats,
    TopicOffset,
    TopicStatsTable,
)

SAMPLES: tuple[bytes, ...] = (
    CAPTURED_ROUTE,
    SPEC_ROUTE,
    SPEC_HEARTBEAT,
    CPP_HEARTBEAT,
    CAPTURED_REGISTER,
    ConsumeStats(offset_table={MQ: OffsetWrapper(broker_offset=3)}).to_json(),
    ResetOffsetBody({MQ: 1}).to_json(),
    SubscriptionGroupConfig(group_name="g").to_json(),
    ConsumerConnection(connection_set=(Connection(client_id="c"),)).to_json(),
)


def _from_all(data: bytes) -> None:
    for cls in BODY_CLASSES:
        with contextlib.suppress(RemoteProtocolError):
            cls.from_json(data)


_MUTATION_ALPHABET = b"{}[]:,\"'\\0129-.eL \n\x00\xff"


_json_values: st.SearchStrategy[JSONValue] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from(["1", "true", "CLUSTERING", "{}", '{"topic":"t"}', "1e999", "-"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "brokerAddrs",
                    "brokerDatas",
                    "queueDatas",
                    "offsetTable",
                    "consumerDataSet",
                    "subscriptionDataSet",
                    "consumeType",
                    "topicConfigSerializeWrapper",
                    "topicConfigTable",
                    "dataVersion",
                    "counter",
                    "mqSet",
                    "table",
                    "0",
                    "x",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_remote_protocol_error(data: bytes) -> None:
    _from_all(data)
    with contextlib.suppress(RemoteProtocolError):
        RegisterBrokerBody.decode(data)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_mutated_bodies_raise_only_remote_protocol_error(
    data: st.DataObject, mutate: Mutator
) -> None:
    _from_all(mutate(data, SAMPLES, _MUTATION_ALPHABET))


@settings(max_examples=200, deadline=None)
@given(_json_values)
def test_arbitrary_json_values_raise_only_remote_protocol_error(value: JSONValue) -> None:
    for cls in BODY_CLASSES:
        with contextlib.suppress(RemoteProtocolError):
            cls.from_value(value)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_mutated_compressed_bodies_raise_only_remote_protocol_error(data: st.DataObject) -> None:
    raw = bytearray(
        zlib.decompress(
            RegisterBrokerBody(topic_config_serialize_wrapper=_v5_wrapper()).encode(compressed=True)
        )
    )
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        del raw[data.draw(st.integers(0, len(raw))) :]
    with contextlib.suppress(RemoteProtocolError):
        RegisterBrokerBody.decode(zlib.compress(bytes(raw)))


# --------------------------------------------------------------------------- declaring bodies


@pytest.mark.parametrize("cls", BODY_CLASSES)
def test_every_field_is_a_member(cls: type[_Body]) -> None:
    assert [m.name for m in cls._json_members] == [f.name for f in fields(cls)]
    assert sorted(m.key for m in cls._json_members) == [m.key for m in cls._json_order]
    assert cls.from_json(cls().to_json()) == cls()


@final
@_json_body
@dataclass(frozen=True, slots=True, kw_only=True)
class _Sample(_Body):
    """A body with every kind of member the declarations use."""

    plain_name: str = "d"
    number: int = 7
    ratio: float = 0.5
    flag: bool = True
    model: MessageModel | None = None
    filter_type: TopicFilterType = TopicFilterType.MULTI_TAG
    queue: MessageQueue = field(default_factory=MessageQueue)
    queues: tuple[MessageQueue, ...] = ()
    by_name: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    by_id: Mapping[int, str] = field(default_factory=dict, metadata={"sort_keys": True})
    by_queue: Mapping[MessageQueue, int] = field(default_factory=dict)
    raw: Mapping[str, JSONValue] | None = None
    irregular: str = field(default="", metadata={"key": "IRREGULAR"})


def test_declared_members_are_written_as_fastjson_writes_beans() -> None:
    sample = _Sample(
        number=1,
        model=MessageModel.CLUSTERING,
        queues=(MQ,),
        by_name={"b": (1, 2), "a": ()},
        by_id={10: "x", 2: "y"},
        by_queue={MQ: 3},
        raw={"k": [1, None]},
    )
    text = sample.to_json()
    mq = b'{"brokerName":"b","queueId":0,"topic":"t"}'
    assert text == (
        b'{"IRREGULAR":"","byId":{"2":"y","10":"x"},"byName":{"b":[1,2],"a":[]},'
        b'"byQueue":{' + mq + b':3},"filterType":"MULTI_TAG","flag":true,'
        b'"model":"CLUSTERING","number":1,"plainName":"d",'
        b'"queue":{"brokerName":"","queueId":0,"topic":""},"queues":[' + mq + b"],"
        b'"ratio":0.5,"raw":{"k":[1,null]}}'
    )
    assert _Sample.from_json(text) == sample
    assert b"model" not in _Sample().to_json()  # None members are omitted


def test_declared_members_take_defaults_when_absent_null_or_unknown() -> None:
    assert _Sample.from_json(b"{}") == _Sample()
    lenient: JSONValue = {
        "plainName": None,
        "number": "",  # "" is null for numbers and booleans
        "ratio": "",
        "flag": "",
        "model": "NO_SUCH_NAME",  # unknown enum NAMEs read as null
        "filterType": "NO_SUCH_NAME",
        "queue": None,
    }
    assert _Sample.from_value(lenient) == _Sample()
    assert _Sample.from_value({"plainName": ""}).plain_name == ""  # but not for strings
    assert _Sample.from_value({"model": "1", "filterType": 0}) == _Sample(
        model=MessageModel.CLUSTERING, filter_type=TopicFilterType.SINGLE_TAG
    )


def test_null_map_values_and_array_elements() -> None:
    sample = _Sample.from_value(
        {
            "queues": [None, {"topic": "t"}],
            "byName": {"a": None},
            "byId": {"x": None},
            "byQueue": {'{"topic":"t"}': None},
            "raw": {"k": None},
        }
    )
    assert sample.queues == (MessageQueue("t"),)
    assert sample.by_name == {"a": ()}  # a null array reads as an empty one
    assert sample.by_id == {}  # other null values are dropped, keys unread
    assert sample.by_queue == {}
    assert sample.raw == {"k": None}  # JSONValue members keep them
    route = TopicRouteData.from_value({"filterServerTable": {"a": None}})
    assert route.filter_server_table == {"a": ()}
    assert KVTable.from_value({"table": {"k": None, "n": "v"}}).table == {"n": "v"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {"queues": [{}, {"queueId": "x"}]},
            r"^_Sample\.queues\[1\]\.queueId: expected an integer",
        ),
        ({"byName": {"a": [1, "x"]}}, r"^_Sample\.byName\.a\[1\]: expected an integer"),
        ({"byName": {"a": "x"}}, r"^_Sample\.byName\.a: expected a JSON array"),
        ({"byId": {"one": "x"}}, r"^_Sample\.byId key: expected an integer, got string 'one'"),
        ({"byId": {" 1": []}}, r"^_Sample\.byId\.1: expected a string, got array"),
        ({"byQueue": {"t": 1}}, r"^_Sample\.byQueue key 0: expected a MessageQueue object"),
        ({"byQueue": {"{oops": 1}}, r"^_Sample\.byQueue key 0: at byte \d+: JSON"),
        ({"byQueue": {'{"topic":"t"}': "x"}}, r"^_Sample\.byQueue\[0\]: expected an integer"),
        ({"model": 2}, r"^_Sample\.model: MessageModel has no ordinal 2 \(0\.\.1\)"),
        ({"queue": []}, r"^_Sample\.queue: expected a JSON object, got array"),
        ({"ratio": "fast"}, r"^_Sample\.ratio: expected a number"),
        ({"raw": []}, r"^_Sample\.raw: expected a JSON object"),
    ],
)
def test_declared_member_errors_name_the_member(value: JSONValue, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        _Sample.from_value(value)


def test_object_keys_are_written_wherever_a_member_holds_them() -> None:
    assert (ConsumeStats._json_object_keys, TopicRouteData._json_object_keys) == (True, False)
    outer = _Outer((ConsumeStats(offset_table={MQ: OffsetWrapper(pull_offset=1)}),))
    assert _Outer._json_object_keys
    assert outer.to_json() == (
        b'{"stats":[{"consumeTps":0.0,"offsetTable":{{"brokerName":"b","queueId":0,'
        b'"topic":"t"}:{"brokerOffset":0,"consumerOffset":0,"lastTimestamp":0,'
        b'"pullOffset":1}}}]}'
    )
    assert _Outer.from_json(outer.to_json()) == outer


@final
@_json_body
@dataclass(frozen=True, slots=True)
class _Outer(_Body):
    stats: tuple[ConsumeStats, ...] = ()


class _NoCodec(_Body):
    when: bytes = b""


class _NoDefault(_Body):
    topic: str


class _UnknownMetadata(_Body):
    topic: str = field(default="", metadata={"name": "topicName"})


class _TwoTypes(_Body):
    queue_id: int | str = 0


class _SortedArray(_Body):
    topics: tuple[str, ...] = field(default=(), metadata={"sort_keys": True})


class _FloatKeys(_Body):
    table: Mapping[float, str] = field(default_factory=dict)


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        (_NoCodec, r"^_NoCodec\.when: no JSON codec for <class 'bytes'>"),
        (_NoDefault, r"^_NoDefault\.topic: a body field needs a default"),
        (_UnknownMetadata, r"^_UnknownMetadata\.topic: unknown body field metadata \['name'\]"),
        (_TwoTypes, r"^_TwoTypes\.queue_id: only ``X \| None = None`` unions"),
        (_SortedArray, r"^_SortedArray\.topics: sort_keys applies to maps"),
        (_FloatKeys, r"^_FloatKeys\.table: no JSON codec"),
    ],
)
def test_bad_declarations_fail_when_declared(declaration: type[_Body], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        _json_body(dataclass(frozen=True)(declaration))


class _NotADataclass(_Body):
    topic: str = ""


def test_json_body_needs_a_dataclass() -> None:
    with pytest.raises(TypeError, match=r"^_NotADataclass: put @_json_body above @dataclass"):
        _json_body(_NotADataclass)
