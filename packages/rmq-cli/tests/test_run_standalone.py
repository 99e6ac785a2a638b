"""run_standalone in this process: start order, stop order, start failures."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from rmq_broker import Broker
from rmq_cli import StandaloneConfig, load_standalone_config, run_standalone
from rmq_namesrv import NameServer


@pytest.fixture
def config(tmp_path: Path) -> StandaloneConfig:
    return load_standalone_config(data_dir=tmp_path, namesrv_port=0, broker_port=0)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


async def test_broker_registers_with_the_namesrv_and_stops_first(
    config: StandaloneConfig, caplog: pytest.LogCaptureFixture
) -> None:
    up: asyncio.Future[tuple[NameServer, Broker]] = asyncio.get_running_loop().create_future()
    with caplog.at_level(logging.INFO):
        task = asyncio.create_task(
            run_standalone(config, started=lambda n, b: up.set_result((n, b)))
        )
        async with asyncio.timeout(30):
            namesrv, broker = await up
        assert broker.settings.broker.namesrv_addr == f"127.0.0.1:{namesrv.port}"
        route = namesrv.routes.pickup_topic_route_data("TBW102")
        assert route is not None
        assert [b.broker_addrs[0] for b in route.broker_datas] == [broker.address]
        assert broker.registrations >= 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    messages = [r.getMessage() for r in caplog.records]
    assert messages.index("broker stopped") < messages.index("NameServer stopped")
    assert not (config.broker.store.store_path_root_dir / "abort").exists()


async def test_namesrv_port_taken(config: StandaloneConfig, busy_port: int) -> None:
    config = load_standalone_config(data_dir=config.data_dir, namesrv_port=busy_port, broker_port=0)
    with pytest.raises(OSError, match=str(busy_port)):
        await run_standalone(config)


async def test_broker_port_taken_stops_the_namesrv(
    config: StandaloneConfig, busy_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_standalone_config(data_dir=config.data_dir, namesrv_port=0, broker_port=busy_port)
    with caplog.at_level(logging.INFO), pytest.raises(OSError, match=str(busy_port)):
        await run_standalone(config)
    assert "NameServer stopped" in caplog.text
