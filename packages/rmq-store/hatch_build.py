"""Build hook: compile the optional C speedups (``src/rmq_store/_speedups.c``).

The package is complete without them (every function has a pure-Python reference
implementation), so a missing compiler or missing Python headers only prints a warning
and the wheel is built pure. ``RMQ_NO_EXTENSIONS=1`` skips the build on purpose. An
editable install builds the module in place, next to its source, where the import finds it.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

MODULE = "_speedups"


def compile_speedups(source: Path, target: Path) -> None:
    """Compile ``source`` into the extension module ``target`` with the compiler and flags
    this Python was built with. Raises OSError or CalledProcessError on failure."""
    config = sysconfig.get_config_var
    command = [
        *shlex.split(config("LDSHARED") or "cc -shared"),
        *shlex.split(config("CFLAGS") or ""),
        *shlex.split(config("CCSHARED") or "-fPIC"),
        "-O2",
        "-Wall",
        f"-I{sysconfig.get_paths()['include']}",
        str(source),
        "-o",
        str(target),
    ]
    subprocess.run(command, check=True)  # noqa: S603 - the build's own compiler


class SpeedupsBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if os.environ.get("RMQ_NO_EXTENSIONS"):
            return
        package = Path(self.root, "src", "rmq_store")
        name = MODULE + (sysconfig.get_config_var("EXT_SUFFIX") or ".so")
        if version == "editable":
            target = package / name
        else:
            target = Path(tempfile.mkdtemp(prefix="rmq-speedups-")) / name
        try:
            compile_speedups(package / f"{MODULE}.c", target)
        except (OSError, subprocess.CalledProcessError) as exc:
            sys.stderr.write(
                f"rmq-store: C speedups not built ({exc}); the pure-Python loops are used\n"
            )
            return
        if version != "editable":
            build_data["force_include"][str(target)] = f"rmq_store/{name}"
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
