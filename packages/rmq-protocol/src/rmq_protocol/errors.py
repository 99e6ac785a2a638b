"""Errors raised by rmq-protocol.

One base, :class:`ProtocolError`. Codec errors split the way h11 splits them:
:class:`RemoteProtocolError` (the peer sent bytes that are not valid remoting
protocol) and :class:`LocalProtocolError` (we were asked to build something the
protocol cannot carry). Transport errors distinguish a connection *we* closed
(:class:`ConnectionClosedError`) from one the peer or the network lost
(:class:`ConnectionLostError`, cause in ``__cause__``). :class:`ConfigError` is
raised by the configuration loader (:mod:`rmq_protocol.config`) the servers share.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConnectError",
    "ConnectionClosedError",
    "ConnectionLostError",
    "InvalidHeaderError",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "RequestTimeoutError",
]


class ProtocolError(Exception):
    """Base class of every error raised by rmq-protocol."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something that is not valid remoting protocol.

    Attributes:
        offset: byte offset of the problem within the input being decoded
            (frame, header, body or message record), when known.
        detail: the message without the offset prefix.
    """

    def __init__(self, message: str, *, offset: int | None = None) -> None:
        self.offset = offset
        self.detail = message
        super().__init__(message if offset is None else f"at byte {offset}: {message}")


class InvalidHeaderError(RemoteProtocolError):
    """A custom header (extFields) lacks a required field or has an unparsable value.

    The connection stays usable: a server answers the one request with
    SYSTEM_ERROR and this message as the remark, as Java does.
    """

    def __init__(self, header: str, key: str, value: str | None, reason: str) -> None:
        self.header, self.key, self.value, self.reason = header, key, value, reason
        shown = "missing" if value is None else repr(value)
        super().__init__(f"{header}: field {key!r} is {shown}: {reason}")


class LocalProtocolError(ProtocolError, ValueError):
    """We were asked to encode something the protocol cannot represent."""


class ConnectError(ProtocolError, ConnectionError):
    """Could not open a connection to ``address``."""

    def __init__(self, address: str, reason: str) -> None:
        self.address = address
        super().__init__(f"cannot connect to {address}: {reason}")


class ConnectionClosedError(ProtocolError, ConnectionError):
    """The connection was closed by this side (``aclose()``) before the call finished."""

    def __init__(self, peer: str, detail: str = "connection closed locally") -> None:
        self.peer = peer
        super().__init__(f"{peer}: {detail}")


class ConnectionLostError(ProtocolError, ConnectionError):
    """The peer closed the connection, or the network or a protocol error broke it."""

    def __init__(self, peer: str, detail: str) -> None:
        self.peer = peer
        super().__init__(f"{peer}: connection lost: {detail}")


class RequestTimeoutError(ProtocolError, TimeoutError):
    """No response to a request within the caller's timeout."""

    def __init__(self, code: int, peer: str, timeout: float, opaque: int | None = None) -> None:
        self.code, self.peer, self.timeout, self.opaque = code, peer, timeout, opaque
        from rmq_protocol.codec.codes import code_name

        super().__init__(
            f"{code_name(code, response=False)} to {peer}: no response within {timeout:g} s "
            "(peer overloaded or unreachable; raise the timeout or check the peer)"
        )


class ConfigError(ProtocolError, ValueError):
    """A configuration file (or another config source) has an unknown key or a bad value.

    Attributes:
        source: the file name (as given) or a label such as ``"UPDATE_NAMESRV_CONFIG"``.
        line: 1-based line of the entry, when known.
        key: the RocketMQ key at fault, when there is one.
        suggestion: the nearest known key, for an unknown key that resembles one.
        detail: the message without the ``source:line:`` prefix.
    """

    def __init__(
        self,
        source: str,
        detail: str,
        *,
        line: int | None = None,
        key: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        self.source, self.line, self.key = source, line, key
        self.suggestion, self.detail = suggestion, detail
        where = source if line is None else f"{source}:{line}"
        super().__init__(f"{where}: {detail}")
