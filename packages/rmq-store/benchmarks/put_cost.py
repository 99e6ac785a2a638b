"""CPU cost of one put, in instructions per message, counted by callgrind.

Run: ``python benchmarks/put_cost.py [--messages 4096]`` (needs ``valgrind``).

Wall-clock figures on a shared 2-core VM move by 2x from run to run; instruction counts
do not, so small decisions about the put path are measured with this. Each mode runs the
store (services off, index on or off) under callgrind; the cost of a mode is its count
minus that of a run that builds the same messages and stores none, divided by the number
of messages. 1 KiB bodies with TAGS, KEYS and UNIQ_KEY, as in ``bench_store.py``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import _callgrind  # this directory is on sys.path when a script here runs

sys.path.insert(0, str(Path(__file__).resolve().parent))

MODES = ("single", "batch", "batch-text")


def child(mode: str, count: int, index: bool) -> None:
    # Imported here: only the measured child needs them.
    import dataclasses

    from bench_store import make_messages

    from rmq_protocol.codec.properties import encode_properties
    from rmq_store.config import StoreConfig
    from rmq_store.store import MessageStore

    pool = make_messages(count, 1024)
    # The same messages with their properties as undecoded text, as the broker's batch
    # path hands them over (built in every mode, so the base run cancels their cost).
    text_pool = [
        dataclasses.replace(m, properties=encode_properties(m.properties))  # type: ignore[arg-type]
        for m in pool
    ]
    root = Path(tempfile.mkdtemp(prefix="rmq-put-cost-", dir=Path(__file__).parent))
    try:
        config = StoreConfig(
            store_path_root_dir=root,
            mapped_file_size_commit_log=1 << 28,
            message_index_enable=index,
        )
        store = MessageStore.open(config, start_services=False)
        for warm in pool[:64]:  # first segment, first queue files, code warm-up
            store.append_messages((warm,))
        if mode == "single":
            for message in pool:
                store.append_messages((message,))
        elif mode == "batch":
            for start in range(0, count, 32):
                store.append_messages(pool[start : start + 32])
        elif mode == "batch-text":
            for start in range(0, count, 32):
                store.append_messages(text_pool[start : start + 32])
        store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def instructions(mode: str, count: int, index: bool) -> int:
    return _callgrind.instructions(
        __file__, "--child", mode, "--messages", str(count), *([] if index else ["--no-index"])
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=4096)
    parser.add_argument("--child", choices=("empty", *MODES))
    parser.add_argument("--no-index", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.messages, not args.no_index)
        return
    if shutil.which("valgrind") is None:
        sys.exit("put_cost.py needs valgrind (apt install valgrind)")
    for index in (True, False):
        base = instructions("empty", args.messages, index)
        for mode in MODES:
            cost = (instructions(mode, args.messages, index) - base) / args.messages
            label = "index on " if index else "index off"
            print(f"{mode:10} put, {label}: {cost:9,.0f} instructions/message", flush=True)


if __name__ == "__main__":
    main()
