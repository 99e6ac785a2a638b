"""SQL92 message selectors, with the semantics of RocketMQ's filter module.

Mirrors ``org.apache.rocketmq.filter.parser.SelectorParser`` (grammar) and the
``expression`` package (``ComparisonExpression``, ``LogicExpression``,
``UnaryExpression``, ``ConstantExpression``): the same operators, precedence, typing
rules, parse-time checks and three-valued logic. ``grammar.lark`` is parsed with Lark's
LALR parser; the tree is checked, typed and turned into the source of one Python
function that is compiled with ``compile``/``exec`` (no interpretation per message).

Values. A property is a string or missing (``None``, SQL's NULL). Literals are Java
``Integer`` (decimal that fits 32 bits), ``Long`` (other decimals, ``L`` suffix),
``Double`` (floating literals), ``String`` (single quotes) and ``TRUE``/``FALSE``/``NULL``.
Since properties are always strings, the type of every sub-expression is known when the
expression is compiled, and each comparison is specialised for its operand types.

Comparison of two values of different types follows ``ComparisonExpression.__compare``
with string conversion on (as the broker builds filters): a string compared with an
Integer/Long/Double is parsed as that type (``Integer.valueOf`` etc.; a string that does
not parse makes the evaluation fail, so the message does not match even under ``OR``);
numbers widen (int → long → double); a string compared with a boolean is read with
``Boolean.valueOf``; a boolean compared with a string fails; other mixes compare as
"less than". ``< <= > >=`` between two strings parse both as doubles. Doubles compare
like ``Double.compareTo`` (NaN is the greatest, ``-0.0 < 0.0``).
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Final, Literal, TypeAlias, final

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from rmq_filter.errors import FilterEvaluationError, FilterSyntaxError, FilterTypeError

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "CacheInfo",
    "SqlFilter",
    "cache_info",
    "clear_cache",
    "compile_sql",
]

DEFAULT_CACHE_SIZE: Final = 1024  # distinct expressions kept compiled (Java keeps 100)
_INT_MIN: Final = -(2**31)
_INT_MAX: Final = 2**31 - 1
_LONG_MIN: Final = -(2**63)
_LONG_MAX: Final = 2**63 - 1
_DOUBLE_MIN_VALUE: Final = 5e-324  # Java's Double.MIN_VALUE: smallest positive double

Kind: TypeAlias = Literal["S", "I", "L", "D", "B", "X"]  # X: always NULL
Value: TypeAlias = str | int | float | bool | None

# --------------------------------------------------------------------------- parsing

_PARSER: Lark | None = None
_PARSER_LOCK: Final = threading.Lock()


def _parser() -> Lark:
    global _PARSER  # built once, on first use
    with _PARSER_LOCK:
        if _PARSER is None:
            grammar = files("rmq_filter").joinpath("grammar.lark").read_text(encoding="utf-8")
            _PARSER = Lark(
                grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False
            )
        return _PARSER


_REGEX_NAMES: Final = {
    "ID": "identifier",
    "STRING": "string literal",
    "DECIMAL": "integer literal",
    "FLOAT": "floating-point literal",
    "$END": "end of input",
}


def _display(parser: Lark, names: set[str] | frozenset[str] | None) -> tuple[str, ...]:
    if not names:
        return ()
    by_name = {t.name: t for t in parser.terminals}
    shown: set[str] = set()
    for name in names:
        if name in _REGEX_NAMES:
            shown.add(_REGEX_NAMES[name])
            continue
        term = by_name.get(name)
        if term is None:
            continue
        if term.pattern.type == "str":
            value = term.pattern.value
            shown.add(value.upper() if value.isalpha() else f"'{value}'")
        else:
            shown.add(name)
    return tuple(sorted(shown))


def _syntax_error(expression: str, exc: UnexpectedInput) -> FilterSyntaxError:
    parser = _parser()
    raw: int | None = getattr(exc, "pos_in_stream", None)
    pos = len(expression) if raw is None else raw
    line = getattr(exc, "line", 1) or 1
    column = getattr(exc, "column", pos + 1) or pos + 1
    if isinstance(exc, UnexpectedCharacters):
        found = expression[pos : pos + 1]
        return FilterSyntaxError(
            f"unexpected character {found!r}",
            expression=expression,
            position=pos,
            line=line,
            column=column,
            found=found,
            expected=_display(parser, exc.allowed),
        )
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            pos, found, reason = len(expression), "", "unexpected end of input"
            line = expression.count("\n") + 1
            column = len(expression) - (expression.rfind("\n") + 1) + 1
        else:
            found, reason = str(token), f"unexpected {str(token)!r}"
        return FilterSyntaxError(
            reason,
            expression=expression,
            position=pos,
            line=line,
            column=column,
            found=found,
            expected=_display(parser, exc.expected),
        )
    assert isinstance(exc, UnexpectedEOF)  # noqa: S101 - the three UnexpectedInput kinds
    return FilterSyntaxError(
        "unexpected end of input",
        expression=expression,
        position=len(expression),
        line=expression.count("\n") + 1,
        column=len(expression) - (expression.rfind("\n") + 1) + 1,
        found="",
        expected=_display(parser, set(exc.expected)),
    )


# --------------------------------------------------------------------------- typed tree


@dataclass(frozen=True, slots=True)
class _Const:
    value: Value
    kind: Kind  # "X" for the NULL literal


@dataclass(frozen=True, slots=True)
class _Prop:
    name: str


@dataclass(frozen=True, slots=True)
class _Neg:  # negation of something that is not a number constant: always NULL
    operand: _Node


@dataclass(frozen=True, slots=True)
class _Logic:
    op: Literal["and", "or"]
    operands: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Not:
    operand: _Node


@dataclass(frozen=True, slots=True)
class _Cast:  # a property used as a condition: NULL if missing, else FALSE
    prop: _Prop


@dataclass(frozen=True, slots=True)
class _Cmp:  # "==" is RocketMQ's equality (NULL = NULL is TRUE), the others ordering
    op: Literal["==", "<", "<=", ">", ">="]
    left: _Node
    right: _Node


@dataclass(frozen=True, slots=True)
class _IsNull:
    operand: _Node


@dataclass(frozen=True, slots=True)
class _In:
    prop: _Prop
    values: frozenset[str]
    negated: bool


@dataclass(frozen=True, slots=True)
class _StrOp:
    op: Literal["contains", "startswith", "endswith"]
    operand: _Node
    search: str
    negated: bool


_Node: TypeAlias = _Const | _Prop | _Neg | _Logic | _Not | _Cast | _Cmp | _IsNull | _In | _StrOp
_BOOL_NODES: Final = (_Logic, _Not, _Cast, _Cmp, _IsNull, _In, _StrOp)


def _is_boolean(node: _Node) -> bool:
    """Java's ``instanceof BooleanExpression`` (TRUE/FALSE/NULL literals included)."""
    return isinstance(node, _BOOL_NODES) or (isinstance(node, _Const) and node.kind in ("B", "X"))


def _kind(node: _Node) -> Kind:
    if isinstance(node, _Const):
        return node.kind
    if isinstance(node, _Prop):
        return "S"
    if isinstance(node, _Neg):
        return "X"
    return "B"


def _java_text(node: _Node) -> str:
    """How RocketMQ prints an operand in its error messages (close enough)."""
    if isinstance(node, _Const):
        if node.kind == "X":
            return "NULL"
        if node.kind == "B":
            return "TRUE" if node.value else "FALSE"
        if node.kind == "S":
            return "'" + str(node.value).replace("'", "''") + "'"
        return repr(node.value) if node.kind == "D" else str(node.value)
    if isinstance(node, _Prop):
        return node.name
    return "(expression)"


def _java_compare(lv: Value, lk: Kind, rv: Value, rk: Kind) -> int:
    """``ComparisonExpression.__compare(lv, rv, true)`` on two non-null values.

    Raises:
        FilterEvaluationError: a string that does not parse as the other side's type,
            or a boolean compared with a string.
    """
    if lk != rk:
        if lk == "B":
            if rk == "S":
                raise FilterEvaluationError(f"cannot compare boolean {lv} with string {rv!r}")
            return -1
        if rk == "B" and lk != "S":
            return -1
        if lk == "S":
            lv = _jbool(lv) if rk == "B" else _PARSERS[rk](lv)  # type: ignore[arg-type]
        elif rk == "S":
            rv = _PARSERS[lk](rv)  # type: ignore[arg-type]
        elif lk == "D" or rk == "D":
            lv, rv = float(lv), float(rv)  # type: ignore[arg-type]
    if isinstance(lv, float) and isinstance(rv, float):
        return _dcmp(lv, rv)
    return -1 if lv < rv else (1 if lv > rv else 0)  # type: ignore[operator]


# --------------------------------------------------------------------------- runtime helpers
# Java's Integer.valueOf/Long.valueOf/Double.valueOf/Boolean.valueOf on property strings.

_INT_RE: Final = re.compile(r"[+-]?\d+")  # \d: Unicode digits, as Character.digit
_DOUBLE_RE: Final = re.compile(
    r"[+-]?(?:NaN|Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fFdD]?)"
)
_HEX_DOUBLE_RE: Final = re.compile(
    r"([+-]?0[xX](?:[0-9a-fA-F]+\.?|[0-9a-fA-F]*\.[0-9a-fA-F]+)[pP][+-]?[0-9]+)[fFdD]?"
)


def _integral(text: str, low: int, high: int, java_type: str) -> int:
    if text.isascii() and text.isdigit() and len(text) < 10:
        return int(text)
    if _INT_RE.fullmatch(text) is not None:
        value = int(text)
        if low <= value <= high:
            return value
    raise FilterEvaluationError(f"{java_type}.valueOf({text!r}): not a {java_type}")


def _jint(text: str) -> int:
    if text.isdigit() and len(text) < 10 and text.isascii():
        return int(text)
    return _integral(text, _INT_MIN, _INT_MAX, "Integer")


def _jlong(text: str) -> int:
    if text.isdigit() and len(text) < 19 and text.isascii():
        return int(text)
    return _integral(text, _LONG_MIN, _LONG_MAX, "Long")


def _jdouble(text: str) -> float:
    stripped = _java_strip(text)
    if _DOUBLE_RE.fullmatch(stripped) is not None:
        if stripped[-1] in "fFdD" and not stripped.endswith("Infinity"):
            stripped = stripped[:-1]
        return float(stripped.replace("Infinity", "inf").replace("NaN", "nan"))
    match = _HEX_DOUBLE_RE.fullmatch(stripped)
    if match is not None:
        return float.fromhex(match.group(1))
    raise FilterEvaluationError(f"Double.valueOf({text!r}): not a double")


def _java_strip(text: str) -> str:
    start, end = 0, len(text)
    while start < end and text[start] <= " ":
        start += 1
    while end > start and text[end - 1] <= " ":
        end -= 1
    return text[start:end]


def _jbool(text: str) -> bool:
    return text.lower() == "true"


def _dcmp(a: float, b: float) -> int:
    """``Double.compare``: NaN above everything (and equal to itself), -0.0 < 0.0."""
    if a < b:
        return -1
    if a > b:
        return 1
    if a == b:
        if a != 0.0:
            return 0
        sa, sb = math.copysign(1.0, a), math.copysign(1.0, b)
        return 0 if sa == sb else (-1 if sa < sb else 1)
    a_nan, b_nan = math.isnan(a), math.isnan(b)
    return 0 if a_nan and b_nan else (1 if a_nan else -1)


def _fail(reason: str) -> bool:
    raise FilterEvaluationError(reason)


_PARSERS: Final[dict[str, Callable[[str], Value]]] = {"I": _jint, "L": _jlong, "D": _jdouble}
_PARSER_NAMES: Final = {"I": "_jint", "L": "_jlong", "D": "_jdouble"}

# --------------------------------------------------------------------------- tree → typed nodes


class _Builder:
    def __init__(self, expression: str) -> None:
        self.expression = expression

    def error(self, reason: str, tree: Tree[Token] | Token) -> FilterTypeError:
        if isinstance(tree, Token):
            pos = tree.start_pos or 0
        else:
            pos = getattr(tree.meta, "start_pos", 0) if not tree.meta.empty else 0
        return FilterTypeError(reason, expression=self.expression, position=pos)

    def boolean(self, node: _Node, tree: Tree[Token] | Token) -> _Node:
        """``SelectorParser.asBooleanExpression``."""
        if _is_boolean(node):
            return node
        if isinstance(node, _Prop):
            return _Cast(node)
        raise self.error(f"expression will not result in a boolean value: {_java_text(node)}", tree)

    def ordered(self, node: _Node, tree: Tree[Token] | Token) -> _Node:
        """``ComparisonExpression.checkLessThanOperand``."""
        if isinstance(node, _Const) and node.kind in ("I", "L", "D"):
            return node
        if isinstance(node, _Const) or _is_boolean(node):
            raise self.error(f"value {_java_text(node)} cannot be compared with <, <=, >, >=", tree)
        return node

    def equal(self, left: _Node, right: _Node, tree: Tree[Token]) -> _Cmp:
        """``ComparisonExpression.createEqual`` and its checks."""
        for side in (left, right):
            if isinstance(side, _Const) and side.kind == "X":
                raise self.error("NULL cannot be compared with =; use IS [NOT] NULL", tree)
        if (
            isinstance(left, _Const)
            and isinstance(right, _Const)
            and _is_boolean(left)
            and not _is_boolean(right)
        ):
            raise self.error(
                f"{_java_text(left)} cannot be compared with {_java_text(right)}", tree
            )
        return _Cmp("==", left, right)

    def build(self, tree: Tree[Token] | Token) -> _Node:
        if isinstance(tree, Token):  # a bare rule result never reaches here
            raise self.error(f"unexpected token {tree!s}", tree)
        rule = str(tree.data)
        kids = [k for k in tree.children if not (isinstance(k, Token) and k.type != "ID")]
        if rule == "prop":
            return _Prop(str(tree.children[0]))
        if rule == "string":
            return _Const(_unquote(str(tree.children[0])), "S")
        if rule == "decimal":
            return self.decimal(str(tree.children[0]), tree)
        if rule == "float_":
            return self.float_(str(tree.children[0]), tree)
        if rule in ("true", "false"):
            return _Const(rule == "true", "B")
        if rule == "null":
            return _Const(None, "X")
        if rule in ("or_", "and_"):
            op: Literal["and", "or"] = "or" if rule == "or_" else "and"
            left, right = (self.boolean(self.build(k), k) for k in kids)
            parts: list[_Node] = []
            for part in (left, right):
                if isinstance(part, _Logic) and part.op == op:
                    parts.extend(part.operands)
                else:
                    parts.append(part)
            return _Logic(op, tuple(parts))
        if rule == "not_":
            return _Not(self.boolean(self.build(kids[0]), kids[0]))
        if rule == "pos":
            return self.build(kids[0])
        if rule == "neg":
            return _negate(self.build(kids[0]))
        if rule in ("eq", "ne"):
            cmp = self.equal(self.build(kids[0]), self.build(kids[1]), tree)
            return cmp if rule == "eq" else _Not(cmp)
        if rule in ("is_null", "is_not_null"):
            test = _IsNull(self.build(kids[0]))
            return test if rule == "is_null" else _Not(test)
        if rule in ("gt", "ge", "lt", "le"):
            sym = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}[rule]
            left = self.ordered(self.build(kids[0]), kids[0])
            right = self.ordered(self.build(kids[1]), kids[1])
            return _Cmp(sym, left, right)  # type: ignore[arg-type]
        if rule in ("between", "not_between"):
            value, low, high = (self.build(k) for k in kids)
            if rule == "between":
                self.check_between(low, high, tree)
                ops: tuple[Literal[">="], Literal["<="]] | tuple[Literal["<"], Literal[">"]]
                ops, logic = (">=", "<="), "and"
            else:
                ops, logic = ("<", ">"), "or"
            for node, k in ((value, kids[0]), (low, kids[1]), (high, kids[2])):
                self.ordered(node, k)
            return _Logic(logic, (_Cmp(ops[0], value, low), _Cmp(ops[1], value, high)))  # type: ignore[arg-type]
        if rule in ("in_", "not_in"):
            left = self.build(kids[0])
            if not isinstance(left, _Prop):
                raise self.error(
                    f"IN needs a property on its left, got {_java_text(left)}", kids[0]
                )
            values = frozenset(str(self.build(k).value) for k in kids[1].children)  # type: ignore[union-attr]
            return _In(left, values, rule == "not_in")
        if rule.removeprefix("not_") in ("contains", "startswith", "endswith"):
            search = self.build(kids[1])
            assert isinstance(search, _Const)  # noqa: S101 - the grammar allows strings only
            return _StrOp(
                rule.removeprefix("not_"),  # type: ignore[arg-type]
                self.build(kids[0]),
                str(search.value),
                rule.startswith("not_"),
            )
        raise self.error(f"unsupported construct {rule}", tree)  # pragma: no cover

    def decimal(self, text: str, tree: Tree[Token]) -> _Const:
        digits = text[:-1] if text[-1] in "lL" else text
        value = int(digits)
        if value > _LONG_MAX:
            raise self.error(f"integer literal {text} is out of range for a long", tree)
        return _Const(value, "I" if value <= _INT_MAX else "L")

    def float_(self, text: str, tree: Tree[Token]) -> _Const:
        value = float(text)
        if math.isinf(value):
            raise self.error(f"{text} is greater than Double.MAX_VALUE", tree)
        if value < _DOUBLE_MIN_VALUE:
            raise self.error(f"{text} is less than Double.MIN_VALUE (4.9E-324)", tree)
        return _Const(value, "D")

    def check_between(self, low: _Node, high: _Node, tree: Tree[Token]) -> None:
        """``createBetween``'s checks on two constant bounds."""
        if not (isinstance(low, _Const) and isinstance(high, _Const)):
            return
        if low.kind == "X" or high.kind == "X":
            raise self.error("BETWEEN bounds cannot be NULL", tree)
        try:
            order = _java_compare(high.value, high.kind, low.value, low.kind)
        except FilterEvaluationError as exc:
            raise self.error(f"BETWEEN bounds are not comparable: {exc.reason}", tree) from None
        if order < 0:
            raise self.error(
                f"BETWEEN lower bound {_java_text(low)} must be less than or equal to "
                f"the upper bound {_java_text(high)}",
                tree,
            )


def _unquote(image: str) -> str:
    return image[1:-1].replace("''", "'")


def _negate(node: _Node) -> _Node:
    """``UnaryExpression.createNegate``: numbers flip; anything else evaluates to NULL."""
    if isinstance(node, _Const) and node.kind in ("I", "L", "D"):
        return _Const(-node.value, node.kind)  # type: ignore[operator]
    return _Neg(node)


# --------------------------------------------------------------------------- code generation


class _CodeGen:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.indent = 1
        self.consts: dict[str, object] = {}
        self.props: dict[str, str] = {}
        self.counter = 0

    def temp(self) -> str:
        self.counter += 1
        return f"t{self.counter}"

    def const(self, value: object) -> str:
        name = f"c{len(self.consts)}"
        self.consts[name] = value
        return name

    def line(self, text: str) -> None:
        self.lines.append("    " * self.indent + text)

    def prop(self, name: str) -> str:
        var = self.props.get(name)
        if var is None:
            var = self.props[name] = f"p{len(self.props)}"
        return var

    def value(self, node: _Node) -> str:
        """Emit code computing ``node``; return a variable or literal holding it."""
        if isinstance(node, _Const):
            return repr(node.value)
        if isinstance(node, _Prop):
            return self.prop(node.name)
        if isinstance(node, _Neg):
            self.value(node.operand)  # evaluated (it may fail), result NULL
            return "None"
        return self.boolean(node)

    @staticmethod
    def is_none(var: str, node: _Node) -> str:
        """``var is None`` — folded when the node's nullness is known (no ``5 is None``)."""
        if isinstance(node, _Const):
            return "True" if node.kind == "X" else "False"
        if isinstance(node, _Neg):
            return "True"
        return f"{var} is None"

    def block(self, emit: Callable[[], None]) -> None:
        self.indent += 1
        emit()
        self.indent -= 1

    def boolean(self, node: _Node) -> str:
        out = self.temp()
        if isinstance(node, _Logic):
            stop, other = ("False", "True") if node.op == "and" else ("True", "False")
            self.line(f"{out} = {other}")
            for i, operand in enumerate(node.operands):
                if i:
                    self.line(f"if {out} is not {stop}:")
                    self.indent += 1
                v = self.value(operand)
                self.line(f"if {v} is {stop}: {out} = {stop}")
                self.line(f"elif {v} is None: {out} = None")
                if i:
                    self.indent -= 1
        elif isinstance(node, _Not):
            v = self.value(node.operand)
            self.line(f"{out} = None if {self.is_none(v, node.operand)} else not {v}")
        elif isinstance(node, _Cast):
            v = self.value(node.prop)
            self.line(f"{out} = None if {v} is None else False")
        elif isinstance(node, _IsNull):
            v = self.value(node.operand)
            self.line(f"{out} = {self.is_none(v, node.operand)}")
        elif isinstance(node, _In):
            v = self.value(node.prop)
            test = "not in" if node.negated else "in"
            self.line(f"{out} = None if {v} is None else {v} {test} {self.const(node.values)}")
        elif isinstance(node, _StrOp):
            self.string_op(node, out)
        elif isinstance(node, _Cmp):
            self.compare(node, out)
        else:  # a TRUE/FALSE/NULL constant
            assert isinstance(node, _Const)  # noqa: S101
            self.line(f"{out} = {node.value!r}")
        return out

    def string_op(self, node: _StrOp, out: str) -> None:
        if not node.search:
            self.line(f"{out} = False")  # RocketMQ does not even evaluate the operand
            return
        v = self.value(node.operand)
        if _kind(node.operand) != "S":
            self.line(f"{out} = False")
            return
        search = repr(node.search)
        test = {
            "contains": f"{search} in {v}",
            "startswith": f"{v}.startswith({search})",
            "endswith": f"{v}.endswith({search})",
        }[node.op]
        if node.negated:
            test = f"not ({test})"
        self.line(f"{out} = False if {self.is_none(v, node.operand)} else {test}")

    def compare(self, node: _Cmp, out: str) -> None:
        lk, rk = _kind(node.left), _kind(node.right)
        if node.op == "==":
            lv, rv = self.value(node.left), self.value(node.right)  # Java evaluates both
            ln, rn = self.is_none(lv, node.left), self.is_none(rv, node.right)
            self.line(f"if {ln}: {out} = True if {rn} else None")
            self.line(f"elif {rn}: {out} = False")
            self.line("else:")
            self.block(lambda: self.line(f"{out} = {self.test('==', lv, lk, rv, rk)}"))
            return
        lv = self.value(node.left)
        self.line(f"if {self.is_none(lv, node.left)}: {out} = None")
        self.line("else:")

        def right() -> None:
            rv = self.value(node.right)
            self.line(f"if {self.is_none(rv, node.right)}: {out} = None")
            self.line(f"else: {out} = {self.test(node.op, lv, lk, rv, rk)}")

        self.block(right)

    def test(self, op: str, lv: str, lk: Kind, rv: str, rk: Kind) -> str:
        """A Python expression comparing two non-null values as RocketMQ does."""
        if "X" in (lk, rk):
            return "None"  # unreachable at run time: that side is always NULL
        if op != "==" and lk == rk == "S":
            return f"_dcmp(_jdouble({lv}), _jdouble({rv})) {op} 0"
        if lk == rk:
            return f"_dcmp({lv}, {rv}) {op} 0" if lk == "D" else f"{lv} {op} {rv}"
        if lk == "B":
            if rk == "S":
                return f"_fail('cannot compare a boolean with the string ' + repr({rv}))"
            return repr(op in ("<", "<="))  # __compare's -1
        if rk == "B":
            if lk == "S":
                return f"_jbool({lv}) {op} {rv}"
            return repr(op in ("<", "<="))
        if lk == "S":
            lv, lk = f"{_PARSER_NAMES[rk]}({lv})", rk
        elif rk == "S":
            rv, rk = f"{_PARSER_NAMES[lk]}({rv})", lk
        if lk == "D" or rk == "D":
            left = lv if lk == "D" else f"float({lv})"
            right = rv if rk == "D" else f"float({rv})"
            return f"_dcmp({left}, {right}) {op} 0"
        return f"{lv} {op} {rv}"

    def truth(self, node: _Node) -> str:
        """A Python condition that holds iff ``node`` evaluates to TRUE (for ``matches``:
        NULL and FALSE are the same there, which allows shorter code)."""
        if isinstance(node, _Cmp) and isinstance(node.left, _Prop):
            right = node.right
            if isinstance(right, _Const) and right.kind != "X":
                lv = self.prop(node.left.name)
                test = self.test(node.op, lv, "S", repr(right.value), right.kind)
                if node.op == "==" and right.kind == "S":
                    return test  # None == 'x' is False already
                return f"({lv} is not None and {test})"
        if isinstance(node, _In) and not node.negated:
            return f"{self.prop(node.prop.name)} in {self.const(node.values)}"
        if isinstance(node, _Const):
            return repr(node.value is True)
        return f"{self.value(node)} is True"

    def matches_body(self, root: _Node) -> None:
        if isinstance(root, _Logic):
            for operand in root.operands:
                cond = self.truth(operand)
                if root.op == "and":
                    self.line(f"if not ({cond}): return False")
                else:
                    self.line(f"if {cond}: return True")
            self.line(f"return {root.op == 'and'}")
        else:
            self.line(f"return {self.truth(root)}")

    def source(self, root: _Node) -> tuple[str, dict[str, object]]:
        result = self.value(root)
        evaluate_body = self.lines
        self.lines, self.indent = [], 2
        self.matches_body(root)
        matches_body = self.lines
        fetch = [f"{var} = g({name!r})" for name, var in self.props.items()]
        src = "\n".join(
            [
                "def evaluate(props):",
                "    g = props.get",
                *("    " + text for text in fetch),
                *evaluate_body,
                f"    return {result}",
                "def matches(props):",
                "    g = props.get",
                "    try:",
                *("        " + text for text in fetch),
                *matches_body,
                "    except _Error:",
                "        return False",
            ]
        )
        return src, dict(self.consts)


_RUNTIME: Final[dict[str, object]] = {
    "_jint": _jint,
    "_jlong": _jlong,
    "_jdouble": _jdouble,
    "_jbool": _jbool,
    "_dcmp": _dcmp,
    "_fail": _fail,
    "_Error": FilterEvaluationError,
}


@final
class SqlFilter:
    """A compiled SQL92 selector. Safe for concurrent use (it keeps no state).

    ``matches(props)`` is what the broker asks: TRUE matches; FALSE, NULL (unknown) and
    evaluation errors do not. ``evaluate(props)`` gives the three-valued result and raises
    :class:`FilterEvaluationError` where RocketMQ's evaluator throws.
    """

    __slots__ = ("_evaluate", "expression", "matches", "properties", "source")

    def __init__(self, expression: str, root: _Node) -> None:
        gen = _CodeGen()
        code, consts = gen.source(root)
        namespace: dict[str, object] = {**_RUNTIME, **consts}
        try:
            exec(compile(code, f"<rmq-filter {expression[:40]!r}>", "exec"), namespace)  # noqa: S102
        except (SyntaxError, RecursionError, MemoryError) as exc:
            raise FilterTypeError(
                f"expression is nested too deeply to compile ({type(exc).__name__})",
                expression=expression,
                position=0,
            ) from exc
        self.expression: str = expression
        self.source: str = code
        self.properties: frozenset[str] = frozenset(gen.props)
        self.matches: Callable[[Mapping[str, str]], bool] = namespace["matches"]  # type: ignore[assignment]
        self._evaluate: Callable[[Mapping[str, str]], bool | None] = namespace["evaluate"]  # type: ignore[assignment]

    def evaluate(self, properties: Mapping[str, str]) -> bool | None:
        """The three-valued result: True, False or None (unknown).

        Raises:
            FilterEvaluationError: where RocketMQ's evaluator throws (the message then
                does not match).
        """
        try:
            return self._evaluate(properties)
        except FilterEvaluationError as exc:
            raise FilterEvaluationError(
                f"{exc.reason} (evaluating {self.expression!r})", expression=self.expression
            ) from None

    def __repr__(self) -> str:
        return f"SqlFilter({self.expression!r})"


def _compile_uncached(expression: str) -> SqlFilter:
    parser = _parser()
    try:
        tree = parser.parse(expression)
    except UnexpectedInput as exc:
        raise _syntax_error(expression, exc) from None
    builder = _Builder(expression)
    try:
        root = builder.boolean(builder.build(tree), tree)
    except RecursionError:
        raise FilterTypeError(
            "expression is nested too deeply", expression=expression, position=0
        ) from None
    return SqlFilter(expression, root)


@dataclass(frozen=True, slots=True)
class CacheInfo:
    hits: int
    misses: int
    size: int
    maxsize: int


@final
class _Cache:
    """Bounded LRU of compiled filters and of compile errors (as RocketMQ caches both)."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[str, SqlFilter | Exception] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, expression: str) -> SqlFilter:
        with self._lock:
            entry = self._entries.get(expression)
            if entry is not None:
                self._entries.move_to_end(expression)
                self.hits += 1
            else:
                self.misses += 1
        if entry is None:
            try:
                entry = _compile_uncached(expression)
            except (FilterSyntaxError, FilterTypeError) as exc:
                entry = exc
            with self._lock:
                self._entries[expression] = entry
                while len(self._entries) > self.maxsize:
                    self._entries.popitem(last=False)
        if isinstance(entry, Exception):
            raise entry.with_traceback(None)
        return entry

    def info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(self.hits, self.misses, len(self._entries), self.maxsize)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0


_CACHE: Final = _Cache(DEFAULT_CACHE_SIZE)


def compile_sql(expression: str) -> SqlFilter:
    """Compile a SQL92 selector, or take it from the cache of recent expressions.

    >>> compile_sql("a > 5 AND b = 'x'").matches({"a": "6", "b": "x"})
    True

    Raises:
        FilterSyntaxError: the text does not parse (with position and expected tokens).
        FilterTypeError: RocketMQ would refuse to build it (see the class).
    """
    return _CACHE.get(expression)


def cache_info() -> CacheInfo:
    """Hits, misses and size of the compiled-expression cache."""
    return _CACHE.info()


def clear_cache() -> None:
    """Forget every compiled expression (tests)."""
    _CACHE.clear()
