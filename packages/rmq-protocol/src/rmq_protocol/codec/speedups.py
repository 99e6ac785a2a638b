"""The optional C speedups of the codec (``rmq_protocol._speedups``), or None.

Every function there mirrors a pure-Python function of this package exactly, taking only
the common case and handing everything else to the Python function (decision D18). The
package builds them when a C compiler is present (``hatch_build.py``); without them the
pure-Python functions are used and every result is the same, only slower.

``RMQ_NO_EXTENSIONS`` (any non-empty value) in the environment at import makes the codec
use the pure-Python functions even when the module is built (as aiohttp's
``AIOHTTP_NO_EXTENSIONS`` does): the one setting read from the environment, because it
chooses an implementation, not a behaviour.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType
from typing import Final

__all__ = ["ABI", "speedups"]

ABI: Final = 1
"""The contract version this codec expects of the compiled module (``_speedups.ABI``)."""


def _load() -> ModuleType | None:
    if os.environ.get("RMQ_NO_EXTENSIONS"):
        return None
    try:
        from rmq_protocol import _speedups
    except ImportError:
        return None
    if getattr(_speedups, "ABI", None) != ABI:
        warnings.warn(
            f"rmq_protocol._speedups is a stale build (ABI {getattr(_speedups, 'ABI', None)}, "
            f"this codec needs {ABI}); using the pure-Python codec. Reinstall rmq-protocol.",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    return _speedups


speedups: Final = _load()
"""The compiled module, or None when the pure-Python codec is in use."""
