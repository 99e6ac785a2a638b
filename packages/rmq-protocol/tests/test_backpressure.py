"""Transport under pressure: peers that stop reading, full buffers, closing mid-flight."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from rmq_protocol.codec.codes import ResponseCode, SerializeType
from rmq_protocol.codec.command import RemotingCommand, encode_command
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


DICT = 9103


async def test_both_peers_sending_past_the_held_limit_all_get_answers() -> None:
    config = ConnectionConfig(
        write_high_water=256 * 1024, write_low_water=64 * 1024, max_held_bytes=8 * 1024 * 1024
    )
    async with (
        await start_server(_registry(), config=config) as server,
        RemotingClient(_registry(), config=config) as client,
    ):
        body = b"z" * (2 * 1024 * 1024)
        ours = await client.connection(server.address)
        await ours.request(RemotingCommand.request(ECHO), timeout=5)
        (theirs,) = server.connections
        calls = [
            conn.request(RemotingCommand.request(ECHO, body=body), timeout=60)
            for conn in (ours, theirs)
            for _ in range(24)
        ]
        async with asyncio.timeout(90):  # the old design stopped reading on both sides
            responses = await asyncio.gather(*calls)
    codes = {r.code for r in responses}
    assert codes <= {ResponseCode.SUCCESS, ResponseCode.SYSTEM_BUSY}
    assert ResponseCode.SUCCESS in codes
    assert all(bytes(r.body) == body for r in responses if r.code == ResponseCode.SUCCESS)


async def test_processor_returning_a_non_command_is_system_error() -> None:
    registry = _registry()
    registry.register(DICT, lambda cmd, conn: {"oops": 1})  # type: ignore[arg-type, return-value]
    async with await start_server(registry) as server, RemotingClient() as client:
        response = await client.request(server.address, RemotingCommand.request(DICT), timeout=5)
        assert response.code == ResponseCode.SYSTEM_ERROR
        assert response.remark == "processor returned dict, not a RemotingCommand"
        echo = await client.request(server.address, RemotingCommand.request(ECHO), timeout=5)
        assert echo.code == ResponseCode.SUCCESS


async def test_aclose_after_the_peer_went_away_returns_at_once() -> None:
    async with await start_server(_registry()) as server, RemotingClient() as client:
        conn = await client.connection(server.address)
        for peer in server.connections:
            peer.abort()
        async with asyncio.timeout(5):
            await conn.wait_closed()
            await conn.aclose(timeout=3)


async def test_slot_timeout_does_not_close_a_healthy_connection() -> None:
    release, started = asyncio.Event(), asyncio.Event()

    async def slow(cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
        started.set()
        await release.wait()
        return RemotingCommand.response_to(cmd)

    registry = _registry()
    registry.register(SLOW := 9104, slow)
    config = ConnectionConfig(max_inflight=1)
    async with await start_server(registry) as server, RemotingClient(config=config) as client:
        first = asyncio.create_task(
            client.request(server.address, RemotingCommand.request(SLOW), timeout=10)
        )
        conn = await client.connection(server.address)
        async with asyncio.timeout(5):
            await started.wait()
        with pytest.raises(RequestTimeoutError):
            await client.request(server.address, RemotingCommand.request(ECHO), timeout=0.2)
        release.set()
        assert (await first).code == ResponseCode.SUCCESS  # its connection was not closed
        assert await client.connection(server.address) is conn


async def test_a_timed_out_drain_counts_once(deaf_peer: str) -> None:
    async with RemotingClient(config=SMALL_BUFFERS, close_on_timeout=False) as client:
        conn = await client.connection(deaf_peer)
        request = RemotingCommand.request(ECHO, body=b"x" * (8 * 1024 * 1024))
        with pytest.raises(RequestTimeoutError):
            await conn.request(request, timeout=0.3)
        assert conn.statistics().timeouts == 1


async def test_a_peer_that_floods_requests_and_never_reads_is_disconnected(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = ConnectionConfig(
        write_high_water=64 * 1024, write_low_water=16 * 1024, max_held_bytes=512 * 1024
    )
    gone = asyncio.Event()
    server = await start_server(_registry(), config=config, on_disconnect=lambda c: gone.set())
    async with server:
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        big = RemotingCommand.request(ECHO, body=b"x" * 256 * 1024)
        small = RemotingCommand.request(ECHO, body=b"y")
        try:
            # 15 MiB of responses the peer never reads: past the kernel's socket buffers,
            # the server's writes pause.
            for i in range(60):
                writer.write(encode_command(big, opaque=i))
            for i in range(20_000):  # then a flood: held, then SYSTEM_BUSY, then cut off
                writer.write(encode_command(small, opaque=1000 + i))
                if i % 500 == 0:
                    await writer.drain()
            async with asyncio.timeout(20):
                await gone.wait()
        except ConnectionError:
            pass  # the server cut us off while we were still writing: also the point
        finally:
            writer.transport.abort()
        async with asyncio.timeout(20):
            await gone.wait()
    assert "answered SYSTEM_BUSY while it read none of our responses" in caplog.text
