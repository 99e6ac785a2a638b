"""Incremental frame decoder: feed bytes, pull commands (h11's shape).

Mirrors Netty's ``LengthFieldBasedFrameDecoder`` as ``NettyDecoder`` configures it
for RocketMQ: a big-endian int32 length prefix counting the bytes after it, and a
maximum frame size (16 MiB by default, length prefix included; Java's
``com.rocketmq.remoting.frameMaxLength``).

The decoder never allocates for a frame before checking its declared length
against the bound, and never holds more than one maximal frame plus one read.

Copies: a fed ``bytes`` chunk is kept as is and each complete frame in it is
returned as a zero-copy ``memoryview`` slice of it; only a partial frame at its
end is copied into the reassembly buffer, and of the next chunk only the bytes
that complete that frame. A frame that spans reads is copied once more, out of
that buffer.
"""

from __future__ import annotations

import struct
from typing import Final

from rmq_protocol.codec.command import BytesLike, RemotingCommand, decode_command
from rmq_protocol.codec.header import wire_speedups
from rmq_protocol.errors import RemoteProtocolError

__all__ = ["DEFAULT_MAX_FRAME_SIZE", "FrameDecoder"]

DEFAULT_MAX_FRAME_SIZE: Final = 16 * 1024 * 1024
"""Largest frame accepted, 4-byte length prefix included (16 MiB, as Java)."""

_LENGTH: Final = struct.Struct(">i")
_COMPACT_AT: Final = 64 * 1024
# rmq_protocol._wire.decode_frames(data, pos, max_frame_size) -> (commands, end), or None
_decode_frames: Final = wire_speedups.decode_frames if wire_speedups is not None else None


class FrameDecoder:
    """Reassembles frames from arbitrary chunks of a byte stream.

    Not safe for concurrent use; one decoder per connection direction.

    Usage::

        decoder.feed(data)
        while (cmd := decoder.next_command()) is not None:
            handle(cmd)

    or, a read's commands at a time (:meth:`next_commands`)::

        decoder.feed(data)
        while commands := decoder.next_commands():
            for cmd in commands:
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
        if type(data) is not bytes:
            self._buf += data
        elif not self._buf:
            self._chunk = memoryview(data)
            self._chunk_pos = 0
        else:
            self._complete(data)

    def _complete(self, data: bytes) -> None:
        """A frame begun in an earlier read is buffered: copy only the bytes that complete
        it; the rest of ``data`` is read in place, after it. (A peer that writes many
        large frames back to back, such as a broker answering pulls, leaves a partial
        frame at the end of almost every read: copying whole reads would copy everything.)
        """
        buf, pos = self._buf, self._pos
        view = memoryview(data)
        taken = 0
        if len(buf) - pos < 4:  # the length prefix itself spans the reads
            taken = min(4 - (len(buf) - pos), len(view))
            buf += view[:taken]
            if len(buf) - pos < 4:
                return
        (length,) = _LENGTH.unpack_from(buf, pos)
        missing = 4 + length - (len(buf) - pos)
        if not 4 <= length <= self._max_frame_size - 4 or missing <= 0:
            buf += view[taken:]  # a bad length (next_frame reports it), or several frames
            return
        more = min(missing, len(view) - taken)
        buf += view[taken : taken + more]
        taken += more
        if taken < len(view):
            self._chunk = view[taken:]
            self._chunk_pos = 0

    def _spill(self) -> None:
        """Move the unread rest of the in-place chunk into the reassembly buffer."""
        chunk = self._chunk
        if chunk is not None:
            self._chunk = None
            if not self._buf:  # chunk[0] was at stream offset _consumed
                self._consumed += self._chunk_pos
            self._buf += chunk[self._chunk_pos :]

    def next_frame(self) -> bytes | memoryview | None:
        """The next complete frame without its length prefix, or None if more bytes are needed.

        Raises:
            RemoteProtocolError: the declared length is out of bounds; the stream
                cannot be resynchronised, so the connection must be closed.
        """
        # The reassembly buffer holds the stream's earlier bytes: read first. The chunk
        # read in place comes after all of it (stream offset _consumed + len(_buf)).
        if len(self._buf) > self._pos:
            return self._next_buffered()
        chunk = self._chunk
        if chunk is not None:
            pos = self._chunk_pos
            if len(chunk) - pos >= 4:
                (length,) = _LENGTH.unpack_from(chunk, pos)
                if 4 <= length <= self._max_frame_size - 4 and pos + 4 + length <= len(chunk):
                    self._chunk_pos = end = pos + 4 + length
                    if end == len(chunk):  # _buf is empty while the chunk is read
                        self._chunk = None
                        self._consumed += end
                    return chunk[pos + 4 : end]
            self._spill()  # partial or bad frame: reassemble (or report) from _buf
            return self._next_buffered()
        return None

    def _next_buffered(self) -> bytes | None:
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
        if end == len(buf) and self._chunk is not None:
            # drained: the chunk read in place now starts at _consumed
            self._consumed += end
            buf.clear()
            self._pos = 0
        else:
            self._pos = end
        return frame

    def next_command(self) -> RemotingCommand | None:
        """The next complete command, or None if more bytes are needed.

        Raises:
            RemoteProtocolError: the frame is malformed (see :func:`decode_command`);
                byte offsets in the message count from the start of the stream.
        """
        # a chunk is read once _buf is drained, and _buf is emptied then (_next_buffered)
        reading_chunk = self._chunk is not None and not self._buf
        start = self._consumed + (self._chunk_pos if reading_chunk else self._pos)
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

    def next_commands(self) -> list[RemotingCommand]:
        """The next complete commands, in stream order: at least one, or none (an empty
        list) if more bytes are needed.

        What calling :meth:`next_command` until it returns None gives, in pieces: where
        ``rmq_protocol._wire`` is built, the whole frames of a read are decoded in one
        call (no Python per frame); else, and for a frame the C code does not take (a
        large body, an unusual or malformed header), one command. Commands before a
        malformed frame are returned first; the call that reaches it raises.

        Raises:
            RemoteProtocolError: as :meth:`next_command`.
        """
        chunk = self._chunk
        if chunk is not None and not self._buf and _decode_frames is not None:
            commands, end = _decode_frames(chunk, self._chunk_pos, self._max_frame_size)
            if commands:
                self._chunk_pos = end
                if end == len(chunk):  # _buf is empty while the chunk is read
                    self._chunk = None
                    self._consumed += end
                return commands  # type: ignore[no-any-return]
        cmd = self.next_command()
        return [] if cmd is None else [cmd]
