"""Build hook: compile the optional C speedups (every ``src/rmq_protocol/_*.c``).

Each ``_NAME.c`` there is one extension module ``rmq_protocol._NAME``. The package is
complete without them (every function has a pure-Python reference implementation), so a
missing compiler or missing Python headers only prints a warning and the wheel is built
pure. ``RMQ_NO_EXTENSIONS=1`` skips the build on purpose. An editable install builds the
modules in place, next to their sources, where the import finds them;
``python3 tools/dev.py build-ext`` rebuilds them there after a C edit.
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

try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # imported by tools/dev.py build-ext, which only compiles
    BuildHookInterface = object

PACKAGE = "rmq_protocol"


def extension_sources(root: Path) -> list[Path]:
    """The C sources of this package's extension modules, one module each."""
    return sorted(Path(root, "src", PACKAGE).glob("_*.c"))


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


class SpeedupsBuildHook(BuildHookInterface):  # type: ignore[type-arg,misc]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if os.environ.get("RMQ_NO_EXTENSIONS"):
            return
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        for source in extension_sources(Path(self.root)):
            name = source.stem + suffix
            if version == "editable":
                target = source.with_name(name)
            else:
                target = Path(tempfile.mkdtemp(prefix="rmq-speedups-")) / name
            try:
                compile_speedups(source, target)
            except (OSError, subprocess.CalledProcessError) as exc:
                sys.stderr.write(
                    f"rmq-protocol: C module {source.name} not built ({exc}); "
                    "the pure-Python codec is used\n"
                )
                continue
            if version != "editable":
                build_data["force_include"][str(target)] = f"{PACKAGE}/{name}"
                build_data["pure_python"] = False
                build_data["infer_tag"] = True
