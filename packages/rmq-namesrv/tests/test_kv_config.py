"""KVConfigManager: Java's kvConfig.json format, read tolerantly, written atomically."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmq_namesrv import KVConfigFileError, KVConfigManager
from rmq_namesrv.kv_config import write_atomically


def test_file_format_is_javas(tmp_path: Path) -> None:
    kv = KVConfigManager()
    assert kv.put("ORDER_TOPIC_CONFIG", "TopicA", "broker-a:4") is None
    assert kv.put("ORDER_TOPIC_CONFIG", "TopicA", "broker-a:8") == "broker-a:4"
    kv.put("other", "k", "v")
    assert kv.to_json() == (
        b'{"configTable":{"ORDER_TOPIC_CONFIG":{"TopicA":"broker-a:8"},"other":{"k":"v"}}}'
    )
    path = tmp_path / "namesrv" / "kvConfig.json"
    write_atomically(path, kv.to_json())
    assert KVConfigManager.load(path).namespaces() == kv.namespaces()
    assert not path.with_name("kvConfig.json.tmp").exists()


def test_delete_keeps_the_namespace(tmp_path: Path) -> None:
    kv = KVConfigManager({"ns": {"k": "v"}})
    assert kv.delete("ns", "k") == "v"
    assert kv.delete("ns", "k") is None
    assert kv.delete("nope", "k") is None
    table = kv.get_kv_list_by_namespace("ns")
    assert table is not None
    assert table.table == {}
    assert kv.get_kv_list_by_namespace("nope") is None


def test_missing_file_is_empty(tmp_path: Path) -> None:
    assert KVConfigManager.load(tmp_path / "absent.json").namespaces() == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # fastjson forms: single quotes, unquoted keys, pretty printing, non-string scalars
        ("{'configTable':{'ns':{'k':'v'}}}", {"ns": {"k": "v"}}),
        ('{\n\t"configTable":{\n\t\tns:{\n\t\t\tk:1\n\t\t}\n\t}\n}', {"ns": {"k": "1"}}),
        ('{"configTable":{"ns":{"b":true}}}', {"ns": {"b": "true"}}),
        ("{}", {}),
    ],
)
def test_tolerant_reading(tmp_path: Path, text: str, expected: dict[str, dict[str, str]]) -> None:
    path = tmp_path / "kvConfig.json"
    path.write_text(text)
    assert KVConfigManager.load(path).namespaces() == expected


@pytest.mark.parametrize(
    "text", ["not json", "[1,2]", '{"configTable":[1]}', '{"configTable":{"ns":{"k":[1]}}}']
)
def test_corrupt_file_is_an_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "kvConfig.json"
    path.write_text(text)
    with pytest.raises(KVConfigFileError, match=str(path)):
        KVConfigManager.load(path)
