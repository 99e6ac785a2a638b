"""Errors raised by rmq-namesrv: one base, :class:`NamesrvError`.

Configuration errors are :class:`rmq_protocol.errors.ConfigError` (the loader is shared
with the broker); errors answered to a peer are response codes, not exceptions.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["KVConfigFileError", "NamesrvError", "UnsupportedFeatureError"]


class NamesrvError(Exception):
    """Base class of every error raised by rmq-namesrv."""


class KVConfigFileError(NamesrvError):
    """The KV config file (``kvConfigPath``) cannot be read, parsed or written."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(
            f"KV config file {path}: {reason}; fix or move the file (the NameServer "
            "starts with an empty KV table when it is absent)"
        )


class UnsupportedFeatureError(NamesrvError, ValueError):
    """The configuration turns on something rmq-namesrv does not implement."""

    def __init__(self, key: str, what: str) -> None:
        self.key = key
        super().__init__(f"{key}=true: {what} is not implemented in rmq-namesrv; set it to false")
