"""Read and write JSON the way Java's fastjson 1.2 does (the JSON of remoting bodies).

RocketMQ serializes every JSON body with ``com.alibaba.fastjson.JSON``
(``RemotingSerializable.encode`` / ``decode``). fastjson reads and writes a
superset of standard JSON, and RocketMQ peers depend on parts of it:

* integer map keys written unquoted: ``{0:"127.0.0.1:10911",1:"…"}``
  (``BrokerData.brokerAddrs``, ``consumerOffset.json``; spec §4.4, §5.1);
* JSON **objects as map keys** for ``Map<MessageQueue, …>``:
  ``{{"brokerName":"b","queueId":0,"topic":"t"}:{…}}`` (``ConsumeStats``,
  ``TopicStatsTable``, ``ResetOffsetBody``; spec §10);
* single-quoted strings, bare identifiers as keys, trailing commas, a UTF-8 BOM,
  integers beyond 64 bits, and trailing whitespace (the C++ client ends its
  HEART_BEAT body with ``"\\n"``).

:func:`loads` tries :mod:`orjson` first and falls back to a tolerant
recursive-descent parser (nesting bounded by :data:`MAX_DEPTH`, and by
:data:`MAX_KEY_DEPTH` inside object keys) when orjson rejects the text, or when
the text holds a run of 19 digits (orjson reads integers outside
``[-2**63, 2**64)`` as floats; Java longs must stay exact). Values come back as
plain Python objects (:data:`JSONValue`):

* every map key is a :class:`str` — an unquoted key is kept as its text, so
  ``{0:"a"}`` and ``{"0":"a"}`` decode to the same ``{"0": "a"}``;
* a JSON object used as a key becomes an :class:`ObjectKey`: a frozen, hashable
  snapshot of that object with its members sorted by name (nested objects are
  ObjectKeys, arrays are tuples), so ``{"topic":"t","queueId":0}`` and
  ``{"queueId":0,"topic":"t"}`` are the same key, as the equal ``MessageQueue``
  objects are in Java.

:func:`dumps` writes compact JSON (no spaces: rocketmq-client-go splits the raw
``brokerAddrs`` text on ``,`` and ``:``) with quoted string keys, in the order
of the given dicts. Object keys are written only when asked for with
``object_keys=True``, the form fastjson writes and Java admin tools read;
everything else stays standard JSON.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, TypeAlias, final

import orjson

from rmq_protocol.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "MAX_DEPTH",
    "MAX_KEY_DEPTH",
    "FrozenJSON",
    "JSONKey",
    "JSONValue",
    "ObjectKey",
    "dumps",
    "loads",
]

MAX_DEPTH: Final = 256
"""Deepest nesting of arrays and objects the tolerant parser accepts."""

MAX_KEY_DEPTH: Final = 16
"""Deepest nesting of a JSON object used as a map key, the key object included.

MessageQueue keys have depth 1; the bound keeps hashing and writing keys shallow.
"""

JSONKey: TypeAlias = "str | ObjectKey"
"""A map key: a string, or a JSON object used as a key (fastjson only)."""

JSONValue: TypeAlias = (
    "bool | int | float | str | list[JSONValue] | dict[JSONKey, JSONValue] | None"
)
"""A decoded JSON value: what :func:`loads` returns and :func:`dumps` accepts."""

FrozenJSON: TypeAlias = "bool | int | float | str | tuple[FrozenJSON, ...] | ObjectKey | None"
"""A hashable JSON value: arrays as tuples, objects as :class:`ObjectKey`."""


def _key_order(key: JSONKey) -> tuple[int, str]:
    if isinstance(key, str):
        return (0, key)
    return (1, dumps({key: None}, object_keys=True).decode())


def _freeze(value: JSONValue) -> FrozenJSON:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return ObjectKey.of(value)
    return value


def _thaw(value: FrozenJSON) -> JSONValue:
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    if isinstance(value, ObjectKey):
        return value.to_dict()
    return value


@final
@dataclass(frozen=True, slots=True)
class ObjectKey:
    """A JSON object used as a map key, as fastjson writes ``Map<MessageQueue, …>``.

    Holds the members sorted by name, so two keys are equal exactly when the objects
    have the same members; nested objects are ObjectKeys and arrays tuples, which
    keeps the key hashable.

    Attributes:
        items: ``(name, value)`` pairs, sorted by name.
    """

    items: tuple[tuple[JSONKey, FrozenJSON], ...]

    @classmethod
    def of(cls, obj: Mapping[str, JSONValue] | Mapping[JSONKey, JSONValue]) -> ObjectKey:
        """The key for a JSON object (``{"brokerName": "b", "queueId": 0, "topic": "t"}``)."""
        frozen = [(k, _freeze(v)) for k, v in obj.items()]
        frozen.sort(key=lambda kv: _key_order(kv[0]))
        return cls(tuple(frozen))

    def to_dict(self) -> dict[JSONKey, JSONValue]:
        """The object as a fresh, mutable dict (members in name order)."""
        return {k: _thaw(v) for k, v in self.items}

    def get(self, name: str) -> JSONValue:
        """The member ``name``, or None when absent."""
        for k, v in self.items:
            if k == name:
                return _thaw(v)
        return None


# --------------------------------------------------------------------------- loads

_WHITESPACE: Final = " \t\n\r\f\b"
_TRAILING: Final = _WHITESPACE + "\x00"
_BOM: Final = "\ufeff"
_NUMBER: Final = re.compile(
    r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?[LSBFD]?", re.ASCII
)
_INTEGER: Final = re.compile(r"[-+]?[0-9]+[LSB]?", re.ASCII)
_LONG_DIGITS_S: Final = re.compile(r"[0-9]{19}")
_LONG_DIGITS_B: Final = re.compile(rb"[0-9]{19}")
_BARE_KEY: Final = re.compile(r"[^\s:,{}\[\]\"'/]+")
_DQ_CHUNK: Final = re.compile(r'[^"\\]*')
_SQ_CHUNK: Final = re.compile(r"[^'\\]*")
_HEX4: Final = re.compile(r"[0-9a-fA-F]{4}", re.ASCII)
_HEX2: Final = re.compile(r"[0-9a-fA-F]{2}", re.ASCII)
_SIMPLE_ESCAPES: Final = {
    '"': '"',
    "'": "'",
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "0": "\x00",
}
_LITERALS: Final[dict[str, JSONValue]] = {"true": True, "false": False, "null": None}


def loads(data: bytes | bytearray | str | memoryview) -> JSONValue:
    """Decode JSON text as fastjson reads it.

    Standard JSON goes through orjson. Text orjson rejects (or might read a huge
    integer of as a float) is read by a tolerant
    parser that also accepts unquoted and bare-identifier keys, JSON objects as
    keys (see :class:`ObjectKey`), single-quoted strings, trailing commas, a BOM,
    ``\\x``/``\\v``/``\\'`` escapes, raw control characters in strings, integers of
    any size, Java number suffixes (``1L``) and trailing whitespace or NUL bytes.
    Invalid UTF-8 is replaced with U+FFFD, as Java's decoder does.

    Args:
        data: the JSON text, as UTF-8 bytes or a str.

    Returns:
        The decoded value; map keys are :class:`str` or :class:`ObjectKey`.

    Raises:
        RemoteProtocolError: the text is not JSON even for fastjson, or nests deeper
            than :data:`MAX_DEPTH`; ``offset`` is the byte (for bytes input) or
            character (for str input) where reading stopped.
    """
    # orjson turns integers outside [-2**63, 2**64) into floats; a run of 19 digits
    # sends the text to the exact parser instead.
    if isinstance(data, str):
        exact_only = _LONG_DIGITS_S.search(data) is not None
    else:
        exact_only = _LONG_DIGITS_B.search(data) is not None
    if not exact_only:
        try:
            return orjson.loads(data)  # type: ignore[no-any-return]
        except orjson.JSONDecodeError:
            pass
    if isinstance(data, str):
        parser = _Parser(data, binary=False)
    else:
        parser = _Parser(bytes(data).decode("utf-8", "replace"), binary=True)
    try:
        return parser.parse()
    except RecursionError:  # a caller already deep in its own stack
        raise parser.error("less deeply nested JSON (Python stack exhausted)") from None


def _describe(text: str, pos: int) -> str:
    if pos >= len(text):
        return "end of text"
    return f"{text[pos]!r}"


class _Parser:
    """Recursive descent over one JSON text; positions are str indices."""

    __slots__ = ("binary", "key_base", "pos", "text")

    def __init__(self, text: str, *, binary: bool) -> None:
        self.text = text
        self.pos = 0
        self.binary = binary
        self.key_base: int | None = None  # depth where the outermost object key began

    def error(self, expected: str, pos: int | None = None) -> RemoteProtocolError:
        at = self.pos if pos is None else pos
        offset = len(self.text[:at].encode("utf-8", "surrogatepass")) if self.binary else at
        found = _describe(self.text, at)
        return RemoteProtocolError(f"JSON: expected {expected}, found {found}", offset=offset)

    def skip_ws(self) -> None:
        text, pos, n = self.text, self.pos, len(self.text)
        while pos < n and text[pos] in _WHITESPACE:
            pos += 1
        self.pos = pos

    def parse(self) -> JSONValue:
        if self.text.startswith(_BOM):
            self.pos = 1
        self.skip_ws()
        if self.pos >= len(self.text):
            raise self.error("a JSON value (the text is empty)")
        value = self.value(0)
        text, n = self.text, len(self.text)
        while self.pos < n and text[self.pos] in _TRAILING:
            self.pos += 1
        if self.pos < n:
            raise self.error("end of text after the JSON value")
        return value

    def value(self, depth: int) -> JSONValue:
        # Caller has skipped whitespace.
        text, pos = self.text, self.pos
        if pos >= len(text):
            raise self.error("a JSON value")
        c = text[pos]
        if c == "{":
            return self.obj(depth + 1)
        if c == "[":
            return self.array(depth + 1)
        if c in "\"'":
            return self.string()
        for word, literal in _LITERALS.items():
            if text.startswith(word, pos):
                self.pos = pos + len(word)
                return literal
        m = _NUMBER.match(text, pos)
        if m is None:
            raise self.error("a JSON value")
        self.pos = m.end()
        return self.number(m.group(), pos)

    def number(self, token: str, pos: int) -> int | float:
        if _INTEGER.fullmatch(token):
            digits = token.rstrip("LSB")
            try:
                return int(digits)
            except ValueError:
                raise self.error("an integer of at most 4300 digits", pos) from None
        try:
            value = float(token.rstrip("LSBFD"))
        except ValueError:  # pragma: no cover - the regex admits only float syntax
            raise self.error("a number", pos) from None
        if math.isinf(value):
            raise self.error("a finite number", pos)
        return value

    def check_depth(self, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise self.error(f"at most {MAX_DEPTH} nested arrays and objects")
        if self.key_base is not None and depth - self.key_base > MAX_KEY_DEPTH:
            raise self.error(f"at most {MAX_KEY_DEPTH} nested levels inside an object key")

    def obj(self, depth: int) -> dict[JSONKey, JSONValue]:
        self.check_depth(depth)
        self.pos += 1  # "{"
        result: dict[JSONKey, JSONValue] = {}
        text = self.text
        while True:
            self.skip_ws()
            if self.pos >= len(text):
                raise self.error("a member name or '}'")
            c = text[self.pos]
            if c == "}":
                self.pos += 1
                return result
            key = self.key(depth)
            self.skip_ws()
            if self.pos >= len(text) or text[self.pos] != ":":
                raise self.error("':' after a member name")
            self.pos += 1
            self.skip_ws()
            result[key] = self.value(depth)
            self.skip_ws()
            if self.pos >= len(text):
                raise self.error("',' or '}' after a member")
            c = text[self.pos]
            if c == ",":
                self.pos += 1
            elif c == "}":
                self.pos += 1
                return result
            else:
                raise self.error("',' or '}' after a member")

    def key(self, depth: int) -> JSONKey:
        text, pos = self.text, self.pos
        c = text[pos]
        if c in "\"'":
            return self.string()
        if c == "{":
            outermost = self.key_base is None
            if outermost:
                self.key_base = depth
            try:
                return ObjectKey.of(self.obj(depth + 1))
            finally:
                if outermost:
                    self.key_base = None
        m = _BARE_KEY.match(text, pos)
        if m is None:
            raise self.error("a member name")
        self.pos = m.end()
        return m.group()

    def array(self, depth: int) -> list[JSONValue]:
        self.check_depth(depth)
        self.pos += 1  # "["
        result: list[JSONValue] = []
        text = self.text
        while True:
            self.skip_ws()
            if self.pos >= len(text):
                raise self.error("a value or ']'")
            if text[self.pos] == "]":
                self.pos += 1
                return result
            result.append(self.value(depth))
            self.skip_ws()
            if self.pos >= len(text):
                raise self.error("',' or ']' after an array element")
            c = text[self.pos]
            if c == ",":
                self.pos += 1
            elif c == "]":
                self.pos += 1
                return result
            else:
                raise self.error("',' or ']' after an array element")

    def string(self) -> str:
        text = self.text
        quote = text[self.pos]
        chunk = _DQ_CHUNK if quote == '"' else _SQ_CHUNK
        start = self.pos
        pos = start + 1
        parts: list[str] = []
        n = len(text)
        while True:
            m = chunk.match(text, pos)  # always matches (possibly empty)
            if m is not None and m.end() > pos:
                parts.append(m.group())
                pos = m.end()
            if pos >= n:
                raise self.error(f"closing {quote} of the string opened at {start}", pos)
            if text[pos] == quote:
                self.pos = pos + 1
                return "".join(parts)
            # A backslash escape.
            pos += 1
            if pos >= n:
                raise self.error("an escape character", pos)
            e = text[pos]
            simple = _SIMPLE_ESCAPES.get(e)
            if simple is not None:
                parts.append(simple)
                pos += 1
            elif e == "u":
                h = _HEX4.match(text, pos + 1)
                if h is None:
                    raise self.error("4 hex digits after \\u", pos + 1)
                parts.append(chr(int(h.group(), 16)))
                pos = h.end()
            elif e == "x":
                h = _HEX2.match(text, pos + 1)
                if h is None:
                    raise self.error("2 hex digits after \\x", pos + 1)
                parts.append(chr(int(h.group(), 16)))
                pos = h.end()
            else:
                raise self.error("a valid escape after '\\'", pos)
            if len(parts) >= 2 and _is_surrogate_pair(parts[-2], parts[-1]):
                parts[-2:] = [_join_surrogates(parts[-2], parts[-1])]


def _is_surrogate_pair(a: str, b: str) -> bool:
    return (
        len(b) == 1 and len(a) >= 1 and "\ud800" <= a[-1] <= "\udbff" and "\udc00" <= b <= "\udfff"
    )


def _join_surrogates(a: str, b: str) -> str:
    high, low = ord(a[-1]), ord(b)
    return a[:-1] + chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))


# --------------------------------------------------------------------------- dumps

_ESCAPE: Final = re.compile(r'[\x00-\x1f"\\\ud800-\udfff]')
_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(m: re.Match[str]) -> str:
    c = m.group()
    return _ESCAPES.get(c) or f"\\u{ord(c):04x}"


def dumps(value: JSONValue, *, object_keys: bool = False) -> bytes:
    """Encode a value as compact JSON (UTF-8, no spaces), keys in dict order.

    Args:
        value: a JSON value; dicts keep their insertion order.
        object_keys: allow :class:`ObjectKey` map keys and write them as JSON
            objects (``{{"brokerName":"b","queueId":0,"topic":"t"}:1}``), fastjson's
            form for ``Map<MessageQueue, …>``. Off by default: normal bodies stay
            standard JSON.

    Returns:
        The JSON text. Lone surrogates are written as ``\\uXXXX`` escapes; NaN and
        infinities as ``null`` (as fastjson writes them).

    Raises:
        LocalProtocolError: ``value`` holds something JSON cannot carry (an
            ObjectKey without ``object_keys``, a non-string key, a set, bytes, …).
    """
    if not object_keys:
        try:
            return orjson.dumps(value, option=orjson.OPT_PASSTHROUGH_DATACLASS)
        except orjson.JSONEncodeError:
            pass  # big integers, lone surrogates, bad keys: the slow writer decides
    out: list[str] = []
    _write(value, out, object_keys=object_keys, depth=0)
    return "".join(out).encode("utf-8")


def _write(value: JSONValue, out: list[str], *, object_keys: bool, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise LocalProtocolError(f"cannot encode JSON nested deeper than {MAX_DEPTH} levels")
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(f'"{_ESCAPE.sub(_escape_char, value)}"')
    elif isinstance(value, int):
        try:
            out.append(str(int(value)))
        except ValueError:
            bits = value.bit_length()
            raise LocalProtocolError(f"integer too large to encode ({bits} bits)") from None
    elif isinstance(value, float):
        out.append(repr(value) if math.isfinite(value) else "null")
    elif isinstance(value, dict):
        _write_object(value, out, object_keys=object_keys, depth=depth)
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out, object_keys=object_keys, depth=depth + 1)
        out.append("]")
    else:
        raise LocalProtocolError(f"cannot encode {type(value).__name__} as JSON")


def _write_object(
    obj: Mapping[JSONKey, JSONValue], out: list[str], *, object_keys: bool, depth: int
) -> None:
    out.append("{")
    for i, (key, item) in enumerate(obj.items()):
        if i:
            out.append(",")
        if isinstance(key, str):
            out.append(f'"{_ESCAPE.sub(_escape_char, key)}"')
        elif isinstance(key, ObjectKey):
            if not object_keys:
                raise LocalProtocolError(
                    "JSON object used as a map key: encode with object_keys=True "
                    "(fastjson form) or convert the key to a string"
                )
            _write_object(key.to_dict(), out, object_keys=True, depth=depth + 1)
        else:
            raise LocalProtocolError(f"JSON map key must be a str, not {type(key).__name__}")
        out.append(":")
        _write(item, out, object_keys=object_keys, depth=depth + 1)
    out.append("}")
