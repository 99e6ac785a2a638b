"""rmq-filter: RocketMQ's message filters (tag expressions and SQL92 selectors)."""

from rmq_filter._version import __version__
from rmq_filter.errors import FilterError, FilterEvaluationError, FilterSyntaxError, FilterTypeError
from rmq_filter.sql import (
    DEFAULT_CACHE_SIZE,
    CacheInfo,
    SqlFilter,
    cache_info,
    clear_cache,
    compile_sql,
)
from rmq_filter.tags import SUB_ALL, TagFilter, java_string_hash, parse_tags

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "SUB_ALL",
    "CacheInfo",
    "FilterError",
    "FilterEvaluationError",
    "FilterSyntaxError",
    "FilterTypeError",
    "SqlFilter",
    "TagFilter",
    "__version__",
    "cache_info",
    "clear_cache",
    "compile_sql",
    "java_string_hash",
    "parse_tags",
]
