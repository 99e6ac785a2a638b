"""SQL92 selectors: RocketMQ's grammar, typing rules, three-valued logic and errors.

Expected values come from reading RocketMQ's filter module (SelectorParser.jj,
ComparisonExpression, LogicExpression, UnaryExpression, ConstantExpression)."""

from __future__ import annotations

import pytest

from rmq_filter import (
    FilterError,
    FilterEvaluationError,
    FilterSyntaxError,
    FilterTypeError,
    SqlFilter,
    cache_info,
    clear_cache,
    compile_sql,
)

ERR = "error"  # the evaluator throws: evaluate() raises, matches() is False
P = {"s": "abc", "n": "5", "neg": "-7", "big": "3000000000", "d": "2.5", "t": "TRUE", "q": "it's"}

CASES: list[tuple[str, dict[str, str], bool | str | None]] = [
    # equality on strings, missing properties (NULL)
    ("s = 'abc'", P, True),
    ("s = 'abd'", P, False),
    ("s <> 'abd'", P, True),
    ("x = 'abc'", P, None),
    ("x <> 'abc'", P, None),
    ("'abc' = x", P, False),  # only a NULL left side gives NULL
    ("x = y", P, True),  # NULL = NULL is TRUE in RocketMQ
    ("q = 'it''s'", P, True),
    # numbers: the property is parsed as the literal's type
    ("n = 5", P, True),
    ("n = 5.0", P, True),
    ("n > 4", P, True),
    ("n >= 5", P, True),
    ("n < 5", P, False),
    ("n <= 5L", P, True),
    ("neg < -6", P, True),
    ("neg = -7", P, True),
    ("5 < n", P, False),
    ("6 > n", P, True),
    ("big > 5", P, ERR),  # Integer.valueOf("3000000000") fails
    ("big > 5L", P, ERR),  # 5L still fits 32 bits: an Integer, as in Java
    ("big > 2147483648", P, True),  # a decimal past 32 bits is a Long
    ("d > 2", P, ERR),  # Integer.valueOf("2.5") fails
    ("d > 2.4", P, True),
    ("d = 2.5", P, True),
    ("s > 1", P, ERR),
    ("s = 1", P, ERR),
    ("s = 1 OR n = 5", P, ERR),  # the error ends the evaluation, even under OR
    ("n = 5 OR s = 1", P, True),  # ... but OR stops at the first TRUE
    ("n > d", P, True),  # two strings with < > are compared as doubles
    ("s > n", P, ERR),
    ("n = d", P, False),  # = on two strings compares strings
    ("n BETWEEN 1 AND 5", P, True),
    ("n BETWEEN 6 AND 9", P, False),
    ("n NOT BETWEEN 6 AND 9", P, True),
    ("x BETWEEN 1 AND 5", P, None),
    ("x NOT BETWEEN 1 AND 5", P, None),
    ("n BETWEEN -1.5 AND 5.5", P, True),
    # IN
    ("s IN ('abc', 'x')", P, True),
    ("s IN ('x')", P, False),
    ("s NOT IN ('x', 'y', 'z', 'w', 'v')", P, True),
    ("x IN ('abc')", P, None),
    ("x NOT IN ('abc')", P, None),
    # CONTAINS / STARTSWITH / ENDSWITH: missing is FALSE, never NULL
    ("s CONTAINS 'b'", P, True),
    ("s NOT CONTAINS 'b'", P, False),
    ("x CONTAINS 'b'", P, False),
    ("x NOT CONTAINS 'b'", P, False),
    ("s CONTAINS ''", P, False),
    ("s NOT CONTAINS ''", P, False),
    ("s STARTSWITH 'ab'", P, True),
    ("s NOT STARTSWITH 'ab'", P, False),
    ("s ENDSWITH 'bc'", P, True),
    ("s NOT ENDSWITH 'zz'", P, True),
    ("5 CONTAINS '5'", P, False),  # not a string
    # IS [NOT] NULL
    ("x IS NULL", P, True),
    ("s IS NULL", P, False),
    ("s IS NOT NULL", P, True),
    ("x is not null", P, False),
    ("(x = 'a') IS NULL", P, True),
    # three-valued AND / OR / NOT
    ("x = 'a' AND s = 'abc'", P, None),
    ("x = 'a' AND s = 'no'", P, False),
    ("s = 'no' AND x = 'a'", P, False),
    ("x = 'a' OR s = 'abc'", P, True),
    ("x = 'a' OR s = 'no'", P, None),
    ("s = 'no' OR s = 'nope'", P, False),
    ("NOT x = 'a'", P, None),  # (NOT x) = 'a': NOT binds tighter
    ("NOT (x = 'a')", P, None),
    ("NOT (s = 'a')", P, True),
    ("NOT s = 'abc'", P, ERR),  # (NOT s) = 'abc': a boolean left side cannot take a string
    ("t = TRUE", P, True),  # Boolean.valueOf("TRUE")
    ("TRUE = t", P, ERR),  # a boolean on the left cannot take a string
    ("TRUE", P, True),
    ("FALSE", P, False),
    ("NULL", P, None),
    ("s", P, False),  # a property as a condition: FALSE if present...
    ("x", P, None),  # ... NULL if missing
    ("s AND n = 5", P, False),
    ("TRUE = FALSE", P, False),
    ("1 = TRUE", P, False),  # a number and a boolean: "less than"
    ("(n > 1) = TRUE", P, True),
    ("-s IS NULL", P, True),  # negating a string gives NULL
    ("+n = 5", P, True),
    ("n = +5", P, True),
    ("n = --5", P, True),
    # keywords are case-insensitive; comments and whitespace
    ("s in ('abc') and N is null", P, True),
    ("s = 'abc' -- trailing comment\n", P, True),
    ("/* lead */ s /* mid */ = 'abc'", P, True),
    ("s\t=\r\n'abc'\f", P, True),
    ("$x_1 IS NULL AND _y IS NULL", P, True),
    # numeric literal forms
    ("d = 25E-1", P, True),
    ("d = .25e1", P, True),
    ("n = 5.", P, True),
    ("n = 5l", P, True),
]


@pytest.mark.parametrize(("expression", "props", "expected"), CASES)
def test_evaluation(expression: str, props: dict[str, str], expected: bool | str | None) -> None:
    selector = compile_sql(expression)
    if expected == ERR:
        with pytest.raises(FilterEvaluationError):
            selector.evaluate(props)
        assert selector.matches(props) is False
    else:
        assert selector.evaluate(props) is expected
        assert selector.matches(props) is (expected is True)


@pytest.mark.parametrize(
    ("value", "literal", "expected"),
    [
        ("+5", "5", True),
        (" 5", "5", ERR),  # Integer.valueOf does not trim
        ("5_0", "50", ERR),  # nor read underscores
        ("٥", "5", True),  # it reads any Unicode digit
        (" 5 ", "5.0", True),  # Double.valueOf trims
        ("5d", "5.0", True),
        ("5f", "5.0", True),
        ("0x1.4p2", "5.0", True),
        ("1_0", "10.0", ERR),
        ("inf", "1.0", ERR),
        ("Infinity", "1.0", False),  # Infinity > 1.0, so = is FALSE
        ("2147483647", "1", False),
        ("2147483648", "1", ERR),
        ("9223372036854775807", "2147483648", False),
        ("9223372036854775808", "2147483648", ERR),
    ],
)
def test_java_number_parsing(value: str, literal: str, expected: bool | str) -> None:
    selector = compile_sql(f"v = {literal}")
    if expected == ERR:
        with pytest.raises(FilterEvaluationError, match=r"valueOf"):
            selector.evaluate({"v": value})
    else:
        assert selector.evaluate({"v": value}) is expected


def test_double_comparison_follows_java() -> None:
    assert compile_sql("v > 1.0").evaluate({"v": "NaN"}) is True  # NaN is the greatest
    assert compile_sql("v = 1.0").evaluate({"v": "NaN"}) is False
    assert compile_sql("v < 1.0").evaluate({"v": "-0.0"}) is True
    assert compile_sql("v < w").evaluate({"v": "-0.0", "w": "0.0"}) is True
    assert compile_sql("v > w").evaluate({"v": "NaN", "w": "NaN"}) is False


@pytest.mark.parametrize(
    ("expression", "position", "expected_token"),
    [
        ("a = ", 4, "identifier"),
        ("a == 1", 3, "string literal"),
        ("a IN (1)", 6, "string literal"),
        ("a = 'x", 4, "string literal"),
        ("a ! b", 2, "'='"),
        ("a = 1 b", 6, "AND"),
        ("(a = 1", 6, "')'"),
        ("a NOT LIKE 'x'", 6, "BETWEEN"),
        ("a = 0L", 5, "OR"),  # "0" cannot take an L suffix
        ("a = 1 -- comment without newline", 6, "OR"),
        ("", 0, "identifier"),
        ("a IS 5", 5, "NULL"),
        ("a BETWEEN 1", 11, "AND"),
    ],
)
def test_syntax_errors_name_position_and_expected(
    expression: str, position: int, expected_token: str
) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        compile_sql(expression)
    err = info.value
    assert err.position == position, str(err)
    assert expected_token in err.expected, str(err)
    assert f"at position {position}" in str(err)
    assert err.expression == expression
    assert isinstance(err, FilterError)
    assert isinstance(err, ValueError)


def test_syntax_error_line_and_column() -> None:
    with pytest.raises(FilterSyntaxError) as info:
        compile_sql("a = 1\nAND b ==")
    assert (info.value.line, info.value.column, info.value.position) == (2, 8, 13)
    assert info.value.found == "="


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("a > 'x'", "cannot be compared"),
        ("'x' < a", "cannot be compared"),
        ("a > TRUE", "cannot be compared"),
        ("a > NULL", "cannot be compared"),
        ("(a = 1) > 1", "cannot be compared"),
        ("NOT a > 1", "cannot be compared"),
        ("a BETWEEN 'a' AND 'b'", "cannot be compared"),
        ("a = NULL", "NULL cannot be compared"),
        ("NULL <> a", "NULL cannot be compared"),
        ("TRUE = 1", "cannot be compared with 1"),
        ("FALSE = 'x'", "cannot be compared"),
        ("1", "will not result in a boolean"),
        ("'x' AND a", "will not result in a boolean"),
        ("-a OR b", "will not result in a boolean"),
        ("NOT 5", "will not result in a boolean"),
        ("'a' IN ('a')", "IN needs a property"),
        ("a BETWEEN 5 AND 1", "must be less than or equal"),
        ("a BETWEEN NULL AND 1", "cannot be NULL"),
        ("a > 0.0", "Double.MIN_VALUE"),
        ("a > 1e400", "Double.MAX_VALUE"),
        ("a = 9223372036854775808", "out of range"),
    ],
)
def test_parse_time_type_checks(expression: str, fragment: str) -> None:
    with pytest.raises(FilterTypeError, match=fragment):
        compile_sql(expression)


def test_largest_literals() -> None:
    assert compile_sql("v = 9223372036854775807").matches({"v": "9223372036854775807"})
    assert compile_sql("v = -2147483648").matches({"v": "-2147483648"})
    assert compile_sql("v > 4.9E-324").matches({"v": "1"})


def test_long_chains_compile() -> None:
    many = " OR ".join(f"k{i} = '{i}'" for i in range(300))
    assert compile_sql(many).matches({"k299": "299"})
    nested = "(" * 40 + "a = '1'" + ")" * 40
    assert compile_sql(nested).matches({"a": "1"})


def test_cache_reuses_filters_and_errors() -> None:
    clear_cache()
    first = compile_sql("cached = 'yes'")
    assert compile_sql("cached = 'yes'") is first
    with pytest.raises(FilterSyntaxError):
        compile_sql("cached ==")
    with pytest.raises(FilterSyntaxError):
        compile_sql("cached ==")
    info = cache_info()
    assert (info.hits, info.misses, info.size) == (2, 2, 2)


def test_cache_is_bounded() -> None:
    clear_cache()
    for i in range(cache_info().maxsize + 10):
        compile_sql(f"k = '{i}'")
    info = cache_info()
    assert info.size == info.maxsize
    compile_sql("k = '0'")  # evicted first: compiled again
    assert cache_info().misses == info.misses + 1


def test_filter_reports_properties_and_source() -> None:
    selector = compile_sql("a = 'x' AND (b > 1 OR a IS NULL)")
    assert isinstance(selector, SqlFilter)
    assert selector.properties == {"a", "b"}
    assert "def matches" in selector.source
    assert repr(selector) == "SqlFilter(\"a = 'x' AND (b > 1 OR a IS NULL)\")"


def test_evaluation_error_names_expression() -> None:
    with pytest.raises(FilterEvaluationError, match=r"Integer.valueOf\('abc'\).*'s > 1'"):
        compile_sql("s > 1").evaluate({"s": "abc"})
