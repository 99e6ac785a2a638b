"""The NameServer's namespaced key-value store, persisted in ``kvConfigPath``.

Mirrors ``org.apache.rocketmq.namesrv.kvconfig.KVConfigManager`` and
``KVConfigSerializeWrapper``. The file is what Java writes (fastjson, compact), so a
store moves between rmq and Apache RocketMQ NameServers::

    {"configTable":{"ORDER_TOPIC_CONFIG":{"TopicOrder":"broker-a:4;broker-b:4"}}}

Reading is tolerant of fastjson's forms (:func:`rmq_protocol.codec.fastjson.loads`);
writing is atomic (temporary file, fsync, rename, fsync of the directory), where Java
rewrites the file in place after copying it to ``.bak``.

:class:`KVConfigManager` is plain data and not safe for concurrent use; the NameServer
calls it on its event loop and runs :func:`write_atomically` in a thread, one write at a
time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final, final

from rmq_namesrv.errors import KVConfigFileError
from rmq_protocol.codec.body import KVTable
from rmq_protocol.codec.fastjson import JSONKey, JSONValue, dumps, loads
from rmq_protocol.errors import RemoteProtocolError

__all__ = ["NAMESPACE_ORDER_TOPIC_CONFIG", "KVConfigManager", "write_atomically"]

logger = logging.getLogger(__name__)

NAMESPACE_ORDER_TOPIC_CONFIG: Final = "ORDER_TOPIC_CONFIG"
"""NamesrvUtil's namespace of ordered topics: topic → ``brokerName:queueNum;…``."""


@final
class KVConfigManager:
    """Namespace → key → value, in memory; :meth:`to_json` is the file content."""

    def __init__(self, table: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self._table: dict[str, dict[str, str]] = {ns: dict(kv) for ns, kv in (table or {}).items()}

    @classmethod
    def load(cls, path: Path) -> KVConfigManager:
        """Read ``path``; a missing file is an empty table (first start).

        Blocking file I/O: call it from a thread when on an event loop.

        Raises:
            KVConfigFileError: the file cannot be read or is not a KV config document.
        """
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            logger.info("no KV config file at %s: starting with an empty table", path)
            return cls()
        except OSError as exc:
            raise KVConfigFileError(path, f"cannot read: {exc}") from exc
        try:
            document = loads(data)
        except RemoteProtocolError as exc:
            raise KVConfigFileError(path, f"not JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise KVConfigFileError(path, 'expected an object {"configTable":{…}}')
        raw = document.get("configTable")
        if raw is None:
            raw = {}  # fastjson omits a null table
        if not isinstance(raw, dict):
            raise KVConfigFileError(path, "configTable is not an object")
        table: dict[str, dict[str, str]] = {}
        for namespace, entries in raw.items():
            if not isinstance(namespace, str) or not isinstance(entries, dict):
                raise KVConfigFileError(
                    path, f"configTable[{namespace!r}] is not an object of strings"
                )
            kv: dict[str, str] = {}
            for key, value in entries.items():
                if not isinstance(key, str) or not isinstance(value, str | int | float | bool):
                    raise KVConfigFileError(
                        path, f"configTable[{namespace!r}][{key!r}] is not a string"
                    )
                kv[key] = value if isinstance(value, str) else _java_string(value)
            table[namespace] = kv
        logger.info(
            "KV config loaded from %s: %d namespaces, %d entries",
            path,
            len(table),
            sum(len(kv) for kv in table.values()),
        )
        return cls(table)

    def to_json(self) -> bytes:
        """The file content: ``{"configTable":{namespace:{key:value}}}``, compact."""
        table: dict[JSONKey, JSONValue] = {}
        for namespace, kv in self._table.items():
            entries: dict[JSONKey, JSONValue] = {}
            entries.update(kv)
            table[namespace] = entries
        return dumps({"configTable": table})

    def put(self, namespace: str, key: str, value: str) -> str | None:
        """PUT_KV_CONFIG. Returns the previous value."""
        kv = self._table.get(namespace)
        if kv is None:
            kv = self._table[namespace] = {}
            logger.info("KV config: new namespace %s", namespace)
        previous = kv.get(key)
        kv[key] = value
        logger.info(
            "KV config: %s %s %s = %s",
            "updated" if previous is not None else "created",
            namespace,
            key,
            value,
        )
        return previous

    def get(self, namespace: str, key: str) -> str | None:
        """GET_KV_CONFIG."""
        kv = self._table.get(namespace)
        return None if kv is None else kv.get(key)

    def delete(self, namespace: str, key: str) -> str | None:
        """DELETE_KV_CONFIG. Returns the removed value. An emptied namespace stays (Java)."""
        kv = self._table.get(namespace)
        if kv is None:
            return None
        value = kv.pop(key, None)
        if value is not None:
            logger.info("KV config: deleted %s %s (was %s)", namespace, key, value)
        return value

    def get_kv_list_by_namespace(self, namespace: str) -> KVTable | None:
        """GET_KVLIST_BY_NAMESPACE: the namespace's table, None if it never existed."""
        kv = self._table.get(namespace)
        return None if kv is None else KVTable(table=dict(kv))

    def namespaces(self) -> dict[str, dict[str, str]]:
        """A copy of the whole table."""
        return {ns: dict(kv) for ns, kv in self._table.items()}


def _java_string(value: int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new content.

    Blocking (fsync): run it in a thread from an event loop.

    Raises:
        OSError: the directory cannot be created or written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
