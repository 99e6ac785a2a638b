"""Kill test: a child appends and is SIGKILLed at random moments; no acknowledged message is lost.

The issue's requirement: "A child process appends with SYNC_FLUSH and reports each
acknowledged offset through a pipe; the parent kills it with SIGKILL at random moments (at
least 20 rounds, seeded); after reopening, every acknowledged message is present and
byte-identical, and ``verify`` passes."

Every round starts a child (``crash_child.py``) on the *same* store directory, so each
child recovers what the previous one left: abnormal recovery after a kill, normal recovery
after the parent's clean check. The child reports one ``ack`` line per record after
``put_messages`` returned; the parent keeps only whole lines. Most rounds wait for the
child's ``open`` line and kill it 20-300 ms later, while its writer threads (one to four:
the group-commit path) append; some kill it at a random moment of start-up or recovery.
Every ``CHECK_EVERY`` rounds and at the end the parent reopens the store and checks:

* every acknowledged record is at its phy offset with the same bytes (sha256 of the record
  as the child read it back) and the same sender fields (topic, queue, flag, hosts,
  properties, body: :func:`crash_child.content_digest`), and the consume queue returns
  that record at the acknowledged queue offset;
* no two acknowledgements share a phy offset or a queue offset;
* the whole commit log: every record's PHYSICALOFFSET is where it is, queue offsets are
  unique and, per queue, contiguous from 0 to the queue's max offset, and each queue unit
  points at its record;
* ``recovery.abnormal`` is True exactly when the previous child was killed after opening;
* after a clean close, ``python -m rmq_store verify STORE_DIR`` exits 0.

The same campaign runs with ASYNC_FLUSH (a third of the rounds): acknowledged records
need not be flushed, but SIGKILL leaves the page cache, so what survives must be a prefix
of them in commit-log order (no holes), and in fact all of them.

Seeded: ``RMQ_CRASH_SEED`` (default 20261121) and ``RMQ_CRASH_ROUNDS`` (default 24) are
read when the test runs and printed in every assertion message, so a failure reproduces
with the same two variables.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
import random
import select
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Final

import pytest

from rmq_protocol.codec.message import MessageExt, decode_message
from rmq_store.config import FlushDiskType, StoreConfig
from rmq_store.store import GetMessageStatus, MessageStore

CHILD: Final = Path(__file__).resolve().with_name("crash_child.py")
DEFAULT_SEED: Final = 20261121
DEFAULT_ROUNDS: Final = 24
CHECK_EVERY: Final = 5  # rounds between the parent's full checks
EARLY_KILL_RATE: Final = 0.15  # rounds killed without waiting for the child to open
OPEN_TIMEOUT: Final = 60.0  # seconds for a child to start and recover
EXIT_TIMEOUT: Final = 30.0  # seconds for a killed child to be reaped and its pipe to close


def _load_child() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rmq_store_crash_child", CHILD)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_child = _load_child()
crash_config: Callable[[Path, FlushDiskType], StoreConfig] = _child.crash_config
content_digest: Callable[[MessageExt], str] = _child.content_digest


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Ack:
    """One acknowledged record, as the child reported it."""

    round_no: int
    writer: int
    phy_offset: int
    size: int
    topic: str
    queue_id: int
    queue_offset: int
    content: str  # content_digest of the message sent
    record: str  # sha256 of the stored record, read back after the put returned

    @classmethod
    def parse(cls, round_no: int, line: str) -> Ack:
        _, writer, phy, size, topic, queue_id, queue_offset, content, record = line.split(" ")
        return cls(
            round_no=round_no,
            writer=int(writer),
            phy_offset=int(phy),
            size=int(size),
            topic=topic,
            queue_id=int(queue_id),
            queue_offset=int(queue_offset),
            content=content,
            record=record,
        )


class _LineReader:
    """Whole lines from a pipe, read without blocking past a deadline."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._pending = b""
        self.lines: list[str] = []
        self.eof = False

    @property
    def opened(self) -> bool:
        return any(line.startswith("open ") for line in self.lines)

    def pump(self, deadline: float, *, until_open: bool = False) -> None:
        """Read until ``deadline``, the end of the pipe or (``until_open``) the open line."""
        while not self.eof and not (until_open and self.opened):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            ready, _, _ = select.select([self._fd], [], [], remaining)
            if ready:
                chunk = os.read(self._fd, 1 << 16)
                if not chunk:
                    self.eof = True
                    return
                *complete, self._pending = (self._pending + chunk).split(b"\n")
                self.lines.extend(line.decode() for line in complete)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RoundResult:
    opened: bool
    abnormal: bool | None  # what the child's recovery saw (None: it never opened)
    recovered_max_offset: int | None
    acks: list[Ack]
    writers_acked: int  # writer threads that acknowledged at least one put


@dataclasses.dataclass(kw_only=True)
class Campaign:
    """Rounds of kill-and-recover on one store directory, and the parent's checks."""

    root: Path
    flush: FlushDiskType
    seed: int
    rounds: int
    env_rounds: int  # RMQ_CRASH_ROUNDS, for the reproduction hint
    log: Path  # the children's stderr
    acks: list[Ack] = dataclasses.field(default_factory=list)
    abort_expected: bool | None = False  # a fresh directory has no abort file
    multi_writer_rounds: int = 0  # rounds where several writer threads were acknowledged

    def context(self, round_no: int) -> str:
        return (
            f"{self.flush} seed={self.seed} rounds={self.rounds}, round {round_no} (reproduce: "
            f"RMQ_CRASH_SEED={self.seed} RMQ_CRASH_ROUNDS={self.env_rounds}; children's stderr "
            f"in {self.log})"
        )

    def _stderr_tail(self) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text[-3000:]

    def run_round(self, round_no: int, *, writers: int, delay: float, wait_open: bool) -> None:
        """Start a child, kill it ``delay`` seconds after it opened (or after it started,
        when not ``wait_open``), and record what it acknowledged."""
        context = self.context(round_no)
        result = self._run_child(round_no, writers=writers, delay=delay, wait_open=wait_open)
        if result.opened:
            if self.abort_expected is not None:
                assert result.abnormal is self.abort_expected, (
                    f"{context}: child's recovery.abnormal is {result.abnormal}, expected "
                    f"{self.abort_expected}"
                )
            acked_end = max((a.phy_offset + a.size for a in self.acks), default=0)
            assert result.recovered_max_offset is not None
            assert result.recovered_max_offset >= acked_end, (
                f"{context}: recovery ended the commit log at {result.recovered_max_offset}, "
                f"before acknowledged data ending at {acked_end}"
            )
            self.abort_expected = True  # killed after the abort file was created
        elif not self.abort_expected:
            self.abort_expected = None  # killed before or after creating it: unknown
        if result.writers_acked > 1:
            self.multi_writer_rounds += 1
        self.acks.extend(result.acks)

    def _run_child(
        self, round_no: int, *, writers: int, delay: float, wait_open: bool
    ) -> RoundResult:
        context = self.context(round_no)
        args = [str(self.root), str(self.seed), str(round_no), str(self.flush), str(writers)]
        with self.log.open("ab") as stderr:
            stderr.write(f"--- round {round_no}: {writers} writers\n".encode())
            stderr.flush()
            child = subprocess.Popen(  # noqa: S603 - our own interpreter and script
                [sys.executable, str(CHILD), *args], stdout=subprocess.PIPE, stderr=stderr
            )
        assert child.stdout is not None
        reader = _LineReader(child.stdout.fileno())
        try:
            if wait_open:
                reader.pump(time.monotonic() + OPEN_TIMEOUT, until_open=True)
                if not reader.opened:
                    status = child.wait(timeout=EXIT_TIMEOUT) if reader.eof else "still running"
                    pytest.fail(
                        f"{context}: the child did not open the store (exit {status}):\n"
                        f"{self._stderr_tail()}"
                    )
            reader.pump(time.monotonic() + delay)  # the random kill moment
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=EXIT_TIMEOUT)
            reader.pump(time.monotonic() + EXIT_TIMEOUT)
            child.stdout.close()
        assert reader.eof, f"{context}: the child's stdout stayed open after SIGKILL"
        errors = [line for line in reader.lines if line.startswith("error ")]
        assert not errors, f"{context}: the child failed: {errors}\n{self._stderr_tail()}"
        assert child.returncode == -signal.SIGKILL, (
            f"{context}: the child exited with {child.returncode} before it was killed:\n"
            f"{self._stderr_tail()}"
        )
        opened = [line.split(" ") for line in reader.lines if line.startswith("open ")]
        acks = [Ack.parse(round_no, line) for line in reader.lines if line.startswith("ack ")]
        assert len(opened) <= 1
        assert len(opened) + len(acks) == len(reader.lines), f"{context}: {reader.lines}"
        return RoundResult(
            opened=bool(opened),
            abnormal=opened[0][1] == "1" if opened else None,
            recovered_max_offset=int(opened[0][2]) if opened else None,
            acks=acks,
            writers_acked=len({a.writer for a in acks}),
        )

    # ------------------------------------------------------------------ the parent's checks

    def check(self, round_no: int, *, prefix_only: bool = False) -> None:
        """Reopen the store and check it (module docstring), close it, run ``verify``.

        ``prefix_only`` (ASYNC_FLUSH): first check that the acknowledged records that
        survived are a prefix, in commit-log order, of all acknowledged records.
        """
        context = self.context(round_no)
        store = MessageStore.open(crash_config(self.root, self.flush))
        try:
            if self.abort_expected is not None:
                assert store.recovery.abnormal is self.abort_expected, (
                    f"{context}: parent's recovery.abnormal is {store.recovery.abnormal}, "
                    f"expected {self.abort_expected}"
                )
            if prefix_only:
                _check_prefix(store, self.acks, context)
            _check_acks(store, self.acks, context)
            _check_log_and_queues(store, context)
            segments = len(store.commit_log.segments)
        finally:
            store.close()
        self.abort_expected = False  # closed cleanly
        assert segments > 1, f"{context}: the commit log never rolled over a segment"
        verify = subprocess.run(  # noqa: S603 - our own interpreter
            [sys.executable, "-m", "rmq_store", "verify", str(self.root)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert verify.returncode == 0, (
            f"{context}: verify exited {verify.returncode}:\n{verify.stdout}{verify.stderr}"
        )


def _stored_record(store: MessageStore, phy_offset: int) -> bytes | None:
    view = store.read_message(phy_offset)
    if view is None:
        return None
    try:
        return bytes(view)
    finally:
        view.release()


def _check_prefix(store: MessageStore, acks: Sequence[Ack], context: str) -> None:
    in_order = sorted(acks, key=lambda a: a.phy_offset)
    survived = []
    for ack in in_order:
        stored = _stored_record(store, ack.phy_offset)
        survived.append(stored is not None and hashlib.sha256(stored).hexdigest() == ack.record)
    lost = survived.index(False) if False in survived else len(survived)
    holes = [a for a, ok in zip(in_order[lost:], survived[lost:], strict=True) if ok]
    assert not holes, (
        f"{context}: acknowledged record at {in_order[lost].phy_offset} is lost but "
        f"{len(holes)} later ones survived (first at {holes[0].phy_offset}): not a prefix"
    )


def _check_acks(store: MessageStore, acks: Sequence[Ack], context: str) -> None:
    by_phy: dict[int, Ack] = {}
    by_queue_offset: dict[tuple[str, int, int], Ack] = {}
    for ack in acks:
        where = f"{context}: ack of round {ack.round_no} writer {ack.writer} at {ack.phy_offset}"
        assert ack.phy_offset not in by_phy, f"{where}: phy offset acknowledged twice"
        by_phy[ack.phy_offset] = ack
        key = (ack.topic, ack.queue_id, ack.queue_offset)
        assert key not in by_queue_offset, (
            f"{where}: queue offset {key} acknowledged twice (also {by_queue_offset[key]})"
        )
        by_queue_offset[key] = ack

        stored = _stored_record(store, ack.phy_offset)
        assert stored is not None, f"{where}: record lost (max offset {store.max_phy_offset})"
        assert len(stored) == ack.size, f"{where}: {len(stored)} bytes, acknowledged {ack.size}"
        assert hashlib.sha256(stored).hexdigest() == ack.record, f"{where}: record bytes differ"
        message, _ = decode_message(stored, decompress=False, check_crc=True)
        assert (
            message.topic,
            message.queue_id,
            message.queue_offset,
            message.commit_log_offset,
        ) == (ack.topic, ack.queue_id, ack.queue_offset, ack.phy_offset), where
        assert content_digest(message) == ack.content, f"{where}: message fields differ"

        got = store.get_messages(ack.topic, ack.queue_id, ack.queue_offset, max_count=1)
        try:
            assert got.status is GetMessageStatus.FOUND, f"{where}: queue says {got.status}"
            assert got.queue_offsets == [ack.queue_offset], where
            assert bytes(got.messages[0]) == stored, f"{where}: queue returns other bytes"
        finally:
            for view in got.messages:
                view.release()


def _check_log_and_queues(store: MessageStore, context: str) -> None:
    units: dict[tuple[str, int], dict[int, int]] = defaultdict(dict)  # queue offset → phy
    for record in store.commit_log.scan(store.min_phy_offset, check_crc=True):
        message = record.message
        where = f"{context}: record at {record.phy_offset}"
        assert message.commit_log_offset == record.phy_offset, (
            f"{where}: PHYSICALOFFSET field is {message.commit_log_offset}"
        )
        queue = units[(message.topic, message.queue_id)]
        assert message.queue_offset not in queue, (
            f"{where}: {message.topic}/{message.queue_id} queue offset {message.queue_offset} "
            f"also stored at {queue.get(message.queue_offset)}"
        )
        queue[message.queue_offset] = record.phy_offset
    stored_queues = {(t, q) for t in store.topics() for q in store.queue_ids(t)}
    assert stored_queues == set(units), f"{context}: queues {stored_queues} vs records"
    for (topic, queue_id), queue in units.items():
        name = f"{context}: queue {topic}/{queue_id}"
        low = store.get_min_offset_in_queue(topic, queue_id)
        high = store.get_max_offset_in_queue(topic, queue_id)
        assert low == 0, f"{name}: min offset {low}"
        missing = sorted(set(range(low, high)) - set(queue))
        extra = sorted(set(queue) - set(range(low, high)))
        assert not missing, f"{name}: no record for queue offsets {missing[:10]}"
        assert not extra, f"{name}: records past max offset {high}: {extra[:10]}"
        for queue_offset, phy in queue.items():
            unit = store.get_commit_log_offset_in_queue(topic, queue_id, queue_offset)
            assert unit == phy, f"{name}: offset {queue_offset} → {unit}, record at {phy}"


def _settings() -> tuple[int, int]:
    seed = int(os.environ.get("RMQ_CRASH_SEED", str(DEFAULT_SEED)))
    rounds = int(os.environ.get("RMQ_CRASH_ROUNDS", str(DEFAULT_ROUNDS)))
    assert rounds >= 1, f"RMQ_CRASH_ROUNDS={rounds}"
    return seed, rounds


def _campaign(
    tmp_path: Path,
    flush: FlushDiskType,
    *,
    seed: int,
    rounds: int,
    env_rounds: int,
    prefix_only: bool = False,
) -> Campaign:
    campaign = Campaign(
        root=tmp_path / "store",
        flush=flush,
        seed=seed,
        rounds=rounds,
        env_rounds=env_rounds,
        log=tmp_path / "child.err",
    )
    rng = random.Random(f"{seed}:{flush}")
    for round_no in range(rounds):
        writers = rng.choice((1, 1, 2, 4))
        early = rng.random() < EARLY_KILL_RATE  # during start-up, recovery or the first puts
        delay = rng.uniform(0, 0.6) if early else rng.uniform(0.02, 0.3)  # seconds
        campaign.run_round(round_no, writers=writers, delay=delay, wait_open=not early)
        if (round_no + 1) % CHECK_EVERY == 0 or round_no == rounds - 1:
            campaign.check(round_no, prefix_only=prefix_only)
    context = campaign.context(rounds - 1)
    assert len(campaign.acks) >= rounds, f"{context}: only {len(campaign.acks)} acks in all"
    return campaign


@pytest.mark.slow
def test_sync_flush_keeps_every_acknowledged_message_across_sigkills(tmp_path: Path) -> None:
    seed, rounds = _settings()
    campaign = _campaign(
        tmp_path, FlushDiskType.SYNC_FLUSH, seed=seed, rounds=rounds, env_rounds=rounds
    )
    if rounds >= 10:  # the default run must exercise group commit
        assert campaign.multi_writer_rounds > 0, campaign.context(rounds - 1)


@pytest.mark.slow
def test_async_flush_survivors_are_a_prefix_of_acknowledged(tmp_path: Path) -> None:
    """ASYNC_FLUSH acknowledges before the flush; SIGKILL leaves the page cache, so what
    survives must be a prefix of the acknowledged records in commit-log order (no holes),
    and in fact all of them."""
    seed, rounds = _settings()
    _campaign(
        tmp_path,
        FlushDiskType.ASYNC_FLUSH,
        seed=seed,
        rounds=max(4, rounds // 3),
        env_rounds=rounds,
        prefix_only=True,
    )
