"""Transport benchmark: request/response over loopback, N in flight on one connection.

    python benchmarks/bench_transport.py [--inflight 64] [--seconds 5] [--loop uvloop|asyncio|both]

The server runs in its own process (one core each side, as a broker and a client
would); it answers GET_MAX_OFFSET-shaped requests with a typed response header.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
from multiprocessing.connection import Connection as Pipe

from rmq_protocol.codec.codes import RequestCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader
from rmq_protocol.transport import (
    Connection,
    ProcessorRegistry,
    RemotingClient,
    run,
    start_server,
    uvloop_available,
)


def _get_max_offset(cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
    header = cmd.decode_header(GetMaxOffsetRequestHeader)
    return RemotingCommand.response_to(
        cmd, header=GetMaxOffsetResponseHeader(offset=header.queue_id * 1000)
    )


async def _serve(pipe: Pipe) -> None:
    registry = ProcessorRegistry()
    registry.register(RequestCode.GET_MAX_OFFSET, _get_max_offset)
    async with await start_server(registry, "127.0.0.1", 0) as server:
        pipe.send(server.port)
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)


def _server_main(pipe: Pipe, use_uvloop: bool) -> None:
    run(_serve(pipe), use_uvloop=use_uvloop)


async def _drive(address: str, inflight: int, seconds: float) -> tuple[int, float]:
    async with RemotingClient() as client:
        request = RemotingCommand.request(
            RequestCode.GET_MAX_OFFSET, GetMaxOffsetRequestHeader(topic="BenchmarkTest", queue_id=3)
        )
        await client.request(address, request, timeout=5)  # connect and warm up
        done = 0
        stop_at = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop_at:
                response = await client.request(address, request, timeout=5)
                assert response.code == 0
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(inflight)))
        return done, time.perf_counter() - start


def measure(use_uvloop: bool, inflight: int, seconds: float) -> float:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_server_main, args=(child, use_uvloop), daemon=True)
    server.start()
    try:
        port = parent.recv()
        done, elapsed = run(_drive(f"127.0.0.1:{port}", inflight, seconds), use_uvloop=use_uvloop)
    finally:
        parent.send("stop")
        server.join(10)
        if server.is_alive():
            server.kill()
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--loop", choices=["uvloop", "asyncio", "both"], default="both")
    args = parser.parse_args()
    loops = {"uvloop": [True], "asyncio": [False], "both": [False, True]}[args.loop]
    for use_uvloop in loops:
        if use_uvloop and not uvloop_available():
            print("uvloop: not installed (pip install rmq-protocol[uvloop])")
            continue
        rate = measure(use_uvloop, args.inflight, args.seconds)
        name = "uvloop" if use_uvloop else "asyncio"
        print(
            f"request/response, {args.inflight} in flight, one connection, {name:7}: "
            f"{rate:>10,.0f} /s"
        )


if __name__ == "__main__":
    main()
