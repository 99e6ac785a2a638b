"""rmq-namesrv: Apache RocketMQ's NameServer on rmq-protocol's asyncio transport.

Brokers register their topics with it; producers, consumers and admin tools ask it for
routes. :class:`NameServer` is the service (an async context manager) and
:func:`run_namesrv` runs one until cancelled; :class:`NamesrvConfig` holds RocketMQ's
``NamesrvConfig`` keys and :func:`load_namesrv_config` reads them from a file.
"""

from rmq_namesrv._version import __version__
from rmq_namesrv.clock import Clock, ManualClock, SystemClock
from rmq_namesrv.config import NamesrvConfig, load_namesrv_config
from rmq_namesrv.errors import KVConfigFileError, NamesrvError, UnsupportedFeatureError
from rmq_namesrv.kv_config import NAMESPACE_ORDER_TOPIC_CONFIG, KVConfigManager
from rmq_namesrv.route_info import RouteInfoManager, RouteStatistics
from rmq_namesrv.server import NameServer, run_namesrv

__all__ = [
    "NAMESPACE_ORDER_TOPIC_CONFIG",
    "Clock",
    "KVConfigFileError",
    "KVConfigManager",
    "ManualClock",
    "NameServer",
    "NamesrvConfig",
    "NamesrvError",
    "RouteInfoManager",
    "RouteStatistics",
    "SystemClock",
    "UnsupportedFeatureError",
    "__version__",
    "load_namesrv_config",
    "run_namesrv",
]
