"""RouteInfoManager on its own: the rules of RocketMQ's route tables, synchronously."""

from __future__ import annotations

import dataclasses

import pytest

from rmq_namesrv import ManualClock, NamesrvConfig, RouteInfoManager
from rmq_namesrv.route_info import RegisterBrokerResult, Unregistered
from rmq_protocol.codec.body import DataVersion, QueueData, TopicConfig, TopicConfigSerializeWrapper


def wrapper(
    *topics: TopicConfig, counter: int = 1, state_version: int = 0, mapping: bool = False
) -> TopicConfigSerializeWrapper:
    table = {t.topic_name: t for t in topics}
    table.setdefault("TBW102", TopicConfig(topic_name="TBW102", perm=7))
    return TopicConfigSerializeWrapper(
        topic_config_table=table,
        data_version=DataVersion(
            timestamp=1_700_000_000_000 + counter, counter=counter, state_version=state_version
        ),
        topic_queue_mapping_info_map={"T": {"bname": "b"}} if mapping else None,
    )


def topic(name: str, queues: int = 4, perm: int = 6, sys_flag: int = 0) -> TopicConfig:
    return TopicConfig(
        topic_name=name,
        read_queue_nums=queues,
        write_queue_nums=queues,
        perm=perm,
        topic_sys_flag=sys_flag,
    )


def register(
    routes: RouteInfoManager,
    *,
    name: str = "broker-a",
    broker_id: int = 0,
    addr: str = "10.0.0.1:10911",
    cluster: str = "DefaultCluster",
    topics: TopicConfigSerializeWrapper | None = None,
    channel: object | None = None,
    acting: bool | None = None,
    timeout: int | None = None,
) -> RegisterBrokerResult | None:
    return routes.register_broker(
        cluster_name=cluster,
        broker_addr=addr,
        broker_name=name,
        broker_id=broker_id,
        ha_server_addr=addr.replace(":10911", ":10912"),
        zone_name=None,
        timeout_millis=timeout,
        enable_acting_master=acting,
        topic_config_wrapper=topics if topics is not None else wrapper(topic("T")),
        filter_server_list=(),
        channel=channel,
    )


@pytest.fixture
def routes(clock: ManualClock) -> RouteInfoManager:
    return RouteInfoManager(NamesrvConfig(), clock=clock.time_ms)


def test_master_registration_creates_routes(routes: RouteInfoManager) -> None:
    assert register(routes) == RegisterBrokerResult()
    route = routes.pickup_topic_route_data("T")
    assert route is not None
    assert route.queue_datas == (
        QueueData(broker_name="broker-a", read_queue_nums=4, write_queue_nums=4, perm=6),
    )
    (broker,) = route.broker_datas
    assert (broker.cluster, broker.broker_name) == ("DefaultCluster", "broker-a")
    assert broker.broker_addrs == {0: "10.0.0.1:10911"}
    assert routes.pickup_topic_route_data("Unknown") is None
    assert routes.statistics().topics == 2  # T and TBW102


def test_slave_gets_master_addresses_and_does_not_change_queues(
    routes: RouteInfoManager,
) -> None:
    register(routes)
    slave = register(
        routes,
        broker_id=1,
        addr="10.0.0.2:10911",
        topics=wrapper(topic("T", queues=99), topic("OnlyOnSlave"), counter=7),
    )
    assert slave == RegisterBrokerResult("10.0.0.1:10912", "10.0.0.1:10911")
    route = routes.pickup_topic_route_data("T")
    assert route is not None
    assert route.queue_datas[0].write_queue_nums == 4  # only the master's configs count
    assert route.broker_datas[0].broker_addrs == {0: "10.0.0.1:10911", 1: "10.0.0.2:10911"}
    assert routes.pickup_topic_route_data("OnlyOnSlave") is None


def test_two_broker_names_and_two_clusters_merge_into_one_route(
    routes: RouteInfoManager,
) -> None:
    register(routes, name="broker-a", addr="10.0.0.1:10911", cluster="c1")
    register(
        routes,
        name="broker-b",
        addr="10.0.0.3:10911",
        cluster="c2",
        topics=wrapper(topic("T", queues=8), topic("B")),
    )
    route = routes.pickup_topic_route_data("T")
    assert route is not None
    assert {q.broker_name: q.write_queue_nums for q in route.queue_datas} == {
        "broker-a": 4,
        "broker-b": 8,
    }
    assert {b.broker_name: b.cluster for b in route.broker_datas} == {
        "broker-a": "c1",
        "broker-b": "c2",
    }
    info = routes.get_all_cluster_info()
    assert info.cluster_addr_table == {"c1": ("broker-a",), "c2": ("broker-b",)}
    assert routes.get_topics_by_cluster("c2").topic_list == ("T", "TBW102", "B")
    assert routes.get_topics_by_cluster("nope").topic_list == ()
    system = routes.get_system_topic_list()
    assert system.topic_list == ("c1", "broker-a", "c2", "broker-b")
    assert system.broker_addr == "10.0.0.1:10911"


def test_unchanged_data_version_only_refreshes_liveness(
    routes: RouteInfoManager, clock: ManualClock
) -> None:
    register(routes, topics=wrapper(topic("T"), counter=1))
    assert routes.wipe_write_perm_of_broker("broker-a") == 2
    clock.advance(60_000)
    register(routes, topics=wrapper(topic("T"), counter=1))  # same DataVersion
    route = routes.pickup_topic_route_data("T")
    assert route is not None
    assert route.queue_datas[0].perm == 4
    live = routes.broker_live_info("DefaultCluster", "10.0.0.1:10911")
    assert live is not None
    assert live.last_update_timestamp == clock.time_ms()
    register(routes, topics=wrapper(topic("T"), counter=2))  # changed
    route = routes.pickup_topic_route_data("T")
    assert route is not None
    assert route.queue_datas[0].perm == 6


def test_unchanged_version_still_restores_a_deleted_topic(routes: RouteInfoManager) -> None:
    register(routes, topics=wrapper(topic("T"), counter=1))
    routes.delete_topic("T")
    assert routes.pickup_topic_route_data("T") is None
    register(routes, topics=wrapper(topic("T"), counter=1))
    assert routes.pickup_topic_route_data("T") is not None


def test_address_reregistering_with_new_id_replaces_its_entry(routes: RouteInfoManager) -> None:
    register(routes, addr="10.0.0.1:10911")
    register(routes, broker_id=1, addr="10.0.0.2:10911")
    # Old master gone (not unregistered yet); the slave comes back as master.
    register(routes, broker_id=0, addr="10.0.0.2:10911", topics=wrapper(topic("T"), counter=3))
    route = routes.pickup_topic_route_data("T")
    assert route is not None
    assert route.broker_datas[0].broker_addrs == {0: "10.0.0.2:10911"}


def test_lower_state_version_for_taken_id_is_ignored(routes: RouteInfoManager) -> None:
    register(routes, addr="10.0.0.1:10911", topics=wrapper(topic("T"), state_version=5))
    result = register(
        routes, addr="10.0.0.9:10911", topics=wrapper(topic("T", queues=1), state_version=4)
    )
    assert result == RegisterBrokerResult()
    route = routes.pickup_topic_route_data("T")
    assert route is not None
    assert route.broker_datas[0].broker_addrs == {0: "10.0.0.1:10911"}
    assert routes.broker_live_info("DefaultCluster", "10.0.0.9:10911") is None


def test_single_topic_registration_before_full_one_is_refused(routes: RouteInfoManager) -> None:
    single = TopicConfigSerializeWrapper(topic_config_table={"T": topic("T")})
    assert register(routes, topics=single) is None
    register(routes)
    assert register(routes, topics=single) == RegisterBrokerResult()


def test_unregister_slave_keeps_routes_master_last_removes_them(
    routes: RouteInfoManager,
) -> None:
    register(routes)
    register(routes, broker_id=1, addr="10.0.0.2:10911")
    # The master goes first: the broker name still has the slave, so its queues stay
    # (Java removes queue data only with a broker name's last address).
    gone = routes.unregister_broker("DefaultCluster", "10.0.0.1:10911", "broker-a", 0)
    assert gone == Unregistered("DefaultCluster", "broker-a", "10.0.0.1:10911", 0, False)
    route = routes.pickup_topic_route_data("T")
    assert route is not None
    assert route.broker_datas[0].broker_addrs == {1: "10.0.0.2:10911"}
    assert route.queue_datas[0].perm == 6  # no acting master: permission unchanged
    gone = routes.unregister_broker("DefaultCluster", "10.0.0.2:10911", "broker-a", 1)
    assert gone is not None
    assert gone.broker_name_removed
    assert routes.pickup_topic_route_data("T") is None
    assert routes.statistics() == dataclasses.replace(
        routes.statistics(), clusters=0, broker_names=0, live_brokers=0, topics=0
    )


def test_acting_master_loses_write_and_is_shown_as_master(clock: ManualClock) -> None:
    routes = RouteInfoManager(NamesrvConfig(support_acting_master=True), clock=clock.time_ms)
    register(routes, acting=True)
    register(routes, broker_id=1, addr="10.0.0.2:10911", acting=True)
    routes.unregister_broker("DefaultCluster", "10.0.0.1:10911", "broker-a", 0)
    route = routes.pickup_topic_route_data("T")
    assert route is not None
    assert route.queue_datas[0].perm == 4
    assert route.broker_datas[0].broker_addrs == {0: "10.0.0.2:10911"}


def test_scan_expires_silent_brokers(routes: RouteInfoManager, clock: ManualClock) -> None:
    channel = object()
    register(routes, channel=channel)
    register(routes, name="broker-b", addr="10.0.0.3:10911", timeout=30_000)
    clock.advance(30_001)
    ((gone, closed),) = routes.scan_not_active_broker()
    assert gone is not None
    assert gone.broker_name == "broker-b"
    assert closed is None
    clock.advance(89_999)
    assert routes.scan_not_active_broker() == []  # exactly 120 s: not yet expired
    clock.advance(1)
    ((gone, closed),) = routes.scan_not_active_broker()
    assert gone is not None
    assert gone.broker_name == "broker-a"
    assert closed is channel
    assert routes.pickup_topic_route_data("T") is None


def test_channel_destroy_unregisters_what_registered_on_it(routes: RouteInfoManager) -> None:
    channel = object()
    register(routes, channel=channel)
    register(routes, name="broker-b", addr="10.0.0.3:10911", channel=object())
    assert routes.on_channel_destroy(object()) == []
    (gone,) = routes.on_channel_destroy(channel)
    assert gone.broker_name == "broker-a"
    route = routes.pickup_topic_route_data("T")
    assert route is not None
    assert [b.broker_name for b in route.broker_datas] == ["broker-b"]


def test_write_perm_wipe_and_add(routes: RouteInfoManager) -> None:
    register(routes, topics=wrapper(topic("T", perm=7)))
    assert routes.wipe_write_perm_of_broker("broker-a") == 2
    assert routes.wipe_write_perm_of_broker("nobody") == 0
    route = routes.pickup_topic_route_data("T")
    assert route is not None
    assert route.queue_datas[0].perm == 5
    assert routes.add_write_perm_of_broker("broker-a") == 2
    route = routes.pickup_topic_route_data("T")
    assert route is not None
    assert route.queue_datas[0].perm == 6


def test_delete_topic_in_one_cluster(routes: RouteInfoManager) -> None:
    register(routes, cluster="c1")
    register(routes, name="broker-b", addr="10.0.0.3:10911", cluster="c2")
    routes.delete_topic("T", "c1")
    route = routes.pickup_topic_route_data("T")
    assert route is not None
    assert [q.broker_name for q in route.queue_datas] == ["broker-b"]
    routes.delete_topic("T", "unknown-cluster")
    routes.delete_topic("T", "c2")
    assert routes.pickup_topic_route_data("T") is None


def test_delete_topic_with_broker_registration(clock: ManualClock) -> None:
    config = NamesrvConfig(delete_topic_with_broker_registration=True)
    routes = RouteInfoManager(config, clock=clock.time_ms)
    register(routes, topics=wrapper(topic("T"), topic("Old"), counter=1))
    register(routes, topics=wrapper(topic("T"), counter=2))
    assert routes.pickup_topic_route_data("Old") is None
    routes.config = NamesrvConfig()
    register(routes, topics=wrapper(topic("T"), topic("Old"), counter=3))
    register(routes, topics=wrapper(topic("T"), counter=4))
    assert routes.pickup_topic_route_data("Old") is not None  # off: kept


def test_unit_topic_lists(routes: RouteInfoManager) -> None:
    register(
        routes,
        topics=wrapper(topic("U", sys_flag=1), topic("S", sys_flag=2), topic("US", sys_flag=3)),
    )
    assert routes.get_unit_topics().topic_list == ("U", "US")
    assert routes.get_has_unit_sub_topic_list().topic_list == ("S", "US")
    assert routes.get_has_unit_sub_un_unit_topic_list().topic_list == ("S",)


def test_register_topic_needs_known_brokers(routes: RouteInfoManager) -> None:
    register(routes)
    queue = QueueData(broker_name="broker-a", read_queue_nums=2, write_queue_nums=2, perm=6)
    assert routes.register_topic("New", [queue])
    assert not routes.register_topic("Other", [dataclasses.replace(queue, broker_name="x")])
    assert routes.pickup_topic_route_data("New") is not None
    assert routes.pickup_topic_route_data("Other") is None


def test_static_topic_mapping_is_in_the_route(routes: RouteInfoManager) -> None:
    register(routes, topics=wrapper(topic("T"), mapping=True))
    route = routes.pickup_topic_route_data("T")
    assert route is not None
    assert route.topic_queue_mapping_by_broker == {"b": {"bname": "b"}}


def test_data_version_queries(routes: RouteInfoManager, clock: ManualClock) -> None:
    version = wrapper(topic("T"), counter=3).data_version
    assert routes.is_broker_topic_config_changed("DefaultCluster", "10.0.0.1:10911", version)
    register(routes, topics=wrapper(topic("T"), counter=3))
    assert not routes.is_broker_topic_config_changed("DefaultCluster", "10.0.0.1:10911", version)
    assert routes.query_broker_topic_config("DefaultCluster", "10.0.0.1:10911") == version
    clock.advance(5)
    routes.update_broker_info_update_timestamp("DefaultCluster", "10.0.0.1:10911")
    live = routes.broker_live_info("DefaultCluster", "10.0.0.1:10911")
    assert live is not None
    assert live.last_update_timestamp == clock.time_ms()
