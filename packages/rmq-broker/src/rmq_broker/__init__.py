"""rmq-broker: Apache RocketMQ's Broker on rmq-protocol's transport and rmq-store.

:class:`Broker` is the service (an async context manager) and :func:`run_broker` runs
one until cancelled; :class:`BrokerSettings` holds a ``broker.conf``'s broker keys
(:class:`BrokerConfig`) and store keys (:class:`rmq_store.StoreConfig`), and
:func:`load_broker_settings` reads them from one file.
"""

from rmq_broker._version import __version__
from rmq_broker.broker import Broker, check_supported, run_broker
from rmq_broker.config import BrokerConfig, BrokerRole, BrokerSettings, load_broker_settings
from rmq_broker.errors import BrokerError, MetadataFileError, UnsupportedFeatureError

__all__ = [
    "Broker",
    "BrokerConfig",
    "BrokerError",
    "BrokerRole",
    "BrokerSettings",
    "MetadataFileError",
    "UnsupportedFeatureError",
    "__version__",
    "check_supported",
    "load_broker_settings",
    "run_broker",
]
