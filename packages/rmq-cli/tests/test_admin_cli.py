"""``rmq admin`` (mqadmin's commands) against one real ``rmq standalone``.

The server is a subprocess shared by the module (session scope); each test uses its own
topic and group names. Commands run in-process through :func:`rmq_cli.main` with
captured output (fast), and a few as real ``python -m rmq_cli admin`` processes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import signal
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

from rmq_cli import main

READY_TIMEOUT = 60.0
_BROKER = re.compile(r"Broker (\S+) \(cluster (\S+)\) listening on (\S+)")
_NAMESRV = re.compile(r"NameServer listening on (\S+)")


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    namesrv: str
    broker_addr: str
    broker_name: str
    cluster: str


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("admin-standalone")
    log: IO[bytes] = (data / "stderr").open("wb")
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter
        [
            sys.executable,
            "-m",
            "rmq_cli",
            "standalone",
            "--namesrv-port",
            "0",
            "--broker-port",
            "0",
            "--data-dir",
            str(data),
        ],
        stdout=subprocess.PIPE,
        stderr=log,
    )
    log.close()
    found: dict[str, str] = {}
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode(errors="replace")
            if m := _NAMESRV.search(line):
                found["namesrv"] = m.group(1)
            if m := _BROKER.search(line):
                found.update(name=m.group(1), cluster=m.group(2), broker=m.group(3).rstrip(","))
            if line.startswith("rmq standalone: ready"):
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(READY_TIMEOUT) or proc.poll() is not None:
        proc.kill()
        proc.wait()
        pytest.fail("rmq standalone did not start:\n" + (data / "stderr").read_text()[-3000:])
    yield Server(proc, found["namesrv"], found["broker"], found["name"], found["cluster"])
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


_counter = itertools.count()


@pytest.fixture
def unique(request: pytest.FixtureRequest) -> Callable[[str], str]:
    base = re.sub(r"[^A-Za-z0-9_-]", "_", request.node.name)[:40]

    def make(prefix: str) -> str:
        return f"{prefix}_{base}_{int(time.time()) % 100000}_{next(_counter)}"

    return make


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Admin = Callable[..., Result]


@pytest.fixture
def admin(server: Server, capsys: pytest.CaptureFixture[str]) -> Admin:
    """``admin("updateTopic", "-t", "T")``: ``rmq admin updateTopic -n ADDR -t T``."""

    def run(command: str, *args: str, as_json: bool = False) -> Result:
        capsys.readouterr()
        argv = ["admin", command, "-n", server.namesrv, *args]
        code = main([*argv, "--json"] if as_json else argv)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def ok(result: Result) -> Result:
    assert result.code == 0, result
    assert result.err == "", result
    return result


def failed(result: Result, *needles: str) -> str:
    """The one error line of a failed command (checked to contain ``needles``)."""
    assert result.code == 1, result
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: "), lines
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def make_topic(admin: Admin, server: Server, topic: str, queues: int = 4) -> None:
    ok(
        admin(
            "updateTopic", "-c", server.cluster, "-t", topic, "-r", str(queues), "-w", str(queues)
        )
    )


def send(admin: Admin, topic: str, body: str, *extra: str) -> dict[str, Any]:
    result: dict[str, Any] = ok(
        admin("sendMessage", "-t", topic, "-p", body, *extra, as_json=True)
    ).json()
    assert result["sendStatus"] == "SEND_OK"
    return result


# ---------------------------------------------------------------------- help and usage

REQUIRED = [
    "updateTopic",
    "deleteTopic",
    "updateTopicPerm",
    "topicList",
    "topicRoute",
    "topicStatus",
    "topicClusterList",
    "updateSubGroup",
    "deleteSubGroup",
    "consumerProgress",
    "consumerConnection",
    "producerConnection",
    "resetOffsetByTime",
    "skipAccumulatedMessage",
    "cloneGroupOffset",
    "getConsumerStatus",
    "queryMsgById",
    "queryMsgByKey",
    "queryMsgByUniqueKey",
    "queryMsgByOffset",
    "queryMsgTraceById",
    "printMsg",
    "printMsgByQueue",
    "sendMessage",
    "consumeMessage",
    "clusterList",
    "brokerStatus",
    "getBrokerConfig",
    "updateBrokerConfig",
    "getNamesrvConfig",
    "wipeWritePerm",
    "addWritePerm",
    "updateKvConfig",
    "deleteKvConfig",
]


def test_help_lists_every_command_in_mqadmin_groups(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["admin", "--help"]) == 0
    text = capsys.readouterr().out
    headings = re.findall(r"^(\w+):$", text, re.MULTILINE)
    assert headings == [
        "Topic",
        "Cluster",
        "Broker",
        "Message",
        "Consumer",
        "Producer",
        "NameServer",
        "Offset",
    ]
    listed = re.findall(r"^  (\w+)  ", text, re.MULTILINE)
    assert sorted(listed) == sorted(REQUIRED)
    topic_part = text.split("Topic:")[1].split("Cluster:")[0]
    assert "updateTopic " in topic_part
    assert "topicRoute " in topic_part
    assert main(["admin", "updateTopic", "--help"]) == 0
    assert "-r READ_QUEUES" in capsys.readouterr().out


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["admin", "updatetopic", "-n", "x:1"]) == 2
    assert "did you mean 'updateTopic'" in capsys.readouterr().err
    assert main(["admin", "topicList"]) == 2  # -n is required
    assert "-n/--namesrvAddr" in capsys.readouterr().err
    assert main(["admin", "updateTopicPerm", "-n", "x:1", "-t", "T", "-p", "5"]) == 2
    assert "not a permission" in capsys.readouterr().err


def test_unreachable_namesrv_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket_port() as port:
        code = main(["admin", "topicList", "-n", f"127.0.0.1:{port}", "--timeout", "2"])
    err = capsys.readouterr().err
    assert code == 1
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: "), err


class socket_port:
    """A port nothing listens on (bound, not listening, while in use)."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        port: int = self.sock.getsockname()[1]
        return port

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


# ---------------------------------------------------------------------- topics


def test_topic_lifecycle(admin: Admin, server: Server, unique: Callable[[str], str]) -> None:
    topic = unique("T")
    out = ok(
        admin("updateTopic", "-c", server.cluster, "-t", topic, "-r", "4", "-w", "3", "-p", "6")
    ).out
    assert f"create topic {topic}" in out
    assert server.broker_addr in out

    route = ok(admin("topicRoute", "-t", topic)).json()
    assert [
        (q["brokerName"], q["readQueueNums"], q["writeQueueNums"], q["perm"])
        for q in route["queueDatas"]
    ] == [(server.broker_name, 4, 3, 6)]
    table = ok(admin("topicRoute", "-t", topic, "-l")).out.splitlines()
    assert table[0].split() == [
        "#ClusterName",
        "#BrokerName",
        "#BrokerAddr",
        "#ReadQ",
        "#WriteQ",
        "#Perm",
    ]
    assert table[1].split() == [
        server.cluster,
        server.broker_name,
        server.broker_addr,
        "4",
        "3",
        "RW",
    ]

    assert topic in ok(admin("topicList")).out.split()
    assert topic in ok(admin("topicList", as_json=True)).json()
    clustered = ok(admin("topicList", "-c")).out
    assert re.search(rf"^{server.cluster}\s+{topic}$", clustered, re.MULTILINE)
    assert ok(admin("topicClusterList", "-t", topic)).out.split() == [server.cluster]

    status = ok(admin("topicStatus", "-t", topic, as_json=True)).json()
    assert [(q["queueId"], q["minOffset"], q["maxOffset"]) for q in status] == [
        (i, 0, 0) for i in range(4)
    ]

    ok(admin("deleteTopic", "-t", topic, "-c", server.cluster))
    assert topic not in ok(admin("topicList")).out.split()
    failed(admin("topicRoute", "-t", topic), "TOPIC_NOT_EXIST", "code 17")


def test_update_topic_perm(admin: Admin, server: Server, unique: Callable[[str], str]) -> None:
    topic = unique("T")
    make_topic(admin, server, topic)
    out = ok(admin("updateTopicPerm", "-t", topic, "-p", "4")).out
    assert re.search(rf"{re.escape(server.broker_addr)}\s+RW\s+R$", out, re.MULTILINE), out
    route = ok(admin("topicRoute", "-t", topic)).json()
    assert route["queueDatas"][0]["perm"] == 4
    assert route["queueDatas"][0]["readQueueNums"] == 4  # other settings kept
    ok(admin("updateTopicPerm", "-t", topic, "-p", "6"))
    assert ok(admin("topicRoute", "-t", topic)).json()["queueDatas"][0]["perm"] == 6
    # -b: only that master (and it wins over -c, as in mqadmin)
    changed = ok(
        admin(
            "updateTopicPerm", "-t", topic, "-p", "2", "-b", server.broker_addr,
            "-c", "NoSuchCluster", as_json=True,
        )
    ).json()  # fmt: skip
    assert changed["brokers"] == {server.broker_addr: {"old": 6}}
    assert ok(admin("topicRoute", "-t", topic)).json()["queueDatas"][0]["perm"] == 2
    with socket_port() as port:
        failed(
            admin("updateTopicPerm", "-t", topic, "-p", "6", "-b", f"127.0.0.1:{port}"),
            f"broker 127.0.0.1:{port} is not a master serving topic",
            server.broker_addr,
        )
    assert ok(admin("topicRoute", "-t", topic)).json()["queueDatas"][0]["perm"] == 2


def test_update_topic_and_group_on_one_broker(
    admin: Admin, server: Server, unique: Callable[[str], str]
) -> None:
    topic, group = unique("T"), unique("G")
    out = ok(admin("updateTopic", "-b", server.broker_addr, "-t", topic, "-r", "2", "-w", "2")).out
    assert out.strip().endswith(f"on {server.broker_addr} success.")
    deadline = time.monotonic() + 40  # the NameServer learns it from the broker
    while (result := admin("topicRoute", "-t", topic, as_json=True)).code != 0:
        assert time.monotonic() < deadline, result
        time.sleep(0.2)
    assert result.json()["queueDatas"][0]["readQueueNums"] == 2
    ok(admin("updateSubGroup", "-b", server.broker_addr, "-g", group, "-r", "2"))
    ok(admin("skipAccumulatedMessage", "-g", group, "-t", topic))  # the broker knows both
    with socket_port() as port:
        failed(admin("updateSubGroup", "-b", f"127.0.0.1:{port}", "-g", group), f":{port}")


def test_update_topic_refuses_bad_values(admin: Admin, unique: Callable[[str], str]) -> None:
    failed(admin("updateTopic", "-t", unique("T"), "-r", "0"), "queue numbers", "read 0")
    failed(admin("updateTopic", "-t", "bad topic!"), "code")  # the broker refuses the name


# ---------------------------------------------------------------------- groups and offsets


def test_consumer_progress_offsets_and_groups(
    admin: Admin, server: Server, unique: Callable[[str], str]
) -> None:
    topic, group, clone = unique("T"), unique("G"), unique("G")
    make_topic(admin, server, topic, queues=2)
    for i in range(6):
        send(admin, topic, f"m{i}", "-b", server.broker_name, "-i", str(i % 2))
    ok(admin("updateSubGroup", "-g", group, "-c", server.cluster, "-r", "3"))

    skipped = ok(admin("skipAccumulatedMessage", "-g", group, "-t", topic, as_json=True)).json()
    assert [(o["queueId"], o["offset"]) for o in skipped["offsets"]] == [(0, 3), (1, 3)]
    progress = ok(admin("consumerProgress", "-g", group, "-t", topic, as_json=True)).json()
    assert progress["totalLag"] == 0
    assert progress["maxLagSeconds"] == 0.0

    time.sleep(0.3)  # the oldest unconsumed message is at least this old
    reset = ok(admin("resetOffsetByTime", "-g", group, "-t", topic, "-s", "0")).out
    assert re.search(r"^vm\s+0\s+0$|^\S+\s+0\s+0$", reset, re.MULTILINE), reset
    progress = ok(admin("consumerProgress", "-g", group, "-t", topic, as_json=True)).json()
    assert progress["totalLag"] == 6
    assert [
        (q["queueId"], q["brokerOffset"], q["consumerOffset"], q["lag"]) for q in progress["queues"]
    ] == [(0, 3, 0, 3), (1, 3, 0, 3)]
    for q in progress["queues"]:
        assert 0.3 <= q["lagSeconds"] < 120, q
    text = ok(admin("consumerProgress", "-g", group, "-t", topic)).out
    assert "#Lag (s)" in text
    assert "Consume Diff Total: 6" in text

    ok(admin("cloneGroupOffset", "-s", group, "-d", clone, "-t", topic))
    cloned = ok(admin("consumerProgress", "-g", clone, "-t", topic, as_json=True)).json()
    assert [q["consumerOffset"] for q in cloned["queues"]] == [0, 0]

    # with committed offsets the broker moves them (and would tell running consumers)
    skipped = ok(admin("skipAccumulatedMessage", "-g", group, "-t", topic, as_json=True)).json()
    assert [o["offset"] for o in skipped["offsets"]] == [3, 3]
    progress = ok(admin("consumerProgress", "-g", group, "-t", topic, as_json=True)).json()
    assert progress["totalLag"] == 0

    ok(admin("deleteSubGroup", "-g", clone, "-r", "true"))
    ok(admin("deleteSubGroup", "-g", group))


def test_delete_sub_group_on_one_broker(
    admin: Admin, server: Server, unique: Callable[[str], str]
) -> None:
    topic, group = unique("T"), unique("G")
    make_topic(admin, server, topic, queues=2)
    send(admin, topic, "x", "-b", server.broker_name, "-i", "0")
    ok(admin("updateSubGroup", "-b", server.broker_addr, "-g", group))
    ok(admin("skipAccumulatedMessage", "-g", group, "-t", topic))
    progress = ok(admin("consumerProgress", "-g", group, "-t", topic, as_json=True)).json()
    assert [(q["consumerOffset"], q["lag"]) for q in progress["queues"]] == [(1, 0), (0, 0)]
    with socket_port() as port:
        failed(admin("deleteSubGroup", "-b", f"127.0.0.1:{port}", "-g", group), f":{port}")
    deleted = ok(
        admin("deleteSubGroup", "-b", server.broker_addr, "-g", group, "-r", "true", as_json=True)
    ).json()
    assert deleted["brokers"] == [server.broker_addr]
    progress = ok(admin("consumerProgress", "-g", group, "-t", topic, as_json=True)).json()
    # the offsets are gone (a broker reports an unknown offset as 0, as Java's does)
    assert [(q["consumerOffset"], q["lag"]) for q in progress["queues"]] == [(0, 1), (0, 0)]
    out = ok(admin("deleteSubGroup", "-b", server.broker_addr, "-g", group, "-c", "X")).out
    assert (
        out == f"delete subscription group [{group}] from broker [{server.broker_addr}] success.\n"
    )


async def broker_topics(server: Server, *topics: str) -> dict[str, bool]:
    """Whether the broker itself has each topic (GET_TOPIC_CONFIG)."""
    from rmq_client import Admin as ClientAdmin
    from rmq_client import TopicNotFoundError

    out: dict[str, bool] = {}
    async with ClientAdmin(server.namesrv, timeout=5) as client:
        for topic in topics:
            try:
                await client.topic_config(server.broker_addr, topic)
            except TopicNotFoundError:
                out[topic] = False
            else:
                out[topic] = True
    return out


def test_delete_sub_group_in_a_cluster_deletes_its_retry_and_dlq_topics(
    admin: Admin, server: Server, unique: Callable[[str], str]
) -> None:
    group = unique("G")
    retry, dlq = f"%RETRY%{group}", f"%DLQ%{group}"
    ok(admin("updateSubGroup", "-c", server.cluster, "-g", group))
    make_topic(admin, server, retry, queues=1)
    make_topic(admin, server, dlq, queues=1)
    topics = ok(admin("topicList", as_json=True)).json()
    assert {retry, dlq} <= set(topics)
    assert asyncio.run(broker_topics(server, retry, dlq)) == {retry: True, dlq: True}
    out = ok(admin("deleteSubGroup", "-c", server.cluster, "-g", group)).out
    assert out.splitlines() == [
        f"delete subscription group [{group}] from broker [{server.broker_addr}] in cluster "
        f"[{server.cluster}] success.",
        f"delete topic [{retry}] in cluster [{server.cluster}] success.",
        f"delete topic [{dlq}] in cluster [{server.cluster}] success.",
    ]
    # gone from the NameServer (routes) and from the broker (its topic table)
    topics = ok(admin("topicList", as_json=True)).json()
    assert retry not in topics
    assert dlq not in topics
    failed(admin("topicRoute", "-t", retry), "TOPIC_NOT_EXIST")
    failed(admin("topicRoute", "-t", dlq), "TOPIC_NOT_EXIST")
    assert asyncio.run(broker_topics(server, retry, dlq)) == {retry: False, dlq: False}
    # deleting again: nothing left, still a success, the topics reported deleted (Java
    # answers SUCCESS for topics it does not have)
    again = ok(admin("deleteSubGroup", "-c", server.cluster, "-g", group, as_json=True)).json()
    assert again["topicsDeleted"] == [retry, dlq]
    assert again["topicErrors"] == {}
    # -b deletes from one broker only and leaves the topics alone, as mqadmin
    ok(admin("updateSubGroup", "-c", server.cluster, "-g", group))
    make_topic(admin, server, retry, queues=1)
    one = ok(admin("deleteSubGroup", "-b", server.broker_addr, "-g", group, as_json=True)).json()
    assert one["topicsDeleted"] == []
    assert retry in ok(admin("topicList", as_json=True)).json()


def test_clone_group_offset_through_the_broker(
    admin: Admin, server: Server, unique: Callable[[str], str]
) -> None:
    from rmq_client import ConsumeResult
    from rmq_client.sync_consumer import SyncPushConsumer

    topic, other, src, dest = unique("T"), unique("T"), unique("G"), unique("G")
    make_topic(admin, server, topic, queues=2)
    make_topic(admin, server, other, queues=1)
    for i in range(4):
        send(admin, topic, f"m{i}", "-b", server.broker_name, "-i", str(i % 2))
    failed(
        admin("cloneGroupOffset", "-s", src, "-d", dest, "-t", topic),
        f"group {src!r} has no committed offset on topic {topic!r}",
    )
    ok(admin("skipAccumulatedMessage", "-g", src, "-t", topic))
    # the source group runs, subscribed to another topic only: with -o false the broker
    # (CLONE_GROUP_OFFSET's subscription check) skips the topic, which is reported
    with SyncPushConsumer(
        src,
        namesrv_addr=server.namesrv,
        listener=lambda msgs: ConsumeResult.SUCCESS,
        subscriptions={other: "*"},
    ):
        deadline = time.monotonic() + 30
        while admin("consumerConnection", "-g", src).code != 0:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        failed(
            admin("cloneGroupOffset", "-s", src, "-d", dest, "-t", topic, "-o", "false"),
            "did not copy the offsets of 2 queue(s)",
            "use -o true",
        )
        cloned = ok(
            admin(
                "cloneGroupOffset", "-s", src, "-d", dest, "-t", topic, "-o", "true", as_json=True
            )
        ).json()
    assert [(o["queueId"], o["offset"]) for o in cloned["offsets"]] == [(0, 2), (1, 2)]
    progress = ok(admin("consumerProgress", "-g", dest, "-t", topic, as_json=True)).json()
    assert [q["consumerOffset"] for q in progress["queues"]] == [2, 2]


def test_clone_group_offset_refused_by_a_broker_without_it(
    server: Server, unique: Callable[[str], str]
) -> None:
    """A broker that does not know CLONE_GROUP_OFFSET (here a remoting server with no
    processors, registered with the NameServer for one topic) gives a clear error."""
    from rmq_client import Admin as ClientAdmin
    from rmq_client import BrokerError
    from rmq_protocol.codec.body import (
        RegisterBrokerBody,
        TopicConfig,
        TopicConfigSerializeWrapper,
    )
    from rmq_protocol.codec.codes import RequestCode, ResponseCode
    from rmq_protocol.codec.command import RemotingCommand
    from rmq_protocol.codec.headers import (
        RegisterBrokerRequestHeader,
        UnRegisterBrokerRequestHeader,
    )
    from rmq_protocol.transport import ProcessorRegistry, RemotingClient, start_server

    topic, name, cluster = unique("T"), unique("fake"), unique("C")

    async def go() -> BrokerError:
        async with (
            await start_server(ProcessorRegistry()) as fake,
            RemotingClient(ProcessorRegistry()) as client,
        ):
            addr = fake.address
            wrapper = TopicConfigSerializeWrapper(  # a NameServer wants two topics or more
                topic_config_table={
                    t: TopicConfig(topic_name=t, read_queue_nums=1, write_queue_nums=1)
                    for t in (topic, f"{topic}_2")
                }
            )
            body = RegisterBrokerBody(topic_config_serialize_wrapper=wrapper).encode()
            register = RemotingCommand.request(
                RequestCode.REGISTER_BROKER,
                RegisterBrokerRequestHeader(
                    broker_name=name,
                    broker_addr=addr,
                    cluster_name=cluster,
                    ha_server_addr=addr,
                    broker_id=0,
                    body_crc32=zlib.crc32(body) & 0x7FFFFFFF,
                ),
                body=body,
            )
            response = await client.request(server.namesrv, register, timeout=5)
            assert response.code == ResponseCode.SUCCESS, response.remark
            try:
                async with ClientAdmin(server.namesrv, timeout=5) as admin:
                    with pytest.raises(BrokerError) as caught:
                        await admin.clone_group_offset("G1", "G2", topic, offline=True)
            finally:
                unregister = RemotingCommand.request(
                    RequestCode.UNREGISTER_BROKER,
                    UnRegisterBrokerRequestHeader(
                        broker_name=name, broker_addr=addr, cluster_name=cluster, broker_id=0
                    ),
                )
                await client.request(server.namesrv, unregister, timeout=5)
            return caught.value

    error = asyncio.run(go())
    assert error.code == 3  # REQUEST_CODE_NOT_SUPPORTED
    assert "cannot clone group offsets (CLONE_GROUP_OFFSET, code 314)" in str(error)
    assert name in str(error)


def test_unknown_shown_for_missing_figures() -> None:
    from rmq_cli.admin.consumer import _or_unknown, _seconds

    assert _or_unknown(-1) == "unknown"
    assert _or_unknown(None) == "unknown"
    assert _or_unknown(7) == "7"
    assert _seconds(None) == "unknown"
    assert _seconds(2.25) == "2.2"


def test_reset_of_a_group_without_offsets_writes_them(
    admin: Admin, server: Server, unique: Callable[[str], str]
) -> None:
    # The broker answers "consumer group not exist" to INVOKE_BROKER_TO_RESET_OFFSET for a
    # group that has no offsets yet; the admin then writes the offsets itself, so a new
    # group can be placed at a time before its first consumer starts.
    topic, group = unique("T"), unique("G")
    make_topic(admin, server, topic, queues=1)
    for i in range(3):
        send(admin, topic, f"m{i}")
    ok(admin("resetOffsetByTime", "-g", group, "-t", topic, "-s", "now"))
    progress = ok(admin("consumerProgress", "-g", group, "-t", topic, as_json=True)).json()
    assert [(q["brokerOffset"], q["consumerOffset"]) for q in progress["queues"]] == [(3, 3)]


def test_connections(admin: Admin, server: Server, unique: Callable[[str], str]) -> None:
    from rmq_client import ConsumeResult
    from rmq_client.sync import SyncProducer
    from rmq_client.sync_consumer import SyncPushConsumer

    topic, group, pgroup = unique("T"), unique("G"), unique("PG")
    make_topic(admin, server, topic, queues=2)
    failed(admin("consumerConnection", "-g", group), "CONSUMER_NOT_ONLINE", "code 206")
    failed(admin("producerConnection", "-g", pgroup), "no online client")
    with (
        SyncPushConsumer(
            group,
            namesrv_addr=server.namesrv,
            listener=lambda msgs: ConsumeResult.SUCCESS,
            subscriptions={topic: "TagA || TagB"},
        ),
        SyncProducer(pgroup, namesrv_addr=server.namesrv) as producer,
    ):
        from rmq_client import Message

        producer.send(Message(topic, b"x"))
        deadline = time.monotonic() + 30
        while True:
            result = admin("consumerConnection", "-g", group, as_json=True)
            if result.code == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        cc = ok(result).json()
        assert len(cc["connections"]) == 1
        expected = {"topic": topic, "subExpression": "TagA || TagB", "expressionType": "TAG"}
        assert expected in cc["subscriptions"], cc["subscriptions"]
        assert cc["messageModel"] == "CLUSTERING"
        text = ok(admin("consumerConnection", "-g", group)).out
        assert "Below is subscription:" in text
        assert topic in text
        pc = ok(admin("producerConnection", "-g", pgroup, as_json=True)).json()
        assert len(pc["connections"]) == 1
        assert "@" in pc["connections"][0]["clientId"]
        assert "#ClientId" in ok(admin("producerConnection", "-g", pgroup)).out


def test_get_consumer_status_from_running_clients(
    admin: Admin, server: Server, unique: Callable[[str], str]
) -> None:
    from rmq_client import ConsumeResult
    from rmq_client.sync_consumer import SyncPushConsumer

    topic, group = unique("T"), unique("G")
    make_topic(admin, server, topic, queues=2)
    failed(
        admin("getConsumerStatus", "-g", group, "-t", topic),
        "INVOKE_BROKER_TO_GET_CONSUMER_STATUS refused with SYSTEM_ERROR",
        f"No Any Consumer online in the consumer group: [{group}]",
    )
    consumed = threading.Semaphore(0)

    def listener(msgs: list[Any]) -> ConsumeResult:
        for _ in msgs:
            consumed.release()
        return ConsumeResult.SUCCESS

    with SyncPushConsumer(
        group, namesrv_addr=server.namesrv, listener=listener, subscriptions={topic: "*"}
    ) as consumer:
        deadline = time.monotonic() + 40
        while len(consumer.assigned_queues) < 2:
            assert time.monotonic() < deadline, "the consumer got no queues"
            time.sleep(0.1)
        for i in range(6):
            send(admin, topic, f"m{i}", "-b", server.broker_name, "-i", str(i % 2))
        for _ in range(6):
            assert consumed.acquire(timeout=30)
        # the offsets are what the running client holds (not yet necessarily committed)
        while True:
            status = ok(admin("getConsumerStatus", "-g", group, "-t", topic, as_json=True)).json()
            offsets = [(o["queueId"], o["offset"]) for c in status["clients"] for o in c["offsets"]]
            if sorted(offsets) == [(0, 3), (1, 3)] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert sorted(offsets) == [(0, 3), (1, 3)], status
        assert len(status["clients"]) == 1
        client_id = status["clients"][0]["clientId"]
        cc = ok(admin("consumerConnection", "-g", group, as_json=True)).json()
        assert [c["clientId"] for c in cc["connections"]] == [client_id]
        text = ok(admin("getConsumerStatus", "-g", group, "-t", topic, "-i", client_id)).out
        assert text.startswith(
            f"get consumer status from client. group={group}, topic={topic}, "
            f"originClientId={client_id}\n"
        )
        rows = [line.split() for line in text.splitlines()[2:]]
        assert rows == [
            [client_id, server.broker_name, "0", "3"],
            [client_id, server.broker_name, "1", "3"],
        ], text
        other = ok(
            admin("getConsumerStatus", "-g", group, "-t", topic, "-i", "1.2.3.4@x", as_json=True)
        )
        assert other.json()["clients"] == []


# ---------------------------------------------------------------------- messages


def test_query_messages(admin: Admin, server: Server, unique: Callable[[str], str]) -> None:
    topic = unique("T")
    make_topic(admin, server, topic, queues=2)
    sent = [send(admin, topic, f"body-{i}", "-k", "order-1", "-c", "TagA") for i in range(3)]
    other = send(admin, topic, "collides", "-k", "Aa")  # "Aa" and "BB": same Java hashCode

    by_id = ok(admin("queryMsgById", "-i", sent[0]["offsetMsgId"], as_json=True)).json()
    assert by_id["body"] == "body-0"
    assert by_id["keys"] == ["order-1"]
    detail = ok(admin("queryMsgById", "-i", sent[0]["offsetMsgId"])).out
    assert re.search(r"^Message Body\s+: body-0$", detail, re.MULTILINE), detail

    unique_msg = ok(
        admin("queryMsgByUniqueKey", "-i", sent[1]["msgId"], "-t", topic, as_json=True)
    ).json()
    assert unique_msg["body"] == "body-1"
    assert unique_msg["msgId"] == sent[1]["msgId"]
    failed(admin("queryMsgByUniqueKey", "-i", "0" * 32, "-t", topic), "no message")

    at = ok(
        admin(
            "queryMsgByOffset",
            "-t",
            topic,
            "-b",
            sent[2]["brokerName"],
            "-i",
            str(sent[2]["queueId"]),
            "-o",
            str(sent[2]["queueOffset"]),
            as_json=True,
        )
    ).json()
    assert at["body"] == "body-2"
    failed(
        admin("queryMsgByOffset", "-t", topic, "-b", server.broker_name, "-i", "0", "-o", "999"),
        "no message at offset 999",
    )

    all_three = ok(admin("queryMsgByKey", "-t", topic, "-k", "order-1", as_json=True)).json()
    assert sorted(m["body"] for m in all_three["messages"]) == ["body-0", "body-1", "body-2"]
    assert all_three["more"] is False
    capped = ok(admin("queryMsgByKey", "-t", topic, "-k", "order-1", "-m", "2", as_json=True))
    assert len(capped.json()["messages"]) == 2
    assert capped.json()["more"] is True
    text = ok(admin("queryMsgByKey", "-t", topic, "-k", "order-1", "-m", "2")).out
    assert "more than 2 messages have key 'order-1'" in text
    failed(admin("queryMsgByKey", "-t", topic, "-k", "order-1", "-m", "0"), "-m/--maxNum")

    # a key hashing like another one never returns the other's message
    found = ok(admin("queryMsgByKey", "-t", topic, "-k", "Aa", as_json=True)).json()
    assert [m["body"] for m in found["messages"]] == ["collides"]
    assert (
        ok(admin("queryMsgByKey", "-t", topic, "-k", "BB", as_json=True)).json()["messages"] == []
    )
    assert other["msgId"]


def test_query_msg_trace(admin: Admin, unique: Callable[[str], str]) -> None:
    from rmq_client import Admin as ClientAdmin

    topic = unique("T")
    msg_id = send(admin, topic, "traced")["msgId"]
    result = admin("queryMsgTraceById", "-i", msg_id, as_json=True)
    if not hasattr(ClientAdmin, "query_message_trace"):
        failed(result, "not available", msg_id)
    elif result.code == 1:  # tracing is off: no trace topic, or no record of this message
        failed(result, "RMQ_SYS_TRACE_TOPIC")
    else:
        assert msg_id in result.out, result


def test_print_and_consume(admin: Admin, server: Server, unique: Callable[[str], str]) -> None:
    topic = unique("T")
    make_topic(admin, server, topic, queues=2)
    for i in range(5):
        send(
            admin,
            topic,
            f"p{i}",
            "-c",
            "TagA" if i % 2 else "TagB",
            "-b",
            server.broker_name,
            "-i",
            "0",
        )
    send(admin, topic, "q1", "-c", "TagA", "-b", server.broker_name, "-i", "1")

    printed = ok(admin("printMsg", "-t", topic)).out
    assert sorted(re.findall(r"BODY: (\S+)", printed)) == ["p0", "p1", "p2", "p3", "p4", "q1"]
    as_json = ok(admin("printMsg", "-t", topic, "-s", "TagA", as_json=True)).json()
    assert sorted(m["body"] for m in as_json) == ["p1", "p3", "q1"]
    future = ok(admin("printMsg", "-t", topic, "-b", str(int(time.time() * 1000) + 60_000)))
    assert "BODY:" not in future.out

    counts = ok(
        admin("printMsgByQueue", "-t", topic, "-a", server.broker_name, "-i", "0", "-f", "true")
    ).out
    assert re.search(r"^TagB\s+3$", counts, re.MULTILINE), counts
    assert re.search(r"^TagA\s+2$", counts, re.MULTILINE), counts
    shown = ok(
        admin(
            "printMsgByQueue",
            "-t",
            topic,
            "-a",
            server.broker_name,
            "-i",
            "0",
            "-p",
            "true",
            "-d",
            "true",
        )
    ).out
    assert re.findall(r"BODY: (\S+)", shown) == ["p0", "p1", "p2", "p3", "p4"]
    failed(admin("printMsgByQueue", "-t", topic, "-a", server.broker_name, "-i", "9"), "no queue 9")

    three = ok(admin("consumeMessage", "-t", topic, "-c", "3", as_json=True)).json()
    assert len(three) == 3
    from_offset = ok(
        admin(
            "consumeMessage",
            "-t",
            topic,
            "-b",
            server.broker_name,
            "-i",
            "0",
            "-o",
            "3",
            as_json=True,
        )
    ).json()
    assert [m["body"] for m in from_offset] == ["p3", "p4"]
    assert "consumed 6 messages" in ok(admin("consumeMessage", "-t", topic)).out
    failed(admin("consumeMessage", "-t", topic, "-o", "3"), "-o OFFSET needs")


def test_send_message_to_a_queue(
    admin: Admin, server: Server, unique: Callable[[str], str]
) -> None:
    topic = unique("T")
    make_topic(admin, server, topic, queues=4)
    sent = send(
        admin, topic, "hello", "-k", "k1 k2", "-c", "TagZ", "-b", server.broker_name, "-i", "2"
    )
    assert (sent["brokerName"], sent["queueId"], sent["queueOffset"]) == (
        server.broker_name,
        2,
        0,
    )
    got = ok(admin("queryMsgById", "-i", sent["offsetMsgId"], as_json=True)).json()
    assert (got["tags"], got["keys"], got["queueId"]) == ("TagZ", ["k1", "k2"], 2)
    table = ok(admin("sendMessage", "-t", topic, "-p", "x")).out
    assert "SEND_OK" in table
    failed(admin("sendMessage", "-t", topic, "-p", "x", "-i", "1"), "-b BROKER_NAME and -i")


# ---------------------------------------------------------------------- cluster, broker, namesrv


def test_cluster_and_broker(admin: Admin, server: Server) -> None:
    clusters = ok(admin("clusterList", as_json=True)).json()
    assert [(c["cluster"], c["brokerName"], c["brokerId"], c["addr"]) for c in clusters] == [
        (server.cluster, server.broker_name, 0, server.broker_addr)
    ]
    assert clusters[0]["version"].startswith("V")
    table = ok(admin("clusterList", "-m")).out
    assert "#InTotalToday" in table
    assert server.broker_addr in table
    failed(admin("clusterList", "-c", "NoSuchCluster"), "NoSuchCluster", server.cluster)

    status = ok(admin("brokerStatus", "-b", server.broker_addr, as_json=True)).json()
    assert "putTps" in status[server.broker_addr]
    text = ok(admin("brokerStatus", "-c", server.cluster)).out
    assert re.search(r"^brokerVersionDesc\s+: V", text, re.MULTILINE), text
    failed(admin("brokerStatus"), "-b BROKER_ADDR or -c CLUSTER_NAME")

    config = ok(admin("getBrokerConfig", "-b", server.broker_addr, as_json=True)).json()
    assert config[server.broker_addr]["brokerName"] == server.broker_name
    assert config[server.broker_addr]["brokerClusterName"] == server.cluster
    assert (
        f"============{server.broker_addr}============"
        in ok(admin("getBrokerConfig", "-c", server.cluster)).out
    )

    line = failed(
        admin(
            "updateBrokerConfig",
            "-b",
            server.broker_addr,
            "-k",
            "flushDiskType",
            "-v",
            "SYNC_FLUSH",
        ),
        f"(broker {server.broker_addr}, code 16: ",
        "enableUpdateBrokerConfig",
    )
    assert line.startswith("error: UPDATE_BROKER_CONFIG refused")


def test_namesrv_commands(admin: Admin, server: Server, unique: Callable[[str], str]) -> None:
    from rmq_client import Admin as ClientAdmin

    config = ok(admin("getNamesrvConfig", as_json=True)).json()
    assert list(config) == [server.namesrv]
    assert "kvConfigPath" in config[server.namesrv] or config[server.namesrv]

    namespace, key = unique("NS"), unique("K")
    ok(admin("updateKvConfig", "-s", namespace, "-k", key, "-v", "v1"))

    async def kv() -> str | None:
        async with ClientAdmin(server.namesrv) as client:
            return await client.get_kv_config(namespace, key)

    assert asyncio.run(kv()) == "v1"
    ok(admin("deleteKvConfig", "-s", namespace, "-k", key))
    assert asyncio.run(kv()) is None

    topic = unique("T")
    make_topic(admin, server, topic)
    try:
        wiped = ok(admin("wipeWritePerm", "-b", server.broker_name, as_json=True)).json()
        assert wiped["topics"][server.namesrv] >= 1
        assert ok(admin("topicRoute", "-t", topic)).json()["queueDatas"][0]["perm"] == 4
    finally:
        added = ok(admin("addWritePerm", "-b", server.broker_name)).out
    assert f"add write perm of broker[{server.broker_name}]" in added
    assert ok(admin("topicRoute", "-t", topic)).json()["queueDatas"][0]["perm"] == 6


# ---------------------------------------------------------------------- real processes


def _rmq(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-m", "rmq_cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_subprocess_runs(server: Server, unique: Callable[[str], str]) -> None:
    topic = unique("T")
    done = _rmq("admin", "updateTopic", "-n", server.namesrv, "-c", server.cluster, "-t", topic)
    assert done.returncode == 0, done.stderr
    listed = _rmq("admin", "topicList", "-n", server.namesrv, "--json")
    assert listed.returncode == 0
    assert topic in json.loads(listed.stdout)
    refused = _rmq(
        "admin",
        "updateBrokerConfig",
        "-n",
        server.namesrv,
        "-b",
        server.broker_addr,
        "-k",
        "a",
        "-v",
        "b",
    )
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr.count("\n") == 1
    assert refused.stderr.startswith("error: ")
    assert "mqadmin" in _rmq("--help").stdout


def test_docs_list_every_command() -> None:
    docs = Path(__file__).parents[3] / "docs" / "admin-cli.md"
    text = docs.read_text()
    for name in REQUIRED:
        assert f"`{name}`" in text or f"### {name}" in text, name
