"""Java String.hashCode and RocketMQ's derived hashes (spec §9 V5, V9)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rmq_protocol.codec.hashing import index_key_hash, java_string_hash, tags_code


def test_v5_tags_codes() -> None:
    assert tags_code("TagA") == 2598919
    assert tags_code("TagB") == 2598920
    assert tags_code(None) == 0
    assert tags_code("") == 0


def test_v9_index_key() -> None:
    assert java_string_hash("TopicTest#KEY1") == -1656969516
    assert index_key_hash("TopicTest#KEY1") == 1656969516
    assert index_key_hash("TopicTest#KEY1") % 5_000_000 == 1969516


def test_known_java_values() -> None:
    # Printed by `javac`/`java` (OpenJDK 17) for these strings.
    assert java_string_hash("") == 0
    assert java_string_hash("hello") == 99162322
    assert java_string_hash("polygenelubricants") == -(2**31)  # Integer.MIN_VALUE
    assert index_key_hash("polygenelubricants") == 0
    assert java_string_hash("中文") == 646394  # BMP, non-ASCII
    assert java_string_hash("😀") == 1772899  # surrogate pair: two UTF-16 units


def _reference(text: str) -> int:
    units = text.encode("utf-16-be")
    h = 0
    for i in range(0, len(units), 2):
        h = (h * 31 + int.from_bytes(units[i : i + 2], "big")) % 2**32
    return h - 2**32 if h >= 2**31 else h


@given(st.text(max_size=50))
def test_matches_reference_and_stays_int32(text: str) -> None:
    h = java_string_hash(text)
    assert h == _reference(text)
    assert -(2**31) <= h < 2**31
