"""The official C++ client's transactional producer (librocketmq 2.1.0 from
rocketmq-python-cvs) against a real rmq NameServer + Broker (what ``rmq standalone``
runs, in this process, with a fast check-back).

One committed, one rolled back, two left UNKNOWN: the broker's check-back
(CHECK_TRANSACTION_STATE) reaches the C++ producer, whose checker commits one and rolls
back the other. A consumer then finds exactly the two committed messages in the topic.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rmq_broker import Broker, BrokerConfig, BrokerSettings
from rmq_client import Admin, MessageQueue
from rmq_namesrv import NameServer, NamesrvConfig
from rmq_store import StoreConfig

if TYPE_CHECKING:
    from conftest import RunClient

DRIVER = Path(__file__).parent / "cpp_transaction_producer.py"
TOPIC = "TopicCppTx"
GROUP = "PID_rmq_cpp_tx"


@pytest.fixture
def librocketmq() -> None:
    pytest.importorskip("rocketmq.client", reason="pip install rocketmq-python-cvs==2.1.0.3")


@pytest.fixture
async def fast_check(tmp_path: Path) -> AsyncIterator[tuple[NameServer, Broker]]:
    """NameServer + Broker whose transaction check runs every 0.5 s for halves older
    than 1 s (defaults: 30 s and 6 s)."""
    namesrv_config = NamesrvConfig(
        listen_port=0,
        bind_address="127.0.0.1",
        kv_config_path=tmp_path / "namesrv" / "kvConfig.json",
        config_store_path=tmp_path / "namesrv" / "namesrv.properties",
    )
    async with NameServer(namesrv_config) as namesrv:
        broker = BrokerConfig(
            listen_port=0,
            bind_address="127.0.0.1",
            broker_ip1="127.0.0.1",
            broker_name="broker-a",
            namesrv_addr=namesrv.address,
        )
        settings = BrokerSettings(
            broker=dataclasses.replace(
                broker, transaction_time_out=1000, transaction_check_interval=500
            ),
            store=StoreConfig(
                store_path_root_dir=tmp_path / "store",
                mapped_file_size_commit_log=16 * 1024 * 1024,
                max_hash_slot_num=10_000,
                max_index_num=40_000,
            ),
        )
        async with Broker(settings) as running:
            yield namesrv, running


async def _messages(admin: Admin, queues: list[MessageQueue]) -> dict[str, str]:
    out: dict[str, str] = {}
    for mq in queues:
        offset = 0
        while True:
            batch, offset = await admin.pull_messages(mq, offset)
            if not batch:
                break
            for msg in batch:
                out[" ".join(msg.keys)] = bytes(msg.body).decode()
    return out


async def test_cpp_transactional_producer(
    librocketmq: None, fast_check: tuple[NameServer, Broker], run_client: RunClient
) -> None:
    namesrv, _ = fast_check
    async with Admin(namesrv.address, timeout=5) as admin:
        await admin.create_topic(TOPIC, queue_nums=2)
        run = await run_client(
            sys.executable, str(DRIVER), namesrv.address, TOPIC, GROUP, "2",
            cwd=DRIVER.parent, timeout=120,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-3000:]
        events = run.results
        sends = {e["keys"]: e for e in events if e["event"] == "send"}
        assert set(sends) == {"commit", "rollback", "unknown-commit", "unknown-rollback"}, run
        for send in sends.values():
            # rc 0 and SendStatus OK: the broker stored every half message
            assert (send["rc"], send["status"]) == (0, 0), send
        checks = [e for e in events if e["event"] == "check"]
        checked = {c["keys"] for c in checks}
        # the broker asked about exactly the two UNKNOWN ones (perhaps more than once)
        assert checked == {"unknown-commit", "unknown-rollback"}, checks
        for c in checks:
            assert c["transactionId"] == sends[str(c["keys"])]["msgId"], c
        assert events[-1] == {"event": "done", "checks": len(checks)}

        queues = [MessageQueue(TOPIC, "broker-a", q) for q in range(2)]
        deadline = time.monotonic() + 20
        while True:  # the last END_TRANSACTION is oneway: it may still be on its way
            got = await _messages(admin, queues)
            if len(got) >= 2 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert got == {
            "commit": "transactional commit",
            "unknown-commit": "transactional unknown-commit",
        }
        # nothing else ever reaches the topic: rollbacks store nothing in it
        assert sum([await admin.max_offset(mq) for mq in queues]) == 2
