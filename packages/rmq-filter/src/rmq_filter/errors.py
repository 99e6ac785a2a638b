"""rmq-filter's errors: one base, a syntax error with a position, a typing error, and the
evaluation error that makes a message not match (RocketMQ logs it and skips the message)."""

from __future__ import annotations

__all__ = ["FilterError", "FilterEvaluationError", "FilterSyntaxError", "FilterTypeError"]


class FilterError(ValueError):
    """Base of every rmq-filter error. ``expression`` is the text that was compiled."""

    def __init__(self, message: str, *, expression: str) -> None:
        self.expression = expression
        super().__init__(message)


class FilterSyntaxError(FilterError):
    """The expression does not parse (RocketMQ answers SUBSCRIPTION_PARSE_FAILED).

    ``position`` is the 0-based character offset of the offending text, ``line`` and
    ``column`` are 1-based, ``found`` is the text found there (empty at the end) and
    ``expected`` the tokens the grammar accepts at that point, sorted.
    """

    def __init__(
        self,
        reason: str,
        *,
        expression: str,
        position: int,
        line: int,
        column: int,
        found: str,
        expected: tuple[str, ...],
    ) -> None:
        self.reason, self.position, self.line, self.column = reason, position, line, column
        self.found, self.expected = found, expected
        want = f"; expected one of: {', '.join(expected)}" if expected else ""
        super().__init__(
            f"invalid SQL92 filter {expression!r}: {reason} at position {position} "
            f"(line {line}, column {column}){want}",
            expression=expression,
        )


class FilterTypeError(FilterError):
    """The expression parses but RocketMQ refuses it while building it: a non-number
    compared with ``<``, ``NULL`` in ``=``, ``IN`` on a non-property, a non-boolean
    where a condition is needed, a literal out of range, ``BETWEEN 5 AND 1``…"""

    def __init__(self, reason: str, *, expression: str, position: int) -> None:
        self.reason, self.position = reason, position
        super().__init__(
            f"invalid SQL92 filter {expression!r}: {reason} (at position {position})",
            expression=expression,
        )


class FilterEvaluationError(FilterError):
    """Raised by :meth:`SqlFilter.evaluate` when RocketMQ's evaluator would throw (a
    property that does not parse as the number it is compared with, …). ``matches``
    turns it into "no match", as the broker does."""

    def __init__(self, reason: str, *, expression: str = "") -> None:
        self.reason = reason
        super().__init__(reason, expression=expression)
