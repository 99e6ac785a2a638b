"""BrokerConfig + StoreConfig: RocketMQ's keys and defaults, loaded from one file."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmq_broker import BrokerConfig, BrokerRole, BrokerSettings, load_broker_settings
from rmq_protocol.errors import ConfigError
from rmq_store import FlushDiskType, StoreConfig


def test_defaults_are_rocketmqs() -> None:
    config = BrokerConfig()
    assert config.listen_port == 10911
    assert config.broker_cluster_name == "DefaultCluster"
    assert config.broker_id == 0
    assert config.broker_role is BrokerRole.ASYNC_MASTER
    assert config.broker_permission == 6
    assert config.default_topic_queue_nums == 8
    assert config.auto_create_topic_enable
    assert config.auto_create_subscription_group
    assert config.long_polling_enable
    assert config.short_polling_time_mills == 1000
    assert config.flush_consumer_offset_interval == 5000
    assert config.register_name_server_period == 30_000
    assert config.channel_expired_timeout == 120_000
    assert config.region_id == "DefaultRegion"
    assert config.trace_on
    assert config.namesrv_addr is None
    assert config.namesrv_addresses == []
    assert config.broker_name  # the host name, as Java's default


def test_one_file_holds_broker_and_store_keys(tmp_path: Path) -> None:
    path = tmp_path / "broker.conf"
    path.write_text(
        "# conf/broker.conf of the Apache RocketMQ distribution, plus a few\n"
        "brokerClusterName = DefaultCluster\n"
        "brokerName = broker-a\n"
        "brokerId = 0\n"
        "deleteWhen = 04\n"
        "fileReservedTime = 48\n"
        "brokerRole = ASYNC_MASTER\n"
        "flushDiskType = SYNC_FLUSH\n"
        f"storePathRootDir = {tmp_path / 'store'}\n"
        "namesrvAddr = 127.0.0.1:9876;127.0.0.1:9877\n"
        "brokerIP1 = 10.0.0.1\n"
        "listenPort = 10921\n"
        "autoCreateTopicEnable = false\n"
        "sendMessageThreadPoolNums = 4\n"
    )
    settings = load_broker_settings(path)
    broker, store = settings.broker, settings.store
    assert broker.broker_name == "broker-a"
    assert broker.broker_ip1 == "10.0.0.1"
    assert broker.listen_port == 10921
    assert not broker.auto_create_topic_enable
    assert broker.namesrv_addresses == ["127.0.0.1:9876", "127.0.0.1:9877"]
    assert store.flush_disk_type is FlushDiskType.SYNC_FLUSH
    assert store.file_reserved_time == 48
    assert store.store_path_root_dir == tmp_path / "store"


def test_namesrv_option_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broker.conf"
    path.write_text("namesrvAddr=10.0.0.1:9876\n")
    settings = load_broker_settings(path, namesrv_addr="127.0.0.1:9999")
    assert settings.broker.namesrv_addresses == ["127.0.0.1:9999"]


def test_base_supplies_the_keys_the_file_does_not_set(tmp_path: Path) -> None:
    path = tmp_path / "broker.conf"
    path.write_text("brokerName=broker-b\nlistenPort=10950\n")
    base = BrokerSettings(
        broker=BrokerConfig(bind_address="127.0.0.1", listen_port=10911),
        store=StoreConfig(store_path_root_dir=tmp_path / "base-store"),
    )
    settings = load_broker_settings(path, base=base)
    assert settings.broker.bind_address == "127.0.0.1"  # from base
    assert settings.broker.listen_port == 10950  # the file wins
    assert settings.broker.broker_name == "broker-b"
    assert settings.store.store_path_root_dir == tmp_path / "base-store"


def test_masters_are_broker_id_zero(tmp_path: Path) -> None:
    path = tmp_path / "broker.conf"
    path.write_text("brokerId=3\nbrokerRole=SYNC_MASTER\n")
    assert load_broker_settings(path).broker.broker_id == 0


def test_unknown_key_names_file_line_and_nearest_key(tmp_path: Path) -> None:
    path = tmp_path / "broker.conf"
    path.write_text("brokerName=broker-a\n\nflushDiskTpye=SYNC_FLUSH\n")
    with pytest.raises(ConfigError) as info:
        load_broker_settings(path)
    message = str(info.value)
    assert f"{path}:3" in message
    assert "'flushDiskTpye'" in message
    assert "did you mean 'flushDiskType'?" in message


def test_unknown_broker_key_suggests_a_broker_key(tmp_path: Path) -> None:
    path = tmp_path / "broker.conf"
    path.write_text("autoCreateTopicEnabled=true\n")
    with pytest.raises(ConfigError, match="did you mean 'autoCreateTopicEnable'"):
        load_broker_settings(path)


def test_bad_value_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "broker.conf"
    path.write_text("listenPort=ten\n")
    with pytest.raises(ConfigError, match=r"broker\.conf:1.*listenPort"):
        load_broker_settings(path)


def test_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "broker.toml"
    path.write_text('brokerName = "broker-t"\nlistenPort = 10930\nflushDiskType = "ASYNC_FLUSH"\n')
    settings = load_broker_settings(path)
    assert settings.broker.broker_name == "broker-t"
    assert settings.broker.listen_port == 10930


def test_settings_defaults() -> None:
    settings = BrokerSettings()
    assert settings.store == StoreConfig()
    assert settings.broker.listen_port == 10911
