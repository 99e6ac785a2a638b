"""The store's optional C speedups (``rmq_store._speedups``), or None.

They mirror the store's per-message dispatch loops (decision D19), as
:mod:`rmq_protocol.codec.speedups` does for the codec, and follow the same switch:
``RMQ_NO_EXTENSIONS`` (non-empty) at import selects the pure-Python loops.
"""

from __future__ import annotations

from types import ModuleType
from typing import Final

from rmq_protocol.codec.speedups import load

__all__ = ["ABI", "speedups"]

ABI: Final = 14
"""The contract version this package expects of the compiled module."""


def _load() -> ModuleType | None:
    compiled = load("rmq_store._speedups", ABI)
    if compiled is None:
        return None
    # Its message fields are read from MessageExt's slots; the properties slot is the one
    # the codec's lazy-decoding descriptor sits in front of.
    from rmq_protocol.codec.message import _PROPERTIES_SLOT, MessageExt

    compiled.init(MessageExt, _PROPERTIES_SLOT)
    return compiled


speedups: Final = _load()
"""The compiled module, or None when the pure-Python loops are in use."""
