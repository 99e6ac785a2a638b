"""Transactional messages end to end: rmq_client's Producer against a real ``rmq standalone``.

Commit, rollback, UNKNOW resolved by the broker's check-back (CHECK_TRANSACTION_STATE),
a producer that dies before reporting (another producer of the group answers the
check), and a broker restart with transactions open. The check-back tests run a
private standalone whose checks come every 300 ms for half messages older than 300 ms.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from rmq_client import LocalTransactionState, Message, Producer, ReceivedMessage
from rmq_client.consumer import ConsumeResult, PushConsumer
from rmq_protocol.codec.body import ConsumeFromWhere
from rmq_protocol.codec.message import MessageExt

COMMIT = LocalTransactionState.COMMIT_MESSAGE
ROLLBACK = LocalTransactionState.ROLLBACK_MESSAGE
UNKNOW = LocalTransactionState.UNKNOW


class Standalone(Protocol):
    namesrv_addr: str
    broker_addr: str
    data_dir: Path

    def stop(self, *, timeout: float = ...) -> int: ...


StartStandalone = Callable[..., Standalone]


def fast_checks(tmp_path: Path, start_standalone: StartStandalone, *args: str) -> Standalone:
    conf = tmp_path / "broker.conf"
    conf.write_text("transactionTimeOut=300\ntransactionCheckInterval=300\n")
    return start_standalone("-c", str(conf), *args)


class Local:
    """A transaction listener: ``outcome[body]`` at execution, ``decided[body]`` at
    check (UNKNOW while undecided); records what the broker asked."""

    def __init__(self, outcome: dict[bytes, LocalTransactionState]) -> None:
        self.outcome = outcome
        self.decided: dict[bytes, LocalTransactionState] = {}
        self.checked: list[ReceivedMessage] = []
        self.changed = asyncio.Event()

    def execute_local_transaction(self, message: Message, arg: object) -> LocalTransactionState:
        return self.outcome.get(message.body, UNKNOW)

    def check_local_transaction(self, message: ReceivedMessage) -> LocalTransactionState:
        self.checked.append(message)
        self.changed.set()
        return self.decided.get(message.body, UNKNOW)


class Collect:
    """A consumer listener recording every delivery."""

    def __init__(self) -> None:
        self.bodies: collections.Counter[bytes] = collections.Counter()
        self.messages: list[MessageExt] = []
        self.changed = asyncio.Event()

    async def __call__(self, msgs: list[MessageExt]) -> ConsumeResult:
        for m in msgs:
            self.bodies[m.body] += 1
            self.messages.append(m)
        self.changed.set()
        return ConsumeResult.SUCCESS

    async def wait(self, condition: Callable[[], bool], *, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


def consumer(namesrv: str, group: str, topic: str, listener: Collect) -> PushConsumer:
    push = PushConsumer(
        group,
        namesrv_addr=namesrv,
        listener=listener,
        consume_from=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
    )
    push.subscribe(topic)
    return push


async def settle(seconds: float = 1.5) -> None:
    """Leave time for a wrong (duplicate, rolled-back) delivery to show up."""
    await asyncio.sleep(seconds)


async def test_commit_and_rollback(namesrv_addr: str, unique: Callable[[str], str]) -> None:
    topic, group = unique("T"), unique("PG")
    local = Local({b"commit": COMMIT, b"rollback": ROLLBACK})
    seen = Collect()
    async with Producer(group, namesrv_addr=namesrv_addr, transaction_listener=local) as producer:
        committed = await producer.send_message_in_transaction(Message(topic, b"commit"))
        rolled_back = await producer.send_message_in_transaction(Message(topic, b"rollback"))
        assert committed.local_transaction_state is COMMIT
        assert rolled_back.local_transaction_state is ROLLBACK
        async with consumer(namesrv_addr, unique("CG"), topic, seen):
            await seen.wait(lambda: seen.bodies[b"commit"] >= 1, timeout=30)
            await settle()
    assert dict(seen.bodies) == {b"commit": 1}
    [message] = seen.messages
    assert message.topic == topic
    assert message.msg_id == committed.send_result.msg_id  # UNIQ_KEY kept
    assert message.properties.get("TRAN_MSG") == "true"
    assert local.checked == []


async def test_unknown_resolved_by_check_back_and_producer_crash(
    tmp_path: Path, start_standalone: StartStandalone, unique: Callable[[str], str]
) -> None:
    server = fast_checks(tmp_path, start_standalone)
    ns = server.namesrv_addr
    topic, group = unique("T"), unique("PG")
    local = Local({})
    seen = Collect()
    async with consumer(ns, unique("CG"), topic, seen):
        async with Producer(group, namesrv_addr=ns, transaction_listener=local) as producer:
            for body in (b"later-commit", b"later-rollback"):
                result = await producer.send_message_in_transaction(Message(topic, body))
                assert result.local_transaction_state is UNKNOW
            # the broker asks until the application knows
            async with asyncio.timeout(30):
                while {m.body for m in local.checked} != {b"later-commit", b"later-rollback"}:
                    local.changed.clear()
                    await local.changed.wait()
            local.decided = {b"later-commit": COMMIT, b"later-rollback": ROLLBACK}
            await seen.wait(lambda: seen.bodies[b"later-commit"] >= 1, timeout=30)
            asked = len(local.checked)
            await settle()
            # resolved: no more checks
            assert len(local.checked) <= asked + 2  # answers in flight at most
        # a producer that dies before reporting: another one of the group is asked
        dying = Local({})
        async with Producer(group, namesrv_addr=ns, transaction_listener=dying) as first:
            await first.send_message_in_transaction(Message(topic, b"orphan"))
        survivor = Local({b"own": COMMIT})
        survivor.decided = {b"orphan": COMMIT}
        async with Producer(group, namesrv_addr=ns, transaction_listener=survivor) as other:
            # a producer heartbeats to the brokers it sent to: this one has sent too
            await other.send_message_in_transaction(Message(topic, b"own"))
            await seen.wait(lambda: seen.bodies[b"orphan"] >= 1, timeout=30)
            await settle()
        assert [m.body for m in survivor.checked][:1] == [b"orphan"]
    assert dict(seen.bodies) == {b"later-commit": 1, b"own": 1, b"orphan": 1}


async def test_broker_restart_with_open_transactions(
    tmp_path: Path, start_standalone: StartStandalone, unique: Callable[[str], str]
) -> None:
    server = fast_checks(tmp_path, start_standalone)
    topic, group, consumer_group = unique("T"), unique("PG"), unique("CG")
    local = Local({b"committed": COMMIT, b"rolled-back": ROLLBACK})
    async with Producer(
        group, namesrv_addr=server.namesrv_addr, transaction_listener=local
    ) as producer:
        for body in (b"committed", b"rolled-back", b"open-commit", b"open-rollback"):
            await producer.send_message_in_transaction(Message(topic, body))
    seen = Collect()
    async with consumer(server.namesrv_addr, consumer_group, topic, seen):
        await seen.wait(lambda: seen.bodies[b"committed"] >= 1, timeout=30)
    assert server.stop() == 0
    again = fast_checks(tmp_path, start_standalone, "--data-dir", str(server.data_dir))
    ns = again.namesrv_addr
    local.decided = {b"open-commit": COMMIT, b"open-rollback": ROLLBACK}
    local.outcome[b"after"] = COMMIT
    async with (
        Producer(group, namesrv_addr=ns, transaction_listener=local) as producer,
        consumer(ns, consumer_group, topic, seen),
    ):
        # a producer heartbeats to the brokers it sent to: send, so the broker can check
        await producer.send_message_in_transaction(Message(topic, b"after"))
        await seen.wait(lambda: seen.bodies[b"open-commit"] >= 1, timeout=30)
        await settle()
    assert dict(seen.bodies) == {b"committed": 1, b"open-commit": 1, b"after": 1}
    assert {m.body for m in local.checked} <= {b"open-commit", b"open-rollback"}
