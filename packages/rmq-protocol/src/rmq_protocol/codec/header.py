"""Typed custom headers: the ``extFields`` of a command as a frozen dataclass.

Mirrors ``org.apache.rocketmq.remoting.CommandCustomHeader`` and the reflection in
``RemotingCommand.decodeCommandCustomHeader`` / ``makeCustomHeaderToNet`` (spec §1.6).
On the wire every field is a string in ``extFields``:

* key = the field's name in camelCase (``queue_id`` → ``queueId``) unless
  :func:`wire` gives another (SEND_MESSAGE_V2's ``a``..``n``, ``_UNIQUE_KEY_QUERY``);
* value = ``str(n)`` for numbers, ``"true"``/``"false"`` for booleans, the value of
  a ``StrEnum`` (RocketMQ's enum name).

Declare a header with :func:`command_header`::

    @command_header
    class GetMaxOffsetRequestHeader(CommandHeader):
        topic: str                      # required ("not null" in Java): always sent
        queue_id: int
        committed: bool | None = None   # optional object: omitted when None
        lo: bool = False                # primitive with a default: always sent

Required fields (no default) that are missing, and values that do not parse,
raise :class:`~rmq_protocol.errors.InvalidHeaderError` naming the header, key and
value. Unknown keys are ignored. Booleans parse as Java's ``Boolean.parseBoolean``
does (``"true"`` in any case is true, anything else false).

Headers are immutable, typed values built with keywords
(``GetMaxOffsetRequestHeader(topic="T", queue_id=0)``), compared by type and
value, changed with ``_replace(**changes)``. For speed the class the decorator
returns is tuple-backed (like a NamedTuple, with its read-only field descriptors) and
its constructor, decoder and encoder are generated once, when the class is
declared, as :mod:`dataclasses` generates ``__init__``: building a 19-field
SEND_MESSAGE_V2 header measured 3.9 µs as a frozen dataclass and about 1 µs this
way (docs/design/decisions.md, D2). Where ``rmq_protocol._wire`` is built, the
decoder and encoder of every header whose fields are str/int/bool run in C
(``HeaderDecoder``/``HeaderEncoder``, driven by :attr:`CommandHeader.wire_fields`), with
the generated functions as their fallback and reference (decision D19).
"""

from __future__ import annotations

import collections
import enum
import inspect
import operator
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final, Self, TypeVar, dataclass_transform

from rmq_protocol.codec.speedups import load
from rmq_protocol.errors import InvalidHeaderError

__all__ = ["CommandHeader", "HeaderField", "command_header", "wire"]

WIRE_ABI: Final = 3
"""The contract version the codec expects of ``rmq_protocol._wire``."""

wire_speedups: Final = load("rmq_protocol._wire", WIRE_ABI)
"""The optional C remoting codec (``decode_command``, ``HeaderDecoder``), or None when the
pure-Python one is in use. Its functions mirror the Python ones exactly (decision D19)."""

_CAMEL: Final = re.compile(r"_([a-z0-9])")
_REQUIRED: Final[Any] = type("_Required", (), {"__repr__": lambda self: "<required>"})()
_tuple_new: Final = tuple.__new__


def _property_getter(index: int, doc: str) -> Any:
    return property(operator.itemgetter(index), doc=doc)


# namedtuple's field descriptor (C in CPython): ``header.topic`` is one descriptor call, not
# a property calling an itemgetter (about 100 instructions less per field read).
_field_getter: Final[Callable[[int, str], Any]] = getattr(
    collections, "_tuplegetter", _property_getter
)


class _Wire:
    """What :func:`wire` returns: an explicit extFields key and the field's default."""

    __slots__ = ("default", "key")

    def __init__(self, key: str, default: object) -> None:
        self.key, self.default = key, default


def wire(key: str, *, default: Any = _REQUIRED) -> Any:
    """Field with an explicit extFields key (``producer_group: str = wire("a")``)."""
    return _Wire(key, default)


class HeaderField(typing.NamedTuple):
    """How one attribute of a header appears in extFields."""

    name: str
    key: str
    kind: type  # str, int, bool, float or a StrEnum subclass
    required: bool  # no default: must be present (Java "not null")
    optional: bool  # annotated ``X | None``: omitted when None
    default: Any  # the value when absent (unused when required)


class CommandHeader(tuple[Any, ...]):
    """Base of every typed custom header. Declare headers with :func:`command_header`."""

    __slots__ = ()
    wire_fields: ClassVar[tuple[HeaderField, ...]] = ()

    @classmethod
    def from_ext_fields(cls, ext_fields: Mapping[str, str] | None) -> Self:
        """Decode from a command's extFields (``None`` = no extFields).

        Raises:
            InvalidHeaderError: a required field is missing or a value does not parse.
        """
        raise NotImplementedError  # generated per class by command_header()

    def to_ext_fields(self) -> dict[str, str]:
        """Encode as extFields: every value a string; ``None`` optionals omitted."""
        raise NotImplementedError  # generated per class by command_header()

    def _replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied (as NamedTuple's ``_replace``)."""
        values = {f.name: v for f, v in zip(self.wire_fields, self, strict=True)}
        values.update(changes)
        return type(self)(**values)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple.__hash__(self)))

    def __repr__(self) -> str:
        inner = ", ".join(f"{f.name}={v!r}" for f, v in zip(self.wire_fields, self, strict=True))
        return f"{type(self).__name__}({inner})"

    def __reduce__(self) -> tuple[Callable[..., Self], tuple[Any, ...]]:
        return _rebuild, (type(self), tuple(self))  # type: ignore[return-value]


def _rebuild(cls: type[CommandHeader], values: tuple[Any, ...]) -> CommandHeader:
    header: CommandHeader = _tuple_new(cls, values)
    return header


_H = TypeVar("_H", bound=type[CommandHeader])
_RESERVED: Final = frozenset({"__dict__", "__weakref__", "__annotations__", "__slots__"})


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(wire,))
def command_header(cls: _H) -> _H:
    """Turn a declaration into an immutable, tuple-backed header class.

    The declaration lists annotated fields (base-class fields first, as with
    dataclasses); the returned class has a keyword-only constructor, a read-only
    attribute per field (namedtuple's descriptor) and generated extFields codecs.
    """
    bases = tuple(b for b in cls.__bases__ if issubclass(b, CommandHeader)) or (CommandHeader,)
    inherited: list[HeaderField] = []
    for base in bases:
        inherited += [f for f in base.wire_fields if f.name not in {i.name for i in inherited}]
    fields = tuple(inherited + _own_fields(cls, {f.name for f in inherited}))
    namespace: dict[str, Any] = {
        name: value
        for name, value in cls.__dict__.items()
        if name not in _RESERVED and name not in {f.name for f in fields}
    }
    namespace["__slots__"] = ()
    namespace["wire_fields"] = fields
    namespace["__annotations__"] = dict(inspect.get_annotations(cls))
    for index, f in enumerate(fields):
        namespace[f.name] = _field_getter(index, f"extFields key {f.key!r}")
    new_cls = type(cls.__name__, bases, namespace)
    new_cls.__qualname__ = cls.__qualname__
    new_cls.__module__ = cls.__module__
    globals_: dict[str, Any] = {
        "_missing": _missing,
        "_bad": _bad,
        "_parse_bool": _parse_bool,
        "_str": str,
        "_int": _java_integer,
        "_pyint": int,
        "_float": float,
        "_tuple_new": _tuple_new,
        "_cls": new_cls,
    }
    for f in fields:
        if issubclass(f.kind, enum.Enum):
            globals_[f"_enum_{f.name}"] = f.kind
        if not f.required:
            globals_[f"_default_{f.name}"] = f.default
    exec(_constructor_source(fields), globals_)  # noqa: S102 - generated from field specs
    exec(_decoder_source(cls.__name__, fields), globals_)  # noqa: S102 - generated from field specs
    exec(_encoder_source(fields), globals_)  # noqa: S102 - generated from field specs
    new_cls.__new__ = globals_["__new__"]  # type: ignore[method-assign]
    decoder = globals_["from_ext_fields"]
    specs = _c_decoder_specs(fields)
    if wire_speedups is not None and specs is not None:
        # The same decoder in C, driven by the field specs; anything unusual (a missing
        # required field, a value that is not plain digits, ...) it hands to ``decoder``.
        decoder = wire_speedups.HeaderDecoder(new_cls, specs, decoder)
    setattr(new_cls, "from_ext_fields", classmethod(decoder))  # noqa: B010
    encoder = globals_["to_ext_fields"]
    if wire_speedups is not None and specs is not None:
        encoder = wire_speedups.HeaderEncoder(
            new_cls, tuple((f.key, _C_KINDS[f.kind], f.optional) for f in fields), encoder
        )
    setattr(new_cls, "to_ext_fields", encoder)  # noqa: B010
    return typing.cast(_H, new_cls)


def _own_fields(cls: type, inherited: set[str]) -> list[HeaderField]:
    own = inspect.get_annotations(cls)
    if not own:
        return []
    hints = typing.get_type_hints(cls)
    out = []
    for name in own:
        if typing.get_origin(hints[name]) is ClassVar:
            continue
        if name in inherited:
            raise TypeError(
                f"{cls.__name__}.{name} redeclares an inherited header field; "
                "a header cannot change a base class field's key, type or default"
            )
        kind, optional = _unwrap(hints[name], cls.__name__, name)
        declared = cls.__dict__.get(name, _REQUIRED)
        if isinstance(declared, _Wire):
            key, default = declared.key, declared.default
        else:
            key, default = _CAMEL.sub(lambda m: m.group(1).upper(), name), declared
        required = default is _REQUIRED
        out.append(HeaderField(name, key, kind, required, optional, None if required else default))
    return out


def _unwrap(hint: Any, owner: str, name: str) -> tuple[type, bool]:
    optional = False
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        if len(args) != 1:
            raise TypeError(f"{owner}.{name}: header fields take one type (or None)")
        hint = args[0]
    if hint in (str, int, bool, float) or (isinstance(hint, type) and issubclass(hint, enum.Enum)):
        return hint, optional
    raise TypeError(f"{owner}.{name}: unsupported header field type {hint!r}")


def _constructor_source(fields: tuple[HeaderField, ...]) -> str:
    params = ", ".join(f.name if f.required else f"{f.name}=_default_{f.name}" for f in fields)
    values = "".join(f"{f.name}, " for f in fields)
    star = "*, " if fields else ""
    return f"def __new__(cls, {star}{params}):\n    return _tuple_new(cls, ({values}))"


_C_KINDS: Final[dict[type, int]] = {str: 0, int: 1, bool: 2}


def _c_decoder_specs(
    fields: tuple[HeaderField, ...],
) -> tuple[tuple[str, int, bool, object], ...] | None:
    """``(key, kind, required, default)`` per field for ``_wire.HeaderDecoder``, or None
    when a field has a type the C decoder leaves to Python (float, enums)."""
    specs = []
    for f in fields:
        kind = _C_KINDS.get(f.kind)
        if kind is None:
            return None
        specs.append((f.key, kind, f.required, f.default))
    return tuple(specs)


def _parse_expr(f: HeaderField) -> tuple[str, str | None]:
    """Expression turning string ``v`` into the field value, and its failure reason."""
    if f.kind is str:
        return "v", None
    if f.kind is bool:
        # _parse_bool inline (a call costs more than the comparison)
        return "(v.lower() == 'true' if v.__class__ is _str else _parse_bool(v))", None
    if f.kind is int:
        return "_int(v)", "not a decimal integer in the Java long range"
    if f.kind is float:
        return "_float(v)", "not a number"
    members = ", ".join(str(m.value) for m in f.kind)  # type: ignore[attr-defined]
    return f"_enum_{f.name}(v)", f"not one of {members}"


def _decoder_source(cls_name: str, fields: tuple[HeaderField, ...]) -> str:
    lines = [
        "def from_ext_fields(cls, ext_fields):",
        "    g = ext_fields.get if ext_fields is not None else {}.get",
    ]
    for f in fields:
        expr, reason = _parse_expr(f)
        lines.append(f"    v = g({f.key!r})")
        if f.required:
            lines.append(f"    if v is None: raise _missing({cls_name!r}, {f.key!r})")
            target = "    "
        else:
            lines.append(f"    if v is None: {f.name} = _default_{f.name}")
            lines.append("    else:")
            target = "        "
        if f.kind is int:
            # Fast path: plain digits shorter than 19 always fit a Java long.
            lines += [
                f"{target}if v.__class__ is _str and len(v) < 19 and v.isdecimal():",
                f"{target}    {f.name} = _pyint(v)",
                f"{target}else:",
                f"{target}    try: {f.name} = {expr}",
                f"{target}    except (ValueError, TypeError):",
                f"{target}        raise _bad({cls_name!r}, {f.key!r}, v, {reason!r}) from None",
            ]
        elif reason is None:
            lines.append(f"{target}{f.name} = {expr}")
        else:
            lines += [
                f"{target}try: {f.name} = {expr}",
                f"{target}except (ValueError, TypeError):",
                f"{target}    raise _bad({cls_name!r}, {f.key!r}, v, {reason!r}) from None",
            ]
    values = "".join(f"{f.name}, " for f in fields)
    lines.append(f"    return _tuple_new(cls, ({values}))")
    return "\n".join(lines)


def _encode_expr(f: HeaderField, ref: str) -> str:
    if f.kind is str:
        return ref
    if f.kind is bool:
        return f"('true' if {ref} else 'false')"
    if issubclass(f.kind, enum.Enum):
        return f"_str({ref}.value)"
    return f"_str({ref})"


def _encoder_source(fields: tuple[HeaderField, ...]) -> str:
    always = [f for f in fields if not f.optional]
    maybe = [f for f in fields if f.optional]
    lines = ["def to_ext_fields(self):"]
    if fields:
        names = "".join(f"f_{f.name}, " for f in fields)
        lines.append(f"    ({names}) = self")
    items = ", ".join(f"{f.key!r}: {_encode_expr(f, 'f_' + f.name)}" for f in always)
    lines.append(f"    d = {{{items}}}")
    lines += [
        f"    if f_{f.name} is not None: d[{f.key!r}] = {_encode_expr(f, 'f_' + f.name)}"
        for f in maybe
    ]
    lines.append("    return d")
    return "\n".join(lines)


def _missing(header: str, key: str) -> InvalidHeaderError:
    return InvalidHeaderError(header, key, None, "required (Java marks it not-null)")


def _bad(header: str, key: str, value: str, reason: str) -> InvalidHeaderError:
    return InvalidHeaderError(header, key, value, reason)


_LONG_MIN: Final = -(2**63)
_LONG_MAX: Final = 2**63 - 1


def _java_integer(value: str) -> int:
    """Parse as Java's ``Long.parseLong`` does: optional sign, digits, within int64.

    Python's ``int()`` also takes ``"1_000"`` and surrounding blanks; Java does not,
    and a value re-encoded from such input would be unreadable to a Java peer.
    """
    digits = value[1:] if value[:1] in "+-" else value
    if not digits.isdecimal():  # exactly what int() takes, and Java's Character.digit
        raise ValueError(value)
    number = int(value)
    if not _LONG_MIN <= number <= _LONG_MAX:
        raise ValueError(value)
    return number


def _parse_bool(value: str) -> bool:
    return value.lower() == "true"
