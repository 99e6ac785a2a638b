"""Incremental frame decoder: feed bytes, pull commands (h11's shape).

Mirrors Netty's ``LengthFieldBasedFrameDecoder`` as ``NettyDecoder`` configures it
for RocketMQ: a big-endian int32 length prefix counting the bytes after it, and a
maximum frame size (16 MiB by default, length prefix included; Java's
``com.rocketmq.remoting.frameMaxLength``).

The decoder never allocates for a frame before checking its declared length
against the bound, and never holds more than one maximal frame plus one read.
"""

from __future__ import annotations

import struct
from typing import Final

from rmq_protocol.codec.command import BytesLike, RemotingCommand, decode_command
from rmq_protocol.errors import RemoteProtocolError

__all__ = ["DEFAULT_MAX_FRAME_SIZE", "FrameDecoder"]

DEFAULT_MAX_FRAME_SIZE: Final = 16 * 1024 * 1024
"""Largest frame accepted, 4-byte length prefix included (16 MiB, as Java)."""

_LENGTH: Final = struct.Struct(">i")
_COMPACT_AT: Final = 64 * 1024


class FrameDecoder:
    """Reassembles frames from arbitrary chunks of a byte stream.

    Not safe for concurrent use; one decoder per connection direction.

    Usage::

        decoder.feed(data)
        while (cmd := decoder.next_command()) is not None:
            handle(cmd)
    """

    __slots__ = ("_buf", "_consumed", "_max_frame_size", "_pos")

    def __init__(self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        if max_frame_size < 8:
            raise ValueError(f"max_frame_size {max_frame_size} is below the 8-byte minimum frame")
        self._max_frame_size = max_frame_size
        self._buf = bytearray()
        self._pos = 0  # start of the unread data in _buf
        self._consumed = 0  # stream offset of _buf[0], for error messages

    @property
    def max_frame_size(self) -> int:
        return self._max_frame_size

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as commands."""
        return len(self._buf) - self._pos

    def feed(self, data: BytesLike) -> None:
        """Append received bytes (copied; the caller may reuse ``data``)."""
        if self._pos and (self._pos >= _COMPACT_AT or self._pos == len(self._buf)):
            del self._buf[: self._pos]
            self._consumed += self._pos
            self._pos = 0
        self._buf += data

    def next_frame(self) -> bytes | None:
        """The next complete frame without its length prefix, or None if more bytes are needed.

        Raises:
            RemoteProtocolError: the declared length is out of bounds; the stream
                cannot be resynchronised, so the connection must be closed.
        """
        buf, pos = self._buf, self._pos
        if len(buf) - pos < 4:
            return None
        (length,) = _LENGTH.unpack_from(buf, pos)
        if not 4 <= length <= self._max_frame_size - 4:
            raise RemoteProtocolError(
                f"frame length {length} not in 4..{self._max_frame_size - 4}: the peer is not "
                "speaking RocketMQ remoting (TLS? HTTP?), or raise max_frame_size "
                f"(now {self._max_frame_size})",
                offset=self._consumed + pos,
            )
        end = pos + 4 + length
        if len(buf) < end:
            return None
        with memoryview(buf) as view:
            frame = bytes(view[pos + 4 : end])
        self._pos = end
        return frame

    def next_command(self) -> RemotingCommand | None:
        """The next complete command, or None if more bytes are needed.

        Raises:
            RemoteProtocolError: the frame is malformed (see :func:`decode_command`);
                byte offsets in the message count from the start of the stream.
        """
        start = self._consumed + self._pos
        frame = self.next_frame()
        if frame is None:
            return None
        try:
            return decode_command(frame)
        except RemoteProtocolError as exc:
            offset = start + (exc.offset or 0)
            raise RemoteProtocolError(
                f"in the frame starting at stream byte {start}: {exc.detail}", offset=offset
            ) from exc
