"""The Broker service: registration with NameServers, persistence across restarts, shutdown."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rmq_broker import Broker, BrokerSettings, run_broker
from rmq_namesrv import NameServer, NamesrvConfig
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import (
    CreateTopicRequestHeader,
    QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader,
    UpdateConsumerOffsetRequestHeader,
)
from rmq_protocol.transport import RemotingClient

if TYPE_CHECKING:
    from conftest import Builders


async def test_registers_at_start_and_when_topics_change(
    broker: Broker, namesrv: NameServer, client: RemotingClient, build: Builders
) -> None:
    route = namesrv.routes.pickup_topic_route_data("TBW102")
    assert route is not None
    (broker_data,) = route.broker_datas
    assert broker_data.broker_addrs == {0: broker.address}
    assert (broker_data.cluster, broker_data.broker_name) == ("DefaultCluster", "broker-a")
    (queue_data,) = route.queue_datas
    assert (queue_data.perm, queue_data.write_queue_nums) == (7, 8)
    assert namesrv.routes.pickup_topic_route_data("TopicFresh") is None
    rounds = broker.registrations
    response = await client.request(broker.address, build.send("TopicFresh"), timeout=5)
    assert response.code == ResponseCode.SUCCESS
    await broker.wait_registrations(rounds + 1, timeout=5)  # at once, not in 30 s
    fresh = namesrv.routes.pickup_topic_route_data("TopicFresh")
    assert fresh is not None
    assert fresh.queue_datas[0].write_queue_nums == 4


async def test_registers_with_every_namesrv_and_unregisters(
    settings: BrokerSettings, namesrv: NameServer, tmp_path: Path, build: Builders
) -> None:
    other_config = NamesrvConfig(
        listen_port=0,
        bind_address="127.0.0.1",
        kv_config_path=tmp_path / "ns2" / "kv.json",
        config_store_path=tmp_path / "ns2" / "ns.properties",
    )
    async with NameServer(other_config) as other:
        both = build.with_broker(settings, namesrv_addr=f"{namesrv.address};{other.address}")
        async with Broker(both) as broker:
            for server in (namesrv, other):
                route = server.routes.pickup_topic_route_data("TBW102")
                assert route is not None
                assert route.broker_datas[0].broker_addrs == {0: broker.address}
        for server in (namesrv, other):
            assert server.routes.pickup_topic_route_data("TBW102") is None


async def test_a_missing_namesrv_does_not_stop_the_broker(
    settings: BrokerSettings, build: Builders, client: RemotingClient
) -> None:
    lonely = build.with_broker(
        settings, namesrv_addr="127.0.0.1:1", register_broker_timeout_mills=500
    )
    async with Broker(lonely) as broker:
        response = await client.request(broker.address, build.send("TopicAlone"), timeout=5)
        assert response.code == ResponseCode.SUCCESS


async def test_metadata_survives_a_restart(
    settings: BrokerSettings, client: RemotingClient, build: Builders
) -> None:
    async with Broker(settings) as broker:
        create = RemotingCommand.request(
            RequestCode.UPDATE_AND_CREATE_TOPIC,
            CreateTopicRequestHeader(
                topic="TopicKept",
                default_topic="TBW102",
                read_queue_nums=2,
                write_queue_nums=2,
                perm=6,
                topic_filter_type="SINGLE_TAG",
                order=False,
            ),
        )
        assert (await client.request(broker.address, create, timeout=5)).code == 0
        assert (
            await client.request(broker.address, build.send("TopicKept", queue_id=1), timeout=5)
        ).code == 0
        update = RemotingCommand.request(
            RequestCode.UPDATE_CONSUMER_OFFSET,
            UpdateConsumerOffsetRequestHeader(
                consumer_group="CID_kept", topic="TopicKept", queue_id=1, commit_offset=1
            ),
        )
        assert (await client.request(broker.address, update, timeout=5)).code == 0
        assert (await client.request(broker.address, build.heartbeat("c"), timeout=5)).code == 0
    config_dir = Path(settings.store.store_path_root_dir) / "config"
    offsets = json.loads((config_dir / "consumerOffset.json").read_text())
    assert offsets["offsetTable"]["TopicKept@CID_kept"] == {"1": 1}
    topics = json.loads((config_dir / "topics.json").read_text())
    assert topics["topicConfigTable"]["TopicKept"]["writeQueueNums"] == 2
    groups = json.loads((config_dir / "subscriptionGroup.json").read_text())
    assert "CID_test" in groups["subscriptionGroupTable"]

    async with Broker(settings) as broker:
        kept = broker.controller.topics.select("TopicKept")
        assert kept is not None
        assert kept.write_queue_nums == 2
        assert broker.controller.groups.get("CID_test") is not None
        query = RemotingCommand.request(
            RequestCode.QUERY_CONSUMER_OFFSET,
            QueryConsumerOffsetRequestHeader(
                consumer_group="CID_kept", topic="TopicKept", queue_id=1
            ),
        )
        response = await client.request(broker.address, query, timeout=5)
        assert response.decode_header(QueryConsumerOffsetResponseHeader).offset == 1
        assert broker.controller.store.get_max_offset_in_queue("TopicKept", 1) == 1


async def test_offsets_are_persisted_periodically(
    settings: BrokerSettings, build: Builders
) -> None:
    fast = build.with_broker(settings, flush_consumer_offset_interval=50)
    async with Broker(fast) as broker:
        broker.controller.offsets.commit_offset("CID_p", "T", 0, 5)
        await broker.wait_persisted(broker.persists + 1, timeout=5)
        assert "T@CID_p" in broker.controller.offsets.path.read_text()


async def test_run_broker_until_cancelled(
    settings: BrokerSettings, client: RemotingClient, build: Builders
) -> None:
    running: list[Broker] = []
    ready = asyncio.Event()

    def started(broker: Broker) -> None:
        running.append(broker)
        ready.set()

    task = asyncio.ensure_future(run_broker(settings, started=started))
    await asyncio.wait_for(ready.wait(), 10)
    response = await client.request(running[0].address, build.send("TopicRun"), timeout=5)
    assert response.code == ResponseCode.SUCCESS
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    lock_free = Broker(settings)  # the store lock was released: it opens again
    async with lock_free:
        pass


async def test_start_twice_is_an_error(settings: BrokerSettings) -> None:
    broker = Broker(settings)
    async with broker:
        with pytest.raises(RuntimeError, match="starts once"):
            await broker.__aenter__()


async def test_a_broken_metadata_file_stops_the_start_and_is_kept(settings: BrokerSettings) -> None:
    from rmq_broker import MetadataFileError

    path = Path(settings.store.store_path_root_dir) / "config" / "topics.json"
    path.parent.mkdir(parents=True)
    path.write_text("{broken")
    with pytest.raises(MetadataFileError, match=r"topics\.json"):
        async with Broker(settings):
            pass
    assert path.read_text() == "{broken"  # not overwritten with the defaults
    path.unlink()
    async with Broker(settings):  # the store lock was released
        pass
