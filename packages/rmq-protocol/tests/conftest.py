"""Shared fixtures for rmq-protocol tests (test modules never import each other)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

VECTORS = Path(__file__).parent / "vectors"

settings.register_profile(
    "rmq",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("ci", parent=settings.get_profile("rmq"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "rmq")


@pytest.fixture(scope="session")
def frames() -> dict[str, bytes]:
    """Captured and golden frames (tests/vectors/frames.json) by name."""
    data = json.loads((VECTORS / "frames.json").read_text())
    return {name: bytes.fromhex(entry["hex"]) for name, entry in data.items()}


def _loop_factories() -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
        "asyncio": asyncio.new_event_loop
    }
    try:
        import uvloop
    except ImportError:
        return factories
    factories["uvloop"] = uvloop.new_event_loop
    return factories


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Every async test runs on asyncio's loop and, when installed, on uvloop."""
    return _loop_factories()


Mutator = Callable[[st.DataObject, Sequence[bytes], bytes], bytes]


def _mutate(data: st.DataObject, samples: Sequence[bytes], alphabet: bytes) -> bytes:
    """One of ``samples`` with 1..6 bytes replaced, inserted, deleted or cut off; new
    bytes come from ``alphabet`` (pick the characters that matter to the parser)."""
    out = bytearray(data.draw(st.sampled_from(samples)))
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, len(out)))
        op = data.draw(st.sampled_from(("replace", "insert", "delete", "truncate")))
        byte = data.draw(st.sampled_from(alphabet))
        if op == "replace" and pos < len(out):
            out[pos] = byte
        elif op == "insert":
            out.insert(pos, byte)
        elif op == "delete" and pos < len(out):
            del out[pos]
        elif op == "truncate":
            del out[pos:]
    return bytes(out)


@pytest.fixture(scope="session")
def mutate() -> Mutator:
    """Byte-level mutation of valid inputs, for "bad bytes raise only X" tests
    (``raw = mutate(data, SAMPLES, alphabet)`` in a test with ``@given(data=st.data())``)."""
    return _mutate
