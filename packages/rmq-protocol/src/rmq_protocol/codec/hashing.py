"""Java ``String.hashCode`` and the hashes RocketMQ derives from it.

Mirrors ``java.lang.String#hashCode`` (``s[0]·31^(n−1) + … + s[n−1]`` over UTF-16 code
units, wrapping as a signed int32), ``MessageExtBrokerInner.tagsString2tagsCode`` (the
ConsumeQueue tagsCode: the tag's hash sign-extended to 64 bits, 0 without a tag) and
``IndexService``/``IndexFile`` key hashing (``|hashCode|``, 0 when the absolute value
overflows). Spec §4.2, §4.3 and golden vectors V5 and V9.
"""

from __future__ import annotations

import struct
from typing import Final

__all__ = ["index_key_hash", "java_string_hash", "tags_code"]

_MASK: Final = 0xFFFFFFFF


def java_string_hash(text: str) -> int:
    """``text.hashCode()`` as Java computes it: a signed int32.

    >>> java_string_hash("TagA")
    2598919
    """
    h = 0
    if text.isascii():
        for ch in text.encode("ascii"):
            h = (31 * h + ch) & _MASK
    else:
        units = text.encode("utf-16-be")
        for (unit,) in struct.iter_unpack(">H", units):
            h = (31 * h + unit) & _MASK
    return h - (1 << 32) if h & 0x80000000 else h


def tags_code(tags: str | None) -> int:
    """The ConsumeQueue tagsCode of a message's TAGS property (0 when it has none)."""
    if not tags:
        return 0
    return java_string_hash(tags)


def index_key_hash(key: str) -> int:
    """The IndexFile hash of ``key`` (``topic + "#" + key``): ``abs(hashCode)``, and 0 for
    Integer.MIN_VALUE, whose absolute value does not fit."""
    h = java_string_hash(key)
    return 0 if h == -(1 << 31) else abs(h)
