"""Tag expressions, as RocketMQ's ``FilterAPI.buildSubscriptionData`` reads them.

``"*"`` or an empty string subscribes to every message. Anything else is split on
``||``; each piece is trimmed as Java's ``String.trim`` does (characters ``<= U+0020``)
and empty pieces are dropped. The broker's ConsumeQueue keeps, per message, the Java
``String.hashCode`` of its TAGS property (the *tags code*); a tag subscription matches
a queue entry when the entry's code is one of the subscription's codes (``codeSet``).
Hash collisions are possible, so :meth:`TagFilter.matches_tag` also compares the tag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final, Self

__all__ = ["SUB_ALL", "TagFilter", "java_string_hash", "parse_tags"]

SUB_ALL: Final = "*"
_MASK: Final = 0xFFFFFFFF


def java_string_hash(text: str) -> int:
    """Java's ``text.hashCode()`` (over UTF-16 code units), as a signed 32-bit int.

    >>> java_string_hash("TagA")
    2598919
    """
    h = 0
    if text.isascii():
        for ch in text.encode("ascii"):
            h = (31 * h + ch) & _MASK
    else:
        units = text.encode("utf-16-be")
        for i in range(0, len(units), 2):
            h = (31 * h + (units[i] << 8 | units[i + 1])) & _MASK
    return h - (1 << 32) if h & 0x80000000 else h


def _java_trim(text: str) -> str:
    start, end = 0, len(text)
    while start < end and text[start] <= " ":
        start += 1
    while end > start and text[end - 1] <= " ":
        end -= 1
    return text[start:end]


@dataclass(frozen=True, slots=True)
class TagFilter:
    """A parsed tag subscription.

    ``tags`` keeps the first-seen order (Java's ``tagsSet`` is a HashSet: order is not
    part of the protocol); ``codes`` are their hash codes, as sent in ``codeSet``.
    """

    sub_string: str
    match_all: bool
    tags: tuple[str, ...] = ()
    codes: frozenset[int] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, sub_string: str | None) -> Self:
        """Same as :func:`parse_tags`."""
        if not sub_string or sub_string == SUB_ALL:
            return cls(SUB_ALL, True)
        tags: dict[str, None] = {}
        for piece in sub_string.split("||"):
            tag = _java_trim(piece)
            if tag:
                tags[tag] = None
        return cls(sub_string, False, tuple(tags), frozenset(map(java_string_hash, tags)))

    def matches_code(self, tags_code: int) -> bool:
        """The broker's ConsumeQueue pre-filter: is this entry's tags code subscribed?"""
        return self.match_all or tags_code in self.codes

    def matches_tag(self, tag: str | None) -> bool:
        """The exact check on the message's TAGS property (a message without tags
        matches only ``*``)."""
        return self.match_all or (tag is not None and tag in self.tags)


@lru_cache(maxsize=1024)
def parse_tags(sub_string: str | None) -> TagFilter:
    """Parse a tag expression (``*``, ``TagA``, ``TagA || TagB``); cached.

    >>> f = parse_tags(" TagA ||TagB|| ")
    >>> f.tags, sorted(f.codes)
    (('TagA', 'TagB'), [2598919, 2598920])
    """
    return TagFilter.parse(sub_string)
