"""asyncio transport for the remoting protocol (owns sockets, timing, tasks)."""

from rmq_protocol.transport.client import RemotingClient, parse_address
from rmq_protocol.transport.connection import (
    Connection,
    ConnectionConfig,
    ConnectionStatistics,
    Processor,
    ProcessorRegistry,
)
from rmq_protocol.transport.loop import loop_factory, run, serve_until_signalled, uvloop_available
from rmq_protocol.transport.server import RemotingServer, start_server

__all__ = [
    "Connection",
    "ConnectionConfig",
    "ConnectionStatistics",
    "Processor",
    "ProcessorRegistry",
    "RemotingClient",
    "RemotingServer",
    "loop_factory",
    "parse_address",
    "run",
    "serve_until_signalled",
    "start_server",
    "uvloop_available",
]
