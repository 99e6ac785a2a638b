"""Tag expressions as FilterAPI.buildSubscriptionData reads them."""

from __future__ import annotations

import pytest

from rmq_filter import SUB_ALL, TagFilter, java_string_hash, parse_tags


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("TagA", 2598919),
        ("TagB", 2598920),
        ("*", 42),
        ("hello world", 1794106052),
        ("标签", 0x6807 * 31 + 0x7B7E),  # BMP characters: one UTF-16 unit each
        ("😀", 0xD83D * 31 + 0xDE00),  # outside the BMP: a surrogate pair
    ],
)
def test_java_string_hash(text: str, expected: int) -> None:
    assert java_string_hash(text) == expected
    assert -(2**31) <= java_string_hash(text) < 2**31


@pytest.mark.parametrize("text", [None, "", "*"])
def test_match_all(text: str | None) -> None:
    tags = parse_tags(text)
    assert tags.match_all
    assert tags.sub_string == SUB_ALL
    assert tags.matches_code(12345)
    assert tags.matches_tag(None)


def test_split_trim_and_codes() -> None:
    tags = parse_tags(" TagA ||TagB||\t||TagA")
    assert not tags.match_all
    assert tags.tags == ("TagA", "TagB")
    assert tags.codes == {2598919, 2598920}
    assert tags.matches_code(2598919)
    assert not tags.matches_code(42)
    assert tags.matches_tag("TagB")
    assert not tags.matches_tag("TagC")
    assert not tags.matches_tag(None)


def test_only_exact_star_is_all() -> None:
    tags = parse_tags(" * ")  # Java compares subString with "*" before trimming
    assert not tags.match_all
    assert tags.tags == ("*",)


def test_empty_pieces_only_match_nothing() -> None:
    tags = TagFilter.parse("||")
    assert tags.tags == ()
    assert not tags.matches_code(0)


def test_parse_tags_is_cached() -> None:
    assert parse_tags("TagA || TagB") is parse_tags("TagA || TagB")
