"""Integration fixtures: real third-party RocketMQ clients, installed on demand."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rmq_broker import Broker, BrokerConfig, BrokerSettings
from rmq_namesrv import NameServer, NamesrvConfig
from rmq_protocol.codec.body import (
    BrokerData,
    GetConsumerListByGroupResponseBody,
    HeartbeatData,
    QueueData,
    TopicRouteData,
)
from rmq_protocol.codec.codes import LanguageCode, RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import (
    GetConsumerListByGroupRequestHeader,
    GetRouteInfoRequestHeader,
    PullMessageRequestHeader,
    PullMessageResponseHeader,
    QueryConsumerOffsetResponseHeader,
    SendMessageRequestHeaderV2,
    SendMessageResponseHeader,
    UpdateConsumerOffsetRequestHeader,
)
from rmq_protocol.codec.message import HostPort, MessageExt, compress_body, encode_message
from rmq_protocol.codec.msgid import offset_msg_id
from rmq_protocol.transport import Connection, ProcessorRegistry, RemotingServer, start_server
from rmq_store import StoreConfig

TOPIC = "TopicInterop"

ALIONS_DIR = Path(__file__).parent / "alions"


@dataclass(frozen=True)
class ClientRun:
    """What a client process printed; ``results`` are its JSON lines."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def results(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]


RunClient = Callable[..., Awaitable[ClientRun]]


@pytest.fixture
def run_client(tmp_path: Path) -> RunClient:
    """Run a client program to completion (``await run_client(*argv, cwd=…)``).

    HOME is a temporary directory (the C++ client writes its logs there); ``env`` adds
    variables (PYTHONPATH, …); the process is killed if it outlives ``timeout`` seconds.
    """

    async def run(
        *argv: str, cwd: Path, timeout: float = 90, env: Mapping[str, str] | None = None
    ) -> ClientRun:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env={
                "HOME": str(tmp_path),
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                **(env or {}),
            },
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(timeout):
                out, err = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        return ClientRun(proc.returncode or 0, out.decode(), err.decode())

    return run


@pytest.fixture(scope="session")
def alions() -> Path:
    """The ali-ons client (pure JavaScript), installed with `npm ci` from the lockfile.

    Without node it is skipped locally, but fails in CI (CI=true), where node is present.
    """
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if os.environ.get("CI"):
            pytest.fail("node and npm are required for the interop tests in CI")
        pytest.skip("node/npm not installed")
    if not (ALIONS_DIR / "node_modules" / "ali-ons").is_dir():
        subprocess.run(  # noqa: S603 - npm from PATH, fixed arguments
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=ALIONS_DIR,
            check=True,
            timeout=600,
        )
    return ALIONS_DIR


@pytest.fixture(scope="session")
def rocketmq044() -> Path:
    """Where ``rocketmq==0.4.4`` (PyPI: a ctypes wrapper whose wheel bundles the C++
    client 1.x) is installed: a ``pip install --target`` directory that tox's
    integration env fills and names in ``RMQ_ROCKETMQ044_DIR``.

    It cannot be an ordinary dependency: its top-level package is ``rocketmq``, as is
    rocketmq-python-cvs's (librocketmq 2.1.0); drivers put it first on PYTHONPATH.
    Skipped locally when missing, a failure in CI (CI=true).
    """
    target = os.environ.get("RMQ_ROCKETMQ044_DIR")
    if target is None or not (Path(target) / "rocketmq" / "librocketmq.so").is_file():
        message = (
            "rocketmq==0.4.4 not installed: run `python3 tools/dev.py test --env integration`, "
            "or `pip install --no-deps --target DIR rocketmq==0.4.4` and set "
            "RMQ_ROCKETMQ044_DIR=DIR (Linux x86_64 only: the wheel is manylinux1_x86_64)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return Path(target)


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[tuple[NameServer, Broker]]:
    """A real rmq NameServer and an rmq Broker registered with it, on free ports, with the
    store in tmp_path."""
    namesrv_config = NamesrvConfig(
        listen_port=0,
        bind_address="127.0.0.1",
        kv_config_path=tmp_path / "namesrv" / "kvConfig.json",
        config_store_path=tmp_path / "namesrv" / "namesrv.properties",
    )
    async with NameServer(namesrv_config) as namesrv:
        settings = BrokerSettings(
            broker=BrokerConfig(
                listen_port=0,
                bind_address="127.0.0.1",
                broker_ip1="127.0.0.1",
                broker_name="broker-a",
                namesrv_addr=namesrv.address,
            ),
            store=StoreConfig(
                store_path_root_dir=tmp_path / "store",
                mapped_file_size_commit_log=16 * 1024 * 1024,
                max_hash_slot_num=10_000,
                max_index_num=40_000,
            ),
        )
        async with Broker(settings) as broker:
            yield namesrv, broker


@dataclass
class FakeCluster:
    """What the two servers saw."""

    broker: RemotingServer | None = None
    topic: str = TOPIC  # the one topic the NameServer routes
    requests: list[tuple[str, RemotingCommand]] = field(default_factory=list)
    sends: list[tuple[SendMessageRequestHeaderV2, bytes]] = field(default_factory=list)
    heartbeats: list[HeartbeatData] = field(default_factory=list)  # ali-ons producers send none

    def namesrv_registry(self) -> ProcessorRegistry:
        registry = ProcessorRegistry()
        registry.register(RequestCode.GET_ROUTEINFO_BY_TOPIC, self.route)
        return registry

    def broker_registry(self) -> ProcessorRegistry:
        registry = ProcessorRegistry()
        registry.register(RequestCode.HEART_BEAT, self.heartbeat)
        registry.register(RequestCode.SEND_MESSAGE_V2, self.send)
        registry.register(RequestCode.UNREGISTER_CLIENT, self.ok)
        registry.register(RequestCode.GET_CONSUMER_LIST_BY_GROUP, self.consumer_list)
        registry.register(RequestCode.QUERY_CONSUMER_OFFSET, self.query_offset)
        registry.register(RequestCode.UPDATE_CONSUMER_OFFSET, self.update_offset)
        registry.register(RequestCode.PULL_MESSAGE, self.pull)
        registry.register(RequestCode.CONSUMER_SEND_MSG_BACK, self.ok)
        return registry

    # -- the consumer half: stored messages served by PULL_MESSAGE

    stored: dict[int, list[bytes]] = field(default_factory=dict)  # queueId -> records
    committed: dict[int, int] = field(default_factory=dict)  # queueId -> consumer offset
    pulls: int = 0

    def store(
        self, queue_id: int, body: bytes, properties: dict[str, str], *, zlib: bool = False
    ) -> None:
        """Store a message record, encoded by rmq-protocol, for consumers to pull."""
        queue = self.stored.setdefault(queue_id, [])
        sys_flag = 0
        if zlib:
            body, flags = compress_body(body)
            sys_flag = int(flags)
        commit_log_offset = sum(len(r) for q in self.stored.values() for r in q)
        assert self.broker is not None
        record = encode_message(
            MessageExt(
                topic=self.topic,
                body=body,
                queue_id=queue_id,
                queue_offset=len(queue),
                commit_log_offset=commit_log_offset,
                sys_flag=sys_flag,
                born_timestamp=1_700_000_000_000,
                born_host=HostPort("127.0.0.1", 50000),
                store_timestamp=1_700_000_000_123,
                store_host=HostPort("127.0.0.1", self.broker.port),
                properties=properties,
            )
        )
        queue.append(record)

    def consumer_list(self, cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
        self.requests.append(("broker", cmd))
        group = cmd.decode_header(GetConsumerListByGroupRequestHeader).consumer_group
        ids = sorted(
            h.client_id
            for h in self.heartbeats
            if any(c.group_name == group for c in h.consumer_data_set)
        )
        body = GetConsumerListByGroupResponseBody(consumer_id_list=tuple(dict.fromkeys(ids)))
        return RemotingCommand.response_to(cmd, body=body.to_json())

    def query_offset(self, cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
        self.requests.append(("broker", cmd))
        return RemotingCommand.response_to(cmd, header=QueryConsumerOffsetResponseHeader(offset=0))

    def update_offset(self, cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
        self.requests.append(("broker", cmd))
        header = cmd.decode_header(UpdateConsumerOffsetRequestHeader)
        self.committed[header.queue_id] = header.commit_offset
        return RemotingCommand.response_to(cmd)

    async def pull(self, cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
        self.requests.append(("broker", cmd))
        self.pulls += 1
        header = cmd.decode_header(PullMessageRequestHeader)
        queue = self.stored.get(header.queue_id, []) if header.topic == self.topic else []
        begin = header.queue_offset
        if begin >= len(queue):
            # Nothing new: hold the pull a little (as long polling would), then say so.
            await asyncio.sleep(min(header.suspend_timeout_millis / 1000, 0.5))
            return RemotingCommand.response_to(
                cmd,
                ResponseCode.PULL_NOT_FOUND,
                "NO_NEW_MSG",
                PullMessageResponseHeader(
                    suggest_which_broker_id=0,
                    next_begin_offset=len(queue),
                    min_offset=0,
                    max_offset=len(queue),
                ),
            )
        records = queue[begin : begin + header.max_msg_nums]
        return RemotingCommand.response_to(
            cmd,
            ResponseCode.SUCCESS,
            "FOUND",
            PullMessageResponseHeader(
                suggest_which_broker_id=0,
                next_begin_offset=begin + len(records),
                min_offset=0,
                max_offset=len(queue),
            ),
            body=b"".join(records),
        )

    def route(self, cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
        self.requests.append(("namesrv", cmd))
        topic = cmd.decode_header(GetRouteInfoRequestHeader).topic
        if topic != self.topic or self.broker is None:
            return RemotingCommand.response_to(
                cmd,
                ResponseCode.TOPIC_NOT_EXIST,
                f"No topic route info in name server for the topic: {topic}",
            )
        route = TopicRouteData(
            queue_datas=(
                QueueData(broker_name="broker-a", read_queue_nums=4, write_queue_nums=4, perm=6),
            ),
            broker_datas=(
                BrokerData(
                    cluster="DefaultCluster",
                    broker_name="broker-a",
                    broker_addrs={0: self.broker.address},
                ),
            ),
        )
        return RemotingCommand.response_to(cmd, body=route.to_json(), language=LanguageCode.JAVA)

    def heartbeat(self, cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
        self.requests.append(("broker", cmd))
        self.heartbeats.append(HeartbeatData.from_json(cmd.body))
        return RemotingCommand.response_to(cmd)

    def send(self, cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
        self.requests.append(("broker", cmd))
        header = cmd.decode_header(SendMessageRequestHeaderV2)
        self.sends.append((header, bytes(cmd.body)))
        offset = len(self.sends) - 1
        assert self.broker is not None
        response = SendMessageResponseHeader(
            msg_id=offset_msg_id("127.0.0.1", self.broker.port, 1000 * offset),
            queue_id=header.queue_id,
            queue_offset=offset,
        )
        return RemotingCommand.response_to(
            cmd, header=response, ext_fields={"MSG_REGION": "DefaultRegion", "TRACE_ON": "true"}
        )

    def ok(self, cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
        self.requests.append(("broker", cmd))
        return RemotingCommand.response_to(cmd)


@pytest.fixture
async def cluster() -> AsyncIterator[tuple[FakeCluster, RemotingServer]]:
    """A NameServer and a Broker played by rmq-protocol's transport (just enough for
    producers), and what they saw."""
    fake = FakeCluster()
    async with (
        await start_server(fake.namesrv_registry()) as namesrv,
        await start_server(fake.broker_registry()) as broker,
    ):
        fake.broker = broker
        yield fake, namesrv
