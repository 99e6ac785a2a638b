"""The golden store in tests/data/golden-store/: rebuildable, and right per an independent reader.

The data is written by ``tests/golden/build_golden.py`` (struct-packed from the spec's
layouts). These tests check that the builder reproduces the checked-in bytes exactly,
and cross-check those bytes with ``rmq_protocol``'s record decoder and hash helpers,
which were written separately from the builder. They do not use ``rmq_store``.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import struct
import sys
import zlib
from pathlib import Path
from types import ModuleType
from typing import Final

import pytest

from rmq_protocol.codec import fastjson
from rmq_protocol.codec.hashing import index_key_hash, java_string_hash, tags_code
from rmq_protocol.codec.message import MessageExt, decode_message
from rmq_protocol.errors import RemoteProtocolError

TESTS: Final = Path(__file__).resolve().parent
GOLDEN: Final = TESTS / "data" / "golden-store"
BUILDER: Final = TESTS / "golden" / "build_golden.py"
VARIANTS: Final = ("clean", "torn")

_CQ_UNIT: Final = struct.Struct(">qiq")
_BLANK: Final = struct.Struct(">iI")
_INDEX_HEADER: Final = struct.Struct(">qqqqii")
_INDEX_ENTRY: Final = struct.Struct(">iqii")
_CHECKPOINT: Final = struct.Struct(">qqqqq")
BLANK_MAGIC: Final = 0xCBD43194
MAGIC_V1: Final = 0xDAA320A7

# Spec §9 V4 (commit-log record) and V5 (its consume-queue unit).
V4_HEX: Final = "".join(
    (
        "000000a7 daa320a7 77d18982 00000000 00000000 0000000000000000 0000000000000000",
        "00000000 0000018bcfe56800 7f000001 0000c350 0000018bcfe5687b 7f000001 00002a9f",
        "00000000 0000000000000000 00000005 48656c6c6f 09 546f70696354657374 003e",
        "5441475301546167410257414954017472756502554e49515f4b455901374630303030303130443041",
        "303030303030303030303030303030303030303102",
    )
).replace(" ", "")
V5_HEX: Final = "0000000000000000000000a7000000000027a807"


def _load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rmq_store_golden_builder", BUILDER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def _expected() -> dict[str, object]:
    data = json.loads((GOLDEN / "expected.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _store_config() -> dict[str, int]:
    data = json.loads((GOLDEN / "store.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return {str(k): int(v) for k, v in data.items()}


EXPECTED: Final = _expected()
STORE: Final = _store_config()
SEGMENT_SIZE: Final = STORE["mappedFileSizeCommitLog"]
CQ_FILE_SIZE: Final = STORE["mappedFileSizeConsumeQueue"]
SLOTS: Final = STORE["maxHashSlotNum"]
INDEX_NUM: Final = STORE["maxIndexNum"]


def _dict(value: object) -> dict[str, object]:
    assert isinstance(value, dict)
    return value


def _int(value: object) -> int:
    assert isinstance(value, int)
    return value


def _str(value: object) -> str:
    assert isinstance(value, str)
    return value


def _messages() -> list[dict[str, object]]:
    value = EXPECTED["messages"]
    assert isinstance(value, list)
    return [_dict(m) for m in value]


MESSAGES: Final = _messages()
COMMIT_LOG: Final = _dict(EXPECTED["commitLog"])
MAX_OFFSET: Final = _int(COMMIT_LOG["maxOffset"])


def _segment_names() -> list[str]:
    value = COMMIT_LOG["segments"]
    assert isinstance(value, list)
    return [_str(v) for v in value]


SEGMENTS: Final = _segment_names()


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _segment(variant: str, offset: int) -> tuple[bytes, int]:
    """The segment holding global ``offset``, and the position inside it."""
    name = SEGMENTS[offset // SEGMENT_SIZE]
    return (GOLDEN / variant / "commitlog" / name).read_bytes(), offset % SEGMENT_SIZE


# --- (1) the builder is deterministic and the checked-in data is current ---------------------


def test_builder_rebuilds_checked_in_bytes(tmp_path: Path) -> None:
    _load_builder().build(tmp_path)
    rebuilt, checked_in = _files(tmp_path), _files(GOLDEN)
    assert sorted(rebuilt) == sorted(checked_in)
    stale = [name for name in rebuilt if rebuilt[name] != checked_in[name]]
    assert stale == [], "rerun: python packages/rmq-store/tests/golden/build_golden.py"


def test_builder_twice_is_identical(tmp_path: Path) -> None:
    builder = _load_builder()
    builder.build(tmp_path / "a")
    builder.build(tmp_path / "b")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


def test_builder_does_not_use_the_code_under_test() -> None:
    source = BUILDER.read_text(encoding="utf-8")
    assert re.search(r"^\s*(from|import)\s+rmq_", source, re.MULTILINE) is None


# --- (2) layout of the directories ----------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_directory_layout(variant: str) -> None:
    root = GOLDEN / variant
    names = set(_files(root))
    index_name = _str(_dict(EXPECTED["index"])["fileName"])
    expected = {f"commitlog/{n}" for n in SEGMENTS}
    expected |= {f"consumequeue/{q}/{'0' * 20}" for q in _dict(EXPECTED["queues"])}
    expected |= {f"index/{index_name}", "checkpoint", "lock"}
    expected |= {f"config/{n}" for n in ("topics.json", "consumerOffset.json")}
    expected |= {"config/subscriptionGroup.json"}
    if variant == "torn":
        expected.add("abort")
    assert names == expected
    assert (root / "lock").read_bytes() == b""
    for i, name in enumerate(SEGMENTS):
        assert name == f"{i * SEGMENT_SIZE:020d}"
        assert (root / "commitlog" / name).stat().st_size == SEGMENT_SIZE
    assert 2 <= len(SEGMENTS) <= 3
    assert index_name == "20231114221320123"  # first store timestamp 1700000000123, UTC


def test_torn_differs_from_clean_only_by_abort_and_the_partial_record() -> None:
    clean, torn = _files(GOLDEN / "clean"), _files(GOLDEN / "torn")
    assert torn.pop("abort") == b""
    last = f"commitlog/{SEGMENTS[-1]}"
    assert {n for n in clean if clean[n] != torn[n]} == {last}
    info = _dict(EXPECTED["torn"])
    start = _int(info["physicalOffset"]) % SEGMENT_SIZE
    written = _int(info["writtenBytes"])
    full = _int(info["fullRecordSize"])
    assert _int(info["physicalOffset"]) == MAX_OFFSET
    assert written == full * 40 // 100
    assert start + full + 8 <= SEGMENT_SIZE  # the whole record would have fit here
    a, b = clean[last], torn[last]
    assert a[:start] == b[:start]
    assert a[start:] == bytes(SEGMENT_SIZE - start)
    assert b[start + written :] == bytes(SEGMENT_SIZE - start - written)
    size, magic = struct.unpack_from(">iI", b, start)
    assert (size, magic) == (full, MAGIC_V1)
    with pytest.raises(RemoteProtocolError):
        decode_message(b, start, check_crc=True)


# --- (2) commit log records, read with rmq_protocol's decoder --------------------------------


def test_first_record_is_spec_vector_v4() -> None:
    data, _ = _segment("clean", 0)
    assert data[:167] == bytes.fromhex(V4_HEX)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("index", range(len(MESSAGES)))
def test_record_decodes_to_expected_fields(variant: str, index: int) -> None:
    m = MESSAGES[index]
    offset = _int(m["physicalOffset"])
    data, pos = _segment(variant, offset)
    raw, end = decode_message(data, pos, decompress=False, check_crc=True)
    assert end - pos == m["storeSize"] == raw.store_size
    assert pos + raw.store_size + 8 <= SEGMENT_SIZE or pos + raw.store_size == SEGMENT_SIZE
    stored_body = base64.b64decode(_str(m["bodyBase64"]))
    text = base64.b64decode(_str(m["bodyTextBase64"]))
    assert raw.magic == MAGIC_V1
    assert raw.body_crc == m["bodyCrc"] == zlib.crc32(stored_body) & 0x7FFFFFFF
    got = {
        "topic": raw.topic,
        "queueId": raw.queue_id,
        "queueOffset": raw.queue_offset,
        "physicalOffset": raw.commit_log_offset,
        "sysFlag": raw.sys_flag,
        "flag": raw.flag,
        "bornTimestamp": raw.born_timestamp,
        "bornHost": str(raw.born_host),
        "storeTimestamp": raw.store_timestamp,
        "storeHost": str(raw.store_host),
        "reconsumeTimes": raw.reconsume_times,
        "preparedTransactionOffset": raw.prepared_transaction_offset,
        "properties": dict(raw.properties),
        "offsetMsgId": raw.offset_msg_id,
        "uniqKey": raw.msg_id,
    }
    assert got == {k: m[k] for k in got}
    assert raw.body == stored_body
    inflated, _ = decode_message(data, pos, decompress=True)
    assert inflated.body == text
    if raw.sys_flag & 0x1:
        assert stored_body == zlib.compress(text, 5)
        assert inflated.sys_flag == raw.sys_flag & ~0x1
    else:
        assert stored_body == text


@pytest.mark.parametrize("variant", VARIANTS)
def test_scan_finds_exactly_the_expected_records_and_blank_markers(variant: str) -> None:
    """Walk the commit log the way recovery does: records, blank markers, then zeros."""
    offsets: list[int] = []
    blanks: list[dict[str, int]] = []
    offset = 0
    while offset < MAX_OFFSET:
        data, pos = _segment(variant, offset)
        size, magic = _BLANK.unpack_from(data, pos)
        if magic == BLANK_MAGIC:
            assert size == SEGMENT_SIZE - pos
            assert data[pos + 8 :] == bytes(size - 8)
            blanks.append({"offset": offset, "remaining": size})
            offset += size
            continue
        assert magic == MAGIC_V1
        message, end = decode_message(data, pos, check_crc=True)
        assert message.commit_log_offset == offset
        offsets.append(offset)
        offset += end - pos
    assert offset == MAX_OFFSET
    assert offsets == [m["physicalOffset"] for m in MESSAGES]
    assert blanks == COMMIT_LOG["blankMarkers"]
    assert blanks  # at least one segment ended with the blank marker
    if variant == "clean":
        data, pos = _segment(variant, MAX_OFFSET)
        assert data[pos:] == bytes(SEGMENT_SIZE - pos)


def test_content_covers_the_required_cases() -> None:
    flags = [_int(m["sysFlag"]) for m in MESSAGES]
    props = [_dict(m["properties"]) for m in MESSAGES]
    assert 50 <= len(MESSAGES) <= 70
    assert {(m["topic"], m["queueId"]) for m in MESSAGES} == {
        ("TopicTest", 0),
        ("TopicTest", 1),
        ("TopicB", 0),
    }
    assert 0x301 in flags  # zlib-compressed
    assert any(f & 0x10 for f in flags)  # IPv6 born host
    assert any(f & 0x20 for f in flags)  # IPv6 store host
    assert any(
        f & 0xC == 0x8 and _int(m["preparedTransactionOffset"]) > 0
        for f, m in zip(flags, MESSAGES, strict=True)
    )
    assert any(_int(m["reconsumeTimes"]) > 0 for m in MESSAGES)
    assert any("TAGS" not in p for p in props)
    assert len({p["TAGS"] for p in props if "TAGS" in p}) >= 3
    assert any(len(_str(p.get("KEYS", "")).split(" ")) == 2 for p in props)
    assert all(p.get("WAIT") == "true" for p in props)
    assert all(re.fullmatch("[0-9A-F]{32}", _str(p["UNIQ_KEY"])) for p in props)
    assert len({p["UNIQ_KEY"] for p in props}) == len(props)
    assert any(not _str(v).isascii() for p in props for v in p.values())
    for m in MESSAGES[1:]:  # message 0 is V4, whose body is "Hello"
        if not _int(m["sysFlag"]) & 0x1:
            assert 500 <= len(base64.b64decode(_str(m["bodyBase64"]))) <= 3000


# --- (2) consume queues ---------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_consume_queue_units(variant: str) -> None:
    queues = _dict(EXPECTED["queues"])
    for name, info_value in queues.items():
        info = _dict(info_value)
        topic, queue_id = name.split("/")
        data = (GOLDEN / variant / "consumequeue" / topic / queue_id / ("0" * 20)).read_bytes()
        assert len(data) == CQ_FILE_SIZE
        members = [m for m in MESSAGES if m["topic"] == topic and m["queueId"] == int(queue_id)]
        assert [m["queueOffset"] for m in members] == list(range(len(members)))
        assert (info["minOffset"], info["maxOffset"]) == (0, len(members))
        for m in members:
            tags = _dict(m["properties"]).get("TAGS")
            code = tags_code(None if tags is None else _str(tags))
            assert code == m["tagsCode"]
            unit = _CQ_UNIT.unpack_from(data, _int(m["queueOffset"]) * 20)
            assert unit == (m["physicalOffset"], m["storeSize"], code)
        used = len(members) * 20
        assert data[used:] == bytes(CQ_FILE_SIZE - used)


def test_spec_vectors_v5_and_tags_codes() -> None:
    data = (GOLDEN / "clean" / "consumequeue" / "TopicTest" / "0" / ("0" * 20)).read_bytes()
    assert data[:20] == bytes.fromhex(V5_HEX)
    assert tags_code("TagA") == 2598919
    assert tags_code("TagB") == 2598920
    untagged = [m for m in MESSAGES if "TAGS" not in _dict(m["properties"])]
    assert untagged
    assert all(m["tagsCode"] == 0 for m in untagged)


# --- (2) index file -------------------------------------------------------------------------


def _index_keys(m: dict[str, object]) -> list[str]:
    props = _dict(m["properties"])
    keys = [_str(props["UNIQ_KEY"])]
    keys += [k for k in _str(props.get("KEYS", "")).split(" ") if k]
    return [f"{m['topic']}#{k}" for k in keys]


@pytest.mark.parametrize("variant", VARIANTS)
def test_index_file(variant: str) -> None:
    info = _dict(EXPECTED["index"])
    data = (GOLDEN / variant / "index" / _str(info["fileName"])).read_bytes()
    entries_at = 40 + SLOTS * 4
    assert len(data) == entries_at + INDEX_NUM * 20

    # Recompute what IndexService would have written, from the decoded facts.
    wanted: list[tuple[int, int, int, int]] = []
    newest: dict[int, int] = {}
    begin_ts = _int(MESSAGES[0]["storeTimestamp"])
    for m in MESSAGES:
        assert _index_keys(m) == m["indexKeys"]
        for key in _index_keys(m):
            key_hash = index_key_hash(key)
            slot = key_hash % SLOTS
            time_diff = (_int(m["storeTimestamp"]) - begin_ts) // 1000
            wanted.append((key_hash, _int(m["physicalOffset"]), time_diff, newest.get(slot, 0)))
            newest[slot] = len(wanted)
    count = len(wanted) + 1
    header = _INDEX_HEADER.unpack_from(data, 0)
    assert header == (
        begin_ts,
        MESSAGES[-1]["storeTimestamp"],
        0,
        MESSAGES[-1]["physicalOffset"],
        len(newest),
        count,
    )
    assert header == tuple(
        info[k]
        for k in (
            "beginTimestamp",
            "endTimestamp",
            "beginPhyOffset",
            "endPhyOffset",
            "hashSlotCount",
            "indexCount",
        )
    )
    slots = struct.unpack_from(f">{SLOTS}i", data, 40)
    assert {s: v for s, v in enumerate(slots) if v} == newest
    got = [_INDEX_ENTRY.unpack_from(data, entries_at + k * 20) for k in range(1, count)]
    assert got == wanted
    assert data[entries_at : entries_at + 20] == bytes(20)  # entry 0 unused
    assert data[entries_at + count * 20 :] == bytes((INDEX_NUM - count) * 20)


def test_index_lookup_by_key_walks_the_chain() -> None:
    """Spec V9: ``TopicTest#KEY1`` hashes to 1656969516; the chain from its slot finds it."""
    info = _dict(EXPECTED["index"])
    data = (GOLDEN / "clean" / "index" / _str(info["fileName"])).read_bytes()
    assert java_string_hash("TopicTest#KEY1") == -1656969516
    key_hash = index_key_hash("TopicTest#KEY1")
    assert key_hash == 1656969516
    (number,) = struct.unpack_from(">i", data, 40 + (key_hash % SLOTS) * 4)
    found: list[int] = []
    while number:
        h, phy, _, number = _INDEX_ENTRY.unpack_from(data, 40 + SLOTS * 4 + number * 20)
        if h == key_hash:
            found.append(phy)
    holders = [m["physicalOffset"] for m in MESSAGES if "TopicTest#KEY1" in _index_keys(m)]
    assert found == holders[::-1]
    assert found


# --- (2) checkpoint and metadata ------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_checkpoint(variant: str) -> None:
    data = (GOLDEN / variant / "checkpoint").read_bytes()
    assert len(data) == 4096
    last_ts = MESSAGES[-1]["storeTimestamp"]
    assert _CHECKPOINT.unpack_from(data, 0) == (last_ts, last_ts, last_ts, 0, MAX_OFFSET)
    assert data[40:] == bytes(4096 - 40)
    cp = _dict(EXPECTED["checkpoint"])
    assert _CHECKPOINT.unpack_from(data, 0) == (
        cp["physicMsgTimestamp"],
        cp["logicsMsgTimestamp"],
        cp["indexMsgTimestamp"],
        cp["masterFlushedOffset"],
        cp["confirmPhyOffset"],
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_config_json_is_fastjson_pretty(variant: str) -> None:
    config = GOLDEN / variant / "config"
    offsets_text = (config / "consumerOffset.json").read_text(encoding="utf-8")
    assert '\t\t"TopicTest@golden_consumer_group":{0:12,1:3\n\t\t}' in offsets_text
    assert not offsets_text.endswith("\n")
    offsets = _dict(fastjson.loads(offsets_text))
    table = _dict(offsets["offsetTable"])
    assert table == EXPECTED["consumerOffsets"]
    maxima = {name: _int(_dict(q)["maxOffset"]) for name, q in _dict(EXPECTED["queues"]).items()}
    for topic_group, queues in table.items():
        topic = topic_group.split("@")[0]
        for queue_id, offset in _dict(queues).items():
            assert 0 <= _int(offset) <= maxima[f"{topic}/{queue_id}"]

    topics = _dict(fastjson.loads((config / "topics.json").read_bytes()))
    table = _dict(topics["topicConfigTable"])
    assert {name: _dict(t)["readQueueNums"] for name, t in table.items()} == {
        "TopicTest": 2,
        "TopicB": 1,
    }
    for name, t in table.items():
        t = _dict(t)
        assert (t["topicName"], t["perm"], t["topicFilterType"]) == (name, 6, "SINGLE_TAG")
        assert t["writeQueueNums"] == t["readQueueNums"]
    assert set(_dict(topics["dataVersion"])) == {"counter", "stateVersion", "timestamp"}

    groups = _dict(fastjson.loads((config / "subscriptionGroup.json").read_bytes()))
    group = _dict(_dict(groups["subscriptionGroupTable"])["golden_consumer_group"])
    assert group["groupName"] == "golden_consumer_group"
    assert group["retryMaxTimes"] == 16

    for path in config.iterdir():
        text = path.read_text(encoding="utf-8")
        assert text.startswith("{\n\t")
        assert not re.search(r"^ ", text, re.MULTILINE)  # tabs only
        assert ": " not in text.replace('": "', "")  # fastjson writes no space after ':'


def test_decoded_messages_round_trip_offset_ids() -> None:
    ipv6 = [m for m in MESSAGES if _int(m["sysFlag"]) & 0x20]
    assert ipv6
    for m in ipv6:
        assert len(_str(m["offsetMsgId"])) == 56
    for m in MESSAGES:
        if m not in ipv6:
            assert _str(m["offsetMsgId"]) == (
                "7F0000010000" + "2A9F" + f"{_int(m['physicalOffset']):016X}"
            )
    v4, _ = decode_message(bytes.fromhex(V4_HEX))
    assert v4.offset_msg_id == "7F00000100002A9F0000000000000000"
    assert isinstance(v4, MessageExt)
