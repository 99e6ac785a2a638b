"""Build the golden RocketMQ store under ``tests/data/golden-store/``, byte by byte.

This is an *independent* writer: every byte is packed here with :mod:`struct` from
the layouts in ``/work/shared/spec/remoting-protocol.md`` (§3.1 record, §3.2 sysFlag,
§3.3 properties, §3.6 body CRC, §3.7 message ids, §4 store layout, §4.3 index file,
§4.4 fastjson metadata). It imports neither ``rmq_store`` nor ``rmq_protocol``, so
the store's writer and reader can be checked against it.

Run ``python packages/rmq-store/tests/golden/build_golden.py`` to (re)write::

    tests/data/golden-store/
      store.json      the sizes used (RocketMQ MessageStoreConfig keys)
      expected.json   every message with every field, segments, queues, index, torn tail
      clean/          a cleanly shut down store (no ``abort``)
      torn/           the same store after a crash: ``abort`` present and a partial record
                      (the first 40 % of its bytes) after the last valid one

Everything is deterministic: fixed timestamps around 1700000000000 ms, no clock,
no randomness. Message 0 is spec golden vector V4 verbatim, so the commit log starts
with V4's 167 bytes and ``TopicTest/0`` with V5's consume-queue unit.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import struct
import sys
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

# --- sizes (store.json) -------------------------------------------------------------------

COMMIT_LOG_FILE_SIZE: Final = 65536  # mappedFileSizeCommitLog, bytes
CQ_UNIT_SIZE: Final = 20
CQ_UNITS_PER_FILE: Final = 128
CQ_FILE_SIZE: Final = CQ_UNIT_SIZE * CQ_UNITS_PER_FILE  # mappedFileSizeConsumeQueue = 2560
INDEX_HASH_SLOTS: Final = 64  # maxHashSlotNum
INDEX_NUM: Final = 256  # maxIndexNum
INDEX_HEADER_SIZE: Final = 40
INDEX_SLOT_SIZE: Final = 4
INDEX_ENTRY_SIZE: Final = 20
INDEX_FILE_SIZE: Final = (
    INDEX_HEADER_SIZE + INDEX_HASH_SLOTS * INDEX_SLOT_SIZE + INDEX_NUM * INDEX_ENTRY_SIZE
)
CHECKPOINT_FILE_SIZE: Final = 4096

# --- record facts (spec §3.1, §3.2, §4.1) ---------------------------------------------------

MAGIC_V1: Final = 0xDAA320A7
BLANK_MAGIC: Final = 0xCBD43194
END_FILE_MIN_BLANK: Final = 8
SYS_COMPRESSED: Final = 0x1
SYS_TX_COMMIT: Final = 0x8
SYS_BORNHOST_V6: Final = 0x10
SYS_STOREHOST_V6: Final = 0x20
SYS_COMPRESSION_ZLIB: Final = 0x300

# Fixed-size pieces of a record, in wire order (§3.1).
# TOTALSIZE MAGIC BODYCRC QUEUEID FLAG QUEUEOFFSET PHYSICALOFFSET SYSFLAG BORNTIMESTAMP
_HEAD: Final = struct.Struct(">iIiiiqqiq")
_I32: Final = struct.Struct(">i")
_I64: Final = struct.Struct(">q")
_I16: Final = struct.Struct(">h")
_BLANK: Final = struct.Struct(">iI")  # remaining, BLANK_MAGIC
_TAIL: Final = struct.Struct(">iqi")  # reconsumeTimes, preparedTxOffset, bodyLength
_CQ_UNIT: Final = struct.Struct(">qiq")  # phyOffset, size, tagsCode
_INDEX_HEADER: Final = struct.Struct(">qqqqii")
_INDEX_ENTRY: Final = struct.Struct(">iqii")  # keyHash, phyOffset, timeDiff, prevIndex
_CHECKPOINT: Final = struct.Struct(">qqqqq")
_UNIQ_TAIL: Final = struct.Struct(">iH")  # ms in month, counter

PROP_NAME_VALUE: Final = "\x01"
PROP_SEPARATOR: Final = "\x02"

STORE_HOST_V4: Final = ("127.0.0.1", 10911)
STORE_HOST_V6: Final = ("::1", 10911)
BASE_TS: Final = 1_700_000_000_000  # ms; 2023-11-14T22:13:20Z
MONTH_START_UTC: Final = 1_698_796_800_000  # 2023-11-01T00:00:00Z (UNIQ_KEY time base)

MESSAGE_COUNT: Final = 60
CONSUMER_GROUP: Final = "golden_consumer_group"
TORN_FRACTION_PERCENT: Final = 40

# V4 (spec §9): message 0 of the golden store, reproduced exactly.
V4_UNIQ_KEY: Final = "7F0000010D0A00000000000000000001"


# --- small independent facts helpers --------------------------------------------------------


def java_string_hash(text: str) -> int:
    """Java ``String.hashCode()`` over UTF-16 code units, as a signed int32."""
    h = 0
    for (unit,) in struct.iter_unpack(">H", text.encode("utf-16-be")):
        h = (31 * h + unit) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def tags_code(tags: str | None) -> int:
    """Consume-queue tagsCode: hashCode of TAGS sign-extended, 0 without a tag (§4.2)."""
    return java_string_hash(tags) if tags else 0


def index_key_hash(key: str) -> int:
    """IndexFile key hash: ``abs(hashCode)``, 0 for Integer.MIN_VALUE (§4.3)."""
    h = java_string_hash(key)
    return 0 if h == -(1 << 31) else abs(h)


def pack_ip(host: str) -> bytes:
    """4 bytes for dotted IPv4, 16 for IPv6 text (only the forms used here)."""
    if ":" not in host:
        return bytes(int(part) for part in host.split("."))
    head, _, tail = host.partition("::")
    left = [int(g, 16) for g in head.split(":") if g]
    right = [int(g, 16) for g in tail.split(":") if g]
    groups = left + [0] * (8 - len(left) - len(right)) + right
    return struct.pack(">8H", *groups)


def host_text(host: tuple[str, int]) -> str:
    """``ip:port``, IPv6 in brackets."""
    ip, port = host
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def offset_msg_id(store_host: tuple[str, int], phy_offset: int) -> str:
    """Offset message id: hex(store IP + int32 port + int64 offset), uppercase (§3.7)."""
    raw = pack_ip(store_host[0]) + _I32.pack(store_host[1]) + _I64.pack(phy_offset)
    return raw.hex().upper()


def file_name(offset: int) -> str:
    """20-digit zero-padded start offset (§4)."""
    return f"{offset:020d}"


@dataclass(slots=True)
class UniqIdGenerator:
    """UNIQ_KEY per spec §3.7: IP(4) + pid(i16) + loader hash(i32) + ms in month + counter."""

    ip: str
    pid: int
    loader_hash: int
    counter: int = 0

    def next(self, born_ts: int) -> str:
        self.counter = (self.counter + 1) & 0xFFFF
        prefix = pack_ip(self.ip) + struct.pack(">HI", self.pid, self.loader_hash)
        tail = _UNIQ_TAIL.pack(born_ts - MONTH_START_UTC, self.counter)
        return (prefix + tail).hex().upper()


# --- message content ------------------------------------------------------------------------

_WORDS: Final = (
    *("broker", "commit", "log", "queue", "offset", "index", "segment", "flush", "replica"),
    *("tag", "key", "topic", "consumer", "producer", "message", "store", "mapped", "page"),
    *("recover", "checkpoint", "abort", "golden", "byte", "record"),
)


def body_text(seed: str, size: int) -> bytes:
    """Deterministic ASCII text of exactly ``size`` bytes (sha256 stream picks words)."""
    out = bytearray()
    block = 0
    while len(out) < size:
        digest = hashlib.sha256(f"{seed}/{block}".encode()).digest()
        block += 1
        for b in digest:
            out += _WORDS[b % len(_WORDS)].encode() + b" "
    return bytes(out[:size])


def body_size(i: int) -> int:
    """500..1500 bytes, deterministic per message."""
    digest = hashlib.sha256(f"size/{i}".encode()).digest()
    return 500 + int.from_bytes(digest[:4], "big") % 1001


@dataclass(slots=True, kw_only=True)
class Draft:
    """A message as produced, before the store assigns offsets."""

    topic: str
    queue_id: int
    body: bytes  # as sent (uncompressed)
    properties: dict[str, str]
    flag: int = 0
    sys_flag: int = 0
    born_ts: int
    born_host: tuple[str, int]
    store_ts: int
    store_host: tuple[str, int] = STORE_HOST_V4
    reconsume_times: int = 0
    prepared_tx_of: int | None = None  # index of the draft whose offset is the prepared offset
    compress: bool = False


@dataclass(slots=True, kw_only=True)
class Stored:
    """A record as it sits in the commit log."""

    draft: Draft
    queue_offset: int
    phy_offset: int
    sys_flag: int
    stored_body: bytes
    prepared_tx_offset: int
    record: bytes = field(repr=False)


def make_drafts() -> list[Draft]:
    """The 60 golden messages plus one (the last) that becomes the torn tail."""
    producer_a = UniqIdGenerator("127.0.0.1", 0x0D0A, 0)
    producer_a.counter = 1  # V4 used counter 1
    producer_b = UniqIdGenerator("10.0.0.7", 7777, 0x5EEDC0DE)
    tags_cycle = ("TagA", "TagB", "TagC", "TagD")
    drafts: list[Draft] = []
    for i in range(MESSAGE_COUNT + 1):
        born_ts = BASE_TS + i * 1500
        store_ts = BASE_TS + 123 if i == 0 else born_ts + 5 + (i % 7) * 11
        lane = i % 3
        topic, queue_id = ("TopicTest", lane) if lane < 2 else ("TopicB", 0)
        on_b = topic == "TopicB"
        born_host = ("10.0.0.7", 50123) if on_b else ("127.0.0.1", 50000)
        props: dict[str, str] = {}
        if i != 7:  # message 7 has no TAGS: tagsCode 0
            props["TAGS"] = tags_cycle[(i // 3) % len(tags_cycle)]
        if i == 1:
            props["KEYS"] = "KEY1 KEY2"  # spec V9 key
        elif i % 4 == 1:
            props["KEYS"] = f"order-{i:04d} user-{i % 7}"
        elif i % 4 == 3:
            props["KEYS"] = f"order-{i:04d}"
        props["WAIT"] = "true"
        uniq = V4_UNIQ_KEY if i == 0 else (producer_b if on_b else producer_a).next(born_ts)
        props["UNIQ_KEY"] = uniq
        body = b"Hello" if i == 0 else body_text(f"body/{i}", body_size(i))
        draft = Draft(
            topic=topic,
            queue_id=queue_id,
            body=body,
            properties=props,
            flag=7 if i % 6 == 4 else 0,
            born_ts=born_ts,
            born_host=born_host,
            store_ts=store_ts,
        )
        if i == 5:
            props["buyer"] = "Zoë Ω 東京 — ünïcödé"
            props["city"] = "Zürich"
        if i == 10:
            draft.born_host = ("2001:db8::10", 50200)
            draft.sys_flag |= SYS_BORNHOST_V6
        if i == 20:
            draft.store_host = STORE_HOST_V6
            draft.sys_flag |= SYS_STOREHOST_V6
        if i == 30:  # above compressMsgBodyOverHowmuch (4096): the producer compresses
            draft.body = body_text("body/30/compressible", 4500)
            draft.compress = True
            draft.sys_flag |= SYS_COMPRESSED | SYS_COMPRESSION_ZLIB
        if i == 40:
            draft.reconsume_times = 3
            props["MAX_RECONSUME_TIMES"] = "16"
        if i == 50:
            draft.sys_flag |= SYS_TX_COMMIT
            draft.prepared_tx_of = 44
            props["TRAN_MSG"] = "true"
            props["PGROUP"] = "golden_tx_producer"
            props["__transactionId__"] = uniq
        drafts.append(draft)
    return drafts


def properties_string(props: dict[str, str]) -> bytes:
    """``name 0x01 value 0x02`` repeated, UTF-8 (§3.3)."""
    text = "".join(f"{k}{PROP_NAME_VALUE}{v}{PROP_SEPARATOR}" for k, v in props.items())
    return text.encode("utf-8")


def encode_record(
    d: Draft, *, queue_offset: int, phy_offset: int, stored_body: bytes, prepared: int
) -> bytes:
    """One commit-log record, magic v1, per spec §3.1."""
    topic = d.topic.encode("utf-8")
    props = properties_string(d.properties)
    born = pack_ip(d.born_host[0]) + _I32.pack(d.born_host[1])
    store = pack_ip(d.store_host[0]) + _I32.pack(d.store_host[1])
    total = 4 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + len(born) + 8 + len(store) + 4 + 8
    total += 4 + len(stored_body) + 1 + len(topic) + 2 + len(props)
    if len(topic) > 127 or len(props) > 32767:
        raise ValueError(f"topic {d.topic!r} or properties too long for a v1 record")
    out = bytearray()
    out += _HEAD.pack(
        total,
        MAGIC_V1,
        zlib.crc32(stored_body) & 0x7FFFFFFF,
        d.queue_id,
        d.flag,
        queue_offset,
        phy_offset,
        d.sys_flag,
        d.born_ts,
    )
    out += born
    out += _I64.pack(d.store_ts)
    out += store
    out += _TAIL.pack(d.reconsume_times, prepared, len(stored_body))
    out += stored_body
    out += bytes([len(topic)]) + topic
    out += _I16.pack(len(props)) + props
    if len(out) != total:
        raise AssertionError(f"record size {len(out)} != computed {total}")
    return bytes(out)


# --- the store ------------------------------------------------------------------------------


@dataclass(slots=True)
class CommitLog:
    """Fixed-size segments with RocketMQ's end-of-file blank marker (§4.1)."""

    segments: list[bytearray] = field(default_factory=list)
    blanks: list[tuple[int, int]] = field(default_factory=list)  # (global offset, remaining)
    wrote: int = 0  # position in the last segment

    @property
    def max_offset(self) -> int:
        return (len(self.segments) - 1) * COMMIT_LOG_FILE_SIZE + self.wrote

    def reserve(self, length: int) -> int:
        """Global offset where a record of ``length`` bytes goes, rolling if needed."""
        if not self.segments:
            self.segments.append(bytearray(COMMIT_LOG_FILE_SIZE))
        remaining = COMMIT_LOG_FILE_SIZE - self.wrote
        if length + END_FILE_MIN_BLANK > remaining:
            _BLANK.pack_into(self.segments[-1], self.wrote, remaining, BLANK_MAGIC)
            self.blanks.append((self.max_offset, remaining))
            self.segments.append(bytearray(COMMIT_LOG_FILE_SIZE))
            self.wrote = 0
        return self.max_offset

    def put(self, record: bytes) -> None:
        self.segments[-1][self.wrote : self.wrote + len(record)] = record
        self.wrote += len(record)


def append_all(drafts: list[Draft]) -> tuple[CommitLog, list[Stored]]:
    log = CommitLog()
    next_queue_offset: dict[tuple[str, int], int] = {}
    stored: list[Stored] = []
    for d in drafts:
        body = zlib.compress(d.body, 5) if d.compress else d.body
        prepared = 0 if d.prepared_tx_of is None else stored[d.prepared_tx_of].phy_offset
        qkey = (d.topic, d.queue_id)
        qoff = next_queue_offset.get(qkey, 0)
        size = len(encode_record(d, queue_offset=qoff, phy_offset=0, stored_body=body, prepared=0))
        phy = log.reserve(size)
        record = encode_record(
            d, queue_offset=qoff, phy_offset=phy, stored_body=body, prepared=prepared
        )
        log.put(record)
        next_queue_offset[qkey] = qoff + 1
        stored.append(
            Stored(
                draft=d,
                queue_offset=qoff,
                phy_offset=phy,
                sys_flag=d.sys_flag,
                stored_body=body,
                prepared_tx_offset=prepared,
                record=record,
            )
        )
    return log, stored


def consume_queues(stored: list[Stored]) -> dict[tuple[str, int], bytes]:
    """One 2560-byte file per queue: 20-byte units, zero tail (§4.2)."""
    files: dict[tuple[str, int], bytearray] = {}
    for s in stored:
        buf = files.setdefault((s.draft.topic, s.draft.queue_id), bytearray(CQ_FILE_SIZE))
        tags = s.draft.properties.get("TAGS")
        _CQ_UNIT.pack_into(
            buf, s.queue_offset * CQ_UNIT_SIZE, s.phy_offset, len(s.record), tags_code(tags)
        )
    return {k: bytes(v) for k, v in files.items()}


def index_keys(s: Stored) -> list[str]:
    """Keys indexed for a record in IndexService order: UNIQ_KEY, then each KEYS element."""
    keys = [s.draft.properties["UNIQ_KEY"]]
    keys += [k for k in s.draft.properties.get("KEYS", "").split(" ") if k]
    return [f"{s.draft.topic}#{k}" for k in keys]


@dataclass(slots=True)
class IndexSummary:
    name: str
    begin_timestamp: int
    end_timestamp: int
    begin_phy_offset: int
    end_phy_offset: int
    hash_slot_count: int
    index_count: int


def index_file(stored: list[Stored]) -> tuple[bytes, IndexSummary]:
    """The one index file (§4.3): header, slot table, entries chained newest-first."""
    buf = bytearray(INDEX_FILE_SIZE)
    begin_ts = begin_phy = end_ts = end_phy = 0
    slot_count = 0
    count = 1  # entry 0 is unused
    for s in stored:
        for key in index_keys(s):
            if count >= INDEX_NUM:
                raise ValueError("golden index file is full: raise INDEX_NUM")
            key_hash = index_key_hash(key)
            slot_pos = INDEX_HEADER_SIZE + (key_hash % INDEX_HASH_SLOTS) * INDEX_SLOT_SIZE
            (prev,) = _I32.unpack_from(buf, slot_pos)
            if prev <= 0 or prev > count:
                prev = 0
            if begin_ts <= 0:
                time_diff = 0
            else:
                time_diff = min(max((s.draft.store_ts - begin_ts) // 1000, 0), 2**31 - 1)
            entry_pos = (
                INDEX_HEADER_SIZE + INDEX_HASH_SLOTS * INDEX_SLOT_SIZE + count * INDEX_ENTRY_SIZE
            )
            _INDEX_ENTRY.pack_into(buf, entry_pos, key_hash, s.phy_offset, time_diff, prev)
            _I32.pack_into(buf, slot_pos, count)
            if count <= 1:
                begin_phy, begin_ts = s.phy_offset, s.draft.store_ts
            if prev == 0:
                slot_count += 1
            count += 1
            end_phy, end_ts = s.phy_offset, s.draft.store_ts
    _INDEX_HEADER.pack_into(buf, 0, begin_ts, end_ts, begin_phy, end_phy, slot_count, count)
    name = datetime.fromtimestamp(stored[0].draft.store_ts / 1000, UTC).strftime("%Y%m%d%H%M%S")
    name += f"{stored[0].draft.store_ts % 1000:03d}"
    summary = IndexSummary(name, begin_ts, end_ts, begin_phy, end_phy, slot_count, count)
    return bytes(buf), summary


def checkpoint(last_store_ts: int, confirm_phy_offset: int) -> bytes:
    """4 KiB page: physic, logics, index timestamps, masterFlushedOffset, confirmPhyOffset."""
    buf = bytearray(CHECKPOINT_FILE_SIZE)
    _CHECKPOINT.pack_into(
        buf, 0, last_store_ts, last_store_ts, last_store_ts, 0, confirm_phy_offset
    )
    return bytes(buf)


# --- fastjson pretty printing (§4.4) ---------------------------------------------------------


def fastjson_pretty(value: object, indent: int = 0) -> str:
    """``JSON.toJSONString(obj, true)`` for the shapes used here.

    Beans and String-keyed maps put every member on its own tab-indented line;
    Integer-keyed maps write unquoted keys on the opening line; a non-empty object
    closes on its own line (``{0:12,1:3`` newline ``}``). Bean members are passed in
    fastjson's alphabetical order; null members are left out, as fastjson does.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if not isinstance(value, dict):
        raise TypeError(f"fastjson_pretty: unsupported {type(value).__name__}")
    if not value:
        return "{}"
    inner = "\n" + "\t" * (indent + 1)
    parts: list[str] = []
    for key, member in value.items():
        rendered = fastjson_pretty(member, indent + 1)
        if isinstance(key, int):
            parts.append(f"{key}:{rendered}")
        else:
            parts.append(f"{inner}{json.dumps(key)}:{rendered}")
    return "{" + ",".join(parts) + "\n" + "\t" * indent + "}"


def data_version(counter: int, timestamp: int) -> dict[str, object]:
    return {"counter": counter, "stateVersion": 0, "timestamp": timestamp}


def topic_config(name: str, queues: int) -> dict[str, object]:
    return {
        "attributes": {},
        "order": False,
        "perm": 6,
        "readQueueNums": queues,
        "topicFilterType": "SINGLE_TAG",
        "topicName": name,
        "topicSysFlag": 0,
        "writeQueueNums": queues,
    }


def config_files(consumer_offsets: dict[str, dict[int, int]]) -> dict[str, bytes]:
    topics: dict[str, object] = {
        "dataVersion": data_version(2, BASE_TS - 60_000),
        "topicConfigTable": {
            "TopicB": topic_config("TopicB", 1),
            "TopicTest": topic_config("TopicTest", 2),
        },
    }
    offset_table: dict[str, object] = dict(consumer_offsets)
    offsets: dict[str, object] = {
        "dataVersion": data_version(3, BASE_TS + 90_000),
        "offsetTable": offset_table,
    }
    group: dict[str, object] = {
        "attributes": {},
        "brokerId": 0,
        "consumeBroadcastEnable": True,
        "consumeEnable": True,
        "consumeFromMinEnable": True,
        "consumeMessageOrderly": False,
        "consumeTimeoutMinute": 15,
        "groupName": CONSUMER_GROUP,
        "groupRetryPolicy": {"type": "CUSTOMIZED"},
        "groupSysFlag": 0,
        "notifyConsumerIdsChangedEnable": True,
        "retryMaxTimes": 16,
        "retryQueueNums": 1,
        "whichBrokerWhenConsumeSlowly": 1,
    }
    groups: dict[str, object] = {
        "dataVersion": data_version(1, BASE_TS - 30_000),
        "forbiddenTable": {},
        "subscriptionGroupTable": {CONSUMER_GROUP: group},
    }
    return {
        "topics.json": fastjson_pretty(topics).encode(),
        "consumerOffset.json": fastjson_pretty(offsets).encode(),
        "subscriptionGroup.json": fastjson_pretty(groups).encode(),
    }


# --- writing --------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _json_bytes(value: object) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def build(out_dir: Path) -> None:
    """(Re)write ``store.json``, ``expected.json``, ``clean/`` and ``torn/`` in ``out_dir``."""
    drafts = make_drafts()
    valid, extra = drafts[:MESSAGE_COUNT], drafts[MESSAGE_COUNT]
    log, stored = append_all(valid)
    max_offset = log.max_offset
    if len(log.segments) not in (2, 3) or not log.blanks:
        raise AssertionError(f"golden commit log has {len(log.segments)} segments: retune bodies")

    # The torn tail: the next record, encoded where it would go, cut at 40 %.
    counts: dict[tuple[str, int], int] = {}
    for s in stored:
        counts[(s.draft.topic, s.draft.queue_id)] = s.queue_offset + 1
    torn_qoff = counts[(extra.topic, extra.queue_id)]
    torn_record = encode_record(
        extra, queue_offset=torn_qoff, phy_offset=max_offset, stored_body=extra.body, prepared=0
    )
    if len(torn_record) + END_FILE_MIN_BLANK > COMMIT_LOG_FILE_SIZE - log.wrote:
        raise AssertionError("torn record would not fit in the last segment: retune bodies")
    torn_length = len(torn_record) * TORN_FRACTION_PERCENT // 100
    torn_last = bytearray(log.segments[-1])
    torn_last[log.wrote : log.wrote + torn_length] = torn_record[:torn_length]

    cq_files = consume_queues(stored)
    index_bytes, index = index_file(stored)
    last_ts = stored[-1].draft.store_ts
    checkpoint_bytes = checkpoint(last_ts, max_offset)
    consumer_offsets = {
        f"TopicTest@{CONSUMER_GROUP}": {0: 12, 1: 3},
        f"TopicB@{CONSUMER_GROUP}": {0: 5},
    }
    configs = config_files(consumer_offsets)
    segment_names = [file_name(i * COMMIT_LOG_FILE_SIZE) for i in range(len(log.segments))]

    for variant in ("clean", "torn"):
        root = out_dir / variant
        if root.exists():
            shutil.rmtree(root)
        for name, seg in zip(segment_names, log.segments, strict=True):
            data = bytes(torn_last) if variant == "torn" and seg is log.segments[-1] else bytes(seg)
            _write(root / "commitlog" / name, data)
        for (topic, queue_id), data in sorted(cq_files.items()):
            _write(root / "consumequeue" / topic / str(queue_id) / file_name(0), data)
        _write(root / "index" / index.name, index_bytes)
        _write(root / "checkpoint", checkpoint_bytes)
        for name, data in configs.items():
            _write(root / "config" / name, data)
        _write(root / "lock", b"")
        if variant == "torn":
            _write(root / "abort", b"")

    store_config = {
        "mappedFileSizeCommitLog": COMMIT_LOG_FILE_SIZE,
        "mappedFileSizeConsumeQueue": CQ_FILE_SIZE,
        "maxHashSlotNum": INDEX_HASH_SLOTS,
        "maxIndexNum": INDEX_NUM,
    }
    _write(out_dir / "store.json", _json_bytes(store_config))

    messages = []
    for s in stored:
        d = s.draft
        messages.append(
            {
                "topic": d.topic,
                "queueId": d.queue_id,
                "queueOffset": s.queue_offset,
                "physicalOffset": s.phy_offset,
                "storeSize": len(s.record),
                "bodyCrc": zlib.crc32(s.stored_body) & 0x7FFFFFFF,
                "sysFlag": s.sys_flag,
                "flag": d.flag,
                "bornTimestamp": d.born_ts,
                "bornHost": host_text(d.born_host),
                "storeTimestamp": d.store_ts,
                "storeHost": host_text(d.store_host),
                "reconsumeTimes": d.reconsume_times,
                "preparedTransactionOffset": s.prepared_tx_offset,
                "bodyBase64": _b64(s.stored_body),
                "bodyTextBase64": _b64(d.body),
                "properties": d.properties,
                "tagsCode": tags_code(d.properties.get("TAGS")),
                "offsetMsgId": offset_msg_id(d.store_host, s.phy_offset),
                "uniqKey": d.properties["UNIQ_KEY"],
                "indexKeys": index_keys(s),
            }
        )
    queues = {
        f"{topic}/{queue_id}": {"minOffset": 0, "maxOffset": n, "fileName": file_name(0)}
        for (topic, queue_id), n in sorted(counts.items())
    }
    expected = {
        "_doc": (
            "Golden store built by tests/golden/build_golden.py from the spec layouts. "
            "maxOffset of a queue is exclusive (RocketMQ getMaxOffsetInQueue); "
            "bodyBase64 is the stored body (compressed when sysFlag has 0x1), bodyTextBase64 "
            "the body as sent. Message 0 is spec vector V4. The transaction-committed "
            "message's preparedTransactionOffset points at an earlier record: the golden "
            "store holds no RMQ_SYS_TRANS_HALF_TOPIC."
        ),
        "commitLog": {
            "maxOffset": max_offset,
            "segments": segment_names,
            "blankMarkers": [{"offset": off, "remaining": rem} for off, rem in log.blanks],
        },
        "queues": queues,
        "index": {
            "fileName": index.name,
            "beginTimestamp": index.begin_timestamp,
            "endTimestamp": index.end_timestamp,
            "beginPhyOffset": index.begin_phy_offset,
            "endPhyOffset": index.end_phy_offset,
            "hashSlotCount": index.hash_slot_count,
            "indexCount": index.index_count,
        },
        "checkpoint": {
            "physicMsgTimestamp": last_ts,
            "logicsMsgTimestamp": last_ts,
            "indexMsgTimestamp": last_ts,
            "masterFlushedOffset": 0,
            "confirmPhyOffset": max_offset,
        },
        "consumerOffsets": {
            k: {str(q): o for q, o in v.items()} for k, v in consumer_offsets.items()
        },
        "torn": {
            "segment": segment_names[-1],
            "physicalOffset": max_offset,
            "fullRecordSize": len(torn_record),
            "writtenBytes": torn_length,
            "topic": extra.topic,
            "queueId": extra.queue_id,
            "queueOffset": torn_qoff,
        },
        "messages": messages,
    }
    _write(out_dir / "expected.json", _json_bytes(expected))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    default = Path(__file__).resolve().parent.parent / "data" / "golden-store"
    parser.add_argument("--out", type=Path, default=default, help=f"default: {default}")
    args = parser.parse_args(argv)
    out: Path = args.out
    build(out)
    sys.stdout.write(f"golden store written to {out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
