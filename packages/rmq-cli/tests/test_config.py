"""load_standalone_config: standalone defaults, then the file, then the options."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from rmq_cli import (
    DEFAULT_BIND_ADDRESS,
    DEFAULT_BROKER_PORT,
    DEFAULT_NAMESRV_PORT,
    default_data_dir,
    load_standalone_config,
)
from rmq_protocol.errors import ConfigError
from rmq_store import FlushDiskType


def test_defaults() -> None:
    config = load_standalone_config()
    root = Path.home() / ".rmq"
    assert default_data_dir() == root
    assert config.data_dir == root
    assert (config.namesrv.bind_address, config.namesrv.listen_port) == ("127.0.0.1", 9876)
    assert config.namesrv.kv_config_path == root / "namesrv" / "kvConfig.json"
    assert config.namesrv.config_store_path == root / "namesrv" / "namesrv.properties"
    broker = config.broker.broker
    assert (broker.bind_address, broker.listen_port) == (DEFAULT_BIND_ADDRESS, DEFAULT_BROKER_PORT)
    assert broker.namesrv_addr == config.namesrv_addr == f"127.0.0.1:{DEFAULT_NAMESRV_PORT}"
    assert config.broker.store.store_path_root_dir == root / "store"


def test_options(tmp_path: Path) -> None:
    config = load_standalone_config(data_dir=tmp_path, namesrv_port=0, broker_port=0)
    assert config.namesrv.listen_port == 0
    assert config.broker.broker.listen_port == 0
    assert config.broker.store.store_path_root_dir == tmp_path / "store"
    assert config.namesrv.kv_config_path == tmp_path / "namesrv" / "kvConfig.json"


def test_relative_data_dir_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_standalone_config(data_dir=Path("here"))
    assert config.broker.store.store_path_root_dir == tmp_path / "here" / "store"


def test_file_then_options(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "broker.conf"
    path.write_text(
        "bindAddress=0.0.0.0\nlistenPort=20911\nnamesrvAddr=10.0.0.1:9876\n"
        f"storePathRootDir={tmp_path / 'file-store'}\nflushDiskType=SYNC_FLUSH\n"
    )
    with caplog.at_level(logging.WARNING):
        config = load_standalone_config(path)
    assert "namesrvAddr=10.0.0.1:9876 is ignored" in caplog.text
    assert config.broker.broker.listen_port == 20911
    assert config.broker.store.store_path_root_dir == tmp_path / "file-store"
    assert config.broker.store.flush_disk_type is FlushDiskType.SYNC_FLUSH
    assert config.namesrv.bind_address == "0.0.0.0"  # noqa: S104 - both bind the file's
    assert config.broker.broker.namesrv_addr == "127.0.0.1:9876"  # reached on loopback
    config = load_standalone_config(path, data_dir=tmp_path / "d", broker_port=1234)
    assert config.broker.broker.listen_port == 1234
    assert config.broker.store.store_path_root_dir == tmp_path / "d" / "store"


def test_file_errors_are_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "broker.conf"
    path.write_text("brokerNmae=x\n")
    with pytest.raises(ConfigError, match=r"broker\.conf:1: unknown key 'brokerNmae'"):
        load_standalone_config(path)
