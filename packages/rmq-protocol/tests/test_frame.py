"""FrameDecoder: reassembly at every chunk boundary, bounds, and fuzzing."""

from __future__ import annotations

import contextlib
import json
import struct
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rmq_protocol.codec import frame as frame_module
from rmq_protocol.codec.codes import SerializeType
from rmq_protocol.codec.command import RemotingCommand, decode_command, encode_command
from rmq_protocol.codec.frame import DEFAULT_MAX_FRAME_SIZE, FrameDecoder
from rmq_protocol.errors import RemoteProtocolError

VECTORS = sorted(json.loads((Path(__file__).parent / "vectors" / "frames.json").read_text()))

SAMPLE = RemotingCommand(code=310, opaque=5, ext_fields={"a": "PID", "b": "T"}, body=b"x" * 300)


def _decode_all(chunks: list[bytes], decoder: FrameDecoder | None = None) -> list[RemotingCommand]:
    decoder = decoder or FrameDecoder()
    got = []
    for chunk in chunks:
        decoder.feed(chunk)
        while (cmd := decoder.next_command()) is not None:
            got.append(cmd)
    return got


@pytest.mark.parametrize("name", VECTORS)
def test_every_vector_at_every_split_point(frames: dict[str, bytes], name: str) -> None:
    wire = frames[name]
    expected = decode_command(wire[4:])
    for cut in range(len(wire) + 1):
        assert _decode_all([wire[:cut], wire[cut:]]) == [expected], cut


@pytest.mark.parametrize("name", VECTORS)
def test_every_vector_byte_by_byte_three_times(frames: dict[str, bytes], name: str) -> None:
    wire = frames[name] * 3
    got = _decode_all([wire[i : i + 1] for i in range(len(wire))])
    assert got == [decode_command(frames[name][4:])] * 3


@pytest.mark.parametrize("chunk", [1, 3, 4, 5, 7, 8, 9, 64, 4096])
@pytest.mark.parametrize("serialize_type", list(SerializeType))
def test_decoder_reassembles_mixed_stream(chunk: int, serialize_type: SerializeType) -> None:
    cmds = [
        RemotingCommand(code=310, opaque=i, ext_fields={"i": str(i)}, body=b"b" * (i * 37))
        for i in range(10)
    ]
    cmds = [c._replace(serialize_type=serialize_type) for c in cmds]
    wire = b"".join(encode_command(c) for c in cmds)
    assert _decode_all([wire[i : i + chunk] for i in range(0, len(wire), chunk)]) == cmds


def test_declared_length_over_bound_fails_before_allocating() -> None:
    decoder = FrameDecoder()
    tracemalloc.start()
    try:
        decoder.feed(struct.pack(">i", DEFAULT_MAX_FRAME_SIZE) + b"\x00" * 8)
        with pytest.raises(RemoteProtocolError, match="frame length 16777216 not in") as info:
            decoder.next_command()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024
    assert info.value.offset == 0


def test_largest_allowed_frame_is_accepted() -> None:
    decoder = FrameDecoder(max_frame_size=1024)
    header = b'{"code":0}'
    body = b"z" * (1024 - 8 - len(header))
    wire = struct.pack(">iI", 4 + len(header) + len(body), len(header)) + header + body
    assert len(wire) == 1024
    assert _decode_all([wire], decoder)[0].body == body
    decoder.feed(struct.pack(">iI", 1021, 0))
    with pytest.raises(RemoteProtocolError, match="raise max_frame_size"):
        decoder.next_frame()


@pytest.mark.parametrize("length", [-1, 0, 3, -(2**31)])
def test_negative_and_tiny_lengths_rejected(length: int) -> None:
    decoder = FrameDecoder()
    decoder.feed(struct.pack(">i", length) + b"\x00" * 8)
    with pytest.raises(RemoteProtocolError, match=f"frame length {length} "):
        decoder.next_frame()


def test_tls_client_hello_is_named_in_the_error() -> None:
    decoder = FrameDecoder()
    decoder.feed(bytes.fromhex("160301020001000000"))
    with pytest.raises(RemoteProtocolError, match="TLS"):
        decoder.next_frame()


def test_error_offset_counts_from_stream_start() -> None:
    decoder = FrameDecoder()
    good = encode_command(SAMPLE)
    bad_header = b"\x00\x00\x00\x03{x}"
    decoder.feed(good + struct.pack(">i", len(bad_header)) + bad_header)
    assert decoder.next_command() == SAMPLE
    with pytest.raises(RemoteProtocolError) as info:
        decoder.next_command()
    assert info.value.offset == len(good) + 8
    assert f"stream byte {len(good)}" in str(info.value)


def test_buffer_is_compacted_after_many_small_frames() -> None:
    decoder = FrameDecoder()
    wire = encode_command(RemotingCommand(code=1)) * 20000
    decoder.feed(wire)
    count = 0
    while decoder.next_command() is not None:
        count += 1
    assert count == 20000
    decoder.feed(b"\x00")
    assert decoder.buffered == 1


@given(st.lists(st.binary(max_size=64), max_size=20))
def test_arbitrary_chunks_raise_only_remote_protocol_error(chunks: list[bytes]) -> None:
    decoder = FrameDecoder(max_frame_size=4096)
    try:
        for chunk in chunks:
            decoder.feed(chunk)
            while decoder.next_command() is not None:
                pass
    except RemoteProtocolError:
        return
    assert decoder.buffered < 4096 + 64


@given(st.data())
def test_mutated_valid_stream_raises_only_remote_protocol_error(data: st.DataObject) -> None:
    wire = bytearray(encode_command(SAMPLE) * 2)
    for _ in range(data.draw(st.integers(1, 8))):
        wire[data.draw(st.integers(0, len(wire) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(wire)))
    with contextlib.suppress(RemoteProtocolError):
        _decode_all([bytes(wire[:cut]), bytes(wire[cut:])], FrameDecoder(max_frame_size=8192))


def test_buffer_is_compacted_after_many_small_frames_from_bytearrays() -> None:
    decoder = FrameDecoder()
    frame = encode_command(RemotingCommand(code=1))
    total = 0
    for _ in range(200):  # bytearray chunks take the reassembly path, not the zero-copy one
        decoder.feed(bytearray(frame * 100))
        while decoder.next_command() is not None:
            total += 1
        assert decoder.buffered == 0
    assert total == 20_000
    assert len(decoder._buf) < 64 * 1024 + len(frame) * 100  # compacted as it went


@pytest.mark.parametrize(
    "kinds", [("bytes",), ("bytearray",), ("memoryview",), ("bytes", "bytearray", "memoryview")]
)
def test_chunk_types_and_mixtures(kinds: tuple[str, ...]) -> None:
    cmds = [RemotingCommand(code=310, opaque=i, body=b"%d" % i * 50) for i in range(30)]
    wire = b"".join(encode_command(c) for c in cmds)
    decoder = FrameDecoder()
    got = []
    sizes = [1, 7, 300, 2, 1000, 4]
    pos = 0
    step = 0
    while pos < len(wire):
        piece = wire[pos : pos + sizes[step % len(sizes)]]
        kind = kinds[step % len(kinds)]
        chunk: bytes | bytearray | memoryview = (
            piece
            if kind == "bytes"
            else bytearray(piece)
            if kind == "bytearray"
            else memoryview(piece)
        )
        decoder.feed(chunk)
        while (cmd := decoder.next_command()) is not None:
            got.append(cmd)
        pos += len(piece)
        step += 1
    assert [(c.opaque, bytes(c.body)) for c in got] == [(c.opaque, bytes(c.body)) for c in cmds]
    assert decoder.buffered == 0


@given(st.data())
def test_any_chunking_any_pace_any_buffer_type(data: st.DataObject) -> None:
    """Frames come out whole and in order however the stream is cut, whatever buffer
    types carry it and however many frames the reader takes between two feeds; a bad
    length later in the stream is reported at its true stream offset."""
    sizes = data.draw(st.lists(st.integers(0, 3000), min_size=1, max_size=12))
    cmds = [RemotingCommand(code=310, opaque=i, body=b"%d" % i * n) for i, n in enumerate(sizes)]
    wire = b"".join(encode_command(c) for c in cmds)
    broken = data.draw(st.booleans())
    if broken:
        wire += struct.pack(">i", 3) + b"junk"  # length 3: below the minimum
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    pieces = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True)]
    decoder = FrameDecoder()
    got: list[RemotingCommand] = []
    error: RemoteProtocolError | None = None
    try:
        for piece in pieces:
            kind = data.draw(st.sampled_from(["bytes", "bytearray", "memoryview"]))
            decoder.feed(
                piece
                if kind == "bytes"
                else bytearray(piece)
                if kind == "bytearray"
                else memoryview(piece)
            )
            for _ in range(data.draw(st.integers(0, 3))):  # sometimes leaves frames unread
                cmd = decoder.next_command()
                if cmd is None:
                    break
                got.append(cmd)
        while (cmd := decoder.next_command()) is not None:
            got.append(cmd)
    except RemoteProtocolError as exc:
        error = exc
    assert [(c.opaque, bytes(c.body)) for c in got] == [(c.opaque, bytes(c.body)) for c in cmds]
    if broken:
        assert error is not None
        assert error.offset == len(wire) - 8
    else:
        assert error is None
        assert decoder.buffered == 0


def test_reads_that_cut_frames_copy_only_the_cut_frames() -> None:
    """A peer writing large frames back to back (a broker answering pulls) leaves a
    partial frame at the end of nearly every read: only that frame is reassembled by
    copying; the whole frames after it are still read in place."""
    cmds = [RemotingCommand(code=0, opaque=i, body=bytes([i]) * 33_000) for i in range(64)]
    wire = b"".join(encode_command(c) for c in cmds)
    read = 256 * 1024  # what an event loop reads at once
    decoder = FrameDecoder()
    frames: list[bytes | memoryview] = []
    for start in range(0, len(wire), read):
        decoder.feed(wire[start : start + read])
        while (frame := decoder.next_frame()) is not None:
            frames.append(frame)
    assert [decode_command(f).opaque for f in frames] == list(range(64))
    copied = sum(type(frame) is bytes for frame in frames)
    reads = -(-len(wire) // read)
    assert copied <= reads  # one frame per read at most, not everything after the first cut
    assert copied < len(frames) // 4


def _drain(decoder: FrameDecoder, batched: bool) -> tuple[list[RemotingCommand], str | None]:
    got: list[RemotingCommand] = []
    try:
        if batched:
            while commands := decoder.next_commands():
                got.extend(commands)
        else:
            while (cmd := decoder.next_command()) is not None:
                got.append(cmd)
    except RemoteProtocolError as exc:
        return got, f"{exc} @{exc.offset}"
    return got, None


_ODD_JSON = (  # headers the C decoder hands to the reference (or that are malformed)
    b'{"code":1,"extFields":{"n":7,"x":null},"flag":0}',
    b'{"code":1.5}',
    b'{"code":2,"remark":"\\ud800"}',
    b"[1]",
    b'{"code":3,"extFields":{"k":"v","k":"w"}}',
)


@given(st.data())
def test_next_commands_is_next_command_in_pieces(data: st.DataObject) -> None:
    """next_commands (a read's frames in one C call where _wire is built) gives the
    commands, errors, error offsets and leftover bytes of next_command, for any stream,
    any cut and any mix of the two calls."""
    parts: list[bytes] = []
    for i in range(data.draw(st.integers(1, 12))):
        kind = data.draw(st.sampled_from(["json", "binary", "big", "odd"]))
        if kind == "odd":
            header = data.draw(st.sampled_from(_ODD_JSON))
            parts.append(struct.pack(">iI", 4 + len(header), len(header)) + header + b"b")
            continue
        cmd = RemotingCommand(
            code=310, opaque=i, ext_fields={"a": "PID", "i": f"\x01{i}"}, body=b"y" * (i * 9)
        )
        if kind == "binary":
            cmd = cmd._replace(serialize_type=SerializeType.ROCKETMQ)
        elif kind == "big":
            cmd = cmd._replace(body=b"z" * data.draw(st.integers(4090, 4200)))
        parts.append(encode_command(cmd))
    if data.draw(st.booleans()):
        parts.append(struct.pack(">i", 3) + b"junk")  # a bad length at the end
    wire = bytearray(b"".join(parts))
    if data.draw(st.booleans()):
        wire[data.draw(st.integers(0, len(wire) - 1))] = data.draw(st.integers(0, 255))
    bounds = [sum(map(len, parts[:i])) for i in range(len(parts) + 1)]
    cut_at = st.integers(0, len(wire)) | st.sampled_from(bounds)  # inside, or between frames
    cuts = sorted(data.draw(st.lists(cut_at, max_size=4)))
    pieces = [bytes(wire[a:b]) for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True)]
    max_frame = data.draw(st.sampled_from([DEFAULT_MAX_FRAME_SIZE, 4096, 200]))
    mixed = data.draw(st.lists(st.booleans(), min_size=len(pieces), max_size=len(pieces)))
    one, many = FrameDecoder(max_frame_size=max_frame), FrameDecoder(max_frame_size=max_frame)
    got_one: list[RemotingCommand] = []
    got_many: list[RemotingCommand] = []
    error_one = error_many = None
    for piece, batched in zip(pieces, mixed, strict=True):
        if error_one is None:
            one.feed(piece)
            commands, error_one = _drain(one, False)
            got_one += commands
        if error_many is None:
            many.feed(piece)
            commands, error_many = _drain(many, batched)
            got_many += commands
    assert got_many == got_one
    assert error_many == error_one
    assert many.buffered == one.buffered


def test_next_commands_takes_a_read_of_small_frames_at_once() -> None:
    cmds = [
        RemotingCommand(code=310, opaque=i, ext_fields={"a": "b"}, body=b"x" * 1024)
        for i in range(64)
    ]
    wire = b"".join(encode_command(c) for c in cmds)
    decoder = FrameDecoder()
    decoder.feed(wire[:-5])
    first = decoder.next_commands()
    if frame_module._decode_frames is not None:
        assert len(first) == 63
        assert decoder.next_commands() == []
    decoder.feed(wire[-5:])
    got = first
    while commands := decoder.next_commands():
        got += commands
    assert got == cmds
    assert decoder.buffered == 0
