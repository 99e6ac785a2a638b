"""CPU cost of one SYNC_FLUSH acknowledgement, in instructions, counted by callgrind.

Run: ``python benchmarks/sync_cost.py [--mode writer|group]`` (needs ``valgrind``).

``bench_store.py`` row 3's 64 asyncio writers (uvloop's loop when it is installed; a
future per writer, as rmq-broker's FlushWaiter, or one per group commit) run under
callgrind for 2 s and for 6 s against a real SYNC_FLUSH store; the cost of an
acknowledgement is the difference of the two instruction counts divided by the
difference of the acknowledgements (start-up cancels out). Every thread is counted: the
event loop's work per acknowledgement, and the flush thread's per group commit spread
over its 64 writers. The wall clock of row 3 moves with the disk's fsync latency on this
VM; this figure does not.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import sys
import tempfile
from pathlib import Path

import _callgrind  # this directory is on sys.path when a script here runs

SHORT, LONG = 2.0, 6.0


def child(mode: str, seconds: float) -> None:
    # Imported here: only the measured child needs them.
    import bench_store as bs

    from rmq_store.config import FlushDiskType
    from rmq_store.store import MessageStore

    root = Path(tempfile.mkdtemp(prefix="rmq-sync-cost-", dir=Path(__file__).parent))
    try:
        config = bs.store_config(
            bs.Settings(
                root=root,
                total_bytes=0,
                single_bytes=0,
                segment_size=1 << 28,
                raw_bytes=0,
                sync_seconds=seconds,
                fsync_seconds=1,
                body_size=1024,
                rounds=1,
                profile=False,
                phases=frozenset({3}),
                settle=False,
            ),
            bs.fresh(root / "store"),
            flush_disk_type=FlushDiskType.SYNC_FLUSH,
        )
        pool = bs.make_messages(4096, 1024)
        with MessageStore.open(config) as store:
            group = mode == "group"
            writers = bs._asyncio_writers(store, pool, seconds, listener=True, group=group)
            with asyncio.Runner(loop_factory=bs.new_event_loop) as runner:
                acknowledged = runner.run(writers)
        print(f"ACKNOWLEDGED {acknowledged}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def measure(mode: str, seconds: float) -> tuple[int, int]:
    """(instructions, acknowledgements) of one child run under callgrind."""
    total, out = _callgrind.run(__file__, "--child", mode, "--seconds", str(seconds))
    acknowledged = re.search(r"ACKNOWLEDGED (\d+)", out)
    if acknowledged is None:
        raise RuntimeError(f"the child printed no count:\n{out}")
    return total, int(acknowledged.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=("writer", "group"), default="writer")
    parser.add_argument("--child", choices=("writer", "group"))
    parser.add_argument("--seconds", type=float, default=SHORT)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.seconds)
        return
    if shutil.which("valgrind") is None:
        sys.exit("sync_cost.py needs valgrind (apt install valgrind)")
    short_total, short_acks = measure(args.mode, SHORT)
    long_total, long_acks = measure(args.mode, LONG)
    cost = (long_total - short_total) / (long_acks - short_acks)
    print(
        f"SYNC_FLUSH, 64 writers, a future per {args.mode}: {cost:,.0f} instructions per "
        f"acknowledgement ({short_acks:,} and {long_acks:,} acknowledgements)"
    )


if __name__ == "__main__":
    main()
