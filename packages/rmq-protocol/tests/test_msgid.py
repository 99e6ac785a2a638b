"""Offset message ids and unique client ids (spec §3.7, golden vectors V4, V7)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmq_protocol.codec import msgid
from rmq_protocol.codec.msgid import (
    UniqueId,
    UniqueIdGenerator,
    decode_offset_msg_id,
    format_unique_id,
    month_start_ms,
    offset_msg_id,
    parse_unique_id,
)
from rmq_protocol.errors import LocalProtocolError, RemoteProtocolError

SETTINGS = settings(max_examples=200, deadline=None)
BERLIN = ZoneInfo("Europe/Berlin")


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def test_every_exported_name_exists() -> None:
    for name in msgid.__all__:
        assert hasattr(msgid, name), name


# --- offset message id --------------------------------------------------------------


def test_v4_offset_msg_id() -> None:
    assert offset_msg_id("127.0.0.1", 10911, 0) == "7F00000100002A9F0000000000000000"


def test_v7_offset_msg_id() -> None:
    msg_id = offset_msg_id("127.0.0.1", 10911, 1234)
    assert msg_id == "7F00000100002A9F00000000000004D2"
    assert decode_offset_msg_id(msg_id) == ("127.0.0.1", 10911, 1234)
    assert decode_offset_msg_id(msg_id.lower()) == ("127.0.0.1", 10911, 1234)


def test_ipv6_offset_msg_id() -> None:
    msg_id = offset_msg_id("2001:db8::1", 10911, 2**40)
    assert len(msg_id) == 56
    assert msg_id.startswith("20010DB800000000000000000000000100002A9F")
    assert decode_offset_msg_id(msg_id) == ("2001:db8::1", 10911, 2**40)


@SETTINGS
@given(
    st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)),
    st.integers(0, 65535),
    st.integers(-(2**63), 2**63 - 1),
)
def test_offset_msg_id_round_trip(
    address: object, port: int, offset: int
) -> None:  # address: IPv4Address | IPv6Address
    host = str(address)
    msg_id = offset_msg_id(host, port, offset)
    assert msg_id == msg_id.upper()
    assert len(msg_id) == (56 if ":" in host else 32)
    assert decode_offset_msg_id(msg_id) == (host, port, offset)


@pytest.mark.parametrize(
    ("msg_id", "match"),
    [
        ("", "0 characters"),
        ("7F00000100002A9F000000000000000", "31 characters"),
        ("7F00000100002A9F00000000000004D2AA", "34 characters"),
        ("7G00000100002A9F00000000000004D2", "not hexadecimal"),
        ("7F 0000100002A9F00000000000004D2", "not hexadecimal"),
        ("7F00000100012A9F00000000000004D2", "port 76447"),
        ("7F000001FFFFFFFF00000000000004D2", "port -1"),
    ],
)
def test_decode_offset_msg_id_rejects(msg_id: str, match: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match):
        decode_offset_msg_id(msg_id)


@pytest.mark.parametrize(
    ("host", "port", "offset", "match"),
    [
        ("broker-a", 10911, 0, "not an IPv4 or IPv6"),
        ("127.0.0.1", 65536, 0, "port 65536"),
        ("127.0.0.1", -1, 0, "port -1"),
        ("127.0.0.1", 1, 2**63, "64-bit"),
    ],
)
def test_offset_msg_id_rejects(host: str, port: int, offset: int, match: str) -> None:
    with pytest.raises(LocalProtocolError, match=match):
        offset_msg_id(host, port, offset)


# --- unique id --------------------------------------------------------------------------

V7_UNIQ = "C0A8010A3039123456780003D0900001"


def test_v7_unique_id_parts() -> None:
    assert format_unique_id("192.168.1.10", 12345, 0x12345678, 250000, 1) == V7_UNIQ
    assert format_unique_id(bytes([192, 168, 1, 10]), 12345, 0x12345678, 250000, 1) == V7_UNIQ
    assert parse_unique_id(V7_UNIQ) == UniqueId(
        ip="192.168.1.10", pid=12345, class_loader_hash=0x12345678, ms_in_month=250000, counter=1
    )


def test_v7_unique_id_generator() -> None:
    now = ms(datetime(2024, 5, 1, tzinfo=UTC)) + 250_000
    gen = UniqueIdGenerator("192.168.1.10", 12345, 0x12345678, counter=1, tz=UTC)
    assert gen.next_id(now) == V7_UNIQ
    assert gen.next_id(now + 1) == "C0A8010A3039123456780003D0910002"


def test_generator_starts_counter_at_zero_and_wraps() -> None:
    gen = UniqueIdGenerator(b"\x0a\x00\x00\x01", 1, 2, tz=UTC)
    now = ms(datetime(2024, 5, 1, tzinfo=UTC))
    assert gen.next_id(now).endswith("000000000000")
    gen = UniqueIdGenerator(b"\x0a\x00\x00\x01", 1, 2, counter=0xFFFF, tz=UTC)
    assert [gen.next_id(now)[-4:] for _ in range(3)] == ["FFFF", "0000", "0001"]


def test_generator_truncates_pid_and_hash() -> None:
    gen = UniqueIdGenerator("10.0.0.1", 0x12345, -1, tz=UTC)
    parts = parse_unique_id(gen.next_id(ms(datetime(2024, 5, 1, tzinfo=UTC))))
    assert (parts.pid, parts.class_loader_hash) == (0x2345, 0xFFFFFFFF)


def test_generator_fakes_unknown_ip_from_clock() -> None:
    gen = UniqueIdGenerator(None, 1, 2, tz=UTC)
    now = 1_700_000_000_000  # 0x18BCFE56800
    first = gen.next_id(now)
    assert first.startswith("CFE56800")
    assert gen.next_id(now + 5).startswith("CFE56800")  # fixed per process


def test_generator_ipv6() -> None:
    gen = UniqueIdGenerator("fe80::1", 7, 8, tz=UTC)
    unique = gen.next_id(ms(datetime(2024, 5, 1, tzinfo=UTC)) + 9)
    assert len(unique) == 56
    assert parse_unique_id(unique) == UniqueId(
        ip="fe80::1", pid=7, class_loader_hash=8, ms_in_month=9, counter=0
    )


@pytest.mark.parametrize("ip", ["not-an-ip", b"\x01\x02\x03"])
def test_generator_rejects_bad_ip(ip: str | bytes) -> None:
    with pytest.raises(LocalProtocolError, match="client IP"):
        UniqueIdGenerator(ip, 1, 2)


def test_month_rolls_over() -> None:
    gen = UniqueIdGenerator("10.0.0.1", 1, 2, tz=UTC)
    end_of_january = ms(datetime(2024, 1, 31, 23, 59, 59, tzinfo=UTC)) + 999
    assert parse_unique_id(gen.next_id(end_of_january)).ms_in_month == 31 * 86_400_000 - 1
    feb = parse_unique_id(gen.next_id(end_of_january + 1))
    assert feb.ms_in_month == 0
    new_year = ms(datetime(2025, 1, 1, 0, 0, 1, tzinfo=UTC))
    gen.next_id(ms(datetime(2024, 12, 31, 12, tzinfo=UTC)))
    assert parse_unique_id(gen.next_id(new_year)).ms_in_month == 1000


def test_span_over_int32_is_truncated_like_java() -> None:
    gen = UniqueIdGenerator("10.0.0.1", 1, 2, tz=UTC)
    span = 30 * 86_400_000  # > 2**31 ms: Java's (int) cast wraps it
    unique = gen.next_id(ms(datetime(2024, 1, 1, tzinfo=UTC)) + span)
    assert parse_unique_id(unique).ms_in_month == span  # same 32 bits, read unsigned


def test_clock_stepping_back() -> None:
    gen = UniqueIdGenerator("10.0.0.1", 1, 2, tz=UTC)
    start = ms(datetime(2024, 5, 1, tzinfo=UTC))
    gen.next_id(start + 10)
    assert parse_unique_id(gen.next_id(start - 500)).ms_in_month == 0  # NTP jitter → 0
    far_back = parse_unique_id(gen.next_id(start - 2_000_000))
    assert far_back.ms_in_month == (-2_000_000) & 0xFFFFFFFF


def test_month_start_in_zone_with_dst() -> None:
    # 31 March 2024 is in CEST (+2) but the month began in CET (+1).
    now = ms(datetime(2024, 3, 31, 12, tzinfo=BERLIN))
    assert month_start_ms(now, BERLIN) == ms(datetime(2024, 2, 29, 23, tzinfo=UTC))
    fixed = timezone(timedelta(hours=2))
    assert month_start_ms(now, fixed) == ms(datetime(2024, 2, 29, 22, tzinfo=UTC))


@pytest.fixture
def berlin_local_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset() is not available on this platform")
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("berlin_local_time")
def test_local_zone_is_the_default() -> None:
    now = ms(datetime(2024, 3, 31, 12, tzinfo=BERLIN))
    assert month_start_ms(now) == ms(datetime(2024, 2, 29, 23, tzinfo=UTC))
    gen = UniqueIdGenerator("10.0.0.1", 1, 2)
    start = ms(datetime(2024, 4, 30, 22, tzinfo=UTC))  # 1 May 00:00 CEST
    assert parse_unique_id(gen.next_id(start + 42)).ms_in_month == 42


@SETTINGS
@given(st.integers(0, 4_102_444_800_000))  # 1970 .. 2100
def test_month_start_is_midnight_on_day_one(now: int) -> None:
    start = month_start_ms(now, BERLIN)
    assert start <= now
    local = datetime.fromtimestamp(start / 1000, BERLIN)
    assert (local.day, local.hour, local.minute, local.second) == (1, 0, 0, 0)
    assert now - start < 31 * 86_400_000 + 3_600_000


def test_approximate_born_timestamp() -> None:
    created = ms(datetime(2024, 1, 31, 23, 59, tzinfo=UTC))
    unique = UniqueIdGenerator("10.0.0.1", 1, 2, tz=UTC).next_id(created)
    parts = parse_unique_id(unique)
    assert parts.approximate_born_timestamp(created + 1000, tz=UTC) == created
    next_month = ms(datetime(2024, 2, 1, 0, 1, tzinfo=UTC))
    assert parts.approximate_born_timestamp(next_month, tz=UTC) == created


@pytest.mark.parametrize(
    ("unique", "match"),
    [
        ("C0A8010A", "8 characters"),
        ("C0A8010A3039123456780003D090000Z", "not hexadecimal"),
    ],
)
def test_parse_unique_id_rejects(unique: str, match: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match):
        parse_unique_id(unique)
