"""rmq-protocol: Apache RocketMQ's remoting protocol for Python.

The codec (``rmq_protocol.codec``) is sans-IO and importing this package does not
load asyncio; the asyncio transport is :mod:`rmq_protocol.transport`.
"""

from rmq_protocol._version import __version__
from rmq_protocol.codec import (
    FrameDecoder,
    LanguageCode,
    MessageExt,
    RemotingCommand,
    RequestCode,
    ResponseCode,
    SerializeType,
    decode_command,
    decode_messages,
    encode_command,
)
from rmq_protocol.errors import (
    ConfigError,
    ConnectError,
    ConnectionClosedError,
    ConnectionLostError,
    InvalidHeaderError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    RequestTimeoutError,
)

__all__ = [
    "ConfigError",
    "ConnectError",
    "ConnectionClosedError",
    "ConnectionLostError",
    "FrameDecoder",
    "InvalidHeaderError",
    "LanguageCode",
    "LocalProtocolError",
    "MessageExt",
    "ProtocolError",
    "RemoteProtocolError",
    "RemotingCommand",
    "RequestCode",
    "RequestTimeoutError",
    "ResponseCode",
    "SerializeType",
    "__version__",
    "decode_command",
    "decode_messages",
    "encode_command",
]
