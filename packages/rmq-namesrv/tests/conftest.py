"""Shared fixtures for rmq-namesrv tests (test modules never import each other)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from rmq_namesrv import ManualClock, NameServer, NamesrvConfig
from rmq_protocol.transport import RemotingClient


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


@pytest.fixture
def clock() -> ManualClock:
    """The NameServer's clock: moves only when a test advances it."""
    return ManualClock()


@pytest.fixture
def config(tmp_path: Path) -> NamesrvConfig:
    """127.0.0.1 on a free port, files under tmp_path."""
    return NamesrvConfig(
        listen_port=0,
        bind_address="127.0.0.1",
        kv_config_path=tmp_path / "namesrv" / "kvConfig.json",
        config_store_path=tmp_path / "namesrv" / "namesrv.properties",
    )


@pytest.fixture
async def namesrv(config: NamesrvConfig, clock: ManualClock) -> AsyncIterator[NameServer]:
    """A running NameServer on the manual clock."""
    async with NameServer(config, clock=clock) as server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[RemotingClient]:
    """A remoting client (one connection per address)."""
    async with RemotingClient() as remoting:
        yield remoting


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[[], RemotingClient]]:
    """More clients (each broker on its own connection), closed at the end."""
    made: list[RemotingClient] = []

    def make() -> RemotingClient:
        made.append(RemotingClient())
        return made[-1]

    yield make
    for remoting in made:
        await remoting.aclose()
