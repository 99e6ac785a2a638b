"""CommitLog: append, roll-over with the end-of-file marker, reads, recovery at every byte."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rmq_protocol.codec.message import BLANK_MAGIC, HostPort, MessageExt, encode_message
from rmq_store.commitlog import CommitLog, PreparedRecord
from rmq_store.errors import MessageTooLargeError

SEGMENT = 4096


def _record(i: int, body_size: int = 300) -> PreparedRecord:
    message = MessageExt(
        topic="TopicTest",
        queue_id=i % 2,
        body=bytes([i % 251]) * body_size,
        born_timestamp=1_700_000_000_000 + i,
        born_host=HostPort("127.0.0.1", 50000),
        store_host=HostPort("127.0.0.1", 10911),
        properties={"TAGS": "TagA", "UNIQ_KEY": f"{i:032X}"},
    )
    return PreparedRecord(encode_message(message), queue_offset=i // 2)


def _write(path: Path, count: int, body_size: int = 300, *, pwrite: bool = False) -> list[int]:
    log = CommitLog(path, SEGMENT, max_record_size=SEGMENT - 8, pwrite=pwrite)
    offsets = [
        r.phy_offset for i in range(count) for r in log.append([_record(i, body_size)], 1000 + i)
    ]
    log.flush()
    log.close()
    return offsets


def test_append_read_and_roll_over_with_end_of_file_marker(tmp_path: Path) -> None:
    offsets = _write(tmp_path, 30)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names[0] == "00000000000000000000"
    assert names[1] == f"{SEGMENT:020d}"
    log = CommitLog(tmp_path, SEGMENT, max_record_size=SEGMENT - 8)
    report = log.recover()
    assert report.records == 30
    assert report.truncated_bytes == 0
    for i, offset in enumerate(offsets):
        message = log.read_message(offset)
        assert message.commit_log_offset == offset
        assert message.queue_offset == i // 2
        assert message.store_timestamp == 1000 + i
        assert message.body == bytes([i % 251]) * 300
    # Where a record did not fit, an 8-byte marker ends the segment.
    first_in_second = next(o for o in offsets if o >= SEGMENT)
    last_in_first = max(o for o in offsets if o < SEGMENT)
    marker_at = last_in_first + _record(0).data.__len__()
    raw = (tmp_path / "00000000000000000000").read_bytes()
    assert int.from_bytes(raw[marker_at + 4 : marker_at + 8], "big") == BLANK_MAGIC
    assert int.from_bytes(raw[marker_at : marker_at + 4], "big") == SEGMENT - marker_at
    assert first_in_second == SEGMENT
    log.close()


@pytest.mark.parametrize("body_size", [300, 3000])
def test_pwrite_log_writes_what_the_mapped_log_writes(tmp_path: Path, body_size: int) -> None:
    """A log written with pwrite (a SYNC_FLUSH store's) has the same bytes as one written
    through the mapping, records within a page and across pages, and reads them back
    through the mapping while it is open."""
    mapped = _write(tmp_path / "mapped", 30, body_size)
    written = _write(tmp_path / "pwrite", 30, body_size, pwrite=True)
    assert mapped == written
    names = sorted(p.name for p in (tmp_path / "mapped").iterdir())
    assert len(names) > 2  # rolled over: end-of-file markers too
    for name in names:
        written_bytes = (tmp_path / "pwrite" / name).read_bytes()
        assert written_bytes == (tmp_path / "mapped" / name).read_bytes()
    log = CommitLog(tmp_path / "live", SEGMENT, max_record_size=SEGMENT - 8, pwrite=True)
    try:
        for i in range(5):
            (result,) = log.append([_record(i, body_size)], 1000 + i)
            message = log.read_message(result.phy_offset)  # through the mapping, not flushed
            assert (message.queue_offset, message.store_timestamp) == (i // 2, 1000 + i)
            assert message.body == bytes([i % 251]) * body_size
    finally:
        log.close()


def test_record_larger_than_a_segment_is_refused(tmp_path: Path) -> None:
    log = CommitLog(tmp_path, SEGMENT, max_record_size=1 << 20)
    with pytest.raises(MessageTooLargeError, match="segment size"):
        log.append([_record(0, body_size=SEGMENT)], 1)
    log.close()


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("damage", ["cut", "flip"])
def test_recovery_at_every_byte_of_the_last_record(tmp_path: Path, damage: str) -> None:
    count = 12
    clean = tmp_path / "clean"
    offsets = _write(clean, count, body_size=120)
    last = offsets[-1]
    size = len(_record(count - 1, 120).data)
    segment_start = last - last % SEGMENT
    segment_file = f"{segment_start:020d}"
    positions = range(size) if damage == "cut" else [*range(0, 8), *range(88, 88 + 120)]
    for cut in positions:
        store = _copy(clean, tmp_path / f"{damage}{cut}")
        path = store / segment_file
        data = bytearray(path.read_bytes())
        at = last - segment_start + cut
        if damage == "cut":  # the write stopped at this byte
            data[at : last - segment_start + size] = bytes(last - segment_start + size - at)
        else:  # one byte of the record is wrong
            data[at] ^= 0x5A
        path.write_bytes(bytes(data))
        log = CommitLog(store, SEGMENT, max_record_size=SEGMENT - 8)
        report = log.recover()
        assert report.records == count - 1, (damage, cut)
        assert log.max_offset == last, (damage, cut)
        # Appending works and the new record replaces the torn one.
        (result,) = log.append([_record(99, 120)], 5000)
        assert result.phy_offset == last
        assert log.read_message(last).body == bytes([99]) * 120
        log.close()
        reopened = CommitLog(store, SEGMENT, max_record_size=SEGMENT - 8)
        assert reopened.recover().records == count
        reopened.close()
        shutil.rmtree(store)


def test_scan_yields_every_record_for_dispatch(tmp_path: Path) -> None:
    offsets = _write(tmp_path, 20)
    log = CommitLog(tmp_path, SEGMENT, max_record_size=SEGMENT - 8)
    log.recover()
    scanned = list(log.scan(offsets[5]))
    assert [r.phy_offset for r in scanned] == offsets[5:]
    assert scanned[0].message.properties["UNIQ_KEY"] == f"{5:032X}"
    log.close()


GOLDEN = Path(__file__).parent / "data" / "golden-store"


@pytest.mark.parametrize("variant", ["clean", "torn"])
def test_golden_store_written_independently_recovers_exactly(tmp_path: Path, variant: str) -> None:
    expected = json.loads((GOLDEN / "expected.json").read_text())
    sizes = json.loads((GOLDEN / "store.json").read_text())
    store = tmp_path / variant
    shutil.copytree(GOLDEN / variant, store)
    log = CommitLog(
        store / "commitlog",
        sizes["mappedFileSizeCommitLog"],
        max_record_size=sizes["mappedFileSizeCommitLog"] - 8,
    )
    report = log.recover()
    messages = expected["messages"]
    assert report.records == len(messages) == 60
    assert log.max_offset == expected["commitLog"]["maxOffset"] == 73_271
    torn_bytes = expected["torn"]["writtenBytes"] if variant == "torn" else 0
    assert report.truncated_bytes == torn_bytes
    for want in messages:
        got = log.read_message(want["physicalOffset"])
        assert (got.topic, got.queue_id, got.queue_offset) == (
            want["topic"],
            want["queueId"],
            want["queueOffset"],
        )
        assert got.store_size == want["storeSize"]
        assert got.offset_msg_id == want["offsetMsgId"]
    # A new record goes where the torn one was.
    (result,) = log.append([_record(7)], 1_700_000_999_000)
    assert result.phy_offset == 73_271
    log.close()
