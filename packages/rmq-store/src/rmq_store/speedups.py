"""The store's optional C speedups (``rmq_store._speedups``), or None.

They mirror the store's per-message dispatch loops (decision D19), as
:mod:`rmq_protocol.codec.speedups` does for the codec, and follow the same switch:
``RMQ_NO_EXTENSIONS`` (non-empty) at import selects the pure-Python loops.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType
from typing import Final

__all__ = ["ABI", "speedups"]

ABI: Final = 3
"""The contract version this package expects of the compiled module."""


def _load() -> ModuleType | None:
    if os.environ.get("RMQ_NO_EXTENSIONS"):
        return None
    try:
        from rmq_store import _speedups
    except ImportError:
        return None
    if getattr(_speedups, "ABI", None) != ABI:
        warnings.warn(
            f"rmq_store._speedups is a stale build (ABI {getattr(_speedups, 'ABI', None)}, "
            f"this package needs {ABI}); using the pure-Python loops. Reinstall rmq-store.",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    # Its message fields are read from MessageExt's slots; the properties slot is the one
    # the codec's lazy-decoding descriptor sits in front of.
    from rmq_protocol.codec.message import _PROPERTIES_SLOT, MessageExt

    _speedups.init(MessageExt, _PROPERTIES_SLOT)
    return _speedups


speedups: Final = _load()
"""The compiled module, or None when the pure-Python loops are in use."""
