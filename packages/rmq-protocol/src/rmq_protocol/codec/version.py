"""The ``version`` field: the ordinal of ``org.apache.rocketmq.common.MQVersion.Version``.

Java sends ``MQVersion.CURRENT_VERSION`` (an enum ordinal) in every command, and
brokers and NameServers switch behaviour on it. From 3.1.0 on the table is
regular: each minor release has 20 entries (``_SNAPSHOT`` then release, for
patches 0..9), 3.3 to 3.9 skip patch 0; 3.0.x has alpha/beta entries and is
not modelled. Checked against the enum in Apache RocketMQ 5.3 and 4.9.8:
V3_1_8 = 63, V3_4_9 = 121, V4_9_4 = 401, V4_9_8 = 409, V5_0_0 = 413,
V5_3_3 = 479, HIGHER_VERSION = 612.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["CURRENT_VERSION", "HIGHER_VERSION", "mq_version", "version_name"]

HIGHER_VERSION: Final = 612
_NAME = re.compile(r"V(\d)_(\d)_(\d)(_SNAPSHOT)?")


def _minor_base(major: int, minor: int) -> int:
    """Ordinal of ``V<major>_<minor>_<first patch>_SNAPSHOT``."""
    if major == 3:
        if minor in (1, 2):
            return 46 + 20 * (minor - 1)
        return 86 + 18 * (minor - 3)
    return 212 + 20 * (10 * (major - 4) + minor)


def mq_version(major: int, minor: int, patch: int, *, snapshot: bool = False) -> int:
    """Ordinal of ``V<major>_<minor>_<patch>[_SNAPSHOT]`` for 3.1.0 .. 5.9.9.

    Raises:
        ValueError: the version is outside the regular part of the table.
    """
    first_patch = 1 if major == 3 and minor >= 3 else 0
    if not (3 <= major <= 5 and 0 <= minor <= 9 and first_patch <= patch <= 9) or (
        major == 3 and minor == 0
    ):
        raise ValueError(f"no MQVersion ordinal for {major}.{minor}.{patch}")
    return _minor_base(major, minor) + 2 * (patch - first_patch) + (0 if snapshot else 1)


def version_name(ordinal: int) -> str:
    """RocketMQ's name for a version ordinal (``409`` → ``"V4_9_8"``)."""
    if ordinal == HIGHER_VERSION:
        return "HIGHER_VERSION"
    for major, minor in ((m, n) for m in (5, 4, 3) for n in range(9, -1, -1)):
        if major == 3 and minor == 0:
            break
        base = _minor_base(major, minor)
        first_patch = 1 if major == 3 and minor >= 3 else 0
        if base <= ordinal < base + 2 * (10 - first_patch):
            patch, release = divmod(ordinal - base, 2)
            suffix = "" if release else "_SNAPSHOT"
            return f"V{major}_{minor}_{patch + first_patch}{suffix}"
    return f"V?({ordinal})"


CURRENT_VERSION: Final = mq_version(5, 3, 3)
"""What rmq puts in ``version``: the 5.3.3 ordinal (479), like the Java 5.3.3 client."""
