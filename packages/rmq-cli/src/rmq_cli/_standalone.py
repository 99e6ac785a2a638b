"""``rmq standalone``: a NameServer and a Broker registered with it, in one event loop.

RocketMQ's quick start runs ``mqnamesrv`` and ``mqbroker -n localhost:9876`` as two JVMs;
this is the two of them in one process, built from :func:`rmq_namesrv.run_namesrv` and
:func:`rmq_broker.run_broker` (no server logic here). Defaults differ from the two
commands' on purpose, for a server on a developer's machine: both listen on 127.0.0.1
only, and the files go under one data directory (``~/.rmq``) instead of ``~/store`` and
``~/namesrv``::

    <data dir>/store/      storePathRootDir: commitlog/, consumequeue/, index/, config/, …
    <data dir>/namesrv/    kvConfig.json, namesrv.properties
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Final

from rmq_broker import Broker, BrokerConfig, BrokerSettings, load_broker_settings, run_broker
from rmq_namesrv import NameServer, NamesrvConfig, run_namesrv
from rmq_store import StoreConfig

__all__ = [
    "DEFAULT_BIND_ADDRESS",
    "DEFAULT_BROKER_PORT",
    "DEFAULT_NAMESRV_PORT",
    "StandaloneConfig",
    "default_data_dir",
    "load_standalone_config",
    "run_standalone",
]

logger = logging.getLogger(__name__)

DEFAULT_BIND_ADDRESS: Final = "127.0.0.1"
DEFAULT_NAMESRV_PORT: Final = 9876  # mqnamesrv's
DEFAULT_BROKER_PORT: Final = 10911  # mqbroker's
_ANY_ADDRESS: Final = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - compared, not bound


def default_data_dir() -> Path:
    """``~/.rmq``: where ``rmq standalone`` keeps its files unless told otherwise."""
    return Path.home() / ".rmq"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StandaloneConfig:
    """The two servers' configurations (the broker's ``namesrvAddr`` is filled in at start,
    with the NameServer's real address)."""

    namesrv: NamesrvConfig
    broker: BrokerSettings
    data_dir: Path

    @property
    def namesrv_addr(self) -> str:
        """The address the broker (and local clients) reach the NameServer at, as
        configured (the real port differs when ``listenPort`` is 0)."""
        return _local_address(self.namesrv.bind_address, self.namesrv.listen_port)


def _local_address(bind_address: str, port: int) -> str:
    host = "127.0.0.1" if bind_address in _ANY_ADDRESS else bind_address
    return f"{host}:{port}"


def load_standalone_config(
    config_file: str | Path | None = None,
    *,
    data_dir: Path | None = None,
    namesrv_port: int | None = None,
    broker_port: int | None = None,
) -> StandaloneConfig:
    """The configuration of ``rmq standalone [-c broker.conf]``.

    Precedence, lowest first: the standalone defaults (127.0.0.1, ports 9876 and 10911,
    ``<data dir>/store``), the file's keys, then the options given here. The NameServer
    binds the broker's ``bindAddress``; its files are under ``<data dir>/namesrv``. A
    ``namesrvAddr`` in the file is ignored (with a warning): the broker registers with
    the NameServer beside it.

    Args:
        config_file: a ``broker.conf`` (properties or TOML; broker and store keys).
        data_dir: the data directory (default ``~/.rmq``); when given, it also overrides
            the file's ``storePathRootDir``.
        namesrv_port: the NameServer's port (0: any free port).
        broker_port: the broker's ``listenPort`` (0: any free port), over the file's.

    Raises:
        ConfigError: the file is unreadable, has an unknown key or a bad value.
        ValueError: a port is outside 0..65535.
    """
    root = (data_dir or default_data_dir()).expanduser().absolute()
    settings = BrokerSettings(
        broker=BrokerConfig(bind_address=DEFAULT_BIND_ADDRESS, listen_port=DEFAULT_BROKER_PORT),
        store=StoreConfig(store_path_root_dir=root / "store"),
    )
    if config_file is not None:
        settings = load_broker_settings(config_file, base=settings)
        if settings.broker.namesrv_addr:
            logger.warning(
                "%s: namesrvAddr=%s is ignored: the standalone broker registers with the "
                "NameServer in the same process",
                config_file,
                settings.broker.namesrv_addr,
            )
    broker = dataclasses.replace(settings.broker, namesrv_addr=None)
    if broker_port is not None:
        broker = dataclasses.replace(broker, listen_port=broker_port)
    store = settings.store
    if data_dir is not None:
        store = dataclasses.replace(store, store_path_root_dir=root / "store")
    namesrv = NamesrvConfig(
        bind_address=broker.bind_address,
        listen_port=DEFAULT_NAMESRV_PORT if namesrv_port is None else namesrv_port,
        kv_config_path=root / "namesrv" / "kvConfig.json",
        config_store_path=root / "namesrv" / "namesrv.properties",
    )
    broker = dataclasses.replace(
        broker, namesrv_addr=_local_address(namesrv.bind_address, namesrv.listen_port)
    )
    return StandaloneConfig(
        namesrv=namesrv, broker=BrokerSettings(broker=broker, store=store), data_dir=root
    )


async def run_standalone(
    config: StandaloneConfig,
    *,
    started: Callable[[NameServer, Broker], object] | None = None,
) -> None:
    """Serve a NameServer and a Broker registered with it until cancelled.

    The NameServer starts first; the broker registers with its real address (its port
    when ``listenPort`` is 0). Cancelling stops them in reverse order: the broker answers
    what is in flight, flushes the store, persists offsets and unregisters from the
    NameServer, which is still serving; then the NameServer stops.

    Args:
        config: see :func:`load_standalone_config`.
        started: called with both servers once they serve.

    Raises:
        NamesrvError, BrokerError, StoreError, OSError: a server could not start (the
            other one is stopped first).
    """
    namesrv_up: asyncio.Future[NameServer] = asyncio.get_running_loop().create_future()

    def broker_started(broker: Broker) -> None:
        if started is not None:
            started(namesrv_up.result(), broker)

    try:
        async with asyncio.TaskGroup() as tasks:
            namesrv_task = tasks.create_task(
                run_namesrv(config.namesrv, started=namesrv_up.set_result), name="rmq-namesrv"
            )
            try:
                namesrv = await namesrv_up
                address = _local_address(config.namesrv.bind_address, namesrv.port)
                broker_config = dataclasses.replace(config.broker.broker, namesrv_addr=address)
                settings = dataclasses.replace(config.broker, broker=broker_config)
                await run_broker(settings, started=broker_started)  # until cancelled
            finally:
                namesrv_task.cancel()  # after the broker stopped (and unregistered)
    except BaseExceptionGroup as group:
        # One server failed (the other was stopped): report that error, not a group.
        if len(group.exceptions) == 1 and not isinstance(group.exceptions[0], BaseExceptionGroup):
            raise group.exceptions[0] from None
        raise
