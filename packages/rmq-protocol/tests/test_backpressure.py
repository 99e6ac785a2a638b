"""Transport under pressure: peers that stop reading, full buffers, closing mid-flight."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from rmq_protocol.codec.codes import ResponseCode, SerializeType
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.errors import ConnectError, ConnectionClosedError, RequestTimeoutError
from rmq_protocol.transport import (
    Connection,
    ConnectionConfig,
    ProcessorRegistry,
    RemotingClient,
    start_server,
)

ECHO = 9101
BROKEN = 9102


def _echo(cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
    return RemotingCommand.response_to(cmd, body=cmd.body)


def _broken(cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
    return RemotingCommand.response_to(cmd, ext_fields={"queueOffset": 5})  # type: ignore[dict-item]


def _registry() -> ProcessorRegistry:
    registry = ProcessorRegistry()
    registry.register(ECHO, _echo)
    registry.register(BROKEN, _broken)
    return registry


@pytest.fixture
async def deaf_peer() -> AsyncIterator[str]:
    """A TCP peer that accepts and never reads: our writes pile up."""
    writers: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        for writer in writers:
            writer.transport.abort()
        server.close()
        await server.wait_closed()


SMALL_BUFFERS = ConnectionConfig(write_high_water=64 * 1024, write_low_water=16 * 1024)


async def test_request_to_a_peer_that_never_reads_times_out(deaf_peer: str) -> None:
    loop = asyncio.get_running_loop()
    async with RemotingClient(config=SMALL_BUFFERS) as client:
        started = loop.time()
        request = RemotingCommand.request(ECHO, body=b"x" * (32 * 1024 * 1024))
        async with asyncio.timeout(10):  # a regression must fail, not hang the suite
            with pytest.raises(RequestTimeoutError):
                await client.request(deaf_peer, request, timeout=0.5)
        assert loop.time() - started < 3


async def test_aclose_with_paused_writes_returns_within_its_timeout(deaf_peer: str) -> None:
    async with RemotingClient(config=SMALL_BUFFERS) as client:
        conn = await client.connection(deaf_peer)
        with pytest.raises(RequestTimeoutError):
            await conn.send_oneway(
                RemotingCommand.request(ECHO, body=b"x" * 8_000_000), timeout=0.2
            )
        async with asyncio.timeout(5):
            await conn.aclose(timeout=0.5)
        assert conn.closed


async def test_aclose_with_unflushed_bytes_returns_within_its_timeout(deaf_peer: str) -> None:
    config = ConnectionConfig(write_high_water=512 * 1024 * 1024, write_low_water=1024)
    async with RemotingClient(config=config) as client:
        conn = await client.connection(deaf_peer)
        await conn.send_oneway(RemotingCommand.request(ECHO, body=b"x" * 64_000_000), timeout=1)
        async with asyncio.timeout(5):
            await conn.aclose(timeout=0.5)  # close() alone would wait for the deaf peer forever
        assert conn.closed


async def test_two_peers_with_full_buffers_do_not_deadlock() -> None:
    config = ConnectionConfig(write_high_water=256 * 1024, write_low_water=64 * 1024)
    async with (
        await start_server(_registry(), config=config) as server,
        RemotingClient(config=config) as client,
    ):
        body = bytes(range(256)) * 8192  # 2 MiB each way
        requests = [
            client.request(server.address, RemotingCommand.request(ECHO, body=body), timeout=30)
            for _ in range(32)
        ]
        async with asyncio.timeout(60):  # the old design deadlocked here until idle close
            responses = await asyncio.gather(*requests)
    assert all(r.code == ResponseCode.SUCCESS and bytes(r.body) == body for r in responses)


async def test_unencodable_response_becomes_system_error() -> None:
    async with await start_server(_registry()) as server, RemotingClient() as client:
        broken = RemotingCommand.request(BROKEN, serialize_type=SerializeType.ROCKETMQ)
        response = await client.request(server.address, broken, timeout=5)
        assert response.code == ResponseCode.SYSTEM_ERROR
        assert response.remark is not None
        assert "must map str to str" in response.remark
        echo = await client.request(server.address, RemotingCommand.request(ECHO), timeout=5)
        assert echo.code == ResponseCode.SUCCESS  # the connection survived


async def test_closing_the_client_mid_connect_is_connection_closed_not_cancelled() -> None:
    async with await start_server(_registry()) as server:
        client = RemotingClient()
        task = asyncio.create_task(
            client.request(server.address, RemotingCommand.request(ECHO), timeout=5)
        )
        await asyncio.sleep(0)  # let the request start its connection attempt
        await client.aclose()
        with pytest.raises(ConnectionClosedError):
            await task
        assert not task.cancelled()


async def test_impatient_caller_does_not_fail_a_shared_connect_attempt() -> None:
    async with await start_server(_registry()) as server, RemotingClient() as client:
        hasty = asyncio.create_task(
            client.request(server.address, RemotingCommand.request(ECHO), timeout=1e-6)
        )
        patient = asyncio.create_task(
            client.request(server.address, RemotingCommand.request(ECHO), timeout=5)
        )
        with pytest.raises((ConnectError, RequestTimeoutError)):
            await hasty
        assert (await patient).code == ResponseCode.SUCCESS
