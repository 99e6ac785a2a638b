"""CPU cost of reading, in instructions per message, counted by callgrind.

Run: ``python benchmarks/read_cost.py [--messages 4096] [--passes 4]`` (needs
``valgrind``).

The broker's pull path in the store: ``get_messages`` of 32 messages per call, draining
a queue's backlog from offset 0, ``--passes`` times over. Each mode runs the store
(services off, index off) under callgrind; its cost is its count minus that of a run
that appends the same backlog and reads nothing, divided by the messages read. 1 KiB
bodies with TAGS, KEYS and UNIQ_KEY, as in ``bench_store.py``. Modes: ``plain`` (no
filter), ``tags`` (a tags-code set that keeps every message, the broker's TAG
subscription), ``filter`` (a message-filter callback, the Python path).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import _callgrind  # this directory is on sys.path when a script here runs

sys.path.insert(0, str(Path(__file__).resolve().parent))

MODES = ("plain", "tags", "filter")


def child(mode: str, count: int, passes: int) -> None:
    # Imported here: only the measured child needs them.
    from bench_store import make_messages

    from rmq_protocol.codec.hashing import tags_code
    from rmq_store.config import StoreConfig
    from rmq_store.store import MessageStore

    pool = make_messages(count, 1024)
    queues = sorted({(message.topic, message.queue_id) for message in pool})
    root = Path(tempfile.mkdtemp(prefix="rmq-read-cost-", dir=Path(__file__).parent))
    try:
        config = StoreConfig(
            store_path_root_dir=root,
            mapped_file_size_commit_log=1 << 28,
            message_index_enable=False,
        )
        store = MessageStore.open(config, start_services=False)
        for start in range(0, count, 32):
            store.append_messages(pool[start : start + 32])
        tags = {tags_code(message.properties.get("TAGS")) for message in pool}
        kwargs: dict[str, Any] = {}
        if mode == "tags":
            kwargs["tags_codes"] = tags
        elif mode == "filter":
            kwargs["message_filter"] = lambda message: True
        if mode != "empty":
            for _ in range(passes):
                for topic, queue_id in queues:
                    offset = 0
                    while True:
                        result = store.get_messages(topic, queue_id, offset, max_count=32, **kwargs)
                        if not result.messages:
                            break
                        offset = result.next_begin_offset
                        del result
        store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def instructions(mode: str, count: int, passes: int) -> int:
    return _callgrind.instructions(
        __file__, "--child", mode, "--messages", str(count), "--passes", str(passes)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=4096)
    parser.add_argument("--passes", type=int, default=4)
    parser.add_argument("--child", choices=("empty", *MODES))
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args()
    if args.child:
        child(args.child, args.messages, args.passes)
        return
    if shutil.which("valgrind") is None:
        sys.exit("read_cost.py needs valgrind (apt install valgrind)")
    base = instructions("empty", args.messages, args.passes)
    for mode in args.modes.split(","):
        read = args.messages * args.passes
        cost = (instructions(mode, args.messages, args.passes) - base) / read
        print(f"{mode:6} get_messages(32): {cost:9,.0f} instructions/message", flush=True)


if __name__ == "__main__":
    main()
