"""The read-only store tools: ``inspect`` / ``verify`` (rmq_store.tools and the CLI).

Every test works on a copy of the golden store (or a store written here) in ``tmp_path``;
the checked-in data is never opened by the code under test.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final

import pytest

from rmq_protocol.codec.hashing import tags_code
from rmq_protocol.codec.message import HostPort, MessageExt, encode_message
from rmq_store.commitlog import CommitLog, PreparedRecord
from rmq_store.consume_queue import ConsumeQueue
from rmq_store.errors import StoreError
from rmq_store.tools import NotAStoreError, Problem, inspect_store, verify_store

TESTS: Final = Path(__file__).resolve().parent
GOLDEN: Final = TESTS / "data" / "golden-store"
EXPECTED: Final = json.loads((GOLDEN / "expected.json").read_text(encoding="utf-8"))
STORE: Final = json.loads((GOLDEN / "store.json").read_text(encoding="utf-8"))
SEGMENT: Final[int] = STORE["mappedFileSizeCommitLog"]
MESSAGES: Final[list[dict[str, object]]] = EXPECTED["messages"]
MAX_OFFSET: Final[int] = EXPECTED["commitLog"]["maxOffset"]
BLANK_AT: Final[int] = EXPECTED["commitLog"]["blankMarkers"][0]["offset"]
SEG0: Final = "commitlog/00000000000000000000"
SEG1: Final = f"commitlog/{SEGMENT:020d}"
CQ_FILE: Final = "0" * 20


def _int(value: object) -> int:
    assert isinstance(value, int)
    return value


def _copy(variant: str, tmp_path: Path) -> Path:
    root = tmp_path / variant
    shutil.copytree(GOLDEN / variant, root)
    return root


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    return _copy("clean", tmp_path)


@pytest.fixture
def torn(tmp_path: Path) -> Path:
    return _copy("torn", tmp_path)


def _patch(path: Path, position: int, data: bytes) -> None:
    with path.open("r+b") as f:
        f.seek(position)
        f.write(data)


def _cq(root: Path, topic: str, queue_id: int) -> Path:
    return root / "consumequeue" / topic / str(queue_id) / CQ_FILE


def _message(topic: str, queue_id: int, queue_offset: int) -> dict[str, object]:
    return next(
        m
        for m in MESSAGES
        if (m["topic"], m["queueId"], m["queueOffset"]) == (topic, queue_id, queue_offset)
    )


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "rmq_store", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=cwd,
    )


# --- inspect ----------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["clean", "torn"])
def test_inspect_matches_expected_json(tmp_path: Path, variant: str) -> None:
    root = _copy(variant, tmp_path)
    report = inspect_store(root)
    cl = report.commit_log
    assert cl.segments == tuple(EXPECTED["commitLog"]["segments"])
    assert cl.segment_size == SEGMENT  # inferred from the files: no flag given
    assert (cl.min_offset, cl.max_offset, cl.records) == (0, MAX_OFFSET, len(MESSAGES))
    assert cl.torn_tail_bytes == (EXPECTED["torn"]["writtenBytes"] if variant == "torn" else 0)
    queues = {f"{q.topic}/{q.queue_id}": q for q in report.queues}
    assert sorted(queues) == sorted(EXPECTED["queues"])
    for name, want in EXPECTED["queues"].items():
        q = queues[name]
        assert (q.min_offset, q.max_offset) == (want["minOffset"], want["maxOffset"])
        assert q.message_count == want["maxOffset"] - want["minOffset"]
        assert q.files == (want["fileName"],)
        assert q.file_size == STORE["mappedFileSizeConsumeQueue"]
    assert [t.topic for t in report.topics] == ["TopicB", "TopicTest"]
    assert [t.message_count for t in report.topics] == [20, 40]
    assert report.abort is (variant == "torn")
    assert report.checkpoint is not None
    assert report.checkpoint.size == 4096
    assert report.checkpoint.to_json() == {"size": 4096, **EXPECTED["checkpoint"]}
    (index,) = report.index_files
    want_index = EXPECTED["index"]
    assert index.name == want_index["fileName"]
    assert index.entries == want_index["indexCount"] - 1
    assert (index.begin_timestamp, index.end_timestamp) == (
        want_index["beginTimestamp"],
        want_index["endTimestamp"],
    )
    assert (index.begin_phy_offset, index.end_phy_offset) == (
        want_index["beginPhyOffset"],
        want_index["endPhyOffset"],
    )
    # The defaults (5000000 slots, 20000000 entries) do not fit: inferred from the entries.
    assert (index.max_hash_slot_num, index.max_index_num) == (
        STORE["maxHashSlotNum"],
        STORE["maxIndexNum"],
    )
    assert index.geometry == "inferred"
    assert index.note is not None
    assert "420000040" in index.note


@pytest.mark.parametrize(
    ("slots", "entries", "geometry"),
    [
        (64, 256, "configured"),
        (64, None, "inferred"),
        (None, 256, "inferred"),
        (63, 999, "unknown"),
    ],
)
def test_index_geometry_from_options(
    clean: Path, slots: int | None, entries: int | None, geometry: str
) -> None:
    (index,) = inspect_store(clean, max_hash_slot_num=slots, max_index_num=entries).index_files
    assert index.geometry == geometry
    if geometry == "unknown":
        assert (index.max_hash_slot_num, index.max_index_num) == (None, None)
        assert index.note is not None
        assert "--max-hash-slot-num" in index.note
    else:
        assert (index.max_hash_slot_num, index.max_index_num) == (64, 256)
        assert (index.note is None) is (geometry == "configured")
    assert index.entries == 105  # the header is read whatever the geometry


def test_inspect_4x_checkpoint_and_missing_files(clean: Path) -> None:
    _patch(clean / "checkpoint", 24, bytes(16))  # 4.x: only the three timestamps
    (clean / "index" / EXPECTED["index"]["fileName"]).unlink()
    report = inspect_store(clean)
    assert report.checkpoint is not None
    assert (report.checkpoint.master_flushed_offset, report.checkpoint.confirm_phy_offset) == (0, 0)
    assert report.index_files == ()
    (clean / "checkpoint").unlink()
    assert inspect_store(clean).checkpoint is None


def test_inspect_refuses_segments_of_different_sizes(clean: Path) -> None:
    os.truncate(clean / SEG1, SEGMENT // 2)
    with pytest.raises(StoreError, match="32768 bytes, but 00000000000000000000 is 65536"):
        inspect_store(clean)


def test_missing_or_foreign_directory_is_not_a_store(tmp_path: Path) -> None:
    for fn in (inspect_store, verify_store):
        with pytest.raises(NotAStoreError, match="no such directory"):
            fn(tmp_path / "nope")
        with pytest.raises(NotAStoreError, match="not a store directory"):
            fn(tmp_path)


# --- verify: the golden store -------------------------------------------------------------------


def test_verify_clean_store_passes(clean: Path) -> None:
    report = verify_store(clean)
    assert report.ok
    assert report.first_problem is None
    assert (report.segments, report.records) == (2, len(MESSAGES))
    assert (report.commit_log_min_offset, report.commit_log_max_offset) == (0, MAX_OFFSET)
    assert (report.queues, report.units_checked, report.units_expired) == (3, len(MESSAGES), 0)


def test_verify_torn_store_fails_at_the_torn_tail(torn: Path) -> None:
    report = verify_store(torn)
    assert not report.ok
    problem = report.first_problem
    assert problem is not None
    assert problem.path == torn / SEG1
    assert (problem.position, problem.offset) == (MAX_OFFSET - SEGMENT, MAX_OFFSET)
    assert EXPECTED["torn"]["physicalOffset"] == MAX_OFFSET
    assert "invalid record after the last valid one" in problem.reason
    assert "TOTALSIZE 1438" in problem.reason
    assert report.records == len(MESSAGES)


# --- verify: corruptions, each found at its exact place -------------------------------------


def _flip_body_byte(index: int) -> Callable[[Path], tuple[str, int, int, str]]:
    def corrupt(root: Path) -> tuple[str, int, int, str]:
        m = MESSAGES[index]
        assert m["sysFlag"] == 0  # IPv4 hosts: the body starts at byte 88
        phy = _int(m["physicalOffset"])
        segment, position = (SEG0, phy) if phy < SEGMENT else (SEG1, phy - SEGMENT)
        byte = (root / segment).read_bytes()[position + 100]
        _patch(root / segment, position + 100, bytes([byte ^ 0x20]))
        return segment, position, phy, "BODYCRC"

    return corrupt


def _cq_unit_size(root: Path) -> tuple[str, int, int, str]:
    m = _message("TopicB", 0, 5)
    _patch(_cq(root, "TopicB", 0), 5 * 20 + 8, struct.pack(">i", _int(m["storeSize"]) + 1))
    return f"consumequeue/TopicB/0/{CQ_FILE}", 100, 100, f"the record there is {m['storeSize']}"


def _cq_past_end(root: Path) -> tuple[str, int, int, str]:
    _patch(_cq(root, "TopicTest", 1), 3 * 20, struct.pack(">q", MAX_OFFSET + 1000))
    return (
        f"consumequeue/TopicTest/1/{CQ_FILE}",
        60,
        60,
        f"past the end of the commit-log data ({MAX_OFFSET})",
    )


def _cq_into_a_record(root: Path) -> tuple[str, int, int, str]:
    m = _message("TopicTest", 0, 4)
    _patch(_cq(root, "TopicTest", 0), 4 * 20, struct.pack(">q", _int(m["physicalOffset"]) + 4))
    return f"consumequeue/TopicTest/0/{CQ_FILE}", 80, 80, "no record: unknown magic code"


def _cq_tags(root: Path) -> tuple[str, int, int, str]:
    _patch(_cq(root, "TopicTest", 0), 2 * 20 + 12, struct.pack(">q", 12345))
    return f"consumequeue/TopicTest/0/{CQ_FILE}", 40, 40, "tagsCode 12345, but its TAGS 'TagC'"


def _cq_other_topic(root: Path) -> tuple[str, int, int, str]:
    unit = _cq(root, "TopicB", 0).read_bytes()[:20]
    _patch(_cq(root, "TopicTest", 1), 7 * 20, unit)
    return f"consumequeue/TopicTest/1/{CQ_FILE}", 140, 140, "a record of topic 'TopicB'"


def _cq_swapped(root: Path) -> tuple[str, int, int, str]:
    data = _cq(root, "TopicTest", 0).read_bytes()
    _patch(_cq(root, "TopicTest", 0), 0, data[20:40] + data[:20])
    return f"consumequeue/TopicTest/0/{CQ_FILE}", 0, 0, "TopicTest/0 at queue offset 1"


def _cq_later_file_after_a_short_one(root: Path) -> tuple[str, int, int, str]:
    later = _cq(root, "TopicB", 0).with_name(f"{2560:020d}")
    later.write_bytes(_cq(root, "TopicB", 0).read_bytes())
    return f"consumequeue/TopicB/0/{CQ_FILE}", 400, 400, f"later file {2560:020d} exists"


def _segment_gap(root: Path) -> tuple[str, int, int, str]:
    (root / SEG1).rename(root / f"commitlog/{2 * SEGMENT:020d}")
    return f"commitlog/{2 * SEGMENT:020d}", 0, 2 * SEGMENT, "not contiguous"


def _blank_marker_zeroed(root: Path) -> tuple[str, int, int, str]:
    _patch(root / SEG0, BLANK_AT, bytes(8))
    return (
        SEG0,
        BLANK_AT,
        BLANK_AT,
        "ends here without an end-of-file marker; recovery would delete the 1",
    )


def _blank_marker_wrong(root: Path) -> tuple[str, int, int, str]:
    _patch(root / SEG0, BLANK_AT, struct.pack(">i", SEGMENT - BLANK_AT - 1))
    return (
        SEG0,
        BLANK_AT,
        BLANK_AT,
        "end-of-file marker says 499 bytes remain in the segment, but 500",
    )


def _junk_after_the_end(root: Path) -> tuple[str, int, int, str]:
    _patch(root / SEG1, 60000, b"\x07")
    return (
        SEG1,
        60000,
        SEGMENT + 60000,
        f"non-zero byte after the end of the data at offset {MAX_OFFSET}",
    )


def _physical_offset_field(root: Path) -> tuple[str, int, int, str]:
    phy = _int(MESSAGES[4]["physicalOffset"])
    _patch(root / SEG0, phy + 28, struct.pack(">q", phy + 1))  # not covered by BODYCRC
    return SEG0, phy, phy, f"PHYSICALOFFSET field is {phy + 1}"


def _properties_cut(root: Path) -> tuple[str, int, int, str]:
    m = MESSAGES[2]
    phy, size = _int(m["physicalOffset"]), _int(m["storeSize"])
    _patch(root / SEG0, phy + size - 1, b"\0")  # the final 0x02 separator
    return SEG0, phy, phy, "do not end with the 0x02 separator"


def _segment_sizes_differ(root: Path) -> tuple[str, int, int, str]:
    os.truncate(root / SEG1, SEGMENT // 2)
    return SEG1, 0, SEGMENT, "is 32768 bytes, but 00000000000000000000 is 65536"


def _last_segment_lost(root: Path) -> tuple[str, int, int, str]:
    (root / SEG1).unlink()
    m = next(m for m in MESSAGES if m["topic"] == "TopicB" and _int(m["physicalOffset"]) >= SEGMENT)
    q = _int(m["queueOffset"])
    return (
        f"consumequeue/TopicB/0/{CQ_FILE}",
        q * 20,
        q * 20,
        f"past the end of the commit-log data ({SEGMENT})",
    )


CORRUPTIONS: Final = {
    "flipped body byte, first segment": _flip_body_byte(3),
    "flipped body byte, last segment": _flip_body_byte(55),
    "cq unit with a wrong size": _cq_unit_size,
    "cq unit past the end": _cq_past_end,
    "cq unit inside a record": _cq_into_a_record,
    "cq unit with a wrong tagsCode": _cq_tags,
    "cq unit of another topic": _cq_other_topic,
    "cq units swapped": _cq_swapped,
    "cq file after a short one": _cq_later_file_after_a_short_one,
    "missing segment (gap)": _segment_gap,
    "end-of-file marker zeroed (gap)": _blank_marker_zeroed,
    "end-of-file marker wrong": _blank_marker_wrong,
    "junk after the end of the data": _junk_after_the_end,
    "PHYSICALOFFSET field": _physical_offset_field,
    "properties cut": _properties_cut,
    "segment sizes differ": _segment_sizes_differ,
    "last segment lost": _last_segment_lost,
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_verify_finds_the_corruption_where_it_is(clean: Path, name: str) -> None:
    file, position, offset, reason = CORRUPTIONS[name](clean)
    problem = verify_store(clean).first_problem
    assert problem is not None
    assert (problem.path, problem.position, problem.offset) == (clean / file, position, offset)
    assert reason in problem.reason


def test_verify_reports_the_first_of_several_problems(clean: Path) -> None:
    _cq_past_end(clean)  # TopicTest/1
    expected = _cq_unit_size(clean)  # TopicB/0 comes first (topics in name order)
    problem = verify_store(clean).first_problem
    assert problem is not None
    assert (problem.path, problem.position) == (clean / expected[0], expected[1])
    expected = _flip_body_byte(55)(clean)  # the commit log is checked before the queues
    problem = verify_store(clean).first_problem
    assert problem is not None
    assert (problem.path, problem.position) == (clean / expected[0], expected[1])


def test_units_below_the_commit_log_min_offset_are_expired_not_errors(clean: Path) -> None:
    (clean / SEG0).unlink()  # retention deleted the first segment; queues still point there
    report = verify_store(clean)
    assert report.ok, report.first_problem
    expired = [m for m in MESSAGES if _int(m["physicalOffset"]) < SEGMENT]
    assert report.units_expired == len(expired)
    assert report.units_checked == len(MESSAGES) - len(expired)
    assert (report.commit_log_min_offset, report.records) == (SEGMENT, len(MESSAGES) - len(expired))
    store = inspect_store(clean)
    assert store.commit_log.min_offset == SEGMENT
    for q in store.queues:
        first = min(
            _int(m["queueOffset"])
            for m in MESSAGES
            if (m["topic"], m["queueId"]) == (q.topic, q.queue_id)
            and _int(m["physicalOffset"]) >= SEGMENT
        )
        assert (q.min_offset, q.max_offset) == (first, 20)
        assert q.message_count == 20 - first


# --- CommitLog's read-only helpers agree with recovery ----------------------------------------


@pytest.mark.parametrize(
    "damage", [None, "torn", "blank marker zeroed", "flipped body byte", "junk after the end"]
)
def test_plan_recovery_is_what_recover_does(tmp_path: Path, damage: str | None) -> None:
    root = _copy("torn" if damage == "torn" else "clean", tmp_path)
    if damage == "blank marker zeroed":
        _blank_marker_zeroed(root)
    elif damage == "flipped body byte":
        _flip_body_byte(3)(root)
    elif damage == "junk after the end":
        _junk_after_the_end(root)
    directory = root / "commitlog"
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    log = CommitLog(directory, SEGMENT, max_record_size=SEGMENT - 8, read_only=True)
    plan = log.plan_recovery()
    log.close()
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before
    log = CommitLog(directory, SEGMENT, max_record_size=SEGMENT - 8)
    assert log.recover() == plan
    log.close()


def test_check_record_and_explain_invalid(torn: Path) -> None:
    log = CommitLog(torn / "commitlog", SEGMENT, max_record_size=SEGMENT - 8, read_only=True)
    try:
        for m in MESSAGES:
            assert log.check_record(_int(m["physicalOffset"])) == m["storeSize"]
        assert log.check_record(BLANK_AT) == 0
        assert log.is_segment_end(BLANK_AT)
        assert log.explain_invalid(BLANK_AT) == "an end-of-file marker, not a record"
        assert log.check_record(MAX_OFFSET) is None
        assert "TOTALSIZE 1438" in log.explain_invalid(MAX_OFFSET)
        assert log.check_record(MAX_OFFSET + 4096) == 0
        assert not log.is_segment_end(MAX_OFFSET + 4096)
        assert log.check_record(3 * SEGMENT) is None
        assert "outside the segments" in log.explain_invalid(3 * SEGMENT)
        assert "unknown magic code" in log.explain_invalid(1)
    finally:
        log.close()


# --- a store with other sizes, several files per queue, and RocketMQ's special units --------


def _build_store(root: Path) -> dict[str, int]:
    """Write a store with 4 KiB segments and 5-unit consume-queue files; returns counts."""
    log = CommitLog(root / "commitlog", 4096, max_record_size=4088)
    queues: dict[tuple[str, int], ConsumeQueue] = {}
    counts: dict[str, int] = {}

    def put(
        topic: str, queue_id: int, queue_offset: int, properties: dict[str, str]
    ) -> tuple[int, int]:
        message = MessageExt(
            topic=topic,
            queue_id=queue_id,
            body=b"x" * 300,
            born_timestamp=1_700_000_000_000,
            born_host=HostPort("127.0.0.1", 50000),
            store_host=HostPort("127.0.0.1", 10911),
            properties=properties,
        )
        data = encode_message(message)
        (result,) = log.append([PreparedRecord(data, queue_offset=queue_offset)], 1)
        return result.phy_offset, result.size

    def cq(topic: str, queue_id: int) -> ConsumeQueue:
        key = (topic, queue_id)
        if key not in queues:
            queues[key] = ConsumeQueue(root / "consumequeue", topic, queue_id, 100)
        return queues[key]

    for i in range(24):
        queue_id = i % 2
        tags = "TagA" if i % 3 else None
        props = {"UNIQ_KEY": f"{i:032X}"} | ({"TAGS": tags} if tags else {})
        if i == 5:  # also dispatched to a light message queue
            props |= {"INNER_MULTI_DISPATCH": "%LMQ%x", "INNER_MULTI_QUEUE_OFFSET": "0"}
        phy, size = put("T", queue_id, i // 2, properties=props)
        code = tags_code(tags)
        if i == 9:
            code = -2147483650  # a consumequeue_ext address
        assert cq("T", queue_id).put(i // 2, phy, size, code)
        if i == 5:
            assert cq("%LMQ%x", 0).put(0, phy, size, code)
    delay = {"TAGS": "TagD", "DELAY": "3", "REAL_TOPIC": "T", "REAL_QID": "0"}
    for i in range(3):
        phy, size = put("SCHEDULE_TOPIC_XXXX", 2, i, properties=delay)
        assert cq("SCHEDULE_TOPIC_XXXX", 2).put(i, phy, size, 1_700_000_010_000 + i)
    phy, size = put("Late", 0, 7, properties={"TAGS": "TagL"})
    assert cq("Late", 0).put(7, phy, size, tags_code("TagL"))  # blank units 5 and 6 first
    log.flush()
    counts["segments"] = len(log.segments)
    counts["records"] = 24 + 3 + 1
    counts["max_offset"] = log.max_offset
    log.close()
    for queue in queues.values():
        queue.flush()
        queue.close()
    return counts


def test_store_with_other_sizes_and_special_units(tmp_path: Path) -> None:
    counts = _build_store(tmp_path)
    assert counts["segments"] >= 3
    report = verify_store(tmp_path)
    assert report.ok, report.first_problem
    assert (report.segments, report.records) == (counts["segments"], counts["records"])
    assert report.commit_log_max_offset == counts["max_offset"]
    assert report.units_checked == 24 + 1 + 3 + 1
    store = inspect_store(tmp_path)
    assert store.commit_log.segment_size == 4096
    queues = {(q.topic, q.queue_id): q for q in store.queues}
    assert set(queues) == {
        ("%LMQ%x", 0),
        ("Late", 0),
        ("SCHEDULE_TOPIC_XXXX", 2),
        ("T", 0),
        ("T", 1),
    }
    assert queues[("T", 0)].file_size == 100
    assert queues[("T", 0)].files == tuple(f"{n * 100:020d}" for n in range(3))
    assert (queues[("T", 1)].min_offset, queues[("T", 1)].max_offset) == (0, 12)
    assert (queues[("Late", 0)].min_offset, queues[("Late", 0)].max_offset) == (7, 8)
    assert queues[("Late", 0)].files == (f"{100:020d}",)
    # A tagsCode in SCHEDULE_TOPIC_XXXX is a delivery time; anywhere else it must match.
    _patch(tmp_path / "consumequeue" / "T" / "0" / f"{0:020d}", 12, struct.pack(">q", 1))
    problem = verify_store(tmp_path).first_problem
    assert problem is not None
    assert "tagsCode 1, but its TAGS None give 0" in problem.reason
    # The light queue's unit must match the record's INNER_MULTI_QUEUE_OFFSET entry.
    lmq = tmp_path / "consumequeue" / "%LMQ%x" / "0" / f"{0:020d}"
    _patch(tmp_path / "consumequeue" / "T" / "0" / f"{0:020d}", 12, struct.pack(">q", 0))
    assert verify_store(tmp_path).ok
    blank = struct.pack(">qiq", 0, 0x7FFFFFFF, 0)
    _patch(lmq, 0, blank + lmq.read_bytes()[:20])  # the unit moves to queue offset 1
    problem = verify_store(tmp_path).first_problem
    assert problem is not None
    assert problem.path == lmq
    assert (problem.position, problem.offset) == (20, 20)
    assert "%LMQ%x/0 queue offset 1" in problem.reason
    assert "a record of queue T/0 at queue offset 0" in problem.reason


# --- the CLI ------------------------------------------------------------------------------------


def test_cli_inspect_text_and_json(clean: Path) -> None:
    text = _run("inspect", clean, cwd=clean.parent)
    assert text.returncode == 0, text.stderr
    assert f"max offset {MAX_OFFSET} (end of valid data), 60 records" in text.stdout
    assert "2 topics, 3 queues, 60 messages" in text.stdout
    assert "physicMsgTimestamp   1700000088538 (2023-11-14T22:14:48.538Z)" in text.stdout
    assert "abort: absent" in text.stdout
    assert "105 entries, 5416 bytes, 64 slots x 256 entries (inferred)" in text.stdout
    doc = json.loads(_run("inspect", "--json", clean, cwd=clean.parent).stdout)
    assert doc == inspect_store(clean).to_json()
    assert set(doc) == {"root", "abort", "checkpoint", "commitLog", "topics", "indexFiles"}
    assert doc["commitLog"] == {
        "segments": EXPECTED["commitLog"]["segments"],
        "segmentSize": SEGMENT,
        "minOffset": 0,
        "maxOffset": MAX_OFFSET,
        "records": 60,
        "tornTailBytes": 0,
    }
    queue = doc["topics"][0]["queues"][0]
    assert set(queue) == {"queueId", "minOffset", "maxOffset", "messageCount", "files", "fileSize"}
    assert doc["checkpoint"]["confirmPhyOffset"] == MAX_OFFSET
    flags = ("--max-hash-slot-num", "64", "--max-index-num", "256")
    doc = json.loads(_run("inspect", "--json", *flags, clean, cwd=clean.parent).stdout)
    assert doc["indexFiles"][0]["geometry"] == "configured"
    assert doc["indexFiles"][0]["entries"] == 105


def test_cli_verify_exit_codes_and_output(clean: Path, torn: Path, tmp_path: Path) -> None:
    ok = _run("verify", clean, cwd=tmp_path)
    assert (ok.returncode, ok.stderr) == (0, "")
    assert ok.stdout.startswith(f"verify OK: {clean}: 2 commit-log segments, 60 records")
    assert ok.stdout.count("\n") == 1
    bad = _run("verify", torn, cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stdout.startswith(
        f"verify FAILED: {torn / SEG1} position {MAX_OFFSET - SEGMENT} (offset {MAX_OFFSET}): "
        "invalid record after the last valid one"
    )
    doc = json.loads(_run("verify", "--json", torn, cwd=tmp_path).stdout)
    assert doc["ok"] is False
    assert doc["problem"] == {
        "path": str(torn / SEG1),
        "position": MAX_OFFSET - SEGMENT,
        "offset": MAX_OFFSET,
        "reason": doc["problem"]["reason"],
    }
    doc = json.loads(_run("verify", "--json", clean, cwd=tmp_path).stdout)
    assert doc == {
        "root": str(clean),
        "ok": True,
        "problem": None,
        "commitLog": {"segments": 2, "records": 60, "minOffset": 0, "maxOffset": MAX_OFFSET},
        "consumeQueues": {"queues": 3, "unitsChecked": 60, "unitsExpired": 0},
    }
    assert _run("inspect", torn, cwd=tmp_path).returncode == 0  # inspect still works


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ((), 2, "required: COMMAND"),
        (("verify",), 2, "required: STORE_DIR"),
        (("inspect", "--bogus", "."), 2, "unrecognized arguments"),
        (("inspect", "--max-index-num", "0", "."), 2, "not a positive integer"),
        (("verify", "missing"), 2, "no such directory"),
        (("inspect", "missing"), 2, "no such directory"),
        (("verify", "."), 2, "not a store directory"),
    ],
)
def test_cli_usage_errors(tmp_path: Path, args: tuple[str, ...], code: int, message: str) -> None:
    result = _run(*args, cwd=tmp_path)
    assert result.returncode == code
    assert message in result.stderr
    assert result.stdout == ""


def test_cli_inspect_unreadable_store_exits_1(clean: Path) -> None:
    _segment_gap(clean)
    result = _run("inspect", clean, cwd=clean.parent)
    assert result.returncode == 1
    assert "not contiguous" in result.stderr
    verify = _run("verify", clean, cwd=clean.parent)
    assert verify.returncode == 1
    assert f"{clean / 'commitlog' / f'{2 * SEGMENT:020d}'} position 0" in verify.stdout


# --- read-only ------------------------------------------------------------------------------------


def _snapshot(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every file's digest, mtime and mode, and every directory's mtime and mode."""
    state: dict[str, tuple[str, int, int]] = {}
    for path in sorted(root.rglob("*")):
        info = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        state[path.relative_to(root).as_posix()] = (digest, info.st_mtime_ns, info.st_mode)
    return state


@pytest.mark.parametrize("variant", ["clean", "torn", "corrupt"])
def test_tools_modify_nothing(tmp_path: Path, variant: str) -> None:
    root = _copy("clean" if variant == "corrupt" else variant, tmp_path)
    if variant == "corrupt":
        _cq_unit_size(root)
        _junk_after_the_end(root)
    before = _snapshot(root)
    inspect_store(root)
    inspect_store(root, max_hash_slot_num=64, max_index_num=256)
    verify_store(root)
    for args in (("inspect",), ("inspect", "--json"), ("verify",), ("verify", "--json")):
        assert _run(*args, root, cwd=tmp_path).returncode in (0, 1)
    assert _snapshot(root) == before


def test_tools_work_on_read_only_files(clean: Path) -> None:
    paths = sorted(clean.rglob("*"), reverse=True)  # files before their directories
    for path in paths:
        path.chmod(0o555 if path.is_dir() else 0o444)
    clean.chmod(0o555)
    try:
        assert verify_store(clean).ok
        assert inspect_store(clean).commit_log.records == 60
    finally:
        clean.chmod(0o755)
        for path in reversed(paths):
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_problem_text_names_file_position_and_offset() -> None:
    problem = Problem(Path("/s/commitlog/00000000000000065536"), 7735, 73271, "why")
    assert str(problem) == "/s/commitlog/00000000000000065536 position 7735 (offset 73271): why"


def test_tools_load_no_event_loop_or_sockets() -> None:
    code = "import sys, rmq_store.tools, rmq_store.__main__; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert not {"asyncio", "socket", "selectors", "rmq_protocol.transport"} & set(out)
