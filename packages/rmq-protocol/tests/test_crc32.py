"""rmq_protocol's CRC-32 (``_crc32.h``, through ``codec.speedups.crc32``) equals zlib's.

Both C implementations are compared with ``zlib.crc32``: the folding one (carry-less
multiplication, chosen on CPUs that have it) and the portable table-driven one, over every
length that exercises a different path (below 64 bytes: tables only; then the four-lane
fold, the one-lane fold and the table tail), unaligned starts, chained calls and the
records the codec checksums.
"""

from __future__ import annotations

import os
import random
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rmq_protocol.codec.message import (
    HostPort,
    MessageExt,
    body_crc,
    decode_message,
    decode_messages,
    encode_message,
    encode_message_py,
)
from rmq_protocol.codec.speedups import crc32, speedups
from rmq_protocol.errors import RemoteProtocolError

needs_speedups = pytest.mark.skipif(speedups is None, reason="C speedups not built")
C: Any = speedups  # the compiled module where the tests that use it run

DATA = random.Random(20261121).randbytes(9000)


@needs_speedups
@pytest.mark.parametrize("name", ["crc32", "crc32_sliced"])
def test_every_length_and_alignment_up_to_4_kib(name: str) -> None:
    function = getattr(C, name)
    for start in (0, 1, 3, 8, 13):
        for length in range(4200):
            data = DATA[start : start + length]
            assert function(data) == zlib.crc32(data), (start, length)


@needs_speedups
@pytest.mark.parametrize("name", ["crc32", "crc32_sliced"])
@given(data=st.binary(max_size=3000), value=st.integers(0, 0xFFFFFFFF), cut=st.integers(0))
def test_chained_calls_and_start_values(name: str, data: bytes, value: int, cut: int) -> None:
    function = getattr(C, name)
    cut %= len(data) + 1
    assert function(data, value) == zlib.crc32(data, value)
    assert function(data[cut:], function(data[:cut])) == zlib.crc32(data)


@needs_speedups
def test_buffers_of_every_kind_and_a_big_one() -> None:
    big = os.urandom(3 << 20)  # > 64 KiB: computed with the GIL released
    assert C.crc32(big) == zlib.crc32(big)
    assert C.crc32(memoryview(DATA)[5:777]) == zlib.crc32(DATA[5:777])
    assert C.crc32(bytearray(b"rocketmq")) == zlib.crc32(b"rocketmq")
    assert C.crc32(b"", 0xDEADBEEF) == 0xDEADBEEF
    with pytest.raises(TypeError):
        C.crc32("text")
    with pytest.raises(TypeError, match="expected 1 or 2 arguments, got 3"):
        C.crc32(b"a", 1, 2)


@needs_speedups
def test_the_fast_implementation_is_chosen_on_x86_64() -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("carry-less multiplication is used on x86-64 only")
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text() if cpuinfo.exists() else ""
    expected = "pclmul" if " pclmulqdq" in flags and " sse4_1" in flags else "sliced"
    assert expected == C.CRC32_IMPLEMENTATION


def test_the_codec_crc_is_zlibs() -> None:
    """Without the C module, codec.speedups.crc32 is zlib's; with it, the same answers."""
    assert crc32(DATA) == zlib.crc32(DATA)
    assert body_crc(DATA[:1024]) == zlib.crc32(DATA[:1024]) & 0x7FFFFFFF


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 1024, 4096 + 7])
def test_records_carry_zlibs_body_crc_and_decode_with_the_check(size: int) -> None:
    message = MessageExt(
        topic="T",
        body=DATA[:size],
        born_host=HostPort("127.0.0.1", 1),
        store_host=HostPort("127.0.0.1", 2),
        properties={"TAGS": "a"},
    )
    record = encode_message(message)
    assert record == encode_message_py(message)
    assert int.from_bytes(record[8:12], "big") == zlib.crc32(DATA[:size]) & 0x7FFFFFFF
    assert decode_message(record, check_crc=True)[0].body == DATA[:size]
    assert [m.body for m in decode_messages(record * 2, check_crc=True)] == [DATA[:size]] * 2
    if size:
        corrupt = bytearray(record)
        corrupt[88] ^= 0x01  # the first body byte (IPv4 hosts: the body starts at 88)
        with pytest.raises(RemoteProtocolError, match="BODYCRC"):
            decode_message(bytes(corrupt), check_crc=True)
        with pytest.raises(RemoteProtocolError, match="BODYCRC"):
            decode_messages(record + bytes(corrupt), check_crc=True)
