"""Evaluations per second of a compiled SQL92 filter against a message's properties.

    python packages/rmq-filter/benchmarks/bench_filter.py [--count N] [--min-rate R]

Measures CPU time of this process (``time.process_time``), so other work on a shared
machine does not count against it; prints one line per expression and exits 1 when the
3-clause expression is below ``--min-rate`` evaluations/s.
"""

from __future__ import annotations

import argparse
import sys
import time

from rmq_filter import compile_sql

PROPERTIES = {
    "a": "x",
    "b": "6",
    "c": "p",
    "TAGS": "TagA",
    "KEYS": "order-1",
    "UNIQ_KEY": "7F0000010A0B18B4AAC2C2B5C1D20000",
    "WAIT": "true",
}
THREE_CLAUSES = "a = 'x' AND b > 5 AND c IN ('p', 'q')"
OTHERS = (
    "TAGS = 'TagA' OR TAGS = 'TagB'",
    "b BETWEEN 1 AND 10 AND KEYS STARTSWITH 'order-'",
    "missing IS NULL AND (a <> 'y' OR b < 3.5)",
)


def rate(expression: str, count: int) -> float:
    matches = compile_sql(expression).matches
    props = PROPERTIES
    best = 0.0
    for _ in range(3):
        start = time.process_time()
        for _ in range(count):
            matches(props)
        best = max(best, count / max(time.process_time() - start, 1e-9))
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500_000)
    parser.add_argument("--min-rate", type=float, default=1_000_000.0)
    args = parser.parse_args(argv)
    three = rate(THREE_CLAUSES, args.count)
    print(f"{three:12,.0f} evaluations/s  {THREE_CLAUSES}")
    for expression in OTHERS:
        print(f"{rate(expression, args.count):12,.0f} evaluations/s  {expression}")
    if three < args.min_rate:
        print(f"below {args.min_rate:,.0f} evaluations/s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
