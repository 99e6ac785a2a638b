"""Java ``String.hashCode`` and the hashes RocketMQ derives from it.

Mirrors ``java.lang.String#hashCode`` (``s[0]·31^(n−1) + … + s[n−1]`` over UTF-16 code
units, wrapping as a signed int32), ``MessageExtBrokerInner.tagsString2tagsCode`` (the
ConsumeQueue tagsCode: the tag's hash sign-extended to 64 bits, 0 without a tag) and
``IndexService``/``IndexFile`` key hashing (``|hashCode|``, 0 when the absolute value
overflows). Spec §4.2, §4.3 and golden vectors V5 and V9.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final

from rmq_protocol.codec.speedups import speedups as _speedups

__all__ = ["index_key_hash", "index_key_hashes", "java_string_hash", "tags_code"]

_MASK: Final = 0xFFFFFFFF

# s[0]·31^(n−1) + … + s[n−1] is the number whose base-31 digits are the character codes.
# A code c < 128 is lo + 31·hi with both parts below 31, so for ASCII text the sum is
# int(los, 31) + 31·int(his, 31): two translates and two int() parses in C instead of a
# Python loop per character (callgrind, a 42-character index key: 11,000 instructions
# instead of 44,000).
_DIGITS: Final = b"0123456789abcdefghijklmnopqrstu"
_LOW: Final = bytes(_DIGITS[c % 31] for c in range(128)).ljust(256, b"0")
_HIGH: Final = bytes(_DIGITS[c // 31] for c in range(128)).ljust(256, b"0")
_CHUNK: Final = 512  # characters per int() parse, below any int_max_str_digits (>= 640)


def java_string_hash(text: str) -> int:
    """``text.hashCode()`` as Java computes it: a signed int32.

    >>> java_string_hash("TagA")
    2598919
    """
    if text.isascii():
        data = text.encode("ascii")
        if 0 < len(data) <= _CHUNK:
            h = (int(data.translate(_LOW), 31) + 31 * int(data.translate(_HIGH), 31)) & _MASK
        elif not data:
            h = 0
        else:
            h = 0
            for start in range(0, len(data), _CHUNK):
                chunk = data[start : start + _CHUNK]
                value = int(chunk.translate(_LOW), 31) + 31 * int(chunk.translate(_HIGH), 31)
                h = (h * pow(31, len(chunk), 1 << 32) + value) & _MASK
    else:
        h = 0
        units = text.encode("utf-16-be")
        for (unit,) in struct.iter_unpack(">H", units):
            h = (31 * h + unit) & _MASK
    return h - (1 << 32) if h & 0x80000000 else h


_TAGS_CODES: dict[str, int] = {}  # tags repeat: hash each once
_TAGS_CACHE_LIMIT: Final = 4096


def tags_code(tags: str | None) -> int:
    """The ConsumeQueue tagsCode of a message's TAGS property (0 when it has none)."""
    if not tags:
        return 0
    code = _TAGS_CODES.get(tags)
    if code is None:
        if len(_TAGS_CODES) >= _TAGS_CACHE_LIMIT:
            _TAGS_CODES.clear()
        code = _TAGS_CODES[tags] = java_string_hash(tags)
    return code


def index_key_hash(key: str) -> int:
    """The IndexFile hash of ``key`` (``topic + "#" + key``): ``abs(hashCode)``, and 0 for
    Integer.MIN_VALUE, whose absolute value does not fit."""
    if key.isascii() and 0 < len(key) <= _CHUNK:  # java_string_hash inlined: 2 per message
        data = key.encode("ascii")
        h = (int(data.translate(_LOW), 31) + 31 * int(data.translate(_HIGH), 31)) & _MASK
    else:
        h = java_string_hash(key) & _MASK
    return h if h < 0x80000000 else (0 if h == 0x80000000 else 0x100000000 - h)


def index_key_hashes(topic: str, keys: str | None, unique_key: str | None) -> list[int]:
    """The IndexFile hashes of one record's keys, in the order RocketMQ's IndexService adds
    them: ``topic#unique_key`` (when there is a unique key), then ``topic#k`` for every
    non-empty ``k`` of ``keys`` split on spaces."""
    prefix = topic + "#"
    texts = [] if unique_key is None else [prefix + unique_key]
    if keys:
        texts += [prefix + k for k in keys.split(" ") if k]
    return [index_key_hash(text) for text in texts]


java_string_hash_py: Final = java_string_hash
index_key_hash_py: Final = index_key_hash
index_key_hashes_py: Final = index_key_hashes
index_key_hashes_c: Callable[[str, str | None, str | None], list[int] | None] | None = None
"""The C ``index_key_hashes`` itself (None when not built): None for a record it leaves to
:func:`index_key_hashes_py`; for loops that cannot afford the wrapper's call."""
if _speedups is not None:  # the same functions in C (rmq_protocol.codec.speedups)
    java_string_hash = _speedups.java_string_hash
    index_key_hash = _speedups.index_key_hash
    _c_index_key_hashes = index_key_hashes_c = _speedups.index_key_hashes

    def index_key_hashes(topic: str, keys: str | None, unique_key: str | None) -> list[int]:
        hashes = _c_index_key_hashes(topic, keys, unique_key)
        return index_key_hashes_py(topic, keys, unique_key) if hashes is None else hashes
