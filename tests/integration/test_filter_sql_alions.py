"""The real ali-ons push consumer with an SQL92 subscription against a real rmq
NameServer and Broker with ``enablePropertyFilter=true``: only matching messages arrive."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rmq_broker import Broker, BrokerConfig, BrokerSettings
from rmq_namesrv import NameServer, NamesrvConfig
from rmq_protocol.codec.body import TopicConfig
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import SendMessageRequestHeaderV2
from rmq_protocol.codec.properties import encode_properties
from rmq_protocol.transport import RemotingClient
from rmq_store import StoreConfig

if TYPE_CHECKING:
    from conftest import RunClient

TOPIC = "TopicAlionsSql"
EXPRESSION = "color IN ('red', 'blue') AND size > 2"


@pytest.fixture
async def sql_servers(tmp_path: Path) -> AsyncIterator[tuple[NameServer, Broker]]:
    namesrv_config = NamesrvConfig(
        listen_port=0,
        bind_address="127.0.0.1",
        kv_config_path=tmp_path / "namesrv" / "kvConfig.json",
        config_store_path=tmp_path / "namesrv" / "namesrv.properties",
    )
    async with NameServer(namesrv_config) as namesrv:
        settings = BrokerSettings(
            broker=BrokerConfig(
                listen_port=0,
                bind_address="127.0.0.1",
                broker_ip1="127.0.0.1",
                broker_name="broker-a",
                namesrv_addr=namesrv.address,
                enable_property_filter=True,
            ),
            store=StoreConfig(
                store_path_root_dir=tmp_path / "store",
                mapped_file_size_commit_log=16 * 1024 * 1024,
                max_hash_slot_num=10_000,
                max_index_num=40_000,
            ),
        )
        async with Broker(settings) as broker:
            yield namesrv, broker


def _props(i: int) -> dict[str, str]:
    return {"color": ("red", "green", "blue")[i % 3], "size": str(i % 6)}


def _wanted(i: int) -> bool:
    props = _props(i)
    return props["color"] in ("red", "blue") and int(props["size"]) > 2


async def test_alions_sql92_consumer_gets_only_matches(
    alions: Path, sql_servers: tuple[NameServer, Broker], run_client: RunClient
) -> None:
    namesrv, broker = sql_servers
    broker.controller.topics.update(
        TopicConfig(topic_name=TOPIC, read_queue_nums=2, write_queue_nums=2)
    )
    await broker.register_now()
    async with RemotingClient() as client:
        for i in range(30):
            props = {"UNIQ_KEY": f"7F00000100002A9F0000000000{i:06X}", **_props(i)}
            header = SendMessageRequestHeaderV2(
                producer_group="PID_sql", topic=TOPIC, default_topic="TBW102",
                default_topic_queue_nums=2, queue_id=i % 2, sys_flag=0,
                born_timestamp=1_700_000_000_000, flag=0,
                properties=encode_properties(props),
            )  # fmt: skip
            request = RemotingCommand.request(
                RequestCode.SEND_MESSAGE_V2, header, body=f"m{i}".encode()
            )
            response = await client.request(broker.address, request, timeout=5)
            assert response.code == ResponseCode.SUCCESS, response.remark
    wanted = sorted(f"m{i}" for i in range(30) if _wanted(i))
    node = shutil.which("node")
    assert node is not None
    got = await run_client(
        node, "consumer_sql.js", namesrv.address, TOPIC, "CID_sql_alions", EXPRESSION,
        str(len(wanted)), cwd=alions,
    )  # fmt: skip
    assert got.returncode == 0, got.stderr[-3000:]
    assert sorted(str(r["body"]) for r in got.results) == wanted
    assert len(wanted) == 10
    group = broker.controller.clients.consumer_group("CID_sql_alions")
    assert group is None or group.subscriptions[TOPIC].expression_type == "SQL92"
