"""``python -m rmq_store inspect|verify STORE_DIR``: read-only store tools.

Examples::

    python -m rmq_store inspect ~/store
    python -m rmq_store inspect --json ~/store
    python -m rmq_store inspect --max-hash-slot-num 64 --max-index-num 256 ./store
    python -m rmq_store verify ~/store && echo consistent

Both commands only read (see :mod:`rmq_store.tools`): they are safe on a directory written
by Apache RocketMQ or by a running broker. ``--json`` prints one JSON document whose keys
are listed in :mod:`rmq_store.tools`.

Exit status: ``inspect`` 0, or 1 when the files cannot be read as a store; ``verify`` 0
when the store is consistent, 1 at the first inconsistency (its file, byte position,
global offset and reason are printed); 2 for usage errors and a missing directory.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from rmq_store.checkpoint import CHECKPOINT_FILE_SIZE
from rmq_store.errors import StoreError
from rmq_store.tools import (
    NotAStoreError,
    StoreReport,
    VerifyReport,
    inspect_store,
    verify_store,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rmq_store",
        description="Read-only tools for a RocketMQ store directory (storePathRootDir).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    inspect = commands.add_parser(
        "inspect",
        help="topics, queues, offsets, commit log, checkpoint, abort and index files",
        description="Print what the store holds; changes nothing.",
    )
    inspect.add_argument("store_dir", type=Path, metavar="STORE_DIR")
    inspect.add_argument("--json", action="store_true", help="print one JSON document")
    inspect.add_argument(
        "--max-hash-slot-num",
        type=_positive,
        default=None,
        help="the broker's maxHashSlotNum (default 5000000; inferred when the files differ)",
    )
    inspect.add_argument(
        "--max-index-num",
        type=_positive,
        default=None,
        help="the broker's maxIndexNum (default 20000000; inferred when the files differ)",
    )
    verify = commands.add_parser(
        "verify",
        help="check every commit-log record and consume-queue unit",
        description="Exit 0 if the store is consistent, else 1 and the first inconsistency.",
    )
    verify.add_argument("store_dir", type=Path, metavar="STORE_DIR")
    verify.add_argument("--json", action="store_true", help="print one JSON document")
    return parser


def _time(ms: int) -> str:
    """``ms`` with its UTC time, for timestamps (0 stays 0: not set)."""
    if ms <= 0:
        return str(ms)
    try:
        text = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
    except (OverflowError, OSError, ValueError):
        return str(ms)
    return f"{ms} ({text.removesuffix('+00:00')}Z)"


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {plural or word + 's'}"


def _table(rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  "
        + "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    ]


def _inspect_text(report: StoreReport) -> str:
    lines = [f"store: {report.root}"]
    lines.append(
        "abort: present (the last shutdown was not clean)"
        if report.abort
        else "abort: absent (clean shutdown or never started)"
    )
    cp = report.checkpoint
    if cp is None:
        lines.append("checkpoint: none")
    else:
        size = (
            ""
            if cp.size == CHECKPOINT_FILE_SIZE
            else f" (file is {cp.size} bytes, expected {CHECKPOINT_FILE_SIZE})"
        )
        lines.append(f"checkpoint:{size}")
        lines.append(f"  physicMsgTimestamp   {_time(cp.physic_msg_timestamp)}")
        lines.append(f"  logicsMsgTimestamp   {_time(cp.logics_msg_timestamp)}")
        lines.append(f"  indexMsgTimestamp    {_time(cp.index_msg_timestamp)}")
        lines.append(f"  masterFlushedOffset  {cp.master_flushed_offset}")
        lines.append(f"  confirmPhyOffset     {cp.confirm_phy_offset}")
    cl = report.commit_log
    if not cl.segments:
        lines.append("commit log: no segments")
    else:
        lines.append(
            f"commit log: {_plural(len(cl.segments), 'segment')} of {cl.segment_size} bytes, "
            f"min offset {cl.min_offset}, max offset {cl.max_offset} (end of valid data), "
            f"{_plural(cl.records, 'record')}"
        )
        first, last = cl.segments[0], cl.segments[-1]
        lines.append(f"  files {first}" if first == last else f"  files {first} .. {last}")
        if cl.torn_tail_bytes:
            lines.append(
                f"  torn tail: {cl.torn_tail_bytes} bytes of an invalid record at offset "
                f"{cl.max_offset} (recovery discards them; run verify)"
            )
    queues = report.queues
    lines.append(
        f"consume queues: {_plural(len(report.topics), 'topic')}, "
        f"{_plural(len(queues), 'queue')}, "
        f"{_plural(sum(q.message_count for q in queues), 'message')}"
    )
    if queues:
        rows = [("TOPIC", "QUEUE", "MIN", "MAX", "MESSAGES", "FILES", "FILE SIZE")]
        rows += [
            (
                q.topic,
                str(q.queue_id),
                str(q.min_offset),
                str(q.max_offset),
                str(q.message_count),
                str(len(q.files)),
                "-" if q.file_size is None else str(q.file_size),
            )
            for q in queues
        ]
        lines += _table(rows, right={1, 2, 3, 4, 5, 6})
    lines.append(f"index: {_plural(len(report.index_files), 'file')}")
    for index in report.index_files:
        if index.geometry == "unknown":
            geometry = "slots and entries unknown"
        else:
            geometry = (
                f"{index.max_hash_slot_num} slots x {index.max_index_num} entries"
                f"{' (inferred)' if index.geometry == 'inferred' else ''}"
            )
        entries = _plural(index.entries, "entry", "entries")
        lines.append(f"  {index.name}: {entries}, {index.size} bytes, {geometry}")
        lines.append(f"    begin {_time(index.begin_timestamp)}")
        lines.append(f"    end   {_time(index.end_timestamp)}")
        if index.note is not None:
            lines.append(f"    note: {index.note}")
    return "\n".join(lines) + "\n"


def _verify_text(report: VerifyReport) -> str:
    problem = report.first_problem
    if problem is not None:
        return (
            f"verify FAILED: {problem.path} position {problem.position} "
            f"(offset {problem.offset}): {problem.reason}\n"
        )
    return (
        f"verify OK: {report.root}: {_plural(report.segments, 'commit-log segment')}, "
        f"{_plural(report.records, 'record')} (offsets {report.commit_log_min_offset}.."
        f"{report.commit_log_max_offset}); {_plural(report.queues, 'consume queue')}, "
        f"{_plural(report.units_checked, 'unit')} checked, {report.units_expired} expired\n"
    )


def _dump(document: dict[str, object]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = _parser().parse_args(argv)
    root: Path = args.store_dir
    try:
        if args.command == "inspect":
            store = inspect_store(
                root, max_hash_slot_num=args.max_hash_slot_num, max_index_num=args.max_index_num
            )
            sys.stdout.write(_dump(store.to_json()) if args.json else _inspect_text(store))
            return EXIT_OK
        result = verify_store(root)
    except NotAStoreError as exc:
        sys.stderr.write(f"python -m rmq_store {args.command}: error: {exc}\n")
        return EXIT_USAGE
    except (StoreError, OSError) as exc:
        sys.stderr.write(f"python -m rmq_store {args.command}: error: {exc}\n")
        return EXIT_FAILED
    sys.stdout.write(_dump(result.to_json()) if args.json else _verify_text(result))
    return EXIT_OK if result.ok else EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
