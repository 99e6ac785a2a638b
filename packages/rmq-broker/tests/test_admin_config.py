"""GET_BROKER_CONFIG and UPDATE_BROKER_CONFIG, against a real broker."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rmq_broker import Broker, BrokerSettings
from rmq_namesrv import NameServer
from rmq_protocol.codec.body import (
    DataVersion,
    TopicRouteData,
    decode_properties_text,
    encode_properties_text,
)
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import GetBrokerConfigResponseHeader, GetRouteInfoRequestHeader
from rmq_protocol.errors import ConfigError
from rmq_protocol.transport import RemotingClient

if TYPE_CHECKING:
    from conftest import Builders


def _update(**values: str) -> RemotingCommand:
    return RemotingCommand.request(
        RequestCode.UPDATE_BROKER_CONFIG, body=encode_properties_text(values)
    )


async def _get_config(client: RemotingClient, broker: Broker) -> tuple[dict[str, str], DataVersion]:
    response = await client.request(
        broker.address, RemotingCommand.request(RequestCode.GET_BROKER_CONFIG), timeout=5
    )
    assert response.code == ResponseCode.SUCCESS
    version = response.decode_header(GetBrokerConfigResponseHeader).version
    return decode_properties_text(response.body), DataVersion.from_json(version)


async def test_get_broker_config(broker: Broker, client: RemotingClient) -> None:
    items, version = await _get_config(client, broker)
    assert items["brokerName"] == "broker-a"
    assert items["flushDiskType"] == "ASYNC_FLUSH"  # store keys too
    assert items["enableUpdateBrokerConfig"] == "false"
    assert version.counter == 0


async def test_update_refused_by_default(broker: Broker, client: RemotingClient) -> None:
    response = await client.request(broker.address, _update(brokerPermission="4"), timeout=5)
    assert response.code == ResponseCode.NO_PERMISSION
    assert response.remark is not None
    assert "enableUpdateBrokerConfig=true" in response.remark
    assert broker.controller.config.broker_permission == 6


@pytest.mark.parametrize(
    ("values", "code", "remark"),
    [
        (
            {"storePathRootDir": "/srv/x"},
            ResponseCode.NO_PERMISSION,
            "Can not update storePathRootDir",
        ),
        # Java's key, which rmq does not have: refused too
        ({"storePathCommitLog": "/srv/x"}, ResponseCode.INVALID_PARAMETER, "unknown key"),
        ({"listenPort": "1"}, ResponseCode.NO_PERMISSION, "Can not update listenPort"),
        ({"brokerName": "other"}, ResponseCode.NO_PERMISSION, "brokerName"),
        ({"enableUpdateBrokerConfig": "false"}, ResponseCode.NO_PERMISSION, "enableUpdate"),
        ({"flushDiskType": "SYNC_FLUSH"}, ResponseCode.NO_PERMISSION, "flushDiskType"),
        (
            {"brokerPermision": "4"},
            ResponseCode.INVALID_PARAMETER,
            "unknown key 'brokerPermision'; did you mean 'brokerPermission'?",
        ),
        ({"brokerPermission": "rw"}, ResponseCode.INVALID_PARAMETER, "brokerPermission"),
        ({"brokerPermission": "99"}, ResponseCode.INVALID_PARAMETER, "not PermName bits"),
        # all or nothing: one bad key refuses the good one too
        (
            {"longPollingEnable": "false", "storePathRootDir": "/"},
            ResponseCode.NO_PERMISSION,
            "storePathRootDir",
        ),
    ],
)
async def test_update_refusals(
    settings: BrokerSettings,
    client: RemotingClient,
    build: Builders,
    values: dict[str, str],
    code: int,
    remark: str,
) -> None:
    async with Broker(build.with_broker(settings, enable_update_broker_config=True)) as broker:
        before = broker.controller.config
        response = await client.request(broker.address, _update(**values), timeout=5)
        assert response.code == code, response.remark
        assert response.remark is not None
        assert remark in response.remark
        assert broker.controller.config is before
        updates = Path(settings.store.store_path_root_dir) / "config"
        assert not (updates / "brokerConfigUpdates.properties").exists()


async def test_update_applies_persists_and_reregisters(
    settings: BrokerSettings,
    client: RemotingClient,
    build: Builders,
    namesrv: NameServer,
) -> None:
    enabled = build.with_broker(settings, enable_update_broker_config=True)
    async with Broker(enabled) as broker:
        request = build.send("TopicPerm")
        assert (await client.request(broker.address, request, timeout=5)).code == 0
        registrations = broker.registrations
        response = await client.request(
            broker.address, _update(brokerPermission="4", longPollingEnable="false"), timeout=5
        )
        assert (response.code, response.remark) == (ResponseCode.SUCCESS, None)
        assert broker.controller.config.broker_permission == 4
        assert broker.controller.config.long_polling_enable is False
        items, version = await _get_config(client, broker)
        assert (items["brokerPermission"], version.counter) == ("4", 1)

        # sends are refused now, and the NameServer was told (perm masked to read-only)
        sent = await client.request(broker.address, build.send("TopicPerm"), timeout=5)
        assert sent.code == ResponseCode.NO_PERMISSION
        await broker.wait_registrations(registrations + 1, timeout=10)
        route = await client.request(
            namesrv.address,
            RemotingCommand.request(
                RequestCode.GET_ROUTEINFO_BY_TOPIC, GetRouteInfoRequestHeader(topic="TopicPerm")
            ),
            timeout=5,
        )
        (queue_data,) = TopicRouteData.from_json(route.body).queue_datas
        assert queue_data.perm == 4

    path = Path(settings.store.store_path_root_dir) / "config" / "brokerConfigUpdates.properties"
    assert decode_properties_text(path.read_bytes()) == {
        "brokerPermission": "4",
        "longPollingEnable": "false",
    }
    # a restart keeps the update
    async with Broker(enabled) as again:
        assert again.controller.config.broker_permission == 4
        assert again.controller.config.long_polling_enable is False


async def test_tampered_updates_file_refuses_start(settings: BrokerSettings) -> None:
    path = Path(settings.store.store_path_root_dir) / "config" / "brokerConfigUpdates.properties"
    path.parent.mkdir(parents=True)
    path.write_text("storePathRootDir=/\n")
    with pytest.raises(ConfigError, match="'storePathRootDir' cannot be set here"):
        async with Broker(settings):
            pass
