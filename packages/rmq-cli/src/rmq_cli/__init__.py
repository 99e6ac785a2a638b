"""rmq-cli: the ``rmq`` command.

``rmq namesrv`` and ``rmq broker`` run one server each, with RocketMQ's ``mqnamesrv`` /
``mqbroker`` options; ``rmq standalone`` runs a NameServer and a Broker registered with it
in one process (:func:`run_standalone`, configured by :func:`load_standalone_config`).
:func:`main` is the console script.
"""

from rmq_cli._cli import main
from rmq_cli._standalone import (
    DEFAULT_BIND_ADDRESS,
    DEFAULT_BROKER_PORT,
    DEFAULT_NAMESRV_PORT,
    StandaloneConfig,
    default_data_dir,
    load_standalone_config,
    run_standalone,
)
from rmq_cli._version import __version__

__all__ = [
    "DEFAULT_BIND_ADDRESS",
    "DEFAULT_BROKER_PORT",
    "DEFAULT_NAMESRV_PORT",
    "StandaloneConfig",
    "__version__",
    "default_data_dir",
    "load_standalone_config",
    "main",
    "run_standalone",
]
