"""Errors raised by rmq-broker: one base, :class:`BrokerError`.

Configuration errors are :class:`rmq_protocol.errors.ConfigError` (the loader is shared
with the NameServer); errors answered to a peer are response codes, not exceptions.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BrokerError", "MetadataFileError", "UnsupportedFeatureError"]


class BrokerError(Exception):
    """Base class of every error raised by rmq-broker."""


class MetadataFileError(BrokerError):
    """A metadata file under ``storePathRootDir/config`` (and its ``.bak``) cannot be
    read or parsed."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(
            f"metadata file {path}: {reason}; fix it, or move it away together with its .bak "
            "to start with the defaults"
        )


class UnsupportedFeatureError(BrokerError, ValueError):
    """The configuration asks for something rmq-broker does not implement yet."""

    def __init__(self, key: str, what: str) -> None:
        self.key = key
        super().__init__(f"{key}: {what} is not implemented in rmq-broker yet")
