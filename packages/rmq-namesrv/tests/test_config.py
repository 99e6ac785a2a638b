"""NamesrvConfig: RocketMQ's keys and defaults, loaded strictly from files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rmq_namesrv import NamesrvConfig, load_namesrv_config
from rmq_protocol.config import config_keys, config_to_properties
from rmq_protocol.errors import ConfigError


def test_defaults_are_rocketmqs() -> None:
    config = NamesrvConfig()
    assert config.listen_port == 9876
    assert config.bind_address == "0.0.0.0"  # noqa: S104 - RocketMQ's default
    assert config.kv_config_path == Path.home() / "namesrv" / "kvConfig.json"
    assert config.config_store_path == Path.home() / "namesrv" / "namesrv.properties"
    assert config.scan_not_active_broker_interval == 10_000
    assert not config.order_message_enable
    assert config.return_order_topic_config_to_broker
    assert config.enable_all_topic_list
    assert config.enable_topic_list
    assert config.wait_seconds_for_service == 45
    assert config.config_black_list == "configBlackList;configStorePath;kvConfigPath"
    assert config.black_listed_keys == {
        "configBlackList",
        "configStorePath",
        "kvConfigPath",
        "rocketmqHome",
    }


def test_keys_are_rocketmqs_names() -> None:
    java_keys = {  # NamesrvConfig.java (5.3) and the NettyServerConfig keys we keep
        "rocketmqHome", "kvConfigPath", "configStorePath", "productEnvName", "clusterTest",
        "orderMessageEnable", "returnOrderTopicConfigToBroker", "clientRequestThreadPoolNums",
        "defaultThreadPoolNums", "clientRequestThreadPoolQueueCapacity",
        "defaultThreadPoolQueueCapacity", "scanNotActiveBrokerInterval",
        "unRegisterBrokerQueueCapacity", "supportActingMaster", "enableAllTopicList",
        "enableTopicList", "notifyMinBrokerIdChanged", "enableControllerInNamesrv",
        "needWaitForService", "waitSecondsForService", "deleteTopicWithBrokerRegistration",
        "configBlackList", "listenPort", "bindAddress", "serverChannelMaxIdleTimeSeconds",
        "serverSocketBacklog",
    }  # fmt: skip
    assert set(config_keys(NamesrvConfig)) == java_keys


def test_load_properties_file(tmp_path: Path) -> None:
    path = tmp_path / "namesrv.properties"
    path.write_text(
        "# a namesrv.properties as mqnamesrv reads it\n"
        "listenPort=9877\n"
        "kvConfigPath = /data/namesrv/kv.json\n"
        "orderMessageEnable: true\n"
        "scanNotActiveBrokerInterval 5000\n"
    )
    config = load_namesrv_config(path)
    assert config == NamesrvConfig(
        listen_port=9877,
        kv_config_path=Path("/data/namesrv/kv.json"),
        order_message_enable=True,
        scan_not_active_broker_interval=5000,
        config_store_path=path,  # as Java: updates go back to the file they came from
    )


def test_load_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "namesrv.toml"
    path.write_text('listenPort = 9878\nconfigStorePath = "/etc/ns.properties"\n')
    config = load_namesrv_config(path)
    assert config.listen_port == 9878
    assert config.config_store_path == Path("/etc/ns.properties")


def test_unknown_key_names_file_line_and_nearest_key(tmp_path: Path) -> None:
    path = tmp_path / "namesrv.properties"
    path.write_text("listenPort=9876\n\n# comment\norderMesageEnable=true\n")
    with pytest.raises(ConfigError) as info:
        load_namesrv_config(path)
    assert str(info.value) == (
        f"{path}:4: unknown key 'orderMesageEnable'; did you mean 'orderMessageEnable'?"
    )
    assert (info.value.line, info.value.key) == (4, "orderMesageEnable")


def test_bad_value_and_invalid_combination(tmp_path: Path) -> None:
    path = tmp_path / "namesrv.properties"
    path.write_text("listenPort=98a76\n")
    with pytest.raises(ConfigError, match=r":1: listenPort: '98a76' is not an integer"):
        load_namesrv_config(path)
    path.write_text("listenPort=70000\n")
    with pytest.raises(ConfigError, match="not a port number"):
        load_namesrv_config(path)


def test_round_trip_through_properties() -> None:
    config = NamesrvConfig(rocketmq_home=Path("/opt/rocketmq"), support_acting_master=True)
    text = config_to_properties(config)
    assert text["rocketmqHome"] == "/opt/rocketmq"
    assert text["supportActingMaster"] == "true"
    assert "rocketmqHome" not in config_to_properties(NamesrvConfig())  # None: omitted
    assert dataclasses.replace(config) == config
