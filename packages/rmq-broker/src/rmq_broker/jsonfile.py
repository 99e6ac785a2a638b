"""Metadata JSON files under ``storePathRootDir/config``, as Java's ``ConfigManager`` keeps them.

Java writes them with fastjson's pretty printer (tab-indented, ``"key":value`` with no
space) through ``MixAll.string2File``: the new content goes to ``<file>.tmp``, the old
one is copied to ``<file>.bak``, then the temp file replaces the file; at start the file
is read, and the ``.bak`` when the file is missing or unreadable. Same here, with the
temp file fsynced and renamed over the live file (STYLE example 9), so a crash leaves
either the old or the new content, never a torn one. Integer map keys are written
quoted (standard JSON, which Java reads); readers accept fastjson's unquoted form.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from rmq_broker.errors import MetadataFileError
from rmq_protocol.codec.fastjson import JSONValue, dumps, loads
from rmq_protocol.errors import RemoteProtocolError

__all__ = ["pretty_json", "read_json_file", "write_atomically", "write_json_file"]

logger = logging.getLogger(__name__)


def pretty_json(value: JSONValue) -> bytes:
    """``value`` as fastjson's ``JSON.toJSONString(obj, true)`` lays it out."""
    out: list[str] = []
    _pretty(value, out, 0)
    return "".join(out).encode()


def _pretty(value: JSONValue, out: list[str], depth: int) -> None:
    if isinstance(value, Mapping):
        if not value:
            out.append("{}")
            return
        inner = "\t" * (depth + 1)
        out.append("{\n")
        for i, (key, item) in enumerate(value.items()):
            if i:
                out.append(",\n")
            out.append(inner)
            out.append(dumps(str(key)).decode())
            out.append(":")
            _pretty(item, out, depth + 1)
        out.append("\n" + "\t" * depth + "}")
    elif isinstance(value, list | tuple):
        if not value:
            out.append("[]")
            return
        inner = "\t" * (depth + 1)
        out.append("[\n")
        for i, item in enumerate(value):
            if i:
                out.append(",\n")
            out.append(inner)
            _pretty(item, out, depth + 1)
        out.append("\n" + "\t" * depth + "]")
    else:
        out.append(dumps(value).decode())


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` crash-safely, keeping the old content as ``.bak``.

    Blocking (fsync): call it from a thread when on an event loop.

    Raises:
        OSError: the directory or file cannot be written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    if path.exists():
        shutil.copyfile(path, path.with_name(path.name + ".bak"))
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_file(path: Path, value: JSONValue) -> None:
    """:func:`write_atomically` of ``value`` as pretty JSON."""
    write_atomically(path, pretty_json(value))


def read_json_file(path: Path) -> JSONValue | None:
    """The JSON of ``path``, else of ``path.bak``; None when neither exists.

    An empty file counts as absent (Java's ``ConfigManager`` skips blank content).

    Raises:
        MetadataFileError: a file exists but neither it nor its backup parses.
    """
    errors: list[str] = []
    for candidate in (path, path.with_name(path.name + ".bak")):
        try:
            data = candidate.read_bytes()
        except FileNotFoundError:
            continue
        except OSError as exc:
            errors.append(f"{candidate.name}: {exc.strerror or exc}")
            continue
        if not data.strip():
            continue
        try:
            value = loads(data)
        except RemoteProtocolError as exc:
            errors.append(f"{candidate.name}: {exc}")
            continue
        if candidate is not path:
            logger.warning("%s is unreadable or missing; loaded its backup %s", path, candidate)
        return value
    if errors:
        raise MetadataFileError(path, "; ".join(errors))
    return None
