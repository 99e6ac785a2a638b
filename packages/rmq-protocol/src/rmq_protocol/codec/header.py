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

For speed the decoder and encoder of each class are generated once, when the
class is declared (as :mod:`dataclasses` generates ``__init__``): a SEND_MESSAGE_V2
header decodes without a per-field loop over metadata.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Final, Self, TypeVar, cast, dataclass_transform

from rmq_protocol.errors import InvalidHeaderError

__all__ = ["CommandHeader", "HeaderField", "command_header", "wire"]

_KEY: Final = "rmq_wire_key"
_CAMEL: Final = re.compile(r"_([a-z0-9])")


def wire(key: str, *, default: Any = dataclasses.MISSING) -> Any:
    """Field with an explicit extFields key (``producer_group: str = wire("a")``)."""
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata={_KEY: key})
    return dataclasses.field(default=default, metadata={_KEY: key})


@dataclasses.dataclass(frozen=True, slots=True)
class HeaderField:
    """How one attribute of a header appears in extFields."""

    name: str
    key: str
    kind: type  # str, int, bool, float or a StrEnum subclass
    required: bool  # no default: must be present (Java "not null")
    optional: bool  # annotated ``X | None``: omitted when None


class CommandHeader:
    """Base of every typed custom header. Use :func:`command_header` to declare one."""

    __slots__ = ()
    wire_fields: ClassVar[tuple[HeaderField, ...]] = ()

    @classmethod
    def from_ext_fields(cls, ext_fields: Mapping[str, str] | None) -> Self:
        """Decode from a command's extFields (``None`` = no extFields).

        Raises:
            InvalidHeaderError: a required field is missing or a value does not parse.
        """
        raise NotImplementedError  # replaced per class by command_header()

    def to_ext_fields(self) -> dict[str, str]:
        """Encode as extFields: every value a string; ``None`` optionals omitted."""
        raise NotImplementedError  # replaced per class by command_header()


_H = TypeVar("_H", bound=type[CommandHeader])


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(wire,))
def command_header(cls: _H) -> _H:
    """Make ``cls`` a frozen, slotted, keyword-only dataclass with generated codecs."""
    dc = cast(_H, dataclasses.dataclass(frozen=True, slots=True, kw_only=True)(cls))
    fields = tuple(_describe(dc))
    dc.wire_fields = fields
    namespace: dict[str, Any] = {
        "_missing": _missing,
        "_bad": _bad,
        "_parse_bool": _parse_bool,
        "_enc_bool": _enc_bool,
        "_str": str,
        "_int": int,
        "_float": float,
    }
    namespace["_new"] = object.__new__
    namespace["_cls"] = dc
    for f, spec in zip(fields, dataclasses.fields(cast(Any, dc)), strict=True):
        namespace[f"_set_{f.name}"] = _slot_setter(dc, f.name)
        if issubclass(f.kind, enum.Enum):
            namespace[f"_enum_{f.name}"] = f.kind
        if not f.required:
            namespace[f"_default_{f.name}"] = spec.default
    exec(_decoder_source(dc.__name__, fields), namespace)  # noqa: S102 - generated from field specs
    exec(_encoder_source(fields), namespace)  # noqa: S102 - generated from field specs
    dc.from_ext_fields = classmethod(namespace["from_ext_fields"])  # type: ignore[assignment]
    dc.to_ext_fields = namespace["to_ext_fields"]  # type: ignore[method-assign]
    return dc


def _describe(cls: type) -> list[HeaderField]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cast(Any, cls)):
        kind, optional = _unwrap(hints[f.name], cls.__name__, f.name)
        key = f.metadata.get(_KEY) or _CAMEL.sub(lambda m: m.group(1).upper(), f.name)
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        out.append(HeaderField(f.name, key, kind, required, optional))
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


def _parse_expr(f: HeaderField) -> tuple[str, str | None]:
    """Expression turning string ``v`` into the field value, and its failure reason."""
    if f.kind is str:
        return "v", None
    if f.kind is bool:
        return "_parse_bool(v)", None
    if f.kind is int:
        return "_int(v)", "not an integer"
    if f.kind is float:
        return "_float(v)", "not a number"
    return f"_enum_{f.name}(v)", f"not one of {', '.join(str(m.value) for m in f.kind)}"  # type: ignore[attr-defined]


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
        if reason is None:
            lines.append(f"{target}{f.name} = {expr}")
        else:
            lines += [
                f"{target}try: {f.name} = {expr}",
                f"{target}except (ValueError, TypeError):",
                f"{target}    raise _bad({cls_name!r}, {f.key!r}, v, {reason!r}) from None",
            ]
    # Bypass the frozen __init__ (half the decode time): set the slots directly.
    lines.append("    o = _new(_cls)")
    lines += [f"    _set_{f.name}(o, {f.name})" for f in fields]
    lines.append("    return o")
    return "\n".join(lines)


def _encode_expr(f: HeaderField, ref: str) -> str:
    if f.kind is str:
        return ref
    if f.kind is bool:
        return f"_enc_bool({ref})"
    if issubclass(f.kind, enum.Enum):
        return f"_str({ref}.value)"
    return f"_str({ref})"


def _encoder_source(fields: tuple[HeaderField, ...]) -> str:
    always = [f for f in fields if not f.optional]
    maybe = [f for f in fields if f.optional]
    items = ", ".join(f"{f.key!r}: {_encode_expr(f, 'self.' + f.name)}" for f in always)
    lines = ["def to_ext_fields(self):", f"    d = {{{items}}}"]
    for f in maybe:
        lines.append(f"    v = self.{f.name}")
        lines.append(f"    if v is not None: d[{f.key!r}] = {_encode_expr(f, 'v')}")
    lines.append("    return d")
    return "\n".join(lines)


def _slot_setter(cls: type, name: str) -> Any:
    for klass in cls.__mro__:
        descriptor = klass.__dict__.get(name)
        if descriptor is not None and hasattr(descriptor, "__set__"):
            return descriptor.__set__
    raise TypeError(f"{cls.__name__}.{name} is not a slot")


def _missing(header: str, key: str) -> InvalidHeaderError:
    return InvalidHeaderError(header, key, None, "required (Java marks it not-null)")


def _bad(header: str, key: str, value: str, reason: str) -> InvalidHeaderError:
    return InvalidHeaderError(header, key, value, reason)


def _parse_bool(value: str) -> bool:
    return value.lower() == "true"


def _enc_bool(value: bool) -> str:
    return "true" if value else "false"
