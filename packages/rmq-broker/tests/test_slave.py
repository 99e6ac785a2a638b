"""brokerRole=SLAVE: a slave registers under its brokerId, refuses writes as Java's store
does, and serves pulls and queries from its own store (no replication), against a real
NameServer and real brokers."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rmq_broker import Broker, BrokerConfig, BrokerSettings, load_broker_settings
from rmq_broker.config import BrokerRole
from rmq_namesrv import NameServer
from rmq_protocol.codec.body import ClusterInfo, KVTable, TopicRouteData
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import (
    ConsumerSendMsgBackRequestHeader,
    GetMaxOffsetRequestHeader,
    GetRouteInfoRequestHeader,
    PullMessageResponseHeader,
    QueryConsumerOffsetRequestHeader,
    ViewMessageRequestHeader,
)
from rmq_protocol.errors import ConfigError
from rmq_protocol.transport import RemotingClient

if TYPE_CHECKING:
    from conftest import Builders

REMARK = re.compile(
    r"service not available now\. It may be caused by one of the following reasons: the "
    r"broker's disk is full \[CL: +-?\d\.\d\d CQ: +-?\d\.\d\d INDEX: +-?\d\.\d\d\], "
    r"messages are put to the slave, message store has been shut down, etc\."
)


def as_slave(settings: BrokerSettings, **changes: object) -> BrokerSettings:
    broker = dataclasses.replace(
        settings.broker,
        broker_role=BrokerRole.SLAVE,
        broker_id=1,
        **changes,  # type: ignore[arg-type]
    )
    return dataclasses.replace(settings, broker=broker)


def with_store(settings: BrokerSettings, root: Path) -> BrokerSettings:
    return dataclasses.replace(
        settings, store=dataclasses.replace(settings.store, store_path_root_dir=root)
    )


async def fill(settings: BrokerSettings, client: RemotingClient, build: Builders) -> None:
    """Three messages in TopicSlave queue 0, written by a master into the store that the
    slave opens next (standing in for replication)."""
    async with Broker(settings) as master:
        for i in range(3):
            request = build.send("TopicSlave", f"m{i}".encode(), queue_id=0, keys=f"k{i}")
            assert (await client.request(master.address, request, timeout=5)).code == 0


def test_a_slave_needs_a_broker_id_above_zero(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"brokerRole=SLAVE needs brokerId > 0"):
        BrokerConfig(broker_role=BrokerRole.SLAVE)
    path = tmp_path / "broker.conf"
    path.write_text("brokerRole=SLAVE\nbrokerId=0\n")
    with pytest.raises(ConfigError, match=r"brokerId > 0"):
        load_broker_settings(path)
    path.write_text("brokerRole=SLAVE\nbrokerId=2\n")
    assert load_broker_settings(path).broker.broker_id == 2  # kept (masters are forced to 0)


async def test_a_slave_refuses_sends_as_java_does(
    settings: BrokerSettings, client: RemotingClient, build: Builders
) -> None:
    async with Broker(as_slave(settings)) as slave:
        for code in (
            RequestCode.SEND_MESSAGE,
            RequestCode.SEND_MESSAGE_V2,
            RequestCode.SEND_BATCH_MESSAGE,
        ):
            request = build.send("TopicNew", code=code)
            response = await client.request(slave.address, request, timeout=5)
            assert response.code == ResponseCode.SERVICE_NOT_AVAILABLE, code
            assert response.remark is not None
            assert REMARK.fullmatch(response.remark), response.remark
            assert (response.ext_fields or {})["MSG_REGION"] == "DefaultRegion"
        assert slave.controller.topics.select("TopicNew") is None  # no auto-creation
        assert slave.controller.store.statistics().put_messages == 0

        back = RemotingCommand.request(
            RequestCode.CONSUMER_SEND_MSG_BACK,
            ConsumerSendMsgBackRequestHeader(offset=0, group="CID_test", delay_level=0),
        )
        response = await client.request(slave.address, back, timeout=5)
        assert (response.code, response.remark) == (
            ResponseCode.SYSTEM_ERROR,
            "SERVICE_NOT_AVAILABLE",
        )
        table = KVTable.from_json(
            (
                await client.request(
                    slave.address,
                    RemotingCommand.request(RequestCode.GET_BROKER_RUNTIME_INFO),
                    timeout=5,
                )
            ).body
        ).table
        assert table["brokerActive"] == "false"


async def test_master_and_slave_are_both_in_the_routes(
    settings: BrokerSettings, namesrv: NameServer, client: RemotingClient, tmp_path: Path
) -> None:
    slave_settings = with_store(as_slave(settings), tmp_path / "slave-store")
    async with Broker(settings) as master, Broker(slave_settings) as slave:
        route_request = RemotingCommand.request(
            RequestCode.GET_ROUTEINFO_BY_TOPIC, GetRouteInfoRequestHeader(topic="TBW102")
        )
        response = await client.request(namesrv.address, route_request, timeout=5)
        assert response.code == ResponseCode.SUCCESS
        route = TopicRouteData.from_json(response.body)
        (data,) = route.broker_datas
        assert data.broker_name == "broker-a"
        assert dict(data.broker_addrs) == {0: master.address, 1: slave.address}

        cluster = await client.request(
            namesrv.address,
            RemotingCommand.request(RequestCode.GET_BROKER_CLUSTER_INFO),
            timeout=5,
        )
        info = ClusterInfo.from_json(cluster.body)
        addrs = info.broker_addr_table["broker-a"].broker_addrs
        assert dict(addrs) == {0: master.address, 1: slave.address}
    # both unregistered at shutdown
    response = await client.request(namesrv.address, route_request, timeout=5)
    assert response.code == ResponseCode.TOPIC_NOT_EXIST


async def test_a_slave_serves_pulls_and_queries_from_its_store(
    settings: BrokerSettings, client: RemotingClient, build: Builders
) -> None:
    await fill(settings, client, build)
    async with Broker(as_slave(settings)) as slave:
        # a pull that also piggybacks a commit offset (sysFlag 0x1 | 0x4)
        request = build.pull("TopicSlave", 0, 0, sys_flag=0x5, commit_offset=2)
        response = await client.request(slave.address, request, timeout=5)
        assert response.code == ResponseCode.SUCCESS
        header = response.decode_header(PullMessageResponseHeader)
        assert (header.next_begin_offset, header.max_offset) == (3, 3)
        assert header.suggest_which_broker_id == 0  # the master (slaveReadEnable off)
        assert slave.stats.get_nums_user == 3

        # Java does not store a piggybacked commit offset on a slave
        query = RemotingCommand.request(
            RequestCode.QUERY_CONSUMER_OFFSET,
            QueryConsumerOffsetRequestHeader(
                consumer_group="CID_test", topic="TopicSlave", queue_id=0
            ),
        )
        response = await client.request(slave.address, query, timeout=5)
        # not 2: no stored offset, answered as Java answers that (the queue's start)
        assert (response.code, (response.ext_fields or {})["offset"]) == (ResponseCode.SUCCESS, "0")
        assert slave.controller.offsets.query_offset("CID_test", "TopicSlave", 0) == -1

        # an offset past the queue is not corrected on a slave (offsetCheckInSlave=false)
        request = build.pull("TopicSlave", 0, 10)
        response = await client.request(slave.address, request, timeout=5)
        assert response.code == ResponseCode.PULL_OFFSET_MOVED
        assert response.decode_header(PullMessageResponseHeader).next_begin_offset == 10

        max_offset = RemotingCommand.request(
            RequestCode.GET_MAX_OFFSET, GetMaxOffsetRequestHeader(topic="TopicSlave", queue_id=0)
        )
        response = await client.request(slave.address, max_offset, timeout=5)
        assert (response.code, (response.ext_fields or {})["offset"]) == (ResponseCode.SUCCESS, "3")

        view = RemotingCommand.request(
            RequestCode.VIEW_MESSAGE_BY_ID, ViewMessageRequestHeader(offset=0)
        )
        response = await client.request(slave.address, view, timeout=5)
        assert response.code == ResponseCode.SUCCESS
        assert b"m0" in bytes(response.body)


async def test_offset_check_in_slave_corrects_offsets(
    settings: BrokerSettings, client: RemotingClient, build: Builders
) -> None:
    await fill(settings, client, build)
    async with Broker(as_slave(settings, offset_check_in_slave=True)) as slave:
        response = await client.request(slave.address, build.pull("TopicSlave", 0, 10), timeout=5)
        assert response.code == ResponseCode.PULL_OFFSET_MOVED
        assert response.decode_header(PullMessageResponseHeader).next_begin_offset == 3
