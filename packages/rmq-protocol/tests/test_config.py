"""The shared strict config loader: Java properties and TOML into frozen dataclasses."""

from __future__ import annotations

import dataclasses
import enum
import logging
from pathlib import Path

import pytest

from rmq_protocol import ConfigError, ProtocolError
from rmq_protocol.config import (
    ConfigSource,
    config_key,
    config_keys,
    config_to_properties,
    config_to_toml,
    load_config,
)


class FlushDiskType(enum.StrEnum):
    ASYNC_FLUSH = "ASYNC_FLUSH"
    SYNC_FLUSH = "SYNC_FLUSH"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StoreLike:
    store_path_root_dir: Path = Path("/root/store")
    mapped_file_size_commit_log: int = 1024 * 1024 * 1024  # bytes
    flush_disk_type: FlushDiskType = FlushDiskType.ASYNC_FLUSH
    disk_max_used_space_ratio: float = 75.0
    message_index_enable: bool = True

    def __post_init__(self) -> None:
        if self.mapped_file_size_commit_log < 4096:
            raise ValueError(f"mappedFileSizeCommitLog {self.mapped_file_size_commit_log} < 4096")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class BrokerLike:
    broker_name: str = "broker-a"
    broker_ip1: str = dataclasses.field(default="127.0.0.1", metadata={"key": "brokerIP1"})
    namesrv_addr: str | None = None
    listen_port: int = 10911


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_keys_are_camel_case_or_metadata() -> None:
    assert list(config_keys(BrokerLike)) == ["brokerName", "brokerIP1", "namesrvAddr", "listenPort"]
    assert config_key(dataclasses.fields(StoreLike)[1]) == "mappedFileSizeCommitLog"


def test_properties_syntax(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "store.conf",
        "# comment\n"
        "! another comment\n"
        "storePathRootDir = /data/\\\n"
        "    store\n"
        "mappedFileSizeCommitLog: 4096\n"
        "flushDiskType SYNC_FLUSH\n"
        "diskMaxUsedSpaceRatio=80.5   \n"
        "messageIndexEnable=FALSE\n",
    )
    assert load_config(path, StoreLike) == StoreLike(
        store_path_root_dir=Path("/data/store"),
        mapped_file_size_commit_log=4096,
        flush_disk_type=FlushDiskType.SYNC_FLUSH,
        disk_max_used_space_ratio=80.5,
        message_index_enable=False,
    )


def test_properties_escapes_and_empty_optional(tmp_path: Path) -> None:
    path = write(tmp_path, "b.conf", "brokerName=b\\u0041\\tx\nnamesrvAddr=\n")
    assert load_config(path, BrokerLike) == BrokerLike(broker_name="bA\tx", namesrv_addr=None)


def test_toml_same_flat_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "store.toml",
        'storePathRootDir = "/data/store"\n'
        "mappedFileSizeCommitLog = 8192\n"
        'flushDiskType = "SYNC_FLUSH"\n'
        "diskMaxUsedSpaceRatio = 80\n"
        "messageIndexEnable = false\n",
    )
    assert load_config(path, StoreLike) == StoreLike(
        store_path_root_dir=Path("/data/store"),
        mapped_file_size_commit_log=8192,
        flush_disk_type=FlushDiskType.SYNC_FLUSH,
        disk_max_used_space_ratio=80.0,
        message_index_enable=False,
    )
    # Strings in TOML convert like properties text.
    path = write(tmp_path, "s.toml", 'mappedFileSizeCommitLog = "4096"\n')
    assert load_config(path, StoreLike).mapped_file_size_commit_log == 4096


def test_unknown_key_names_file_line_and_nearest_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "broker.conf",
        "brokerName=broker-a\n"
        "# the store\n"
        "storePathRootDir=/data\n"
        "\n"
        "mappedFileSizeCommitLog=4096\n"
        "listenPort=10911\n"
        "flushDiskTpye=SYNC_FLUSH\n",
    )
    source = ConfigSource.read(path)
    source.build(BrokerLike)
    source.build(StoreLike)
    with pytest.raises(ConfigError) as info:
        source.check_claimed()
    assert str(info.value) == (
        f"{path}:7: unknown key 'flushDiskTpye'; did you mean 'flushDiskType'?"
    )
    error = info.value
    assert (error.source, error.line, error.key, error.suggestion) == (
        str(path),
        7,
        "flushDiskTpye",
        "flushDiskType",
    )
    assert isinstance(error, ProtocolError)
    assert isinstance(error, ValueError)


def test_unknown_key_without_close_match_and_case_slip(tmp_path: Path) -> None:
    path = write(tmp_path, "b.conf", "zzzz=1\n")
    with pytest.raises(ConfigError, match=r"b\.conf:1: unknown key 'zzzz' \(no configuration"):
        load_config(path, BrokerLike)
    path = write(tmp_path, "c.conf", "BROKERIP1=10.0.0.1\n")
    with pytest.raises(ConfigError, match="did you mean 'brokerIP1'"):
        load_config(path, BrokerLike)


def test_a_key_of_another_class_is_unknown_to_load_config(tmp_path: Path) -> None:
    path = write(tmp_path, "broker.conf", "brokerName=b\nflushDiskType=SYNC_FLUSH\n")
    with pytest.raises(ConfigError, match=":2: unknown key 'flushDiskType'"):
        load_config(path, BrokerLike)
    source = ConfigSource.read(path)
    source.build(BrokerLike)
    source.check_claimed(extra_known=["flushDiskType"])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("mappedFileSizeCommitLog=1g", "mappedFileSizeCommitLog: '1g' is not an integer"),
        ("mappedFileSizeCommitLog=1_000", "'1_000' is not an integer"),
        ("mappedFileSizeCommitLog=99999999999999999999", "outside the Java long range"),
        ("messageIndexEnable=yes", "messageIndexEnable: 'yes' is not true or false"),
        ("diskMaxUsedSpaceRatio=lots", "diskMaxUsedSpaceRatio: 'lots' is not a number"),
        ("flushDiskType=FAST", "'FAST' is not one of ASYNC_FLUSH, SYNC_FLUSH"),
        ("storePathRootDir=", "storePathRootDir: empty path"),
    ],
)
def test_unparsable_values(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, "store.conf", f"# first\n{line}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, StoreLike)
    assert str(info.value).startswith(f"{path}:2: ")
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("listenPort = true\n", "listenPort: bool True is not an integer"),
        ("brokerName = 7\n", "brokerName: expected a string, got int 7; quote it"),
        ("[broker]\nbrokerName = 'b'\n", "'broker' is a table; configuration keys are flat"),
        ("brokerName = ['a']\n", "'brokerName' is an array"),
        ("brokerName = \n", "not valid TOML"),
    ],
)
def test_toml_errors(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "broker.toml", text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_config(path, BrokerLike)


def test_toml_errors_name_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broker.toml", "# hi\nbrokerName = 'b'\n\nlistenPort = 'x'\n")
    with pytest.raises(ConfigError, match=r"broker\.toml:4: listenPort: 'x' is not an integer"):
        load_config(path, BrokerLike)


def test_class_validation_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, "store.conf", "mappedFileSizeCommitLog=100\n")
    with pytest.raises(ConfigError, match=r"store\.conf: StoreLike: mappedFileSizeCommitLog 100"):
        load_config(path, StoreLike)


def test_unreadable_file_and_bad_escape(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "absent.conf", StoreLike)
    path = write(tmp_path, "b.conf", "brokerName=a\nbrokerName=\\u12\n")
    with pytest.raises(ConfigError, match=r"b\.conf:2: malformed \\uxxxx escape"):
        load_config(path, BrokerLike)


def test_repeated_key_later_wins_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, "b.conf", "brokerName=a\nbrokerName=b\n")
    with caplog.at_level(logging.WARNING, logger="rmq_protocol.config"):
        assert load_config(path, BrokerLike).broker_name == "b"
    assert "repeats line 1" in caplog.text


def test_build_on_a_base_applies_an_update() -> None:
    base = BrokerLike(broker_name="x", listen_port=1)
    source = ConfigSource.from_mapping({"listenPort": "2"}, name="UPDATE_BROKER_CONFIG")
    assert source.build(BrokerLike, base=base) == BrokerLike(broker_name="x", listen_port=2)
    source = ConfigSource.from_mapping({"listenPort": "two"}, name="UPDATE_BROKER_CONFIG")
    with pytest.raises(ConfigError, match=r"^UPDATE_BROKER_CONFIG: listenPort: 'two'"):
        source.build(BrokerLike, base=base)


def test_round_trips(tmp_path: Path) -> None:
    config = StoreLike(
        store_path_root_dir=Path('/data/"quoted" store'),
        flush_disk_type=FlushDiskType.SYNC_FLUSH,
        disk_max_used_space_ratio=66.5,
        message_index_enable=False,
    )
    text = config_to_properties(config)
    assert text["flushDiskType"] == "SYNC_FLUSH"
    assert text["messageIndexEnable"] == "false"
    assert ConfigSource.from_mapping(text, name="m").build(StoreLike) == config
    path = write(tmp_path, "store.toml", config_to_toml(config))
    assert load_config(path, StoreLike) == config
    assert "namesrvAddr" not in config_to_properties(BrokerLike())


def test_unsupported_field_type_is_a_programming_error() -> None:
    @dataclasses.dataclass(frozen=True)
    class Bad:
        values: list[int] = dataclasses.field(default_factory=list)

    with pytest.raises(TypeError, match="unsupported config field type"):
        ConfigSource.from_mapping({"values": "1"}, name="m").build(Bad)
    with pytest.raises(TypeError, match="not a dataclass"):
        config_keys(int)
