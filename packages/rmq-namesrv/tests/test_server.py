"""A real NameServer over real sockets, driven by rmq-protocol's RemotingClient."""

from __future__ import annotations

import asyncio
import dataclasses
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from rmq_namesrv import ManualClock, NameServer, NamesrvConfig, run_namesrv
from rmq_protocol.codec.body import (
    ClusterInfo,
    DataVersion,
    KVTable,
    QueueData,
    RegisterBrokerBody,
    TopicConfig,
    TopicConfigSerializeWrapper,
    TopicList,
    TopicRouteData,
    decode_properties_text,
    encode_properties_text,
)
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.header import CommandHeader
from rmq_protocol.codec.headers import (
    AddWritePermOfBrokerRequestHeader,
    AddWritePermOfBrokerResponseHeader,
    BrokerHeartbeatRequestHeader,
    DeleteKVConfigRequestHeader,
    DeleteTopicFromNamesrvRequestHeader,
    GetKVConfigRequestHeader,
    GetKVConfigResponseHeader,
    GetKVListByNamespaceRequestHeader,
    GetRouteInfoRequestHeader,
    GetTopicsByClusterRequestHeader,
    PutKVConfigRequestHeader,
    QueryDataVersionRequestHeader,
    QueryDataVersionResponseHeader,
    RegisterBrokerRequestHeader,
    RegisterBrokerResponseHeader,
    RegisterTopicRequestHeader,
    UnRegisterBrokerRequestHeader,
    WipeWritePermOfBrokerRequestHeader,
    WipeWritePermOfBrokerResponseHeader,
)
from rmq_protocol.transport import Connection, RemotingClient

TIMEOUT = 5.0
FAQ = "https://rocketmq.apache.org/docs/bestPractice/06FAQ"


def topics(*names: str, queues: int = 4, counter: int = 1) -> TopicConfigSerializeWrapper:
    table = {
        n: TopicConfig(topic_name=n, read_queue_nums=queues, write_queue_nums=queues) for n in names
    }
    table["TBW102"] = TopicConfig(
        topic_name="TBW102", perm=7, read_queue_nums=8, write_queue_nums=8
    )
    return TopicConfigSerializeWrapper(
        topic_config_table=table,
        data_version=DataVersion(timestamp=1_700_000_000_000, counter=counter),
    )


async def call(
    client: RemotingClient,
    namesrv: NameServer,
    code: RequestCode,
    header: CommandHeader | None = None,
    *,
    body: bytes = b"",
    version: int | None = None,
) -> RemotingCommand:
    if version is None:
        request = RemotingCommand.request(code, header, body=body)
    else:
        request = RemotingCommand.request(code, header, body=body, version=version)
    return await client.request(namesrv.address, request, timeout=TIMEOUT)


async def register(
    client: RemotingClient,
    namesrv: NameServer,
    *,
    name: str = "broker-a",
    broker_id: int = 0,
    addr: str = "127.0.0.1:10911",
    cluster: str = "DefaultCluster",
    wrapper: TopicConfigSerializeWrapper | None = None,
    compressed: bool = False,
    crc: int | None = None,
) -> RemotingCommand:
    body = RegisterBrokerBody(
        topic_config_serialize_wrapper=wrapper if wrapper is not None else topics("TopicA")
    ).encode(compressed=compressed)
    header = RegisterBrokerRequestHeader(
        broker_name=name,
        broker_addr=addr,
        cluster_name=cluster,
        ha_server_addr=addr.rsplit(":", 1)[0] + ":10912",
        broker_id=broker_id,
        compressed=compressed,
        body_crc32=zlib.crc32(body) & 0x7FFFFFFF if crc is None else crc,
    )
    return await call(client, namesrv, RequestCode.REGISTER_BROKER, header, body=body)


async def route(client: RemotingClient, namesrv: NameServer, topic: str) -> TopicRouteData | None:
    response = await call(
        client, namesrv, RequestCode.GET_ROUTEINFO_BY_TOPIC, GetRouteInfoRequestHeader(topic=topic)
    )
    if response.code == ResponseCode.TOPIC_NOT_EXIST:
        return None
    assert response.code == ResponseCode.SUCCESS, response.remark
    return TopicRouteData.from_json(response.body)


# --------------------------------------------------------------------------- registration


async def test_register_broker_and_route(namesrv: NameServer, client: RemotingClient) -> None:
    response = await register(client, namesrv)
    assert response.code == ResponseCode.SUCCESS
    assert response.ext_fields == {}  # a master: no master/HA address, as Java answers
    assert response.decode_header(RegisterBrokerResponseHeader).master_addr is None
    got = await route(client, namesrv, "TopicA")
    assert got is not None
    assert got.queue_datas == (
        QueueData(broker_name="broker-a", read_queue_nums=4, write_queue_nums=4, perm=6),
    )
    assert got.broker_datas[0].broker_addrs == {0: "127.0.0.1:10911"}


async def test_route_body_is_compact_standard_json(
    namesrv: NameServer, client: RemotingClient
) -> None:
    await register(client, namesrv)
    response = await call(
        client,
        namesrv,
        RequestCode.GET_ROUTEINFO_BY_TOPIC,
        GetRouteInfoRequestHeader(topic="TopicA"),
    )
    assert bytes(response.body) == (
        b'{"brokerDatas":[{"brokerAddrs":{"0":"127.0.0.1:10911"},"brokerName":"broker-a",'
        b'"cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},'
        b'"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,'
        b'"topicSysFlag":0,"writeQueueNums":4}]}'
    )


async def test_unknown_topic_is_topic_not_exist_with_javas_remark(
    namesrv: NameServer, client: RemotingClient
) -> None:
    response = await call(
        client, namesrv, RequestCode.GET_ROUTEINFO_BY_TOPIC, GetRouteInfoRequestHeader(topic="Nope")
    )
    assert response.code == ResponseCode.TOPIC_NOT_EXIST
    assert response.remark == (
        f"No topic route info in name server for the topic: Nope\nSee {FAQ} for further details."
    )
    assert not response.body


async def test_compressed_registration(namesrv: NameServer, client: RemotingClient) -> None:
    response = await register(client, namesrv, wrapper=topics("Zipped", queues=2), compressed=True)
    assert response.code == ResponseCode.SUCCESS
    got = await route(client, namesrv, "Zipped")
    assert got is not None
    assert got.queue_datas[0].read_queue_nums == 2


async def test_crc_mismatch_is_refused(namesrv: NameServer, client: RemotingClient) -> None:
    response = await register(client, namesrv, crc=12345)
    assert (response.code, response.remark) == (ResponseCode.SYSTEM_ERROR, "crc32 not match")
    assert await route(client, namesrv, "TopicA") is None
    assert (await register(client, namesrv, crc=0)).code == ResponseCode.SUCCESS  # 0: unchecked


async def test_undecodable_body_is_system_error(
    namesrv: NameServer, client: RemotingClient
) -> None:
    header = RegisterBrokerRequestHeader(
        broker_name="b", broker_addr="127.0.0.1:1", cluster_name="c", ha_server_addr="", broker_id=0
    )
    response = await call(client, namesrv, RequestCode.REGISTER_BROKER, header, body=b"\x78garbage")
    assert response.code == ResponseCode.SYSTEM_ERROR
    assert response.remark is not None
    assert response.remark.startswith("Failed to decode RegisterBrokerBody")


async def test_missing_header_field_is_system_error(
    namesrv: NameServer, client: RemotingClient
) -> None:
    response = await call(client, namesrv, RequestCode.REGISTER_BROKER, body=b"", version=None)
    assert response.code == ResponseCode.SYSTEM_ERROR
    assert response.remark is not None
    assert "brokerName" in response.remark


async def test_pre_3_0_11_body_is_the_topic_wrapper(
    namesrv: NameServer, client: RemotingClient
) -> None:
    body = topics("Ancient").to_json()
    header = RegisterBrokerRequestHeader(
        broker_name="old",
        broker_addr="127.0.0.1:1",
        cluster_name="c",
        ha_server_addr="",
        broker_id=0,
    )
    response = await call(
        client, namesrv, RequestCode.REGISTER_BROKER, header, body=body, version=21
    )
    assert response.code == ResponseCode.SUCCESS
    assert await route(client, namesrv, "Ancient") is not None


async def test_master_slave_two_names_two_clusters(
    namesrv: NameServer, make_client: Callable[[], RemotingClient]
) -> None:
    master, slave, other, admin = make_client(), make_client(), make_client(), make_client()
    before = namesrv.connections
    await register(master, namesrv, wrapper=topics("Shared", "OnlyA"))
    master_side = new_connection(namesrv, before)
    before = namesrv.connections
    response = await register(
        slave, namesrv, broker_id=1, addr="127.0.0.2:10911", wrapper=topics("Ignored")
    )
    slave_side = new_connection(namesrv, before)
    header = response.decode_header(RegisterBrokerResponseHeader)
    assert (header.master_addr, header.ha_server_addr) == ("127.0.0.1:10911", "127.0.0.1:10912")
    await register(
        other,
        namesrv,
        name="broker-b",
        addr="127.0.0.3:10911",
        cluster="OtherCluster",
        wrapper=topics("Shared", queues=8),
    )
    shared = await route(admin, namesrv, "Shared")
    assert shared is not None
    assert {q.broker_name: q.write_queue_nums for q in shared.queue_datas} == {
        "broker-a": 4,
        "broker-b": 8,
    }
    assert {b.broker_name: dict(b.broker_addrs) for b in shared.broker_datas} == {
        "broker-a": {0: "127.0.0.1:10911", 1: "127.0.0.2:10911"},
        "broker-b": {0: "127.0.0.3:10911"},
    }
    assert await route(admin, namesrv, "Ignored") is None  # a slave's topics do not count

    response = await call(admin, namesrv, RequestCode.GET_BROKER_CLUSTER_INFO)
    info = ClusterInfo.from_json(response.body)
    assert info.cluster_addr_table == {
        "DefaultCluster": ("broker-a",),
        "OtherCluster": ("broker-b",),
    }
    assert dict(info.broker_addr_table["broker-a"].broker_addrs) == {
        0: "127.0.0.1:10911",
        1: "127.0.0.2:10911",
    }

    response = await call(
        admin,
        namesrv,
        RequestCode.GET_TOPICS_BY_CLUSTER,
        GetTopicsByClusterRequestHeader(cluster="OtherCluster"),
    )
    assert set(TopicList.from_json(response.body).topic_list) == {"Shared", "TBW102"}
    response = await call(admin, namesrv, RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER)
    assert set(TopicList.from_json(response.body).topic_list) == {"Shared", "OnlyA", "TBW102"}
    response = await call(admin, namesrv, RequestCode.GET_SYSTEM_TOPIC_LIST_FROM_NS)
    system = TopicList.from_json(response.body)
    assert set(system.topic_list) == {"DefaultCluster", "broker-a", "OtherCluster", "broker-b"}
    assert system.broker_addr == "127.0.0.1:10911"

    # The master's connection closes: broker-a keeps its slave and its queues.
    await close_and_wait(namesrv, master, master_side)
    shared = await route(admin, namesrv, "Shared")
    assert shared is not None
    a = next(b for b in shared.broker_datas if b.broker_name == "broker-a")
    assert dict(a.broker_addrs) == {1: "127.0.0.2:10911"}
    assert len(shared.queue_datas) == 2
    # The slave goes too: broker-a and its queues are gone, broker-b still serves.
    await close_and_wait(namesrv, slave, slave_side)
    shared = await route(admin, namesrv, "Shared")
    assert shared is not None
    assert [b.broker_name for b in shared.broker_datas] == ["broker-b"]
    assert await route(admin, namesrv, "OnlyA") is None


def new_connection(namesrv: NameServer, before: frozenset[Connection]) -> Connection:
    """The server side of the one connection opened since ``before``."""
    (opened,) = namesrv.connections - before
    return opened


async def close_and_wait(
    namesrv: NameServer, client: RemotingClient, server_side: Connection
) -> None:
    """Close ``client`` and wait until the NameServer has handled the close (its
    disconnect hook runs before the connection reports closed)."""
    await client.aclose()
    async with asyncio.timeout(TIMEOUT):
        await server_side.wait_closed()


async def test_closed_connection_removes_the_broker_at_once(
    namesrv: NameServer, make_client: Callable[[], RemotingClient]
) -> None:
    broker = make_client()
    await register(broker, namesrv)
    assert namesrv.routes.statistics().live_brokers == 1
    (server_side,) = namesrv.connections
    await close_and_wait(namesrv, broker, server_side)
    assert namesrv.routes.statistics().live_brokers == 0
    assert namesrv.routes.pickup_topic_route_data("TopicA") is None


async def test_a_client_closing_changes_nothing(
    namesrv: NameServer, client: RemotingClient, make_client: Callable[[], RemotingClient]
) -> None:
    await register(client, namesrv)
    reader = make_client()
    before = namesrv.connections
    assert await route(reader, namesrv, "TopicA") is not None
    await close_and_wait(namesrv, reader, new_connection(namesrv, before))
    assert await route(client, namesrv, "TopicA") is not None


async def test_unregister_broker(namesrv: NameServer, client: RemotingClient) -> None:
    await register(client, namesrv)
    header = UnRegisterBrokerRequestHeader(
        broker_name="broker-a",
        broker_addr="127.0.0.1:10911",
        cluster_name="DefaultCluster",
        broker_id=0,
    )
    response = await call(client, namesrv, RequestCode.UNREGISTER_BROKER, header)
    assert response.code == ResponseCode.SUCCESS
    assert await route(client, namesrv, "TopicA") is None
    response = await call(client, namesrv, RequestCode.UNREGISTER_BROKER, header)  # again
    assert response.code == ResponseCode.SUCCESS


async def test_bad_bodies_are_answered_not_crashed(
    namesrv: NameServer, client: RemotingClient
) -> None:
    response = await call(
        client,
        namesrv,
        RequestCode.QUERY_DATA_VERSION,
        QueryDataVersionRequestHeader(
            broker_name="b", broker_addr="127.0.0.1:1", cluster_name="c", broker_id=0
        ),
        body=b"{not json",
    )
    assert response.code == ResponseCode.SYSTEM_ERROR
    assert response.remark is not None
    assert response.remark.startswith("cannot decode the DataVersion body")
    response = await call(
        client,
        namesrv,
        RequestCode.REGISTER_TOPIC_IN_NAMESRV,
        RegisterTopicRequestHeader(topic="T"),
        body=b"[1]",
    )
    assert response.code == ResponseCode.SYSTEM_ERROR
    # The connection is still usable.
    assert (await register(client, namesrv)).code == ResponseCode.SUCCESS


# --------------------------------------------------------------------------- liveness


async def test_silent_broker_expires_by_the_periodic_scan(
    namesrv: NameServer, clock: ManualClock, make_client: Callable[[], RemotingClient]
) -> None:
    broker, admin = make_client(), make_client()
    await register(broker, namesrv)
    connection = await broker.connection(namesrv.address)
    await clock.wait_sleepers()  # the scan task is waiting for its next round
    clock.advance(100_000)
    await clock.wait_sleepers()  # it scanned (nothing expired) and sleeps again
    assert await route(admin, namesrv, "TopicA") is not None
    # Same DataVersion again: only liveness is refreshed.
    await register(broker, namesrv)
    clock.advance(100_000)  # 200 s after the first registration, 100 s after the last
    await clock.wait_sleepers()
    assert await route(admin, namesrv, "TopicA") is not None
    clock.advance(20_001)  # 120.001 s of silence
    await clock.wait_sleepers()
    assert await route(admin, namesrv, "TopicA") is None
    async with asyncio.timeout(TIMEOUT):
        await connection.wait_closed()  # the NameServer closed the expired broker's channel


async def test_query_data_version_and_heartbeat_refresh_liveness(
    namesrv: NameServer, clock: ManualClock, client: RemotingClient
) -> None:
    wrapper = topics("TopicA", counter=5)
    await register(client, namesrv, wrapper=wrapper)
    ident = QueryDataVersionRequestHeader(
        broker_name="broker-a",
        broker_addr="127.0.0.1:10911",
        cluster_name="DefaultCluster",
        broker_id=0,
    )
    response = await call(
        client,
        namesrv,
        RequestCode.QUERY_DATA_VERSION,
        ident,
        body=wrapper.data_version.to_json(),
    )
    assert response.code == ResponseCode.SUCCESS
    assert not response.decode_header(QueryDataVersionResponseHeader).changed
    assert DataVersion.from_json(response.body) == wrapper.data_version
    response = await call(
        client,
        namesrv,
        RequestCode.QUERY_DATA_VERSION,
        ident,
        body=DataVersion(counter=6).to_json(),
    )
    assert response.decode_header(QueryDataVersionResponseHeader).changed

    clock.advance(100_000)
    response = await call(
        client,
        namesrv,
        RequestCode.BROKER_HEARTBEAT,
        BrokerHeartbeatRequestHeader(
            cluster_name="DefaultCluster", broker_addr="127.0.0.1:10911", broker_name="broker-a"
        ),
    )
    assert response.code == ResponseCode.SUCCESS
    clock.advance(100_000)
    assert namesrv.scan_not_active_broker() == 0
    clock.advance(20_001)
    assert namesrv.scan_not_active_broker() == 1


# --------------------------------------------------------------------------- admin


async def test_write_perm_wipe_and_add(namesrv: NameServer, client: RemotingClient) -> None:
    await register(client, namesrv)
    response = await call(
        client,
        namesrv,
        RequestCode.WIPE_WRITE_PERM_OF_BROKER,
        WipeWritePermOfBrokerRequestHeader(broker_name="broker-a"),
    )
    assert response.decode_header(WipeWritePermOfBrokerResponseHeader).wipe_topic_count == 2
    got = await route(client, namesrv, "TopicA")
    assert got is not None
    assert got.queue_datas[0].perm == 4
    response = await call(
        client,
        namesrv,
        RequestCode.ADD_WRITE_PERM_OF_BROKER,
        AddWritePermOfBrokerRequestHeader(broker_name="broker-a"),
    )
    assert response.decode_header(AddWritePermOfBrokerResponseHeader).add_topic_count == 2
    got = await route(client, namesrv, "TopicA")
    assert got is not None
    assert got.queue_datas[0].perm == 6


async def test_delete_and_register_topic(namesrv: NameServer, client: RemotingClient) -> None:
    await register(client, namesrv)
    response = await call(
        client,
        namesrv,
        RequestCode.DELETE_TOPIC_IN_NAMESRV,
        DeleteTopicFromNamesrvRequestHeader(topic="TopicA"),
    )
    assert response.code == ResponseCode.SUCCESS
    assert await route(client, namesrv, "TopicA") is None
    queue = QueueData(broker_name="broker-a", read_queue_nums=1, write_queue_nums=1, perm=6)
    response = await call(
        client,
        namesrv,
        RequestCode.REGISTER_TOPIC_IN_NAMESRV,
        RegisterTopicRequestHeader(topic="Made"),
        body=TopicRouteData(queue_datas=(queue,)).to_json(),
    )
    assert response.code == ResponseCode.SUCCESS
    got = await route(client, namesrv, "Made")
    assert got is not None
    assert got.queue_datas == (queue,)
    response = await call(
        client,
        namesrv,
        RequestCode.DELETE_TOPIC_IN_NAMESRV,
        DeleteTopicFromNamesrvRequestHeader(topic="Made", cluster_name="DefaultCluster"),
    )
    assert await route(client, namesrv, "Made") is None


async def test_unit_topic_lists(namesrv: NameServer, client: RemotingClient) -> None:
    wrapper = topics("Plain")
    table = dict(wrapper.topic_config_table)
    table["Unit"] = TopicConfig(topic_name="Unit", topic_sys_flag=1)
    table["Sub"] = TopicConfig(topic_name="Sub", topic_sys_flag=2)
    await register(client, namesrv, wrapper=TopicConfigSerializeWrapper(topic_config_table=table))
    expected = {
        RequestCode.GET_UNIT_TOPIC_LIST: ("Unit",),
        RequestCode.GET_HAS_UNIT_SUB_TOPIC_LIST: ("Sub",),
        RequestCode.GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST: ("Sub",),
    }
    for code, names in expected.items():
        response = await call(client, namesrv, code)
        assert TopicList.from_json(response.body).topic_list == names, code.name


@pytest.mark.parametrize(
    "code",
    [
        RequestCode.GET_TOPICS_BY_CLUSTER,
        RequestCode.GET_UNIT_TOPIC_LIST,
        RequestCode.GET_HAS_UNIT_SUB_TOPIC_LIST,
        RequestCode.GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST,
        RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
    ],
)
async def test_topic_lists_can_be_disabled(
    config: NamesrvConfig, clock: ManualClock, client: RemotingClient, code: RequestCode
) -> None:
    config = dataclasses.replace(config, enable_topic_list=False, enable_all_topic_list=False)
    async with NameServer(config, clock=clock) as namesrv:
        response = await call(
            client, namesrv, code, GetTopicsByClusterRequestHeader(cluster="DefaultCluster")
        )
    assert (response.code, response.remark) == (ResponseCode.SYSTEM_ERROR, "disable")


async def test_unknown_code_is_not_supported(namesrv: NameServer, client: RemotingClient) -> None:
    response = await call(client, namesrv, RequestCode.SEND_MESSAGE)
    assert response.code == ResponseCode.REQUEST_CODE_NOT_SUPPORTED
    assert response.remark == " request type 10 not supported"


async def test_need_wait_for_service(
    config: NamesrvConfig, clock: ManualClock, client: RemotingClient
) -> None:
    config = dataclasses.replace(config, need_wait_for_service=True)
    async with NameServer(config, clock=clock) as namesrv:
        await register(client, namesrv)
        response = await call(
            client,
            namesrv,
            RequestCode.GET_ROUTEINFO_BY_TOPIC,
            GetRouteInfoRequestHeader(topic="TopicA"),
        )
        assert (response.code, response.remark) == (
            ResponseCode.SYSTEM_ERROR,
            "name server not ready",
        )
        clock.advance(45_000)
        assert await route(client, namesrv, "TopicA") is not None


# --------------------------------------------------------------------------- KV config


async def test_kv_config_codes_and_persistence_across_restart(
    config: NamesrvConfig, clock: ManualClock, client: RemotingClient
) -> None:
    async with NameServer(config, clock=clock) as namesrv:
        for key, value in (("TopicA", "broker-a:4"), ("TopicB", "broker-a:2")):
            response = await call(
                client,
                namesrv,
                RequestCode.PUT_KV_CONFIG,
                PutKVConfigRequestHeader(namespace="ORDER_TOPIC_CONFIG", key=key, value=value),
            )
            assert response.code == ResponseCode.SUCCESS
        response = await call(
            client,
            namesrv,
            RequestCode.DELETE_KV_CONFIG,
            DeleteKVConfigRequestHeader(namespace="ORDER_TOPIC_CONFIG", key="TopicB"),
        )
        assert response.code == ResponseCode.SUCCESS
    assert config.kv_config_path.read_bytes() == (
        b'{"configTable":{"ORDER_TOPIC_CONFIG":{"TopicA":"broker-a:4"}}}'
    )
    async with NameServer(config, clock=clock) as namesrv:
        response = await call(
            client,
            namesrv,
            RequestCode.GET_KV_CONFIG,
            GetKVConfigRequestHeader(namespace="ORDER_TOPIC_CONFIG", key="TopicA"),
        )
        assert response.decode_header(GetKVConfigResponseHeader).value == "broker-a:4"
        response = await call(
            client,
            namesrv,
            RequestCode.GET_KV_CONFIG,
            GetKVConfigRequestHeader(namespace="ORDER_TOPIC_CONFIG", key="TopicB"),
        )
        assert response.code == ResponseCode.QUERY_NOT_FOUND
        assert response.remark == "No config item, Namespace: ORDER_TOPIC_CONFIG Key: TopicB"
        response = await call(
            client,
            namesrv,
            RequestCode.GET_KVLIST_BY_NAMESPACE,
            GetKVListByNamespaceRequestHeader(namespace="ORDER_TOPIC_CONFIG"),
        )
        assert KVTable.from_json(response.body).table == {"TopicA": "broker-a:4"}
        response = await call(
            client,
            namesrv,
            RequestCode.GET_KVLIST_BY_NAMESPACE,
            GetKVListByNamespaceRequestHeader(namespace="Nope"),
        )
        assert response.code == ResponseCode.QUERY_NOT_FOUND
        assert response.remark == "No config item, Namespace: Nope"
        # A broker registering gets the order-topic config back (returnOrderTopicConfigToBroker).
        response = await register(client, namesrv)
        assert KVTable.from_json(response.body).table == {"TopicA": "broker-a:4"}


async def test_order_topic_conf_in_routes(
    config: NamesrvConfig, clock: ManualClock, client: RemotingClient
) -> None:
    async with NameServer(config, clock=clock) as namesrv:
        await register(client, namesrv)
        await call(
            client,
            namesrv,
            RequestCode.PUT_KV_CONFIG,
            PutKVConfigRequestHeader(
                namespace="ORDER_TOPIC_CONFIG", key="TopicA", value="broker-a:4"
            ),
        )
        got = await route(client, namesrv, "TopicA")
        assert got is not None
        assert got.order_topic_conf is None
    config = dataclasses.replace(config, order_message_enable=True)
    async with NameServer(config, clock=clock) as namesrv:
        await register(client, namesrv)
        got = await route(client, namesrv, "TopicA")
        assert got is not None
        assert got.order_topic_conf == "broker-a:4"
        got = await route(client, namesrv, "TBW102")
        assert got is not None
        assert got.order_topic_conf is None


async def test_kv_write_failure_is_reported(
    config: NamesrvConfig, clock: ManualClock, client: RemotingClient
) -> None:
    async with NameServer(config, clock=clock) as namesrv:
        config.kv_config_path.parent.write_text("a file where the directory should be")
        response = await call(
            client,
            namesrv,
            RequestCode.PUT_KV_CONFIG,
            PutKVConfigRequestHeader(namespace="n", key="k", value="v"),
        )
        assert response.code == ResponseCode.SYSTEM_ERROR
        assert response.remark is not None
        assert "not written" in response.remark
        assert namesrv.kv.get("n", "k") == "v"


# --------------------------------------------------------------------------- namesrv config


async def test_get_and_update_namesrv_config(
    namesrv: NameServer, client: RemotingClient, config: NamesrvConfig
) -> None:
    response = await call(client, namesrv, RequestCode.GET_NAMESRV_CONFIG)
    got = decode_properties_text(response.body)
    assert got["listenPort"] == "0"
    assert got["scanNotActiveBrokerInterval"] == "10000"
    assert got["orderMessageEnable"] == "false"
    assert list(got) == sorted(got)

    body = encode_properties_text({"orderMessageEnable": "true", "enableAllTopicList": "false"})
    response = await call(client, namesrv, RequestCode.UPDATE_NAMESRV_CONFIG, body=body)
    assert response.code == ResponseCode.SUCCESS
    assert namesrv.config.order_message_enable
    assert not namesrv.routes.config.enable_all_topic_list
    stored = decode_properties_text(config.config_store_path.read_bytes())
    assert stored["orderMessageEnable"] == "true"
    assert stored["kvConfigPath"] == str(config.kv_config_path)
    response = await call(client, namesrv, RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER)
    assert response.remark == "disable"


@pytest.mark.parametrize(
    "key", ["kvConfigPath", "configStorePath", "configBlackList", "rocketmqHome"]
)
async def test_black_listed_keys_are_refused(
    namesrv: NameServer, client: RemotingClient, key: str
) -> None:
    body = encode_properties_text({key: "/elsewhere", "orderMessageEnable": "true"})
    response = await call(client, namesrv, RequestCode.UPDATE_NAMESRV_CONFIG, body=body)
    assert (response.code, response.remark) == (
        ResponseCode.NO_PERMISSION,
        "Can not update config in black list.",
    )
    assert not namesrv.config.order_message_enable


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (b"orderMessageEnabled=true\n", "did you mean 'orderMessageEnable'?"),
        (b"waitSecondsForService=soon\n", "waitSecondsForService: 'soon' is not an integer"),
        (b"enableControllerInNamesrv=true\n", "not implemented"),
    ],
)
async def test_bad_config_update_is_refused(
    namesrv: NameServer, client: RemotingClient, text: bytes, fragment: str
) -> None:
    response = await call(client, namesrv, RequestCode.UPDATE_NAMESRV_CONFIG, body=text)
    assert response.code == ResponseCode.INVALID_PARAMETER
    assert response.remark is not None
    assert fragment in response.remark
    assert namesrv.config == dataclasses.replace(namesrv.config)


async def test_toml_config_store_is_rewritten_as_toml(
    config: NamesrvConfig, clock: ManualClock, client: RemotingClient, tmp_path: Path
) -> None:
    store = tmp_path / "namesrv.toml"
    config = dataclasses.replace(config, config_store_path=store)
    async with NameServer(config, clock=clock) as namesrv:
        body = encode_properties_text({"productEnvName": 'say "hi"'})
        response = await call(client, namesrv, RequestCode.UPDATE_NAMESRV_CONFIG, body=body)
        assert response.code == ResponseCode.SUCCESS
    text = store.read_text()
    assert 'productEnvName = "say \\"hi\\""' in text
    assert "listenPort = 0" in text


# --------------------------------------------------------------------------- lifecycle


async def test_run_namesrv_until_cancelled(
    config: NamesrvConfig, clock: ManualClock, client: RemotingClient
) -> None:
    servers: list[NameServer] = []
    ready = asyncio.Event()

    def started(namesrv: NameServer) -> None:
        servers.append(namesrv)
        ready.set()

    task = asyncio.create_task(run_namesrv(config, started=started, clock=clock))
    async with asyncio.timeout(TIMEOUT):
        await ready.wait()
    (namesrv,) = servers
    assert (await register(client, namesrv)).code == ResponseCode.SUCCESS
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.sleepers == 0  # the scan task is gone
    with pytest.raises(OSError, match=r"cannot connect to 127\.0\.0\.1"):
        await call(client, namesrv, RequestCode.GET_BROKER_CLUSTER_INFO)


async def test_started_event(config: NamesrvConfig) -> None:
    ready = asyncio.Event()
    task = asyncio.create_task(run_namesrv(config, started=ready))
    async with asyncio.timeout(TIMEOUT):
        await ready.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_namesrv_starts_once(config: NamesrvConfig) -> None:
    namesrv = NameServer(config)
    async with namesrv:
        assert namesrv.port > 0
    with pytest.raises(RuntimeError, match="starts once"):
        await namesrv.__aenter__()
    assert namesrv.config == config


async def test_bind_failure_leaves_nothing_running(config: NamesrvConfig) -> None:
    async with NameServer(config) as first:
        taken = dataclasses.replace(config, listen_port=first.port)
        with pytest.raises(OSError, match=r"(?i)address already in use"):
            async with NameServer(taken):
                pass
