"""Throughput of the message store: appends, group commit, sequential reads, recovery.

Run: ``python benchmarks/bench_store.py [--size-gib 2] [--rounds 3] [--dir DIR]
[--only 1,2,3,4,5] [--profile] [--quick]``.

1 KiB bodies, topic ``TopicTest`` with 4 queues, properties TAGS, KEYS and UNIQ_KEY (so
every message gets a consume-queue unit and two index entries); each run of 32 messages
goes to one queue, as the messages of a batch do. One thread unless stated. The store
runs as a broker runs it (flush and maintenance threads on, 1 GiB commit-log segments)
in a temporary directory on the file system of this repository (not /dev/shm: the
figures are about a real disk), and the raw disk is measured in the same run, beside
the figure it bounds:

1. batch append (``put_messages``, 32 per batch, ASYNC_FLUSH) until ``--size-gib`` is
   written, so segments roll over; beside it, 1 GiB written with ``os.write`` in 1 MiB
   chunks into a new file plus ``fdatasync``.
2. single-message append (``put_message``, ASYNC_FLUSH), ``--size-gib / 4``.
3. SYNC_FLUSH with 64 concurrent writers: 64 asyncio tasks on one event loop
   (``append_messages``, then one flush listener answers every waiter of a group commit
   with one ``call_soon_threadsafe``: the writers of one group share one future, or each
   has its own, as rmq-broker's FlushWaiter does; also the naive
   ``wrap_future(flush_future())`` per message) and 64 threads (``put_message``), on
   uvloop's event loop when it is installed (as the broker runs);
   fsyncs/s from ``statistics().flush`` beside the disk's own rate (a loop of 4 KiB
   write + ``fdatasync``).
4. reading queue 0 of the store of 1 from its start with ``get_messages(max_count=32)``.
5. abnormal recovery of that store: the ``abort`` file present and the checkpoint
   rewound to its first record, so the scan covers every segment; MB/s from
   :class:`~rmq_store.store.RecoveryInfo` (bytes scanned / ``seconds``).

Each figure is the best of ``--rounds`` rounds (the least disturbed by other processes
and by the VM's clock; the worst follows in brackets); the page cache is written back
(``sync``) before each round. ``--profile`` prints a cProfile of each phase (one extra,
profiled round, slower than the figures); ``--quick`` is a few-MB smoke run.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import functools
import importlib
import itertools
import os
import platform
import pstats
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from rmq_protocol.codec.message import HostPort, MessageExt, encode_message
from rmq_protocol.codec.properties import KEYS, TAGS, UNIQ_KEY
from rmq_store.checkpoint import AbortMarker, StoreCheckpoint
from rmq_store.config import FlushDiskType, StoreConfig
from rmq_store.store import MessageStore

TOPIC = "TopicTest"
QUEUES = 4
BATCH = 32
WRITERS = 64
MiB = 1024 * 1024
GiB = 1024 * MiB
T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    root: Path
    total_bytes: int  # phase 1
    single_bytes: int  # phase 2
    segment_size: int
    raw_bytes: int  # raw write bandwidth
    sync_seconds: float
    fsync_seconds: float
    body_size: int
    rounds: int
    profile: bool
    phases: frozenset[int]
    settle: bool  # sync the page cache before each round (not in a smoke run)


# ---------------------------------------------------------------------- the machine


def mount_of(path: Path) -> tuple[str, str, str, str]:
    """(mount point, file system type, device, options) of the mount holding ``path``."""
    best = ("?", "?", "?", "?")
    target = str(path.resolve())
    with open("/proc/self/mountinfo") as mounts:
        for line in mounts:
            left, _, right = line.partition(" - ")
            fields, extra = left.split(), right.split()
            point = fields[4].replace("\\040", " ")
            inside = target == point or target.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best[0].replace("?", "")):
                best = (point, extra[0], extra[1], fields[5])
    return best


def describe_machine(root: Path) -> None:
    point, fs_type, device, options = mount_of(root)
    cpu = "?"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    print(f"machine: {os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}")
    print(f"python:  {platform.python_implementation()} {platform.python_version()}")
    print(f"dir:     {root}")
    print(f"disk:    {device} ({fs_type}, mounted on {point}, {options})")
    if fs_type in ("tmpfs", "ramfs"):
        print("warning: the directory is in memory; pass --dir on a real disk")


# ---------------------------------------------------------------------- the raw disk


def raw_write_bandwidth(directory: Path, size: int) -> float:
    """MB/s of ``os.write`` in 1 MiB chunks into a new file, ``fdatasync`` included."""
    chunk = os.urandom(MiB)
    path = directory / "raw-write.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        started = time.perf_counter()
        for _ in range(size // MiB):
            os.write(fd, chunk)
        os.fdatasync(fd)
        elapsed = time.perf_counter() - started
    finally:
        os.close(fd)
        path.unlink()
    return size / elapsed / 1e6


def raw_fsync_rate(directory: Path, seconds: float) -> float:
    """fdatasyncs per second of a loop that appends 4 KiB and syncs."""
    block = os.urandom(4096)
    path = directory / "raw-fsync.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    count = 0
    try:
        started = time.perf_counter()
        deadline = started + seconds
        while (now := time.perf_counter()) < deadline or count == 0:
            os.write(fd, block)
            os.fdatasync(fd)
            count += 1
    finally:
        os.close(fd)
        path.unlink()
    return count / (now - started)


# ---------------------------------------------------------------------- messages and stores


def make_messages(count: int, body_size: int) -> list[MessageExt]:
    """``count`` distinct messages (one shared body); each run of ``BATCH`` goes to one
    queue, as the messages of a SEND_BATCH_MESSAGE request do."""
    body = os.urandom(body_size)
    born, store_host = HostPort("10.0.0.1", 50000), HostPort("10.0.0.2", 10911)
    return [
        MessageExt(
            topic=TOPIC,
            queue_id=i // BATCH % QUEUES,
            born_timestamp=1_700_000_000_000 + i,
            born_host=born,
            store_host=store_host,
            body=body,
            properties={
                TAGS: "TagA",
                KEYS: f"order-{i}",
                UNIQ_KEY: f"0A0000010D0A00000000{i:012X}",
            },
        )
        for i in range(count)
    ]


def store_config(settings: Settings, directory: Path, **overrides: object) -> StoreConfig:
    config = StoreConfig(
        store_path_root_dir=directory,
        mapped_file_size_commit_log=settings.segment_size,
        disk_space_warning_level_ratio=99,  # a benchmark on a busy disk still writes
    )
    return replace(config, **overrides)  # type: ignore[arg-type]


def fresh(directory: Path) -> Path:
    shutil.rmtree(directory, ignore_errors=True)
    return directory


@contextmanager
def profiled(enabled: bool, title: str) -> Iterator[None]:
    """cProfile the block when ``enabled`` and print the top functions."""
    if not enabled:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        print(f"--- profile: {title}")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(14)


def settle(settings: Settings) -> None:
    """Write back dirty pages now, so that no round pays for those of the one before."""
    if settings.settle:
        os.sync()


def best_of(
    settings: Settings, title: str, run: Callable[[], T], key: Callable[[T], float]
) -> tuple[T, T]:
    """The best and the worst of ``settings.rounds`` runs (each after ``sync``, so that
    no round pays for the write-back of the one before), then one profiled run if asked."""
    results = []
    for _ in range(settings.rounds):
        settle(settings)
        results.append(run())
    if settings.profile:
        settle(settings)
        with profiled(True, title):
            run()
    return max(results, key=key), min(results, key=key)


# ---------------------------------------------------------------------- 1, 2: appends


def append_batches(settings: Settings, directory: Path, pool: Sequence[MessageExt]) -> float:
    """Messages/s of ``put_messages`` in batches until ``total_bytes`` are stored."""
    batches = [pool[i : i + BATCH] for i in range(0, len(pool) - BATCH + 1, BATCH)]
    with MessageStore.open(store_config(settings, fresh(directory))) as store:
        put = store.put_messages
        written = count = 0
        started = time.perf_counter()
        for batch in itertools.cycle(batches):
            result = put(batch)
            written += result.wrote_bytes
            count += len(batch)
            if written >= settings.total_bytes:
                break
        elapsed = time.perf_counter() - started
        assert store.statistics().put_messages == count
    return count / elapsed


def append_singles(settings: Settings, directory: Path, pool: Sequence[MessageExt]) -> float:
    """Messages/s of ``put_message`` one at a time until ``single_bytes`` are stored."""
    with MessageStore.open(store_config(settings, fresh(directory))) as store:
        put = store.put_message
        written = count = 0
        started = time.perf_counter()
        for message in itertools.cycle(pool):
            written += put(message).wrote_bytes
            count += 1
            if written >= settings.single_bytes:
                break
        elapsed = time.perf_counter() - started
    shutil.rmtree(directory)
    return count / elapsed


# ---------------------------------------------------------------------- 3: SYNC_FLUSH


@dataclass(frozen=True, slots=True)
class SyncResult:
    acknowledged_per_s: float
    fsyncs_per_s: float

    @property
    def per_fsync(self) -> float:
        return self.acknowledged_per_s / self.fsyncs_per_s if self.fsyncs_per_s else 0.0


async def _asyncio_writers(
    store: MessageStore,
    pool: Sequence[MessageExt],
    seconds: float,
    *,
    listener: bool,
    group: bool = True,
) -> int:
    """64 tasks append one message each and await durability; returns acknowledgements.

    With ``listener`` (a broker's way), the writers of one loop iteration ask for one
    flush together (one ``flush_future`` for the highest end offset), and one flush
    listener hands each group commit's flushed offset to the loop with one
    ``call_soon_threadsafe``; the loop keeps that offset, so a writer learns whether it
    must wait without asking the store. With ``group`` the writers that append before a
    flush is asked for share one future, resolved when that flush covers them all (one
    future per group commit); without, each writer has its own future in a FIFO of
    (end offset, future): appends on one loop end in offset order, so a group commit
    releases a prefix of it (what rmq-broker's FlushWaiter does). Without ``listener``,
    each writer awaits ``wrap_future(flush_future(end))``: a future and a thread
    hand-off per message.
    """
    loop = asyncio.get_running_loop()
    waiting: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()
    highest = 0  # end offset that the next flush request asks for
    flushed = store.flushed_offset  # as the listener last reported it
    requested = False  # a request is scheduled for this loop iteration
    current: asyncio.Future[None] | None = None  # the group of the next flush request

    def request_flush() -> None:
        nonlocal requested, current
        requested = False
        if group and current is not None:
            waiting.append((highest, current))
            current = None
        store.flush_future(highest)  # wakes the flush thread; the listener answers

    def release(offset: int) -> None:
        nonlocal flushed
        flushed = max(flushed, offset)
        while waiting and waiting[0][0] <= offset:
            future = waiting.popleft()[1]
            if not future.done():
                future.set_result(None)

    def on_flush(offset: int) -> None:  # on the flush thread, once per group commit
        loop.call_soon_threadsafe(release, offset)

    acknowledged = 0
    deadline = loop.time() + seconds
    append = store.append_messages

    async def writer(n: int) -> None:
        nonlocal acknowledged, highest, requested, current
        i = n
        while loop.time() < deadline:
            end = append((pool[i % len(pool)],)).end_offset
            i += WRITERS
            if not listener:
                await asyncio.wrap_future(store.flush_future(end))
            elif flushed < end:
                if end > highest:
                    highest = end
                if not requested:
                    requested = True
                    loop.call_soon(request_flush)
                if group:
                    if current is None:
                        current = loop.create_future()
                    await current
                else:
                    future = loop.create_future()
                    waiting.append((end, future))
                    await future
            acknowledged += 1

    if listener:
        store.add_flush_listener(on_flush)
    try:
        async with asyncio.TaskGroup() as tasks:
            for n in range(WRITERS):
                tasks.create_task(writer(n))
    finally:
        if listener:
            store.remove_flush_listener(on_flush)
    return acknowledged


def _thread_writers(store: MessageStore, pool: Sequence[MessageExt], seconds: float) -> int:
    """64 threads call ``put_message`` (which blocks until durable); returns acknowledgements."""
    counts = [0] * WRITERS
    deadline = time.perf_counter() + seconds
    start = threading.Barrier(WRITERS)

    def writer(n: int) -> None:
        start.wait()
        i = n
        while time.perf_counter() < deadline:
            store.put_message(pool[i % len(pool)])
            i += WRITERS
            counts[n] += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop when it is installed (as rmq-broker runs), else asyncio's."""
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def sync_flush(
    settings: Settings, directory: Path, pool: Sequence[MessageExt], mode: str
) -> SyncResult:
    config = store_config(settings, fresh(directory), flush_disk_type=FlushDiskType.SYNC_FLUSH)
    with MessageStore.open(config) as store:
        flushes = store.statistics().flush.flushes
        started = time.perf_counter()
        if mode == "threads":
            acknowledged = _thread_writers(store, pool, settings.sync_seconds)
        else:
            coroutine = _asyncio_writers(
                store,
                pool,
                settings.sync_seconds,
                listener=mode in ("group", "listener"),
                group=mode == "group",
            )
            with asyncio.Runner(loop_factory=new_event_loop) as runner:
                acknowledged = runner.run(coroutine)
        elapsed = time.perf_counter() - started
        flushes = store.statistics().flush.flushes - flushes
    shutil.rmtree(directory)
    return SyncResult(acknowledged / elapsed, flushes / elapsed)


# ---------------------------------------------------------------------- 4: reads


def read_queue(config: StoreConfig) -> tuple[float, int]:
    """Messages/s reading queue 0 from its start with ``get_messages(max_count=32)``."""
    with MessageStore.open(config) as store:
        get = store.get_messages
        offset = count = 0
        end = store.get_max_offset_in_queue(TOPIC, 0)
        started = time.perf_counter()
        while offset < end:
            result = get(TOPIC, 0, offset, max_count=32)
            count += len(result.messages)
            offset = result.next_begin_offset
            del result  # release the views before the store closes
        elapsed = time.perf_counter() - started
    assert count == end
    return count / elapsed, count


# ---------------------------------------------------------------------- 5: recovery


@dataclass(frozen=True, slots=True)
class RecoveryFigures:
    mb_per_s: float
    scanned_bytes: int
    records: int
    seconds: float


def abnormal_recovery(config: StoreConfig, first_timestamp: int) -> RecoveryFigures:
    """Reopen with ``abort`` present and the checkpoint rewound to the first record."""
    root = config.store_path_root_dir
    checkpoint = StoreCheckpoint(root)
    checkpoint.physic_msg_timestamp = checkpoint.logics_msg_timestamp = first_timestamp + 3000
    checkpoint.close()
    AbortMarker.create(root)
    with MessageStore.open(config, start_services=False) as store:
        info = store.recovery
    assert info.abnormal
    assert info.scan_from == 0
    assert info.truncated_bytes == 0
    scanned = info.max_offset - info.scan_from
    return RecoveryFigures(
        scanned / info.seconds / 1e6, scanned, info.records_scanned, info.seconds
    )


# ---------------------------------------------------------------------- main


def run(settings: Settings) -> None:
    root = settings.root
    phases = settings.phases
    record = len(encode_message(make_messages(1, settings.body_size)[0]))
    pool = make_messages(min(200_000, settings.total_bytes // record + BATCH), settings.body_size)
    print(
        f"messages: {settings.body_size} B body, {record} B record, {QUEUES} queues, "
        f"{len(pool):,} distinct; segments {settings.segment_size / MiB:,.0f} MiB; "
        f"best of {settings.rounds} rounds [worst]"
    )

    main = root / "main"
    if 1 in phases:
        settle(settings)
        raws = sorted(raw_write_bandwidth(root, settings.raw_bytes) for _ in range(settings.rounds))
        best, worst = best_of(
            settings, "batch append", lambda: append_batches(settings, main, pool), key=float
        )
        append_mb = best * record / 1e6
        print(
            f"1. batch append ({BATCH}/batch, ASYNC_FLUSH, {settings.total_bytes / GiB:.2f} "
            f"GiB): {best:,.0f} msgs/s [{worst:,.0f}] = {append_mb:,.0f} MB/s"
        )
        print(
            f"   raw sequential write of the same disk (os.write 1 MiB + fdatasync, "
            f"{settings.raw_bytes / GiB:.2f} GiB): {raws[-1]:,.0f} MB/s [{raws[0]:,.0f}]; "
            f"append/raw = {append_mb / raws[-1]:.2f}"
        )
    elif phases & {4, 5}:
        append_batches(settings, main, pool)  # the store that 4 and 5 read

    if 2 in phases:
        best, worst = best_of(
            settings,
            "single append",
            lambda: append_singles(settings, root / "single", pool),
            float,
        )
        print(f"2. single-message append (put_message, ASYNC_FLUSH): {best:,.0f} msgs/s "
              f"[{worst:,.0f}]")  # fmt: skip

    if 3 in phases:
        settle(settings)
        fsyncs = sorted(
            raw_fsync_rate(root, settings.fsync_seconds) for _ in range(settings.rounds)
        )
        print(f"3. SYNC_FLUSH, {WRITERS} writers; raw fsync rate of the same disk (4 KiB write "
              f"+ fdatasync): {fsyncs[-1]:,.0f}/s [{fsyncs[0]:,.0f}]")  # fmt: skip
        probe = new_event_loop()
        print(f"   event loop: {type(probe).__module__.split('.')[0]}")
        probe.close()
        for mode, label in (
            ("group", "asyncio tasks, a future per group"),
            ("listener", "asyncio tasks, a future per writer"),
            ("wrap_future", "asyncio tasks, wrap_future per message"),
            ("threads", "threads, put_message"),
        ):
            sync, sync_worst = best_of(
                settings,
                f"SYNC_FLUSH {label}",
                functools.partial(sync_flush, settings, root / "sync", pool, mode),
                key=lambda r: r.acknowledged_per_s,
            )
            print(
                f"   {label + ':':<39} {sync.acknowledged_per_s:,.0f} acknowledged msgs/s "
                f"[{sync_worst.acknowledged_per_s:,.0f}], {sync.fsyncs_per_s:,.0f} fsyncs/s "
                f"({sync.fsyncs_per_s / fsyncs[-1]:.2f} of raw), {sync.per_fsync:.1f} msgs/fsync"
            )

    config = store_config(settings, main)
    if 4 in phases:
        (rate, count), (worst_rate, _) = best_of(
            settings, "get_messages", lambda: read_queue(config), key=lambda r: r[0]
        )
        print(f"4. get_messages(max_count=32), queue 0 from its start ({count:,} msgs): "
              f"{rate:,.0f} msgs/s [{worst_rate:,.0f}]")  # fmt: skip

    if 5 in phases:
        with MessageStore.open(config, start_services=False) as store:
            first = store.get_earliest_message_time()
        assert first is not None
        recovered, worst_recovered = best_of(
            settings,
            "abnormal recovery",
            lambda: abnormal_recovery(config, first),
            key=lambda r: r.mb_per_s,
        )
        print(
            f"5. abnormal recovery scan ({recovered.scanned_bytes / GiB:.2f} GiB, "
            f"{recovered.records:,} records in {recovered.seconds:.2f} s): "
            f"{recovered.mb_per_s:,.0f} MB/s [{worst_recovered.mb_per_s:,.0f}]"
        )


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-gib", type=float, default=2.0, help="bytes appended in 1")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--dir", type=Path, help="where the stores go (default: a temp dir in this repository)"
    )
    parser.add_argument(
        "--only", default="1,2,3,4,5", help="the phases to run, e.g. 1,4 (4 and 5 need a store)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile each phase")
    parser.add_argument("--quick", action="store_true", help="a few MB, for a smoke test")
    args = parser.parse_args()

    base = args.dir if args.dir is not None else Path(__file__).resolve().parents[3]
    base.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=".bench-store-", dir=base))
    total = int(4 * MiB if args.quick else args.size_gib * GiB)
    settings = Settings(
        root=root,
        total_bytes=total,
        single_bytes=total // 4,
        segment_size=MiB if args.quick else GiB,
        raw_bytes=4 * MiB if args.quick else GiB,
        sync_seconds=0.2 if args.quick else 3.0,
        fsync_seconds=0.1 if args.quick else 2.0,
        body_size=1024,
        rounds=1 if args.quick else max(args.rounds, 1),
        profile=args.profile,
        phases=frozenset(int(phase) for phase in args.only.split(",")),
        settle=not args.quick,
    )
    try:
        describe_machine(root)
        run(settings)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
