"""Properties string and well-known keys (spec §3.3, §3.4, golden vector V8)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmq_protocol.codec import properties as p
from rmq_protocol.codec.properties import (
    CRC32,
    decode_properties,
    encode_properties,
    format_crc32_property,
    parse_crc32_digits,
    parse_crc32_property,
)
from rmq_protocol.errors import LocalProtocolError, RemoteProtocolError

SETTINGS = settings(max_examples=200, deadline=None)


def java_decode(text: str) -> dict[str, str]:
    """Independent, index-based statement of RocketMQ's parsing rules (spec §3.3)."""
    result: dict[str, str] = {}
    index = 0
    while index < len(text):
        end = text.find("\x02", index)
        if end < 0:
            end = len(text)
        if end - index >= 3:
            sep = text.find("\x01", index)
            if index < sep < end - 1:
                result[text[index:sep]] = text[sep + 1 : end]
        index = end + 1
    return result


def test_well_known_keys() -> None:
    assert p.KEYS == "KEYS"
    assert p.TAGS == "TAGS"
    assert p.WAIT_STORE_MSG_OK == "WAIT"
    assert p.DELAY_TIME_LEVEL == "DELAY"
    assert p.UNIQ_KEY == p.UNIQ_CLIENT_MESSAGE_ID_KEYIDX == "UNIQ_KEY"
    assert p.TRANSACTION_ID == "__transactionId__"
    assert p.TRANSACTION_PREPARED == "TRAN_MSG"
    assert p.REAL_QUEUE_ID == "REAL_QID"
    assert p.PRODUCER_GROUP == "PGROUP"
    assert p.SHARDING_KEY == "__SHARDINGKEY"
    assert p.FIRST_POP_TIME == "1ST_POP_TIME"
    assert p.BORN_HOST == "__BORNHOST"
    assert p.CRC32 == "__CRC32#"
    assert p.START_DELIVER_TIME == "__STARTDELIVERTIME"
    assert p.TRANSIENT_TOPIC_CONFIG == "__RMQ.TRANSIENT.TOPIC_SYS_FLAG"
    assert p.NAME_VALUE_SEPARATOR == "\x01"
    assert p.PROPERTY_SEPARATOR == "\x02"
    assert {"KEYS", "UNIQ_KEY", "__CRC32#", "TIMER_DELIVER_MS"} <= p.SYSTEM_PROPERTY_KEYS
    assert p.TRANSACTION_ID not in p.SYSTEM_PROPERTY_KEYS  # as in Java's STRING_HASH_SET


def test_every_exported_name_exists() -> None:
    for name in p.__all__:
        assert hasattr(p, name), name


def test_encode_v4_properties() -> None:
    text = encode_properties({"TAGS": "TagA", "WAIT": "true", "UNIQ_KEY": "7F00"})
    assert text == "TAGS\x01TagA\x02WAIT\x01true\x02UNIQ_KEY\x017F00\x02"
    assert encode_properties({}) == ""


@pytest.mark.parametrize(
    "props",
    [
        {"a\x01": "v"},
        {"a": "v\x02"},
        {"a": "v\x01w"},
        {"\x02a": "v"},
        {"": "v"},
        {"a": ""},
        {"ok": "v", "bad": ""},
        {"ok": "v", "": "w"},
    ],
)
def test_encode_rejects_what_cannot_be_carried(props: dict[str, str]) -> None:
    with pytest.raises(LocalProtocolError, match="property"):
        encode_properties(props)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("a\x01b", {"a": "b"}),  # last pair without its 0x02
        ("a\x01b\x02", {"a": "b"}),
        ("\x01b\x02", {}),  # empty name
        ("a\x01\x02", {}),  # empty value
        ("ab\x02", {}),  # no 0x01
        ("\x02\x02a\x01b\x02\x02", {"a": "b"}),
        ("a\x01b\x01c\x02", {"a": "b\x01c"}),  # first 0x01 splits
        ("\x01a\x01b\x02", {}),  # 0x01 first: skipped, not split at the second one
        ("a\x011\x02a\x012\x02", {"a": "2"}),  # last wins
        ("k\x01é😀\x02😀\x01v\x02", {"k": "é😀", "😀": "v"}),
    ],
)
def test_decode_tolerant_rules(text: str, expected: dict[str, str]) -> None:
    assert decode_properties(text) == expected
    assert java_decode(text) == expected


@SETTINGS
@given(st.text(alphabet=st.sampled_from("ab\x01\x02é😀"), max_size=40))
def test_decode_matches_java_rules(text: str) -> None:
    assert decode_properties(text) == java_decode(text)


_PLAIN = st.text(
    alphabet=st.characters(exclude_characters="\x01\x02", exclude_categories=["Cs"]),
    min_size=1,
    max_size=20,
)


@SETTINGS
@given(st.dictionaries(_PLAIN, _PLAIN, max_size=8))
def test_round_trip(props: dict[str, str]) -> None:
    text = encode_properties(props)
    assert text.count("\x02") == len(props)
    assert decode_properties(text) == props


# --- CRC property (V8) ------------------------------------------------------------------


def test_v8_crc_property() -> None:
    expected = bytes.fromhex("5f5f435243333223013736353433323130303002")
    assert format_crc32_property(1234567) == expected
    assert len(expected) == p.CRC32_RESERVED_LEN
    assert parse_crc32_property(expected) == 1234567
    assert decode_properties(expected.decode()) == {CRC32: "7654321000"}
    assert parse_crc32_digits("7654321000") == 1234567


@pytest.mark.parametrize("crc", [0, 1, 10, 2010220930, 0x7FFFFFFF])
def test_crc_property_round_trip(crc: int) -> None:
    data = format_crc32_property(crc)
    assert len(data) == 20
    assert parse_crc32_property(bytearray(data)) == crc
    assert parse_crc32_property(memoryview(data)) == crc


def test_crc_zero_is_all_zero_digits() -> None:
    assert format_crc32_property(0)[9:19] == b"0000000000"


@pytest.mark.parametrize("crc", [-1, 0x80000000])
def test_crc_property_rejects_unmasked(crc: int) -> None:
    with pytest.raises(LocalProtocolError, match="0x7FFFFFFF"):
        format_crc32_property(crc)


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (b"__CRC32#\x017654321000", 0),  # 19 bytes
        (b"__CRC33#\x017654321000\x02", 0),
        (b"__CRC32#\x017654321000\x01", 19),
        (b"__CRC32#\x01765432100x\x02", 9),
        (b"__CRC32#\x019999999999\x02", None),  # 9999999999 > 0x7FFFFFFF
    ],
)
def test_crc_property_rejects_garbage(data: bytes, offset: int | None) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_crc32_property(data)
    assert info.value.offset == offset


@pytest.mark.parametrize("value", ["", "123", "76543210000", "765432100x", "٣٣٣٣٣٣٣٣٣٣"])
def test_crc_digits_reject_garbage(value: str) -> None:
    with pytest.raises(RemoteProtocolError, match="__CRC32#"):
        parse_crc32_digits(value)
