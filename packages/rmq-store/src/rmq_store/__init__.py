"""rmq-store: Apache RocketMQ's storage engine (work in progress)."""

from rmq_store._version import __version__

__all__ = ["__version__"]
