"""The child process of ``test_crash.py``: appends to a store until it is SIGKILLed.

Run as ``python crash_child.py STORE_DIR SEED ROUND FLUSH_DISK_TYPE WRITERS``. It opens the
store (recovering whatever the previous, killed child left), then ``WRITERS`` threads put
messages as fast as the store acknowledges them. Everything the parent needs goes to
stdout, one line per event; each line (or each put's group of lines) is written with one
``os.write`` of fewer than ``PIPE_BUF`` bytes, so lines of different threads never mix and
a line either arrives whole or is the torn last one::

    open <abnormal 0|1> <recovered max phy offset>
    ack <writer> <phy offset> <size> <topic> <queue id> <queue offset> <content> <record>
    error <writer> <exception>

``ack`` is written after ``put_messages`` returned (under SYNC_FLUSH: after the record was
flushed), once per record of the put. ``content`` is :func:`content_digest` of the message
as sent; ``record`` the sha256 of the stored record's bytes as read back.

The message stream is a function of (SEED, ROUND, writer): a failure is reproducible. The
test loads this module (``importlib``) for :func:`crash_config` and :func:`content_digest`.
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
import threading
import time
from pathlib import Path
from typing import Final

from rmq_protocol.codec.message import HostPort, MessageExt
from rmq_store.config import FlushDiskType, StoreConfig
from rmq_store.store import MessageStore

BORN: Final = HostPort("127.0.0.1", 50000)
STORE_HOST: Final = HostPort("127.0.0.1", 10911)
TOPICS: Final = ("CrashA", "CrashB", "CrashC")
QUEUES: Final = 4  # per topic
MAX_LIFETIME: Final = 60.0  # seconds: a child whose parent vanished stops by itself
PIPE_BUF: Final = 4096


def crash_config(root: Path, flush_disk_type: FlushDiskType) -> StoreConfig:
    """Small files everywhere, so segments, queue files and index files roll in a run."""
    return StoreConfig(
        store_path_root_dir=root,
        mapped_file_size_commit_log=64 * 1024,  # bytes
        mapped_file_size_consume_queue=20 * 50,  # 50 units per file
        max_hash_slot_num=64,
        max_index_num=200,
        flush_disk_type=flush_disk_type,
        flush_interval_commit_log=20,  # ms
        flush_interval_consume_queue=30,  # ms: the checkpoint moves often
    )


def content_digest(message: MessageExt) -> str:
    """sha256 of what a sender chose: topic, queue, flag, sys flag, born time, hosts,
    properties and body (what the store adds: offsets, store time, CRC, is left out)."""
    digest = hashlib.sha256()
    head = (
        f"{message.topic}\0{message.queue_id}\0{message.flag}\0{message.sys_flag & ~0x30}\0"
        f"{message.born_timestamp}\0{message.born_host}\0{message.store_host}\0"
        f"{message.reconsume_times}\0{message.prepared_transaction_offset}\0"
    )
    digest.update(head.encode())
    for name, value in sorted(message.properties.items()):
        digest.update(f"{name}\1{value}\2".encode())
    digest.update(b"\0")
    digest.update(message.body)
    return digest.hexdigest()


def _body_size(rng: random.Random) -> int:
    draw = rng.random()
    if draw < 0.55:
        return rng.randrange(0, 200)
    if draw < 0.9:
        return rng.randrange(200, 2500)
    return rng.randrange(2500, 14_000)  # a few per segment: segments roll, blanks are written


def make_batch(rng: random.Random, *, round_no: int, writer: int, seq: int) -> list[MessageExt]:
    """One put: a single message or a small batch for one queue (as RocketMQ batches)."""
    topic = rng.choice(TOPICS)
    queue_id = rng.randrange(QUEUES)
    count = 1 if rng.random() < 0.6 else rng.randint(2, 5)
    batch = []
    for index in range(count):
        properties = {"CRASH_ID": f"{round_no}.{writer}.{seq}.{index}", "WAIT": "true"}
        if rng.random() < 0.8:
            properties["TAGS"] = rng.choice(("TagA", "TagB", "TagC"))
        if rng.random() < 0.3:
            properties["KEYS"] = f"k{round_no}-{writer}-{seq} order-{rng.randrange(50)}"
        if rng.random() < 0.4:
            properties["UNIQ_KEY"] = rng.randbytes(16).hex().upper()
        batch.append(
            MessageExt(
                topic=topic,
                queue_id=queue_id,
                flag=rng.randrange(0, 1 << 16),
                born_timestamp=time.time_ns() // 1_000_000,
                born_host=BORN,
                store_host=STORE_HOST,
                body=rng.randbytes(_body_size(rng)),
                properties=properties,
            )
        )
    return batch


def _emit(text: str) -> None:
    data = text.encode()
    if len(data) > PIPE_BUF:  # larger writes to a pipe may interleave
        raise ValueError(f"report of {len(data)} bytes does not fit one pipe write")
    os.write(1, data)


def _write_forever(store: MessageStore, seed: int, round_no: int, writer: int) -> None:
    rng = random.Random(f"{seed}:{round_no}:{writer}")
    seq = 0
    while True:
        batch = make_batch(rng, round_no=round_no, writer=writer, seq=seq)
        if len(batch) == 1 and rng.random() < 0.5:
            result = store.put_message(batch[0])
        else:
            result = store.put_messages(batch)
        lines = []
        for index, (message, msg_id) in enumerate(zip(batch, result.msg_ids, strict=True)):
            phy = int(msg_id[-16:], 16)  # an IPv4 offset msgId ends with the offset
            view = store.read_message(phy)
            if view is None:
                raise RuntimeError(f"acknowledged record at {phy} cannot be read back")
            record = hashlib.sha256(view).hexdigest()
            size = len(view)
            view.release()
            lines.append(
                f"ack {writer} {phy} {size} {message.topic} {message.queue_id} "
                f"{result.queue_offset + index} {content_digest(message)} {record}\n"
            )
        _emit("".join(lines))
        seq += 1


def _writer(store: MessageStore, seed: int, round_no: int, writer: int) -> None:
    try:
        _write_forever(store, seed, round_no, writer)
    except BaseException as exc:  # noqa: BLE001 - any failure is reported, then the child dies
        try:
            _emit(f"error {writer} {exc!r}"[: PIPE_BUF - 1].replace("\n", " ") + "\n")
        finally:
            os._exit(3)


def main(argv: list[str]) -> None:
    root, seed, round_no, flush, writers = (
        Path(argv[0]),
        int(argv[1]),
        int(argv[2]),
        FlushDiskType(argv[3]),
        int(argv[4]),
    )
    store = MessageStore.open(crash_config(root, flush))
    info = store.recovery
    _emit(f"open {int(info.abnormal)} {info.max_offset}\n")
    threads = [
        threading.Thread(target=_writer, args=(store, seed, round_no, w), daemon=True)
        for w in range(writers)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + MAX_LIFETIME
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    _emit("error -1 child outlived its parent's kill\n")
    os._exit(4)


if __name__ == "__main__":
    main(sys.argv[1:])
