"""Allocation strategies give Java's exact results (spec §6.7)."""

from __future__ import annotations

import pytest

from rmq_client.consumer._allocate import (
    AllocateAveragely,
    AllocateAveragelyByCircle,
    AllocateConsistentHash,
    AllocateStrategy,
    md5_hash,
)
from rmq_protocol.codec.body import MessageQueue


def queues(n: int, topic: str = "TopicTest", broker: str = "broker-a") -> list[MessageQueue]:
    return [MessageQueue(topic, broker, i) for i in range(n)]


def ids(result: list[MessageQueue]) -> list[int]:
    return [mq.queue_id for mq in result]


@pytest.mark.parametrize(
    ("n", "clients", "expected"),
    [
        (8, 3, [[0, 1, 2], [3, 4, 5], [6, 7]]),
        (8, 4, [[0, 1], [2, 3], [4, 5], [6, 7]]),
        (3, 5, [[0], [1], [2], [], []]),
        (10, 4, [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]]),
        (1, 1, [[0]]),
    ],
)
def test_averagely(n: int, clients: int, expected: list[list[int]]) -> None:
    cids = [f"cid-{i}" for i in range(clients)]
    got = [ids(AllocateAveragely().allocate("g", cid, queues(n), cids)) for cid in cids]
    assert got == expected


@pytest.mark.parametrize(
    ("n", "clients", "expected"),
    [
        (8, 3, [[0, 3, 6], [1, 4, 7], [2, 5]]),
        (3, 5, [[0], [1], [2], [], []]),
    ],
)
def test_averagely_by_circle(n: int, clients: int, expected: list[list[int]]) -> None:
    cids = [f"cid-{i}" for i in range(clients)]
    got = [ids(AllocateAveragelyByCircle().allocate("g", cid, queues(n), cids)) for cid in cids]
    assert got == expected


def test_inputs_are_sorted_as_java_sorts_them() -> None:
    mqs = [MessageQueue("T", "broker-b", 0), MessageQueue("T", "broker-a", 1)]
    mqs += [MessageQueue("T", "broker-a", 0), MessageQueue("T", "broker-b", 1)]
    got = AllocateAveragely().allocate("g", "b", mqs, ["b", "a"])
    assert got == [MessageQueue("T", "broker-b", 0), MessageQueue("T", "broker-b", 1)]


def test_unknown_client_gets_nothing_and_empty_id_is_an_error() -> None:
    assert AllocateAveragely().allocate("g", "x", queues(4), ["a", "b"]) == []
    assert AllocateAveragely().allocate("g", "a", [], ["a"]) == []
    with pytest.raises(ValueError, match="client_id"):
        AllocateAveragely().allocate("g", "", queues(4), ["a"])


# Computed by Apache RocketMQ's own ConsistentHashRouter (common/consistenthash, compiled
# from the Java sources with javac) for the queue keys "MessageQueue [topic=…, …]".
JAVA_RING_3 = ["cid-a", "cid-a", "cid-b", "cid-c", "cid-c", "cid-b", "cid-a", "cid-c"]
A, B = "127.0.0.1@1#1", "127.0.0.1@2#2"
JAVA_RING_2 = [B, B, A, A, B, B, A, B, B, A, A, B, A, A, B, A]


@pytest.mark.parametrize(
    ("topic", "broker", "owners"),
    [("TopicTest", "broker-a", JAVA_RING_3), ("T", "b", JAVA_RING_2)],
)
def test_consistent_hash_matches_java(topic: str, broker: str, owners: list[str]) -> None:
    mqs = queues(len(owners), topic, broker)
    cids = sorted(set(owners))
    strategy = AllocateConsistentHash()
    for cid in cids:
        expected = [i for i, owner in enumerate(owners) if owner == cid]
        assert ids(strategy.allocate("g", cid, mqs, cids)) == expected


def test_md5_hash_is_first_four_bytes_unsigned() -> None:
    # md5("a") = 0cc175b9c0f1b6a8…
    assert md5_hash("a") == 0x0CC175B9


def test_strategies_satisfy_the_protocol_and_partition_the_queues() -> None:
    cids = ["c1", "c2", "c3"]
    for strategy in (AllocateAveragely(), AllocateAveragelyByCircle(), AllocateConsistentHash()):
        assert isinstance(strategy, AllocateStrategy)
        got = [mq for cid in cids for mq in strategy.allocate("g", cid, queues(16), cids)]
        assert sorted(got) == queues(16)
    with pytest.raises(ValueError, match="virtual_nodes"):
        AllocateConsistentHash(virtual_nodes=-1)
