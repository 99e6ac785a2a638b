"""ConsumeQueue: units, files, blank start, re-dispatch, recovery, dirty truncation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from rmq_store.consume_queue import BLANK_UNIT, UNIT_SIZE, ConsumeQueue, CqUnit

FILE = UNIT_SIZE * 4  # four units per file


def test_units_roll_over_files_and_read_back(tmp_path: Path) -> None:
    queue = ConsumeQueue(tmp_path, "TopicTest", 0, FILE)
    for i in range(10):
        assert queue.put(i, 1000 * i, 100 + i, 2598919)
    assert queue.max_offset == 10
    assert queue.min_offset == 0
    names = sorted(p.name for p in (tmp_path / "TopicTest" / "0").iterdir())
    assert names == [f"{n * FILE:020d}" for n in range(3)]
    assert list(queue.units(3, 4)) == [(i, CqUnit(1000 * i, 100 + i, 2598919)) for i in range(3, 7)]
    assert queue.get(10) is None
    assert queue.max_physic_offset == 9000 + 109
    raw = (tmp_path / "TopicTest" / "0" / f"{0:020d}").read_bytes()
    assert raw[:20] == bytes.fromhex("000000000000000000000064000000000027a807")  # V5 shape
    queue.close()


def test_new_queue_at_a_high_offset_blank_fills_only_its_first_file(tmp_path: Path) -> None:
    queue = ConsumeQueue(tmp_path, "T", 1, FILE)
    assert queue.put(10, 5000, 90, 0)  # file holding offsets 8..11
    names = sorted(p.name for p in (tmp_path / "T" / "1").iterdir())
    assert names == [f"{8 * UNIT_SIZE:020d}"]
    assert queue.get(8) == BLANK_UNIT
    assert queue.get(9) == BLANK_UNIT
    assert queue.min_offset == 10
    assert queue.max_offset == 11
    assert not queue.put(13, 6000, 90, 0)  # a gap later is refused
    queue.close()


def test_re_dispatch_is_idempotent(tmp_path: Path) -> None:
    queue = ConsumeQueue(tmp_path, "T", 0, FILE)
    for i in range(3):
        queue.put(i, 100 * i, 50, 0)
    assert queue.put(1, 100, 50, 0)  # the same unit again: fine
    assert not queue.put(1, 999, 50, 0)  # a different unit at a written offset: refused
    assert queue.max_offset == 3
    queue.close()


def test_recovery_finds_the_end_and_drops_a_torn_unit(tmp_path: Path) -> None:
    queue = ConsumeQueue(tmp_path, "T", 0, FILE)
    for i in range(6):
        queue.put(i, 100 * i + 1, 50, 7)
    queue.flush()
    queue.close()
    second = tmp_path / "T" / "0" / f"{FILE:020d}"
    data = bytearray(second.read_bytes())
    data[UNIT_SIZE + 12 : UNIT_SIZE * 2] = bytes(8)  # unit 5 half written...
    data[UNIT_SIZE + 8 : UNIT_SIZE + 12] = bytes(4)  # ...its size never reached disk
    second.write_bytes(bytes(data))
    reopened = ConsumeQueue(tmp_path, "T", 0, FILE)
    assert reopened.recover() == 5
    assert reopened.max_physic_offset == 401 + 50
    assert reopened.put(5, 9999, 10, 0)
    reopened.close()


def test_truncate_dirty_drops_units_beyond_the_commit_log(tmp_path: Path) -> None:
    queue = ConsumeQueue(tmp_path, "T", 0, FILE)
    for i in range(9):
        queue.put(i, 100 * i, 100, 0)
    assert queue.truncate_dirty(650) == 3  # units at 600, 700, 800 end past 650
    assert queue.max_offset == 6
    assert queue.max_physic_offset == 600
    queue.close()


GOLDEN = Path(__file__).parent / "data" / "golden-store"


def test_golden_store_consume_queues(tmp_path: Path) -> None:
    expected = json.loads((GOLDEN / "expected.json").read_text())
    file_size = json.loads((GOLDEN / "store.json").read_text())["mappedFileSizeConsumeQueue"]
    shutil.copytree(GOLDEN / "clean" / "consumequeue", tmp_path / "consumequeue")
    for topic, queue_id in (("TopicTest", 0), ("TopicTest", 1), ("TopicB", 0)):
        queue = ConsumeQueue(tmp_path / "consumequeue", topic, queue_id, file_size)
        queue.recover()
        wanted = [
            m for m in expected["messages"] if (m["topic"], m["queueId"]) == (topic, queue_id)
        ]
        assert queue.max_offset == len(wanted) == 20
        for offset, unit in queue.units(0, 100):
            message = wanted[offset]
            assert unit == CqUnit(
                message["physicalOffset"], message["storeSize"], message["tagsCode"]
            )
        queue.close()
