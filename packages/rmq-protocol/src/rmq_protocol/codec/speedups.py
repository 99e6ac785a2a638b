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

import importlib
import os
import warnings
import zlib
from collections.abc import Callable
from types import ModuleType
from typing import Final

__all__ = ["ABI", "crc32", "load", "speedups"]

ABI: Final = 2
"""The contract version this codec expects of the compiled module (``_speedups.ABI``)."""


def load(module: str, abi: int) -> ModuleType | None:
    """The compiled module named ``module`` (e.g. ``"rmq_protocol._speedups"``), or None.

    None when ``RMQ_NO_EXTENSIONS`` is set, when the module was not built, or when it is a
    stale build whose ``ABI`` constant is not ``abi`` (then with a RuntimeWarning saying to
    reinstall its package). Every package's optional C modules are loaded through here.
    """
    if os.environ.get("RMQ_NO_EXTENSIONS"):
        return None
    try:
        compiled = importlib.import_module(module)
    except ImportError:
        return None
    if getattr(compiled, "ABI", None) != abi:
        package = module.partition(".")[0].replace("_", "-")
        warnings.warn(
            f"{module} is a stale build (ABI {getattr(compiled, 'ABI', None)}, this code "
            f"needs {abi}); using the pure-Python implementation. Reinstall {package}.",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    return compiled


speedups: Final = load("rmq_protocol._speedups", ABI)
"""The compiled module, or None when the pure-Python codec is in use."""

crc32: Final[Callable[[bytes | bytearray | memoryview], int]] = (
    speedups.crc32 if speedups is not None else zlib.crc32
)
"""``zlib.crc32(data)``: the C module's (carry-less multiplication where the CPU has it,
about 15 times fewer instructions than zlib 1.2's loop), else zlib's. Every BODYCRC the
codec computes or checks goes through here."""
