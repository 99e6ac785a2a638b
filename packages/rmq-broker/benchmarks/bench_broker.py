"""Throughput and latency of a broker over the remoting protocol, as clients see them.

Run: ``python benchmarks/bench_broker.py [--messages 1000000] [--quick] [--only ROWS]
[--dir DIR] [--py-spy DIR]``.

The script starts ``rmq standalone`` (``python -m rmq_cli standalone``; where rmq-cli is
not installed, ``python -m rmq_broker`` without a NameServer) as a subprocess on free
ports of 127.0.0.1 with its data in a temporary directory (ASYNC_FLUSH, ``--sync-flush``
for SYNC_FLUSH; 1 GiB commit-log segments), and loads it with requests built by
rmq-protocol's codec and sent over its transport (no client library): 1 KiB bodies with
TAGS, UNIQ_KEY and WAIT properties, as Java's ``DefaultMQProducer`` sends them, to topics
of 8 queues created first with UPDATE_AND_CREATE_TOPIC. Rows:

1. ``send``: SEND_MESSAGE_V2, 64 requests in flight on one connection, queues in turn;
   msgs/s and the p50/p99 of the request latency;
2. ``batch``: SEND_BATCH_MESSAGE of 64 messages per request, 8 requests in flight;
3. ``pull``: PULL_MESSAGE of 32 messages per request, draining the backlog row 2 left
   (``--messages``, 1,000,000 by default) from all 8 queues, 2 requests in flight per
   queue (16 in all), on one connection;
4. ``single``: SEND_MESSAGE_V2, one at a time, one in flight: p50/p99 latency;
5. ``wake``: long polling. A consumer's PULL_MESSAGE waits (parked) at the end of an
   empty queue; 2 ms later a producer sends one message there. Latency = from the send
   request to the woken pull's response at the client; beside it, from the send's
   acknowledgement to the pull's response (both arrive on the same client loop; the
   broker wakes the pull while it stores the message, so this is about 0 and negative
   when the pull's response is read first), and the send's own acknowledgement time:
   after the 2 ms pause both processes wake from idle, which costs more than the
   wake-up itself (compare row 4, sends back to back).

Beside each rate: the broker process's CPU time per message (user + system, all its
threads, from ``/proc/<pid>/stat`` before and after the row: 10 ms resolution; below
it the system share and the event-loop thread's share, the rest being the store's
flush, prefault and maintenance threads) and the load generator's own CPU per message
(``time.process_time``), because both share this machine's cores. Figures are one run;
the machine's other load is printed first.
``--py-spy DIR`` records a py-spy profile of the broker for each row into DIR
(``py-spy`` must be on PATH); ``--quick`` is a smoke run of a few seconds
(tests/test_bench_smoke.py).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import platform
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import orjson

from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand, encode_command
from rmq_protocol.codec.headers import (
    CreateTopicRequestHeader,
    GetMaxOffsetRequestHeader,
    GetMaxOffsetResponseHeader,
    PullMessageRequestHeader,
    SendMessageRequestHeaderV2,
)
from rmq_protocol.codec.message import BatchEntry, encode_batch
from rmq_protocol.codec.properties import TAGS, UNIQ_KEY, WAIT_STORE_MSG_OK, encode_properties
from rmq_protocol.transport import Connection, RemotingClient, run, uvloop_available

QUEUES = 8
SEND_INFLIGHT = 64
BATCH_SIZE = 64
BATCH_INFLIGHT = 8
PULL_BATCH = 32
PULL_DEPTH = 2  # requests in flight per queue
WAKE_PAUSE = 0.002  # seconds between parking the pull and sending
POOL = 4096  # distinct requests built up front and sent in turn (UNIQ_KEYs repeat after)
TIMEOUT = 30.0
GROUP = "bench_producer"
CONSUMER_GROUP = "bench_consumer"
ROWS = ("send", "batch", "pull", "single", "wake")
FLAG_SUSPEND = 0x2
FLAG_SUBSCRIPTION = 0x4


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    messages: int  # batch row; the pull row drains them
    send_messages: int
    single_messages: int
    wake_rounds: int
    body_size: int
    segment_size: int
    rows: frozenset[str]
    sync_flush: bool
    root: Path
    py_spy: Path | None


@dataclass(slots=True, kw_only=True)
class Row:
    key: str  # short name (--only, profile file names)
    name: str
    messages: int = 0
    seconds: float = 0.0
    broker_cpu: float = 0.0  # seconds, user + system
    broker_sys: float = 0.0  # seconds, system
    broker_loop: float = 0.0  # seconds, user + system of the event-loop (main) thread
    client_cpu: float = 0.0  # seconds
    settle_seconds: float = 0.0  # waited for the broker to go idle before the row
    latencies: list[float] = field(default_factory=list)  # seconds
    extra: str = ""
    target: str = ""

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


# ---------------------------------------------------------------------- the machine


def describe_machine(root: Path) -> None:
    cpu = "?"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    loop = "uvloop" if uvloop_available() else "asyncio"
    print(f"machine: {os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}")
    print(f"python:  {platform.python_implementation()} {platform.python_version()}, {loop}")
    print(f"load:    {load} (1/5/15 min, before the run)")
    print(f"dir:     {root}")


# ---------------------------------------------------------------------- the broker


class BrokerProcess:
    """``rmq standalone`` (or ``python -m rmq_broker``) in a subprocess."""

    def __init__(self, root: Path, segment_size: int, *, sync_flush: bool = False) -> None:
        self.root = root
        conf = root / "broker.conf"
        lines = [
            "brokerName=bench-broker",
            f"flushDiskType={'SYNC_FLUSH' if sync_flush else 'ASYNC_FLUSH'}",
            f"mappedFileSizeCommitLog={segment_size}",
        ]
        self.standalone = importlib.util.find_spec("rmq_cli") is not None
        if self.standalone:
            command = [
                sys.executable, "-m", "rmq_cli", "standalone", "-c", str(conf),
                "--namesrv-port", "0", "--broker-port", "0", "--data-dir", str(root / "data"),
            ]  # fmt: skip
        else:
            lines += ["listenPort=0", "bindAddress=127.0.0.1", f"storePathRootDir={root / 'store'}"]
            command = [sys.executable, "-m", "rmq_broker", "-c", str(conf)]
        conf.write_text("\n".join(lines) + "\n")
        self.log = root / "broker.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
                command, stdout=subprocess.PIPE, stderr=log, text=True
            )
        self.address = self._wait_address()
        self.pid = self.process.pid

    def _wait_address(self, timeout: float = 30.0) -> str:
        assert self.process.stdout is not None
        pattern = re.compile(r"listening on (\S+?)," if self.standalone else r", (\S+?)\] boot")
        deadline = time.monotonic() + timeout
        for line in self.process.stdout:
            found = pattern.search(line)
            if found:
                return found.group(1)
            if time.monotonic() > deadline:
                break
        self.stop()
        raise RuntimeError(f"the broker did not start; its log:\n{self.log.read_text()}")

    def cpu_seconds(self) -> tuple[float, float, float]:
        """User and system CPU of every thread of the broker so far, and user + system
        of its main thread (the event loop; the rest is the store's threads)."""
        tick = os.sysconf("SC_CLK_TCK")
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        with open(f"/proc/{self.pid}/task/{self.pid}/stat") as stat:
            main = stat.read().rpartition(")")[2].split()
        return (
            int(fields[11]) / tick,
            int(fields[12]) / tick,
            (int(main[11]) + int(main[12])) / tick,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


# ---------------------------------------------------------------------- requests


def properties(index: int, *, wait: bool = True) -> dict[str, str]:
    props = {TAGS: "TagA", UNIQ_KEY: f"7F000001{os.getpid():08X}{index:016X}"}
    if wait:
        props[WAIT_STORE_MSG_OK] = "true"
    return props


def send_request(topic: str, queue_id: int, index: int, body: bytes) -> RemotingCommand:
    header = SendMessageRequestHeaderV2(
        producer_group=GROUP,
        topic=topic,
        default_topic="TBW102",
        default_topic_queue_nums=QUEUES,
        queue_id=queue_id,
        sys_flag=0,
        born_timestamp=int(time.time() * 1000),
        flag=0,
        properties=encode_properties(properties(index)),
        reconsume_times=0,
        unit_mode=False,
        batch=False,
    )
    return RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, header, body=body)


def batch_request(topic: str, queue_id: int, first: int, body: bytes) -> RemotingCommand:
    entries = [BatchEntry(body=body, properties=properties(first + i)) for i in range(BATCH_SIZE)]
    header = SendMessageRequestHeaderV2(
        producer_group=GROUP,
        topic=topic,
        default_topic="TBW102",
        default_topic_queue_nums=QUEUES,
        queue_id=queue_id,
        sys_flag=0,
        born_timestamp=int(time.time() * 1000),
        flag=0,
        properties=encode_properties({WAIT_STORE_MSG_OK: "true"}),
        reconsume_times=0,
        unit_mode=False,
        batch=True,
    )
    return RemotingCommand.request(
        RequestCode.SEND_BATCH_MESSAGE, header, body=encode_batch(entries)
    )


def pull_request(
    topic: str, queue_id: int, offset: int, *, suspend: bool = False
) -> RemotingCommand:
    header = PullMessageRequestHeader(
        consumer_group=CONSUMER_GROUP,
        topic=topic,
        queue_id=queue_id,
        queue_offset=offset,
        max_msg_nums=PULL_BATCH,
        sys_flag=FLAG_SUBSCRIPTION | (FLAG_SUSPEND if suspend else 0),
        commit_offset=0,
        suspend_timeout_millis=15_000,
        subscription="*",
        sub_version=0,
        expression_type="TAG",
    )
    return RemotingCommand.request(RequestCode.PULL_MESSAGE, header)


def check(response: RemotingCommand, what: str) -> RemotingCommand:
    if response.code != ResponseCode.SUCCESS:
        raise RuntimeError(f"{what}: response {response.code} {response.remark}")
    return response


# ---------------------------------------------------------------------- the raw pipe

_FRAME_HEAD = struct.Struct(">II")  # total length, serialize type << 24 | header length


class RawPipe(asyncio.Protocol):
    """A load-generating connection that costs the client as little as possible.

    Requests are frames encoded before a row starts (each with its own opaque), so a
    row only writes bytes; a response is parsed only as far as a row needs: the frame
    boundaries and the JSON header (orjson), the body left unread. ``on_frames`` is
    called once per read with ``(now, headers)`` and returns the frames to write next,
    written with one ``write``; so with many requests in flight a read of many
    responses costs one timestamp and one write.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self.on_frames: Callable[[float, list[dict[str, object]]], list[bytes]] | None = None
        self.failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @classmethod
    async def open(cls, address: str) -> RawPipe:
        host, _, port = address.rpartition(":")
        _, pipe = await asyncio.get_running_loop().create_connection(cls, host, int(port))
        return pipe

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast("asyncio.Transport", transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.failed.done():
            self.failed.set_exception(ConnectionError(f"the broker closed the connection: {exc}"))

    def write(self, frames: list[bytes]) -> None:
        assert self._transport is not None
        self._transport.write(frames[0] if len(frames) == 1 else b"".join(frames))

    def close(self) -> None:
        if not self.failed.done():
            self.failed.set_result(None)  # closed by us: not a failure
        if self._transport is not None:
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        end = len(buffer)
        at = 0
        headers: list[dict[str, object]] = []
        unpack = _FRAME_HEAD.unpack_from
        while end - at >= 8:
            length, mark = unpack(buffer, at)
            if end - at - 4 < length:
                break
            if mark >> 24:
                raise RuntimeError(f"response header serialised as {mark >> 24}, not JSON")
            start = at + 8
            headers.append(orjson.loads(buffer[start : start + (mark & 0xFFFFFF)]))
            at += 4 + length
        if at:
            del buffer[:at]
        if headers and self.on_frames is not None:
            frames = self.on_frames(time.perf_counter(), headers)
            if frames:
                self.write(frames)


def request_frames(commands: Sequence[RemotingCommand], first_opaque: int = 0) -> list[bytes]:
    """The commands' frames, the i-th with opaque ``first_opaque + i``."""
    return [encode_command(c, opaque=first_opaque + i) for i, c in enumerate(commands)]


async def until_done(pipe: RawPipe, done: asyncio.Future[None], what: str) -> None:
    """Wait for ``done``; a closed connection or a stall of TIMEOUT is an error."""
    try:
        async with asyncio.timeout(TIMEOUT * 10):
            await asyncio.wait([done, pipe.failed], return_when=asyncio.FIRST_COMPLETED)
    except TimeoutError:
        raise RuntimeError(f"{what}: no end after {TIMEOUT * 10:.0f} s") from None
    finally:
        pipe.on_frames = None
    if pipe.failed.done():
        pipe.failed.result()
    done.result()


async def pipelined(
    pipe: RawPipe, frames: Sequence[bytes], count: int, inflight: int,
    latencies: list[float] | None, what: str,
) -> None:  # fmt: skip
    """Send ``count`` requests (``frames`` in turn; their opaques are their indexes)
    keeping ``inflight`` outstanding; every response must be SUCCESS."""
    pool = len(frames)
    if pool < 2 * inflight:
        raise ValueError(f"{what}: {pool} frames cannot keep {inflight} requests in flight")
    started = [0.0] * pool
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    state = [min(inflight, count), 0]  # sent, answered

    def on_frames(now: float, headers: list[dict[str, object]]) -> list[bytes]:
        sent, answered = state
        out: list[bytes] = []
        for header in headers:
            if header["code"] != 0:
                if not done.done():
                    done.set_exception(
                        RuntimeError(f"{what}: response {header['code']} {header.get('remark')}")
                    )
                return []
            opaque = header["opaque"]
            assert isinstance(opaque, int)
            if latencies is not None:
                latencies.append(now - started[opaque])
            answered += 1
            if sent < count:
                slot = sent % pool
                started[slot] = now
                out.append(frames[slot])
                sent += 1
        state[0], state[1] = sent, answered
        if answered >= count and not done.done():
            done.set_result(None)
        return out

    pipe.on_frames = on_frames
    now = time.perf_counter()
    for slot in range(state[0]):
        started[slot] = now
    pipe.write(list(frames[: state[0]]))
    await until_done(pipe, done, what)


async def create_topic(conn: Connection, topic: str, queues: int) -> None:
    header = CreateTopicRequestHeader(
        topic=topic,
        default_topic="TBW102",
        read_queue_nums=queues,
        write_queue_nums=queues,
        perm=6,
        topic_filter_type="SINGLE_TAG",
        order=False,
    )
    cmd = RemotingCommand.request(RequestCode.UPDATE_AND_CREATE_TOPIC, header)
    check(await conn.request(cmd, timeout=TIMEOUT), f"create {topic}")


async def max_offset(conn: Connection, topic: str, queue_id: int) -> int:
    cmd = RemotingCommand.request(
        RequestCode.GET_MAX_OFFSET, GetMaxOffsetRequestHeader(topic=topic, queue_id=queue_id)
    )
    response = check(await conn.request(cmd, timeout=TIMEOUT), "GET_MAX_OFFSET")
    return response.decode_header(GetMaxOffsetResponseHeader).offset


# ---------------------------------------------------------------------- rows


async def settle(broker: BrokerProcess, *, window: float = 0.1, limit: float = 20.0) -> float:
    """Wait until the broker is idle (under 5 % of a core over ``window`` seconds) or
    ``limit`` seconds pass; returns the seconds waited. A row then measures its own work,
    not the tail of the row before (the store's index building and write-back after a
    batch row: the pull row drains a backlog that is already stored)."""
    started = time.perf_counter()
    user, system, _ = broker.cpu_seconds()
    while time.perf_counter() - started < limit:
        await asyncio.sleep(window)
        user1, system1, _ = broker.cpu_seconds()
        busy = (user1 - user + system1 - system) / window
        user, system = user1, system1
        if busy < 0.05:
            break
    return time.perf_counter() - started


async def measure(
    broker: BrokerProcess, settings: Settings, row: Row, work: Callable[[], Awaitable[None]]
) -> Row:
    row.settle_seconds = await settle(broker)
    spy = start_py_spy(broker, settings, row.key)
    (user0, sys0, loop0), client0 = broker.cpu_seconds(), time.process_time()
    t0 = time.perf_counter()
    await work()
    row.seconds = time.perf_counter() - t0
    user1, sys1, loop1 = broker.cpu_seconds()
    row.broker_cpu = user1 - user0 + sys1 - sys0
    row.broker_sys = sys1 - sys0
    row.broker_loop = loop1 - loop0
    row.client_cpu = time.process_time() - client0
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
    return row


def start_py_spy(
    broker: BrokerProcess, settings: Settings, name: str
) -> subprocess.Popen[bytes] | None:
    if settings.py_spy is None:
        return None
    settings.py_spy.mkdir(parents=True, exist_ok=True)
    out = settings.py_spy / f"{name}.txt"
    spy = subprocess.Popen(  # noqa: S603 - py-spy from PATH, asked for by --py-spy
        ["py-spy", "record", "-p", str(broker.pid), "-r", "250", "-f", "raw", "-o", str(out)],  # noqa: S607
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # let it attach
    return spy


async def row_send(
    conn: Connection, pipe: RawPipe, broker: BrokerProcess, settings: Settings, body: bytes
) -> Row:
    topic = "BenchSendV2"
    await create_topic(conn, topic, QUEUES)
    frames = request_frames([send_request(topic, i % QUEUES, i, body) for i in range(POOL)])
    await pipelined(pipe, frames, 2000, SEND_INFLIGHT, None, "warm-up")
    row = Row(key="send", name="1. SEND_MESSAGE_V2, 64 in flight", target=">= 30,000/s")
    row.messages = settings.send_messages
    return await measure(
        broker, settings, row,
        lambda: pipelined(pipe, frames, row.messages, SEND_INFLIGHT, row.latencies, "send"),
    )  # fmt: skip


async def row_batch(
    conn: Connection, pipe: RawPipe, broker: BrokerProcess, settings: Settings, body: bytes
) -> Row:
    topic = "BenchBatch"
    await create_topic(conn, topic, QUEUES)
    pool = max(QUEUES, POOL // BATCH_SIZE)
    frames = request_frames(
        [batch_request(topic, i % QUEUES, i * BATCH_SIZE, body) for i in range(pool)]
    )
    requests = settings.messages // BATCH_SIZE
    row = Row(
        key="batch", name=f"2. SEND_BATCH_MESSAGE, {BATCH_SIZE} msgs/request", target=">= 150,000/s"
    )
    row.messages = requests * BATCH_SIZE
    row.extra = f"{BATCH_INFLIGHT} requests in flight"
    return await measure(
        broker, settings, row,
        lambda: pipelined(pipe, frames, requests, BATCH_INFLIGHT, row.latencies, "batch"),
    )  # fmt: skip


async def row_pull(
    conn: Connection, pipe: RawPipe, broker: BrokerProcess, settings: Settings
) -> Row:
    topic = "BenchBatch"
    ends = [await max_offset(conn, topic, q) for q in range(QUEUES)]
    row = Row(key="pull", name=f"3. PULL_MESSAGE, {PULL_BATCH} msgs/request", target=">= 300,000/s")
    row.extra = f"backlog {sum(ends):,}, {QUEUES} queues x {PULL_DEPTH} in flight"
    # Every pull of the drain, built first: frame i pulls queue_of[i] from offset_of[i].
    queue_of: list[int] = []
    offset_of: list[int] = []
    commands: list[RemotingCommand] = []
    first_frame = [0] * QUEUES
    for queue_id in range(QUEUES):
        first_frame[queue_id] = len(commands)
        for offset in range(0, ends[queue_id], PULL_BATCH):
            queue_of.append(queue_id)
            offset_of.append(offset)
            commands.append(pull_request(topic, queue_id, offset))
    frames = request_frames(commands)
    next_frame = list(first_frame)
    last_frame = [first_frame[q] + -(-ends[q] // PULL_BATCH) for q in range(QUEUES)]
    started = [0.0] * len(frames)
    pulled = [0, 0]  # messages, responses
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def take(queue_id: int, now: float, out: list[bytes]) -> None:
        index = next_frame[queue_id]
        if index < last_frame[queue_id]:
            next_frame[queue_id] = index + 1
            started[index] = now
            out.append(frames[index])

    def on_frames(now: float, headers: list[dict[str, object]]) -> list[bytes]:
        out: list[bytes] = []
        for header in headers:
            opaque = header["opaque"]
            assert isinstance(opaque, int)
            offset = offset_of[opaque]
            fields = header.get("extFields")
            if header["code"] != 0 or not isinstance(fields, dict):
                done.set_exception(
                    RuntimeError(
                        f"pull {queue_of[opaque]}@{offset}: response {header['code']} "
                        f"{header.get('remark')}"
                    )
                )
                return []
            row.latencies.append(now - started[opaque])
            pulled[0] += int(fields["nextBeginOffset"]) - offset
            pulled[1] += 1
            take(queue_of[opaque], now, out)
        if pulled[1] == len(frames) and not done.done():
            done.set_result(None)
        return out

    async def work() -> None:
        pipe.on_frames = on_frames
        out: list[bytes] = []
        now = time.perf_counter()
        for queue_id in range(QUEUES):
            for _ in range(PULL_DEPTH):
                take(queue_id, now, out)
        pipe.write(out)
        await until_done(pipe, done, "pull")

    await measure(broker, settings, row, work)
    row.messages = pulled[0]
    if pulled[0] != sum(ends):
        raise RuntimeError(f"pulled {pulled[0]} messages of a backlog of {sum(ends)}")
    return row


async def row_single(
    conn: Connection, pipe: RawPipe, broker: BrokerProcess, settings: Settings, body: bytes
) -> Row:
    topic = "BenchSingle"
    await create_topic(conn, topic, QUEUES)
    frames = request_frames([send_request(topic, i % QUEUES, i, body) for i in range(1024)])
    await pipelined(pipe, frames, 200, 1, None, "warm-up")
    row = Row(key="single", name="4. SEND_MESSAGE_V2, one in flight", target="p99 < 1 ms")
    row.messages = settings.single_messages
    return await measure(
        broker, settings, row,
        lambda: pipelined(pipe, frames, row.messages, 1, row.latencies, "single"),
    )  # fmt: skip


async def row_wake(
    conn: Connection, producer: RawPipe, consumer: RawPipe, broker: BrokerProcess,
    settings: Settings, body: bytes,
) -> Row:  # fmt: skip
    topic = "BenchWake"
    await create_topic(conn, topic, 1)
    row = Row(key="wake", name="5. long-polling wake-up", target="p99 < 2 ms")
    from_ack: list[float] = []
    acks: list[float] = []
    perf = time.perf_counter
    rounds = settings.wake_rounds + 5
    # Round i parks a pull at offset i of the empty queue, then sends its message.
    sends = request_frames([send_request(topic, 0, i, body) for i in range(rounds)])
    pulls = request_frames([pull_request(topic, 0, i, suspend=True) for i in range(rounds)])
    loop = asyncio.get_running_loop()

    def answered_at(pipe: RawPipe, what: str) -> asyncio.Future[tuple[float, dict[str, object]]]:
        future: asyncio.Future[tuple[float, dict[str, object]]] = loop.create_future()

        def on_frames(now: float, headers: list[dict[str, object]]) -> list[bytes]:
            header = headers[0]
            if len(headers) != 1 or header["code"] != 0:
                future.set_exception(RuntimeError(f"{what}: unexpected answers {headers}"))
            elif not future.done():
                future.set_result((now, header))
            return []

        pipe.on_frames = on_frames
        return future

    async def one(index: int, record: bool) -> None:
        pulled = answered_at(consumer, "long-polling pull")
        consumer.write([pulls[index]])
        await asyncio.sleep(WAKE_PAUSE)  # the broker parks the pull meanwhile
        if pulled.done():
            raise RuntimeError(f"the pull at {index} was answered before the send: {pulled}")
        acked = answered_at(producer, "send")
        sent = perf()
        producer.write([sends[index]])
        async with asyncio.timeout(TIMEOUT):
            (acked_at, _), (pulled_at, header) = await asyncio.gather(acked, pulled)
        fields = header.get("extFields")
        if not isinstance(fields, dict) or int(fields["nextBeginOffset"]) != index + 1:
            raise RuntimeError(f"woken pull at {index}: {header}")
        if record:
            row.latencies.append(pulled_at - sent)
            from_ack.append(pulled_at - acked_at)
            acks.append(acked_at - sent)

    for i in range(5):
        await one(i, False)

    async def work() -> None:
        for i in range(settings.wake_rounds):
            await one(5 + i, True)

    await measure(broker, settings, row, work)
    row.messages = settings.wake_rounds
    from_ack.sort()
    acks.sort()
    row.extra = (
        "latency: send request -> woken pull's response; send ack -> pull response "
        f"p50 {ms(percentile(from_ack, 50))} p99 {ms(percentile(from_ack, 99))} ms (< 0: the "
        "pull's response came first); the send's own ack after the same idle pause "
        f"p50 {ms(percentile(acks, 50))} p99 {ms(percentile(acks, 99))} ms (row 4 sends "
        "back to back); CPU: the parked pull and the send"
    )
    row.seconds = 0.0  # a rate would only measure the pauses
    return row


# ---------------------------------------------------------------------- report


def percentile(values: Sequence[float], pct: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(len(values) * pct / 100))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f}"


def report(rows: Sequence[Row]) -> None:
    head = (
        f"{'row':<40} {'messages':>10} {'msgs/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'broker CPU':>11} {'client CPU':>11}  target"
    )
    print()
    print(head)
    print(f"{'':<40} {'':>10} {'':>10} {'':>8} {'':>8} {'µs/msg':>11} {'µs/msg':>11}")
    print("-" * len(head))
    for row in rows:
        lat = sorted(row.latencies)
        rate = f"{row.rate:,.0f}" if row.seconds else "-"
        per = 1e6 / row.messages if row.messages else 0.0
        print(
            f"{row.name:<40} {row.messages:>10,} {rate:>10} {ms(percentile(lat, 50)):>8} "
            f"{ms(percentile(lat, 99)):>8} {row.broker_cpu * per:>11.1f} "
            f"{row.client_cpu * per:>11.1f}  {row.target}"
        )
        sys_share = (
            f"broker CPU {row.broker_sys / row.broker_cpu:.0%} system, "
            f"{row.broker_loop / row.broker_cpu:.0%} in the event-loop thread; "
            f"started after {row.settle_seconds:.1f} s for the broker to go idle"
            if row.broker_cpu
            else ""
        )
        if row.extra or sys_share:
            print(f"{'':<5}{'; '.join(x for x in (sys_share, row.extra) if x)}")
    print()
    print("latency: per request (a batch of 64 or a pull of 32 is one request); CPU: per message")


# ---------------------------------------------------------------------- main


async def run_rows(broker: BrokerProcess, settings: Settings) -> list[Row]:
    body = os.urandom(settings.body_size)
    rows: list[Row] = []
    async with RemotingClient() as admin:
        conn = await admin.connection(broker.address, timeout=TIMEOUT)  # topics, offsets
        pipe = await RawPipe.open(broker.address)  # the load
        pull_pipe = await RawPipe.open(broker.address)
        try:
            if "send" in settings.rows:
                rows.append(await row_send(conn, pipe, broker, settings, body))
            if "batch" in settings.rows or "pull" in settings.rows:
                batch = await row_batch(conn, pipe, broker, settings, body)
                if "batch" in settings.rows:
                    rows.append(batch)
            if "pull" in settings.rows:
                rows.append(await row_pull(conn, pull_pipe, broker, settings))
            if "single" in settings.rows:
                rows.append(await row_single(conn, pipe, broker, settings, body))
            if "wake" in settings.rows:
                rows.append(await row_wake(conn, pipe, pull_pipe, broker, settings, body))
        finally:
            pipe.close()
            pull_pipe.close()
    return rows


def parse_args(argv: Sequence[str] | None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--messages", type=int, default=1_000_000,
        help="messages of the batch row, drained by the pull row (default 1,000,000); the "
        "SEND_MESSAGE_V2 row sends a fifth of it",
    )  # fmt: skip
    parser.add_argument("--single", type=int, default=5000, help="messages of row 4")
    parser.add_argument("--wake", type=int, default=500, help="wake-ups of row 5")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--only", default=",".join(ROWS), help=f"rows to run, of {','.join(ROWS)}")
    parser.add_argument("--dir", type=Path, default=None, help="parent of the temporary data")
    parser.add_argument(
        "--sync-flush",
        action="store_true",
        help="run the broker with flushDiskType=SYNC_FLUSH (sends answered after the group "
        "commit) instead of ASYNC_FLUSH",
    )
    parser.add_argument(
        "--py-spy", type=Path, default=None, metavar="DIR",
        help="record a py-spy profile (raw, for flame graphs) of the broker per row into DIR",
    )  # fmt: skip
    args = parser.parse_args(argv)
    rows = frozenset(r.strip() for r in args.only.split(",") if r.strip())
    if not rows <= set(ROWS):
        parser.error(f"--only takes {','.join(ROWS)}")
    messages, single, wake = args.messages, args.single, args.wake
    segment = 1024**3
    if args.quick:
        messages, single, wake, segment = 6400, 200, 20, 64 * 1024**2
    return Settings(
        messages=messages,
        send_messages=max(messages // 5, 1000),
        single_messages=single,
        wake_rounds=wake,
        body_size=1024,
        segment_size=segment,
        rows=rows,
        sync_flush=args.sync_flush,
        root=Path(tempfile.mkdtemp(prefix="bench-broker-", dir=args.dir)),
        py_spy=args.py_spy,
    )


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    try:
        describe_machine(settings.root)
        broker = BrokerProcess(settings.root, settings.segment_size, sync_flush=settings.sync_flush)
        try:
            how = "rmq standalone" if broker.standalone else "python -m rmq_broker"
            flush = "SYNC_FLUSH" if settings.sync_flush else "ASYNC_FLUSH"
            print(f"broker:  pid {broker.pid} at {broker.address} ({how}, {flush})")
            rows = run(run_rows(broker, settings))
        finally:
            broker.stop()
        report(rows)
    finally:
        shutil.rmtree(settings.root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
