"""Incremental frame decoder: feed bytes, pull commands (h11's shape).

Mirrors Netty's ``LengthFieldBasedFrameDecoder`` as ``NettyDecoder`` configures it
for RocketMQ: a big-endian int32 length prefix counting the bytes after it, and a
maximum frame size (16 MiB by default, length prefix included; Java's
``com.rocketmq.remoting.frameMaxLength``).

The decoder never allocates for a frame before checking its declared length
against the bound, and never holds more than one maximal frame plus one read.

Copies: when nothing is buffered, a fed ``bytes`` chunk is kept as is and each
complete frame in it is returned as a zero-copy ``memoryview`` slice of it; only
a partial frame at its end is copied into the reassembly buffer. A frame that
spans reads is copied once, out of that buffer.
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

    __slots__ = ("_buf", "_chunk", "_chunk_pos", "_consumed", "_max_frame_size", "_pos")

    def __init__(self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        if max_frame_size < 8:
            raise ValueError(f"max_frame_size {max_frame_size} is below the 8-byte minimum frame")
        self._max_frame_size = max_frame_size
        self._buf = bytearray()
        self._pos = 0  # start of the unread data in _buf
        self._consumed = 0  # stream offset of _buf[0], for error messages
        # A fed bytes object read in place while _buf is empty (zero-copy frames).
        self._chunk: memoryview | None = None
        self._chunk_pos = 0

    @property
    def max_frame_size(self) -> int:
        return self._max_frame_size

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as commands."""
        chunk = 0 if self._chunk is None else len(self._chunk) - self._chunk_pos
        return len(self._buf) - self._pos + chunk

    def feed(self, data: BytesLike) -> None:
        """Append received bytes.

        ``bytes`` are kept by reference while whole frames are read from them;
        other buffers are copied, so the caller may reuse a bytearray.
        """
        self._spill()
        if self._pos and (self._pos >= _COMPACT_AT or self._pos == len(self._buf)):
            del self._buf[: self._pos]
            self._consumed += self._pos
            self._pos = 0
        if not self._buf and type(data) is bytes:
            self._chunk = memoryview(data)
            self._chunk_pos = 0
        else:
            self._buf += data

    def _spill(self) -> None:
        """Move the unread rest of the in-place chunk into the reassembly buffer."""
        chunk = self._chunk
        if chunk is not None:
            self._chunk = None
            self._consumed += self._chunk_pos
            self._buf += chunk[self._chunk_pos :]

    def next_frame(self) -> bytes | memoryview | None:
        """The next complete frame without its length prefix, or None if more bytes are needed.

        Raises:
            RemoteProtocolError: the declared length is out of bounds; the stream
                cannot be resynchronised, so the connection must be closed.
        """
        chunk = self._chunk
        if chunk is not None:
            pos = self._chunk_pos
            if len(chunk) - pos >= 4:
                (length,) = _LENGTH.unpack_from(chunk, pos)
                if 4 <= length <= self._max_frame_size - 4 and pos + 4 + length <= len(chunk):
                    self._chunk_pos = end = pos + 4 + length
                    if end == len(chunk):
                        self._chunk = None
                        self._consumed += end
                    return chunk[pos + 4 : end]
            self._spill()  # partial or bad frame: reassemble (or report) from _buf
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
        start = self._consumed + (self._pos if self._chunk is None else self._chunk_pos)
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
