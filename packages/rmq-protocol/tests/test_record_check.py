"""check_record gives decode_message's verdict on every record, valid or damaged."""

from __future__ import annotations

import mmap
import random

import pytest

from rmq_protocol.codec.message import (
    MAGIC_V1,
    MAGIC_V2,
    HostPort,
    MessageExt,
    decode_message,
    encode_message,
)
from rmq_protocol.codec.record_check import RecordShape, check_record
from rmq_protocol.errors import RemoteProtocolError


def records() -> list[bytes]:
    hosts = (HostPort("127.0.0.1", 10911), HostPort("::1", 10911))
    out = []
    for born in hosts:
        for store in hosts:
            for magic, topic in ((MAGIC_V1, "TopicTest"), (MAGIC_V2, "T" * 130), (MAGIC_V1, "")):
                for body, props in ((b"", {}), (b"x" * 300, {"KEYS": "k1 k2", "TAGS": "é"})):
                    out.append(
                        encode_message(
                            MessageExt(
                                topic=topic,
                                magic=magic,
                                body=body,
                                properties=props,
                                born_host=born,
                                store_host=store,
                                queue_offset=7,
                            )
                        )
                    )
    return out


def verdict(data: bytes, check_crc: bool) -> int | None:
    try:
        _message, end = decode_message(data, decompress=False, check_crc=check_crc)
    except RemoteProtocolError:
        return None
    return end


@pytest.mark.parametrize("check_crc", [True, False])
def test_valid_records_have_their_shape(check_crc: bool) -> None:
    for record in records():
        shape = check_record(record, 0, len(record), check_crc=check_crc)
        message, _ = decode_message(record)
        properties = "".join(f"{k}\x01{v}\x02" for k, v in message.properties.items())
        assert shape == RecordShape(len(record), len(properties.encode()))


@pytest.mark.parametrize("check_crc", [True, False])
def test_damaged_records_same_verdict_as_decode(check_crc: bool) -> None:
    rng = random.Random(20261121)
    valid = records()
    for _ in range(6000):
        data = bytearray(rng.choice(valid))
        kind = rng.randrange(4)
        if kind == 0:  # flip bytes anywhere
            for _ in range(rng.randrange(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind == 1:  # a torn write: cut anywhere
            del data[rng.randrange(len(data)) :]
        elif kind == 2:  # damage the length fields the layout depends on
            at = rng.choice((0, 36, 84, 96, len(data) - 2))
            if at < len(data):
                data[at] = rng.randrange(256)
        else:  # an unused port range or a bad UTF-8 byte in the tail
            data[rng.randrange(max(len(data) - 40, 0), len(data))] = 0xFF
        if not data:
            continue
        expected = verdict(bytes(data), check_crc)
        shape = check_record(data, 0, len(data), check_crc=check_crc)
        assert (None if shape is None else shape.size) == expected, bytes(data).hex()


def test_checks_in_place_in_a_mapped_file() -> None:
    record = records()[-1]
    with mmap.mmap(-1, 4096) as mapped:
        mapped[100 : 100 + len(record)] = record
        shape = check_record(mapped, 100, 4096, check_crc=True)
        assert shape is not None
        assert shape.size == len(record)
        assert shape.properties_length == len("KEYS\x01k1 k2\x02TAGS\x01é\x02".encode())
        assert check_record(mapped, 101, 4096, check_crc=True) is None
        mapped[100 + 200] ^= 1  # inside the body: only the CRC notices
        assert check_record(mapped, 100, 4096, check_crc=True) is None
        assert check_record(mapped, 100, 4096, check_crc=False) is not None
