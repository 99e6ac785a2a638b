"""Strict loader of RocketMQ-style configuration into frozen dataclasses.

Mirrors what Apache RocketMQ does with ``MixAll.properties2Object`` (and
``Properties.load``) when ``mqnamesrv -c`` or ``mqbroker -c`` read a file, minus its
habit of skipping unknown keys and unparsable values silently: here both are a
:class:`~rmq_protocol.errors.ConfigError` naming the file, the line and, for an
unknown key, the nearest known one::

    ConfigError: conf/broker.conf:7: unknown key 'flushDiskTpye'; did you mean 'flushDiskType'?

Files are Java ``.properties`` (``key=value``, ``key: value``, ``key value``, ``#``/``!``
comments, ``\\`` line continuation, ``\\t \\n \\uXXXX`` escapes; see
:func:`~rmq_protocol.codec.body.decode_properties_entries`) or ``.toml`` with the same
flat keys at the top level (``listenPort = 9876``, ``flushDiskType = "SYNC_FLUSH"``).

A config class is a dataclass; each field is one key, named by the camelCase of the
field name (``mapped_file_size_commit_log`` ↔ ``mappedFileSizeCommitLog``) or by
``field(metadata={"key": "brokerIP1"})``. Field types: ``str``, ``int``, ``bool``
(``true``/``false``, any case), ``float``, :class:`~pathlib.Path`, an :class:`enum.Enum`
with string values (by value or name), or ``X | None`` (an empty value is None).

One file may hold the keys of several classes (a broker.conf has broker, store and
remoting keys), so loading is two steps::

    source = ConfigSource.read("conf/broker.conf")
    broker = source.build(BrokerConfig)
    store = source.build(StoreConfig)
    source.check_claimed()      # a key no class took is an error

:func:`load_config` does the three for one class. Nothing here reads the environment.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import logging
import re
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final, TypeVar, final

from rmq_protocol.codec.body import decode_properties_entries
from rmq_protocol.errors import ConfigError, RemoteProtocolError

__all__ = [
    "ConfigSource",
    "config_key",
    "config_keys",
    "config_to_properties",
    "config_to_toml",
    "load_config",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_CAMEL: Final = re.compile(r"_([a-z0-9])")
_JAVA_LONG: Final = re.compile(r"[-+]?[0-9]+", re.ASCII)
_FLOAT: Final = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?", re.ASCII)
_LONG_MIN: Final = -(2**63)
_LONG_MAX: Final = 2**63 - 1
TomlScalar = str | int | float | bool
"""A value as a config source holds it: text from properties, a TOML scalar from TOML."""


@final
@dataclasses.dataclass(frozen=True, slots=True)
class _Entry:
    key: str
    value: TomlScalar
    line: int | None


def config_key(f: dataclasses.Field[Any]) -> str:
    """The RocketMQ key of a config field: ``metadata["key"]`` or the camelCase name."""
    key = f.metadata.get("key")
    if isinstance(key, str):
        return key
    return _CAMEL.sub(lambda m: m.group(1).upper(), f.name)


def config_keys(cls: type[Any]) -> dict[str, dataclasses.Field[Any]]:
    """RocketMQ key → dataclass field, for every field of config class ``cls``.

    Raises:
        TypeError: ``cls`` is not a dataclass.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    return {config_key(f): f for f in dataclasses.fields(cls) if f.init}


def config_to_properties(config: object) -> dict[str, str]:
    """The config as RocketMQ key → text, in field order; None values omitted.

    The inverse of loading: ``ConfigSource.from_mapping(config_to_properties(c),
    name=…).build(type(c)) == c``. Booleans are ``true``/``false``, enums their value.

    Raises:
        TypeError: ``config`` is not a dataclass instance.
    """
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"{config!r} is not a dataclass instance")
    out: dict[str, str] = {}
    for f in dataclasses.fields(config):
        if not f.init:
            continue
        value = getattr(config, f.name)
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, enum.Enum):
            text = str(value.value)
        else:
            text = str(value)
        out[config_key(f)] = text
    return out


def config_to_toml(config: object) -> str:
    """The config as a flat TOML document (one ``key = value`` line per field, in field
    order; None values omitted) that :meth:`ConfigSource.read` loads back.

    Raises:
        TypeError: ``config`` is not a dataclass instance.
    """
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"{config!r} is not a dataclass instance")
    lines = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if value is None or not f.init:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int | float) and not isinstance(value, enum.Enum):
            text = repr(value)
        else:
            text = _toml_string(str(value.value if isinstance(value, enum.Enum) else value))
        lines.append(f"{config_key(f)} = {text}\n")
    return "".join(lines)


def _toml_string(text: str) -> str:
    """A TOML basic string."""
    out = ['"']
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif c < " " or c == "\x7f":
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


@final
class ConfigSource:
    """The entries of one configuration file (or mapping), to build config objects from.

    Keeps which keys a :meth:`build` claimed, so that :meth:`check_claimed` can report
    the ones nobody did. Not thread-safe (it is used once, at start-up).
    """

    def __init__(self, name: str, entries: Iterable[_Entry]) -> None:
        self.name = name
        self._entries: dict[str, _Entry] = {}
        for entry in entries:
            earlier = self._entries.get(entry.key)
            if earlier is not None:
                logger.warning(
                    "%s:%s: key %r repeats line %s; the later value wins (as in Java)",
                    name,
                    entry.line,
                    entry.key,
                    earlier.line,
                )
            self._entries[entry.key] = entry
        self._claimed: set[str] = set()
        self._known: set[str] = set()

    # ------------------------------------------------------------------ reading

    @classmethod
    def read(cls, path: str | Path) -> ConfigSource:
        """Read a ``.toml`` file, or any other file as Java properties.

        Raises:
            ConfigError: the file cannot be read or does not parse.
        """
        name = str(path)
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(name, f"cannot read the file: {exc.strerror or exc}") from exc
        if Path(path).suffix.lower() == ".toml":
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ConfigError(name, f"TOML must be UTF-8: {exc}") from exc
            return cls.from_toml(text, name=name)
        return cls.from_properties(data, name=name)

    @classmethod
    def from_properties(cls, data: bytes | str, *, name: str) -> ConfigSource:
        """Entries of Java properties text (what ``Properties.load`` reads).

        Raises:
            ConfigError: a malformed ``\\uXXXX`` escape.
        """
        try:
            entries = decode_properties_entries(data)
        except RemoteProtocolError as exc:
            line = _line_of(exc.detail)
            raise ConfigError(name, exc.detail.split(": ", 1)[-1], line=line) from None
        return cls(name, (_Entry(k, v, n) for n, k, v in entries))

    @classmethod
    def from_toml(cls, text: str, *, name: str) -> ConfigSource:
        """Entries of a TOML document whose top level holds the flat keys.

        Raises:
            ConfigError: not TOML, or a key holds a table or an array (use flat keys).
        """
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(name, f"not valid TOML: {exc}") from None
        lines = _toml_key_lines(text)
        entries = []
        for key, value in document.items():
            line = lines.get(key)
            if isinstance(value, dict | list):
                kind = "a table" if isinstance(value, dict) else "an array"
                raise ConfigError(
                    name,
                    f"{key!r} is {kind}; configuration keys are flat, as in RocketMQ's "
                    "properties files (write `key = value` at the top level)",
                    line=line,
                    key=key,
                )
            if not isinstance(value, str | int | float | bool):
                raise ConfigError(
                    name,
                    f"{key!r} is a TOML {type(value).__name__}; use a string, number or boolean",
                    line=line,
                    key=key,
                )
            entries.append(_Entry(key, value, line))
        return cls(name, entries)

    @classmethod
    def from_mapping(cls, values: Mapping[str, TomlScalar], *, name: str) -> ConfigSource:
        """Entries from a mapping (command-line options, a remote UPDATE_*_CONFIG body)."""
        return cls(name, (_Entry(k, v, None) for k, v in values.items()))

    # ------------------------------------------------------------------ building

    def keys(self) -> list[str]:
        """The keys present, in file order."""
        return list(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def build(self, cls: type[_T], *, base: _T | None = None) -> _T:
        """An instance of config class ``cls`` with the values of the keys it has.

        Fields whose key is absent keep their defaults (or ``base``'s values, to apply
        an update to an existing config). The keys used are marked claimed.

        Raises:
            ConfigError: a value does not convert to its field's type, or ``cls``
                rejects the combination (its ``__post_init__`` raised ValueError).
            TypeError: ``cls`` is not a dataclass or has a field of an unsupported type.
        """
        fields = config_keys(cls)
        hints = typing.get_type_hints(cls)
        self._known.update(fields)
        changes: dict[str, object] = {}
        for key, f in fields.items():
            entry = self._entries.get(key)
            if entry is None:
                continue
            self._claimed.add(key)
            changes[f.name] = self._convert(entry, hints[f.name])
        try:
            if base is not None:
                return dataclasses.replace(base, **changes)  # type: ignore[type-var]
            return cls(**changes)
        except ValueError as exc:
            raise ConfigError(self.name, f"{cls.__name__}: {exc}") from exc

    def check_claimed(self, *, extra_known: Iterable[str] = ()) -> None:
        """Raise for the first key (in file order) that no :meth:`build` claimed.

        Args:
            extra_known: more keys to accept silently and to suggest from (keys read by
                something other than a config class).

        Raises:
            ConfigError: an unknown key, with the nearest known key when one is close.
        """
        extra = set(extra_known)
        for key, entry in self._entries.items():
            if key in self._claimed or key in extra:
                continue
            known = sorted(self._known | extra)
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            if not close:
                lowered = {k.lower(): k for k in known}
                close = [lowered[key.lower()]] if key.lower() in lowered else []
            suggestion = close[0] if close else None
            detail = f"unknown key {key!r}"
            if suggestion is not None:
                detail += f"; did you mean {suggestion!r}?"
            else:
                detail += " (no configuration here has it; check the spelling against the docs)"
            raise ConfigError(self.name, detail, line=entry.line, key=key, suggestion=suggestion)

    # ------------------------------------------------------------------ conversion

    def _convert(self, entry: _Entry, hint: object) -> object:
        kind, optional = _unwrap(hint)
        value = entry.value
        if optional and value == "":
            return None
        try:
            return _convert_value(value, kind)
        except _BadValue as exc:
            raise ConfigError(
                self.name, f"{entry.key}: {exc.reason}", line=entry.line, key=entry.key
            ) from None


class _BadValue(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _unwrap(hint: object) -> tuple[type[Any], bool]:
    optional = False
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        if len(args) != 1:
            raise TypeError(f"config fields take one type (or None), not {hint!r}")
        hint = args[0]
    if hint in (str, int, bool, float) or hint is Path:
        return typing.cast(type[Any], hint), optional
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint, optional
    raise TypeError(f"unsupported config field type {hint!r}")


def _describe(value: TomlScalar) -> str:
    return repr(value) if isinstance(value, str) else f"{type(value).__name__} {value!r}"


def _convert_value(value: TomlScalar, kind: type[Any]) -> object:
    """``value`` (properties text or a TOML scalar) as a ``kind``."""
    if kind is str:
        if isinstance(value, str):
            return value
        raise _BadValue(f"expected a string, got {_describe(value)}; quote it")
    # Properties.load keeps trailing blanks in values; for non-text types they are noise.
    text = value.strip() if isinstance(value, str) else ""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise _BadValue(f"{_describe(value)} is not true or false")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and _JAVA_LONG.fullmatch(text):
            number = int(text)
        else:
            raise _BadValue(f"{_describe(value)} is not an integer")
        if not _LONG_MIN <= number <= _LONG_MAX:
            raise _BadValue(f"{number} is outside the Java long range")
        return number
    if kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _FLOAT.fullmatch(text):
            return float(text)
        raise _BadValue(f"{_describe(value)} is not a number")
    if not isinstance(value, str):
        raise _BadValue(f"expected a string, got {_describe(value)}; quote it")
    if kind is Path:
        if not text:
            raise _BadValue("empty path")
        return Path(text)
    # an Enum with string values: by value, else by name
    for member in kind:
        if member.value == text or member.name == text:
            return member
    choices = ", ".join(str(m.value) for m in kind)
    raise _BadValue(f"{_describe(value)} is not one of {choices}")


def _toml_key_lines(text: str) -> dict[str, int]:
    """Line of each top-level ``key = …`` of a TOML text (first occurrence)."""
    lines: dict[str, int] = {}
    pattern = re.compile(r"""\s*(?:"([^"]+)"|'([^']+)'|([A-Za-z0-9_-]+))\s*=""")
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("["):
            break  # past the top level
        match = pattern.match(line)
        if match is not None:
            key = match.group(1) or match.group(2) or match.group(3)
            lines.setdefault(key, number)
    return lines


def _line_of(detail: str) -> int | None:
    match = re.match(r"properties line (\d+):", detail)
    return int(match.group(1)) if match else None


def load_config(path: str | Path, cls: type[_T]) -> _T:
    """Read ``path`` (properties or TOML) into config class ``cls``; every key must be
    one of ``cls``'s.

    Raises:
        ConfigError: the file cannot be read or parsed, a key is unknown, or a value
            does not convert.
    """
    source = ConfigSource.read(path)
    config = source.build(cls)
    source.check_claimed()
    return config
