"""Transport over real loopback sockets: connection, server, client pool."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from rmq_protocol.codec.codes import LanguageCode, RequestCode, ResponseCode, SerializeType
from rmq_protocol.codec.command import BytesLike, RemotingCommand, encode_command, encode_response
from rmq_protocol.codec.frame import FrameDecoder
from rmq_protocol.codec.header import CommandHeader, command_header
from rmq_protocol.errors import (
    ConnectError,
    ConnectionClosedError,
    ConnectionLostError,
    RequestTimeoutError,
)
from rmq_protocol.transport import (
    Connection,
    ConnectionConfig,
    Processor,
    ProcessorRegistry,
    RemotingClient,
    RemotingServer,
    start_server,
)

ECHO = 9001  # test-only request codes
SLOW = 9002
BOOM = 9003
TYPED = 9004
CALLBACK = 9005
NOTE = 9006
ENCODED = 9007
ENCODED_LATER = 9008


@command_header
class _TopicHeader(CommandHeader):
    topic: str
    queue_id: int


def _echo(cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
    return RemotingCommand.response_to(cmd, body=cmd.body, ext_fields=cmd.ext_fields)


def _encoded(cmd: RemotingCommand, conn: Connection) -> bytes:
    return encode_response(cmd, ResponseCode.SUCCESS, LanguageCode.JAVA, ("echo", str(cmd.code)))


async def _encoded_later(cmd: RemotingCommand, conn: Connection) -> bytes:
    await asyncio.sleep(0)
    return _encoded(cmd, conn)


def _boom(cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
    raise RuntimeError("disk on fire")


def _typed(cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
    header = cmd.decode_header(_TopicHeader)
    return RemotingCommand.response_to(cmd, remark=f"{header.topic}/{header.queue_id}")


class Harness:
    """A server with test processors, plus hooks the tests release."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = 0
        self._progress = asyncio.Condition()
        self.notes: asyncio.Queue[RemotingCommand] = asyncio.Queue()
        self.registry = ProcessorRegistry()
        self.registry.register(ECHO, _echo)
        self.registry.register(SLOW, self._slow)
        self.registry.register(BOOM, _boom)
        self.registry.register(TYPED, _typed)
        self.registry.register(CALLBACK, self._callback)
        self.registry.register(NOTE, self._note)
        self.registry.register(ENCODED, _encoded)
        self.registry.register(ENCODED_LATER, _encoded_later)

    async def _slow(self, cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
        async with self._progress:
            self.started += 1
            self._progress.notify_all()
        await self.release.wait()
        return RemotingCommand.response_to(cmd, body=cmd.body)

    async def _callback(self, cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
        # The server asks the client something on the client's own connection.
        answer = await conn.request(
            RemotingCommand.request(RequestCode.GET_CONSUMER_RUNNING_INFO), timeout=5
        )
        return RemotingCommand.response_to(cmd, body=answer.body)

    async def wait_started(self, count: int) -> None:
        """Wait until ``count`` SLOW processors have started (under the caller's timeout)."""
        async with self._progress:
            await self._progress.wait_for(lambda: self.started >= count)

    def _note(self, cmd: RemotingCommand, conn: Connection) -> None:
        self.notes.put_nowait(cmd)


@pytest.fixture
async def harness() -> Harness:
    return Harness()


@pytest.fixture
async def server(harness: Harness) -> AsyncIterator[RemotingServer]:
    async with await start_server(harness.registry, "127.0.0.1", 0) as srv:
        yield srv


@pytest.fixture
async def client() -> AsyncIterator[RemotingClient]:
    async with RemotingClient() as cli:
        yield cli


@pytest.mark.parametrize("serialize_type", list(SerializeType))
async def test_request_response_round_trip(
    server: RemotingServer, client: RemotingClient, serialize_type: SerializeType
) -> None:
    cmd = RemotingCommand.request(
        ECHO, body=b"payload", ext_fields={"k": "v"}, serialize_type=serialize_type
    )
    response = await client.request(server.address, cmd, timeout=5)
    assert response.code == ResponseCode.SUCCESS
    assert response.is_response
    assert bytes(response.body) == b"payload"
    assert response.ext_fields == {"k": "v"}
    assert response.serialize_type == serialize_type


@pytest.mark.parametrize("serialize_type", list(SerializeType))
@pytest.mark.parametrize("code", [ENCODED, ENCODED_LATER])
async def test_a_processor_may_answer_with_the_encoded_frame(
    server: RemotingServer, client: RemotingClient, serialize_type: SerializeType, code: int
) -> None:
    """encode_response's bytes, returned at once or awaited, go out as they are."""
    connection = await client.connection(server.address)
    requests = [RemotingCommand.request(code, serialize_type=serialize_type) for _ in range(40)]
    responses = await asyncio.gather(*(connection.request(r, timeout=5) for r in requests))
    for response in responses:
        assert response.code == ResponseCode.SUCCESS
        assert response.is_response
        assert response.language == LanguageCode.JAVA
        assert response.ext_fields == {"echo": str(code)}
        assert response.serialize_type == serialize_type
    await connection.send_oneway(RemotingCommand.request(code, oneway=True), timeout=5)
    echo = await connection.request(RemotingCommand.request(ECHO), timeout=5)
    assert echo.code == ResponseCode.SUCCESS
    (served,) = server.connections
    assert served.statistics().responses_sent == 41  # the one-way request is not answered
    assert connection.statistics().responses_received == 41


async def test_ten_thousand_concurrent_requests_on_one_connection(
    server: RemotingServer, client: RemotingClient
) -> None:
    async def one(i: int) -> bytes:
        cmd = RemotingCommand.request(ECHO, body=str(i).encode())
        return bytes((await client.request(server.address, cmd, timeout=60)).body)

    results = await asyncio.gather(*(one(i) for i in range(10_000)))
    assert results == [str(i).encode() for i in range(10_000)]
    assert len(server.connections) == 1
    conn = await client.connection(server.address)
    stats = conn.statistics()
    assert (stats.requests_sent, stats.responses_received, stats.inflight) == (10_000, 10_000, 0)


async def test_ten_thousand_concurrent_async_processors(
    harness: Harness, server: RemotingServer, client: RemotingClient
) -> None:
    tasks = [
        asyncio.create_task(
            client.request(
                server.address, RemotingCommand.request(SLOW, body=b"%d" % i), timeout=60
            )
        )
        for i in range(10_000)
    ]
    async with asyncio.timeout(30):
        await harness.wait_started(10_000)
    harness.release.set()
    results = await asyncio.gather(*tasks)
    assert [bytes(r.body) for r in results] == [b"%d" % i for i in range(10_000)]


async def test_unknown_code_gets_java_remark(
    server: RemotingServer, client: RemotingClient
) -> None:
    response = await client.request(server.address, RemotingCommand.request(4242), timeout=5)
    assert response.code == ResponseCode.REQUEST_CODE_NOT_SUPPORTED
    assert response.remark == " request type 4242 not supported"


async def test_processor_exception_answers_system_error(
    server: RemotingServer, client: RemotingClient
) -> None:
    response = await client.request(server.address, RemotingCommand.request(BOOM), timeout=5)
    assert response.code == ResponseCode.SYSTEM_ERROR
    assert response.remark == "RuntimeError: disk on fire"


async def test_bad_typed_header_answers_system_error_naming_the_field(
    server: RemotingServer, client: RemotingClient
) -> None:
    ok = RemotingCommand.request(TYPED, _TopicHeader(topic="T", queue_id=3))
    assert (await client.request(server.address, ok, timeout=5)).remark == "T/3"
    bad = RemotingCommand.request(TYPED, ext_fields={"topic": "T", "queueId": "three"})
    response = await client.request(server.address, bad, timeout=5)
    assert response.code == ResponseCode.SYSTEM_ERROR
    assert response.remark is not None
    assert "'queueId' is 'three': not a decimal integer" in response.remark


async def test_timeout_replaces_the_connection_like_java(
    harness: Harness, server: RemotingServer, client: RemotingClient
) -> None:
    first = await client.connection(server.address)
    with pytest.raises(RequestTimeoutError, match=r"no response within 0\.2 s"):
        await client.request(server.address, RemotingCommand.request(SLOW), timeout=0.2)
    echo = await client.request(server.address, RemotingCommand.request(ECHO), timeout=5)
    assert echo.code == ResponseCode.SUCCESS
    assert await client.connection(server.address) is not first
    assert first.statistics().timeouts == 1
    harness.release.set()


async def test_timeout_keeps_the_connection_when_asked(
    harness: Harness, server: RemotingServer
) -> None:
    async with RemotingClient(close_on_timeout=False) as cli:
        first = await cli.connection(server.address)
        with pytest.raises(RequestTimeoutError):
            await cli.request(server.address, RemotingCommand.request(SLOW), timeout=0.2)
        echo = await cli.request(server.address, RemotingCommand.request(ECHO), timeout=5)
        assert echo.code == ResponseCode.SUCCESS
        assert await cli.connection(server.address) is first
        harness.release.set()  # the late response is dropped without harm


async def test_each_request_times_out_at_its_own_deadline(
    harness: Harness, server: RemotingServer
) -> None:
    """One expiry timer per connection serves every deadline: a short timeout behind a
    long one still fires on time, and the long one after it, at its own deadline."""
    async with RemotingClient(close_on_timeout=False) as cli:
        loop = asyncio.get_running_loop()
        started = loop.time()

        async def slow(timeout: float) -> float:
            with pytest.raises(RequestTimeoutError, match=rf"no response within {timeout:g} s"):
                await cli.request(server.address, RemotingCommand.request(SLOW), timeout=timeout)
            return loop.time() - started

        long_task = asyncio.create_task(slow(0.9))
        await asyncio.sleep(0.05)
        short_at = await slow(0.2)
        long_at = await long_task
        assert 0.2 <= short_at < 0.6
        assert 0.9 <= long_at < 1.6
        conn = await cli.connection(server.address)
        assert conn.statistics().timeouts == 2
        echo = await cli.request(server.address, RemotingCommand.request(ECHO), timeout=5)
        assert echo.code == ResponseCode.SUCCESS
        harness.release.set()


async def test_oneway_reaches_processor_and_gets_no_response(
    harness: Harness, server: RemotingServer, client: RemotingClient
) -> None:
    await client.send_oneway(server.address, RemotingCommand.request(NOTE, body=b"n"), timeout=5)
    async with asyncio.timeout(5):
        note = await harness.notes.get()
    assert note.is_oneway
    assert bytes(note.body) == b"n"
    # Oneway to an unknown code or a failing processor: no response either.
    await client.send_oneway(server.address, RemotingCommand.request(BOOM), timeout=5)
    conn = await client.connection(server.address)
    echo = await client.request(server.address, RemotingCommand.request(ECHO), timeout=5)
    assert echo.code == ResponseCode.SUCCESS
    assert conn.statistics().responses_received == 1


async def test_server_calls_the_client_on_its_connection(
    server: RemotingServer,
) -> None:
    registry = ProcessorRegistry()

    def running_info(cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
        return RemotingCommand.response_to(cmd, body=b"client-info")

    registry.register(RequestCode.GET_CONSUMER_RUNNING_INFO, running_info)
    async with RemotingClient(registry) as cli:
        response = await cli.request(server.address, RemotingCommand.request(CALLBACK), timeout=5)
    assert bytes(response.body) == b"client-info"


async def test_garbage_on_one_connection_leaves_others_working(
    server: RemotingServer, client: RemotingClient
) -> None:
    assert (
        await client.request(server.address, RemotingCommand.request(ECHO), timeout=5)
    ).code == 0
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    async with asyncio.timeout(5):
        assert await reader.read() == b""  # the server closed only this connection
    writer.close()
    await writer.wait_closed()
    for _ in range(3):
        response = await client.request(server.address, RemotingCommand.request(ECHO), timeout=5)
        assert response.code == ResponseCode.SUCCESS


async def test_truncated_then_malformed_json_header_closes_only_that_peer(
    server: RemotingServer, client: RemotingClient
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"\x00\x00\x00\x07\x00\x00\x00\x03{x}")
    await writer.drain()
    async with asyncio.timeout(5):
        assert await reader.read() == b""
    writer.close()
    await writer.wait_closed()
    assert (
        await client.request(server.address, RemotingCommand.request(ECHO), timeout=5)
    ).code == 0


async def test_graceful_shutdown_loses_no_in_flight_response(
    harness: Harness, client: RemotingClient
) -> None:
    server = await start_server(harness.registry, "127.0.0.1", 0)
    tasks = [
        asyncio.create_task(
            client.request(
                server.address, RemotingCommand.request(SLOW, body=b"%d" % i), timeout=10
            )
        )
        for i in range(200)
    ]
    async with asyncio.timeout(5):
        await harness.wait_started(200)
    closing = asyncio.create_task(server.aclose(timeout=10))
    done, _ = await asyncio.wait([closing], timeout=0.1)
    assert not done  # aclose waits for the in-flight processors
    harness.release.set()
    responses = await asyncio.gather(*tasks)
    await closing
    assert [bytes(r.body) for r in responses] == [b"%d" % i for i in range(200)]
    assert all(r.code == ResponseCode.SUCCESS for r in responses)


async def test_peer_close_fails_pending_with_connection_lost(
    harness: Harness, client: RemotingClient
) -> None:
    server = await start_server(harness.registry, "127.0.0.1", 0)
    pending = asyncio.create_task(
        client.request(server.address, RemotingCommand.request(SLOW), timeout=10)
    )
    async with asyncio.timeout(5):
        await harness.wait_started(1)
    for conn in server.connections:
        conn.abort()
    with pytest.raises(ConnectionLostError):
        await pending
    await server.aclose()


async def test_pool_reconnects_after_the_connection_is_lost(
    server: RemotingServer, client: RemotingClient
) -> None:
    first = await client.connection(server.address)
    await client.request(server.address, RemotingCommand.request(ECHO), timeout=5)
    for conn in server.connections:
        conn.abort()
    async with asyncio.timeout(5):
        await first.wait_closed()
    response = await client.request(server.address, RemotingCommand.request(ECHO), timeout=5)
    assert response.code == ResponseCode.SUCCESS
    assert await client.connection(server.address) is not first


async def test_connect_refused_is_connect_error(client: RemotingClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectError, match=f"127.0.0.1:{port}"):
        await client.request(f"127.0.0.1:{port}", RemotingCommand.request(ECHO), timeout=2)


async def test_closed_client_refuses_requests(server: RemotingServer) -> None:
    cli = RemotingClient()
    await cli.aclose()
    with pytest.raises(ConnectionClosedError):
        await cli.request(server.address, RemotingCommand.request(ECHO), timeout=1)


async def test_idle_connection_is_closed(harness: Harness) -> None:
    config = ConnectionConfig(idle_timeout=0.2)
    async with await start_server(harness.registry, "127.0.0.1", 0, config=config) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        async with asyncio.timeout(5):
            assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()


async def test_in_flight_bound_makes_extra_requests_wait(
    harness: Harness, server: RemotingServer
) -> None:
    config = ConnectionConfig(max_inflight=2)
    async with RemotingClient(config=config, close_on_timeout=False) as cli:
        slow = [
            asyncio.create_task(
                cli.request(server.address, RemotingCommand.request(SLOW), timeout=10)
            )
            for _ in range(2)
        ]
        async with asyncio.timeout(5):
            await harness.wait_started(2)
        with pytest.raises(RequestTimeoutError):
            await cli.request(server.address, RemotingCommand.request(ECHO), timeout=0.2)
        harness.release.set()
        await asyncio.gather(*slow)
        response = await cli.request(server.address, RemotingCommand.request(ECHO), timeout=5)
        assert response.code == ResponseCode.SUCCESS


async def test_request_bound_answers_system_busy_and_keeps_reading(harness: Harness) -> None:
    config = ConnectionConfig(max_concurrent_requests=4)
    async with (
        await start_server(harness.registry, "127.0.0.1", 0, config=config) as server,
        RemotingClient() as cli,
    ):
        tasks = [
            asyncio.create_task(
                cli.request(server.address, RemotingCommand.request(SLOW), timeout=20)
            )
            for _ in range(500)
        ]
        async with asyncio.timeout(10):
            await harness.wait_started(4)
            while len(busy := [t for t in tasks if t.done()]) < 496:
                await asyncio.wait(
                    [t for t in tasks if not t.done()], return_when=asyncio.FIRST_COMPLETED
                )
        assert all(t.result().code == ResponseCode.SYSTEM_BUSY for t in busy)
        (conn,) = server.connections
        assert conn.statistics().processing == 4
        # Reading goes on: a cheap request is still answered while the four run.
        echo = await cli.request(server.address, RemotingCommand.request(ECHO), timeout=5)
        assert echo.code == ResponseCode.SUCCESS
        harness.release.set()
        codes = sorted(r.code for r in await asyncio.gather(*tasks))
        assert codes == [ResponseCode.SUCCESS] * 4 + [ResponseCode.SYSTEM_BUSY] * 496


async def test_large_body_near_frame_limit(server: RemotingServer, client: RemotingClient) -> None:
    body = bytes(range(256)) * (15 * 4096)  # 15 MiB
    response = await client.request(
        server.address, RemotingCommand.request(ECHO, body=body), timeout=30
    )
    assert bytes(response.body) == body


async def test_raw_java_style_frame_from_a_plain_socket(server: RemotingServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(encode_command(RemotingCommand.request(4242)))
    await writer.drain()
    async with asyncio.timeout(5):
        length = int.from_bytes(await reader.readexactly(4), "big")
        frame = await reader.readexactly(length)
    assert b'"code":3' in frame
    assert b'"flag":1' in frame
    writer.close()
    await writer.wait_closed()


async def test_response_body_written_from_several_buffers(client: RemotingClient) -> None:
    segment = bytes(range(256)) * 1024  # stands in for a mapped commit-log segment
    parts: list[BytesLike] = [memoryview(segment)[:1000], memoryview(segment)[5000:90000], b"tail"]

    def pull(cmd: RemotingCommand, conn: Connection) -> None:
        conn.send_response(RemotingCommand.response_to(cmd, remark="FOUND"), parts)

    registry = ProcessorRegistry()
    registry.register(RequestCode.PULL_MESSAGE, pull)
    async with await start_server(registry, "127.0.0.1", 0) as server:
        cmd = RemotingCommand.request(RequestCode.PULL_MESSAGE)
        response = await client.request(server.address, cmd, timeout=5)
    assert response.remark == "FOUND"
    assert bytes(response.body) == b"".join(bytes(p) for p in parts)


async def test_pipelined_multi_buffer_responses_leave_in_one_write() -> None:
    """Pull responses (each many buffers) answered in one loop iteration share one write,
    in request order, byte for byte; a peer that pipelines 20 requests gets them all."""
    segment = bytes(range(256)) * 256  # stands in for a mapped commit-log segment

    def parts_for(opaque: int) -> list[BytesLike]:
        view = memoryview(segment)
        return [view[opaque : opaque + 1000], view[2000 + opaque : 40000], b"#%d" % opaque]

    def pull(cmd: RemotingCommand, conn: Connection) -> None:
        conn.send_response(RemotingCommand.response_to(cmd, remark="FOUND"), parts_for(cmd.opaque))

    registry = ProcessorRegistry()
    registry.register(RequestCode.PULL_MESSAGE, pull)
    async with await start_server(registry, "127.0.0.1", 0) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        requests = b"".join(
            encode_command(RemotingCommand.request(RequestCode.PULL_MESSAGE), opaque=opaque)
            for opaque in range(1, 21)
        )
        writer.write(requests)  # one read on the server side, usually
        await writer.drain()
        async with asyncio.timeout(5):
            for opaque in range(1, 21):
                length = int.from_bytes(await reader.readexactly(4), "big")
                frame = await reader.readexactly(length)
                header_length = int.from_bytes(frame[:4], "big") & 0xFFFFFF
                assert f'"opaque":{opaque},'.encode() in frame[4 : 4 + header_length]
                expected = b"".join(bytes(part) for part in parts_for(opaque))
                assert frame[4 + header_length :] == expected
        (conn,) = server.connections
        stats = conn.statistics()
        writer.close()
        await writer.wait_closed()
    assert stats.responses_sent == 20
    # Sixteen frames flush at once, the rest at the end of the iteration: at least 16
    # responses shared a write (one write each before).
    assert stats.writes <= 20 - 15


class _Wire(asyncio.Transport):
    """A transport that keeps what is written."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return False

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass


async def test_dispatch_reads_the_registry_live_and_takes_any_handler() -> None:
    """Connection looks a ProcessorRegistry's processors up itself (its processor_for,
    inlined): a default or a processor registered after the connection opened is used;
    another handler type is asked through its processor_for."""

    class Handler:
        def processor_for(self, code: int) -> Processor | None:
            return _echo if code == ECHO else None

    def ask(conn: Connection, wire: _Wire, code: int, opaque: int) -> RemotingCommand:
        wire.data.clear()
        conn.data_received(encode_command(RemotingCommand.request(code, body=b"hi"), opaque=opaque))
        conn._flush()
        decoder = FrameDecoder()
        decoder.feed(bytes(wire.data))
        (response,) = decoder.next_commands()
        assert response.opaque == opaque
        return response

    registry = ProcessorRegistry()
    for handler in (registry, Handler()):
        conn = Connection(handler, config=ConnectionConfig(idle_timeout=None))
        wire = _Wire()
        conn.connection_made(wire)

        assert ask(conn, wire, NOTE, 1).code == ResponseCode.REQUEST_CODE_NOT_SUPPORTED
        if handler is registry:
            registry.register_default(_echo)
            assert ask(conn, wire, NOTE, 2).body == b"hi"
            registry.register(ECHO, _boom)
            assert ask(conn, wire, ECHO, 3).code == ResponseCode.SYSTEM_ERROR
        else:
            assert ask(conn, wire, ECHO, 2).body == b"hi"
