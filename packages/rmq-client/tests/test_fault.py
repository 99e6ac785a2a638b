"""FaultStrategy bookkeeping (Java's latency tables), including the fast-send shortcut."""

from __future__ import annotations

import pytest

from rmq_client._fault import FaultStrategy, not_available_duration
from rmq_protocol.codec.body import MessageQueue


@pytest.mark.parametrize(
    ("latency", "avoided"),
    [(0, 0), (549.9, 0), (550, 2000), (1800, 5000), (3000, 6000), (5000, 10000), (15000, 30000)],
)
def test_not_available_duration_follows_java_table(latency: float, avoided: int) -> None:
    assert not_available_duration(latency) == avoided


def test_a_fast_send_clears_avoidance_and_unreachability() -> None:
    fault = FaultStrategy()
    queues = [MessageQueue("T", "a", 0), MessageQueue("T", "b", 0)]
    fault.update("a", 600)  # slow: avoided for 2 s
    assert not fault.is_available("a")
    assert {fault.select(queues).broker_name for _ in range(4)} == {"b"}
    fault.update("a", 1.0)  # fast again
    assert fault.is_available("a")
    assert {fault.select(queues).broker_name for _ in range(4)} == {"a", "b"}

    fault.update("b", 1.0, isolation=True, reachable=False)
    assert not fault.is_available("b")
    fault.update("b", 1.0)
    assert fault.is_available("b")
    assert not fault._unreachable  # the shortcut must clear it too


def test_a_failed_fast_send_still_isolates() -> None:
    fault = FaultStrategy()
    fault.update("a", 1.0, isolation=True)  # failed quickly: counts as 10 s latency
    assert not fault.is_available("a")


def test_disabled_strategy_records_nothing() -> None:
    fault = FaultStrategy(enabled=False)
    fault.update("a", 20_000)
    assert fault.is_available("a")
