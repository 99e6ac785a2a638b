"""Message ids: the offset id of a stored record and the client's unique id.

Mirrors ``org.apache.rocketmq.common.message.MessageDecoder.createMessageId`` /
``decodeMessageId`` and ``MessageClientIDSetter`` (spec §3.7). Both ids are the
uppercase hex of a byte string.

Offset message id (``offsetMsgId``), 16 bytes (32 hex chars) for an IPv4 store
host, 28 bytes (56 hex chars) for IPv6::

    +-------------------+-----------+------------------------+
    | store IP (4 | 16) | port (i4) | commit-log offset (i8) |
    +-------------------+-----------+------------------------+

Unique client id (property ``UNIQ_KEY``), 16 bytes for an IPv4 client IP, 28 for
IPv6; the first 10 (22) bytes are fixed per process::

    +--------------------+----------+----------------------+--------------------+-------------+
    | client IP (4 | 16) | pid (i2) | class-loader hash i4 | ms in month (i4)   | counter i2  |
    +--------------------+----------+----------------------+--------------------+-------------+

"ms in month" counts from 00:00 on day 1 of the current month in the local time
zone, truncated to 32 bits; the counter wraps at 16 bits. Nothing here reads the
clock: callers pass the current time in milliseconds.
"""

from __future__ import annotations

import ipaddress
import itertools
import string
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Final, final

from rmq_protocol.codec.properties import records as _records
from rmq_protocol.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "UniqueId",
    "UniqueIdGenerator",
    "decode_offset_msg_id",
    "format_unique_id",
    "month_start_ms",
    "offset_msg_id",
    "parse_unique_id",
]

_PORT_OFFSET: Final = struct.Struct(">iq")  # port, commit-log offset
_UNIQ_TAIL: Final = struct.Struct(">HIIH")  # pid, class-loader hash, ms in month, counter
_HEX: Final = frozenset(string.hexdigits)
_NTP_TOLERANCE_MS: Final = 1_000_000  # Java maps a small negative span (clock stepped back) to 0


def _packed_ip(host: str | bytes, what: str) -> bytes:
    if isinstance(host, bytes):
        if len(host) not in (4, 16):
            raise LocalProtocolError(
                f"{what} {host!r}: IP bytes must be 4 (IPv4) or 16 (IPv6) long"
            )
        return host
    try:
        return ipaddress.ip_address(host).packed
    except ValueError as e:
        raise LocalProtocolError(f"{what} {host!r} is not an IPv4 or IPv6 address") from e


def _ip_text(packed: bytes) -> str:
    return str(ipaddress.ip_address(packed))


def _hex_bytes(text: str, what: str) -> bytes:
    if not _HEX.issuperset(text):
        raise RemoteProtocolError(f"{what} {text!r} is not hexadecimal")
    return bytes.fromhex(text)


# --- offset message id --------------------------------------------------------------


def offset_msg_id(host: str, port: int, commit_log_offset: int) -> str:
    """The offset message id of the record at ``commit_log_offset`` on ``host:port``.

    ``offset_msg_id("127.0.0.1", 10911, 1234)`` → ``"7F00000100002A9F00000000000004D2"``.

    Raises:
        LocalProtocolError: ``host`` is not an IP address, ``port`` is not in
            0..65535 or the offset does not fit a signed 64-bit integer.
    """
    ip = _packed_ip(host, "store host")
    if not 0 <= port <= 0xFFFF:
        raise LocalProtocolError(f"store host port {port} not in 0..65535")
    try:
        tail = _PORT_OFFSET.pack(port, commit_log_offset)
    except struct.error as e:
        raise LocalProtocolError(
            f"commit-log offset {commit_log_offset} does not fit a signed 64-bit integer"
        ) from e
    return (ip + tail).hex().upper()


def decode_offset_msg_id(msg_id: str) -> tuple[str, int, int]:
    """Split an offset message id into ``(host, port, commit_log_offset)``.

    32 hex characters are an IPv4 id, 56 an IPv6 one (either case accepted). The
    host is rendered as :mod:`ipaddress` renders it.

    Raises:
        RemoteProtocolError: not 32/56 hex characters, or the port is not in 0..65535.
    """
    if len(msg_id) not in (32, 56):
        raise RemoteProtocolError(
            f"offset message id {msg_id!r} has {len(msg_id)} characters; "
            "expected 32 (IPv4 store host) or 56 (IPv6)"
        )
    raw = _hex_bytes(msg_id, "offset message id")
    ip_len = 4 if len(raw) == 16 else 16
    port, offset = _PORT_OFFSET.unpack_from(raw, ip_len)
    if not 0 <= port <= 0xFFFF:
        raise RemoteProtocolError(f"offset message id {msg_id!r}: port {port} not in 0..65535")
    return _ip_text(raw[:ip_len]), port, offset


# --- unique client id -----------------------------------------------------------------


def format_unique_id(
    ip: bytes | str, pid: int, class_loader_hash: int, ms_in_month: int, counter: int
) -> str:
    """One unique id from its parts (each integer is truncated to its field width).

    Raises:
        LocalProtocolError: ``ip`` is neither 4/16 bytes nor an IP address.
    """
    packed = _packed_ip(ip, "client IP")
    tail = _UNIQ_TAIL.pack(
        pid & 0xFFFF, class_loader_hash & 0xFFFF_FFFF, ms_in_month & 0xFFFF_FFFF, counter & 0xFFFF
    )
    return (packed + tail).hex().upper()


def _local(now_ms: int, tz: tzinfo | None) -> datetime:
    # Whole seconds are enough (month starts fall on whole seconds) and avoid float error.
    return datetime.fromtimestamp(now_ms // 1000, tz)


def _month_bounds(now_ms: int, tz: tzinfo | None) -> tuple[int, int]:
    """Epoch ms of the start of ``now_ms``'s month and of the next month, in ``tz``."""
    start = _local(now_ms, tz).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    # Naive datetimes are local wall time: .timestamp() resolves them with the
    # zone's rules (DST) for that date, as Java's Calendar does.
    return int(start.timestamp()) * 1000, int(nxt.timestamp()) * 1000


def month_start_ms(now_ms: int, tz: tzinfo | None = None) -> int:
    """Epoch ms of 00:00 on day 1 of the month containing ``now_ms``.

    Args:
        now_ms: epoch milliseconds.
        tz: time zone; ``None`` is the local zone of this machine (as Java uses).
    """
    return _month_bounds(now_ms, tz)[0]


def _unique_ids_py(prefix: str, span: int, counter: Iterator[int], n: int) -> list[str]:
    """``n`` unique ids: ``prefix``, then ``span`` as 8 and the next values of ``counter``
    (low 16 bits) as 4 uppercase hex digits. ``span`` is the "ms in month" already
    truncated to 32 bits (:meth:`UniqueIdGenerator.next_ids`)."""
    return [f"{prefix}{span:08X}{next(counter) & 0xFFFF:04X}" for _ in range(n)]


def _unique_id_py(prefix: str, span: int, counter: Iterator[int]) -> str:
    """One unique id, as ``_unique_ids_py(prefix, span, counter, 1)[0]``."""
    return f"{prefix}{span:08X}{next(counter) & 0xFFFF:04X}"


_unique_ids: Callable[[str, int, Iterator[int], int], list[str]] = _unique_ids_py
_unique_id: Callable[[str, int, Iterator[int]], str] = _unique_id_py
unique_ids_py: Final = _unique_ids_py
"""The pure-Python id formatter (differential tests compare the C one with it)."""
if _records is not None:
    _records.init(unique_ids=_unique_ids_py)
    _unique_ids = _records.unique_ids
    _unique_id = _records.unique_id


@final
class UniqueIdGenerator:
    """Builds unique client message ids (``UNIQ_KEY``) as a Java client does.

    One per process, like Java's static ``MessageClientIDSetter``. Safe to share
    between threads: the counter is an :func:`itertools.count` and the cached month
    bounds are replaced as one tuple.

    Args:
        ip: client IP as 4/16 bytes or text; ``None`` = unknown: the low 32 bits
            of the first ``now_ms`` stand in for it, as Java fakes one from the
            clock.
        pid: process id (only the low 16 bits are used).
        class_loader_hash: any int32 (Java: the class loader's identity hash).
        counter: first counter value (Java starts at 0).
        tz: time zone of "ms since the start of the month"; ``None`` = local.

    Raises:
        LocalProtocolError: ``ip`` is neither 4/16 bytes nor an IP address.
    """

    __slots__ = ("_bounds", "_counter", "_prefix", "_suffix", "_tz")

    def __init__(
        self,
        ip: bytes | str | None,
        pid: int,
        class_loader_hash: int,
        *,
        counter: int = 0,
        tz: tzinfo | None = None,
    ) -> None:
        self._suffix = struct.pack(">HI", pid & 0xFFFF, class_loader_hash & 0xFFFF_FFFF)
        self._prefix: str | None = None
        if ip is not None:
            self._prefix = (_packed_ip(ip, "client IP") + self._suffix).hex().upper()
        self._counter = itertools.count(counter)
        self._tz = tz
        self._bounds = (0, -(2**63))  # (start, next start) of the cached month; none yet

    def next_id(self, now_ms: int) -> str:
        """The next unique id, for a message created at ``now_ms`` (epoch ms)."""
        prefix = self._prefix
        if prefix is None:
            prefix = self._fake_prefix(now_ms)
        start, nxt = self._bounds
        if now_ms >= nxt:
            start, nxt = self._bounds = _month_bounds(now_ms, self._tz)
        span = ((now_ms - start + 0x8000_0000) & 0xFFFF_FFFF) - 0x8000_0000  # as int32
        if -_NTP_TOLERANCE_MS < span < 0:
            span = 0
        return _unique_id(prefix, span & 0xFFFF_FFFF, self._counter)

    def next_ids(self, now_ms: int, n: int) -> list[str]:
        """The next ``n`` unique ids, for messages created at ``now_ms`` (epoch ms).

        The same ids as ``[self.next_id(now_ms) for _ in range(n)]``, in one call (a C
        loop where ``rmq_protocol._records`` is built): a batch send takes its ids here.
        With the C module, no other thread takes an id between them.
        """
        prefix = self._prefix
        if prefix is None:
            prefix = self._fake_prefix(now_ms)
        start, nxt = self._bounds
        if now_ms >= nxt:
            start, nxt = self._bounds = _month_bounds(now_ms, self._tz)
        span = ((now_ms - start + 0x8000_0000) & 0xFFFF_FFFF) - 0x8000_0000  # as int32
        if -_NTP_TOLERANCE_MS < span < 0:
            span = 0
        return _unique_ids(prefix, span & 0xFFFF_FFFF, self._counter, n)

    def _fake_prefix(self, now_ms: int) -> str:
        fake_ip = struct.pack(">I", now_ms & 0xFFFF_FFFF)
        prefix = self._prefix = (fake_ip + self._suffix).hex().upper()
        return prefix


@dataclass(frozen=True, slots=True, kw_only=True)
class UniqueId:
    """The parts of a unique client id (:func:`parse_unique_id`)."""

    ip: str
    pid: int  # low 16 bits of the process id, unsigned
    class_loader_hash: int  # unsigned 32-bit
    ms_in_month: int  # unsigned 32-bit
    counter: int  # unsigned 16-bit

    def approximate_born_timestamp(self, now_ms: int, *, tz: tzinfo | None = None) -> int:
        """Epoch ms the id was probably made at, assuming it is less than a month old.

        As Java's ``getNearlyTimeFromID``: the span counts from the start of the
        current month, or of the previous one if that would lie in the future.
        """
        start = month_start_ms(now_ms, tz)
        if start + self.ms_in_month >= now_ms:
            start = month_start_ms(start - 1, tz)
        return start + self.ms_in_month


def parse_unique_id(unique_id: str) -> UniqueId:
    """Split a unique client id (32 hex chars for IPv4, 56 for IPv6) into its parts.

    Raises:
        RemoteProtocolError: not 32/56 hex characters.
    """
    if len(unique_id) not in (32, 56):
        raise RemoteProtocolError(
            f"unique message id {unique_id!r} has {len(unique_id)} characters; "
            "expected 32 (IPv4 client) or 56 (IPv6)"
        )
    raw = _hex_bytes(unique_id, "unique message id")
    ip_len = len(raw) - _UNIQ_TAIL.size
    pid, loader_hash, span, counter = _UNIQ_TAIL.unpack_from(raw, ip_len)
    return UniqueId(
        ip=_ip_text(raw[:ip_len]),
        pid=pid,
        class_loader_hash=loader_hash,
        ms_in_month=span,
        counter=counter,
    )
