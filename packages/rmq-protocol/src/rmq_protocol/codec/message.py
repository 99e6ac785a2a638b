"""Stored / pulled message records, batch bodies, sysFlag and body compression.

Mirrors ``org.apache.rocketmq.common.message.MessageDecoder`` (``decode``,
``encode``, ``encodeMessages`` / ``decodeMessages``), ``MessageExt``,
``MessageVersion``, ``org.apache.rocketmq.common.sysflag.MessageSysFlag`` and
``org.apache.rocketmq.common.compression`` (spec §3.1, §3.2, §3.5, §3.6).
Everything is big-endian.

Message record (commit-log entry; pull, query, view-by-id, pop and
CHECK_TRANSACTION_STATE bodies hold one or more back to back). Offsets are for
IPv4 hosts; each IPv6 host (sysFlag 0x10 born, 0x20 store) adds 12 bytes after it::

    off  size  field
      0     4  TOTALSIZE           whole record, this field included
      4     4  MAGICCODE           v1 0xDAA320A7, v2 0xDAA320AB
      8     4  BODYCRC             crc32(stored body) & 0x7FFFFFFF
     12     4  QUEUEID
     16     4  FLAG                user flag
     20     8  QUEUEOFFSET
     28     8  PHYSICALOFFSET      commit-log offset of this record
     36     4  SYSFLAG
     40     8  BORNTIMESTAMP       ms
     48  8|20  BORNHOST            IPv4 (4) or IPv6 (16) address + int32 port
     56     8  STORETIMESTAMP      ms
     64  8|20  STOREHOST           IPv4/IPv6 address + int32 port
     72     4  RECONSUMETIMES
     76     8  PREPARED TX OFFSET
     84     4  BODYLENGTH  n
     88     n  BODY
      …  1|2   TOPICLENGTH t       v1: signed byte, v2: int16
      …     t  TOPIC               UTF-8
      …     2  PROPERTIESLENGTH p  int16
      …     p  PROPERTIES          see :mod:`rmq_protocol.codec.properties`

Fixed overhead for IPv4 hosts and magic v1: 91 bytes (:func:`record_size`).

Batch body (SEND_BATCH_MESSAGE; topic and queue come from the request header)::

    4 TOTALSIZE (22 + n + p) | 4 MAGICCODE (0) | 4 BODYCRC (0) | 4 FLAG
    4 BODYLENGTH n | n BODY | 2 PROPERTIESLENGTH p | p PROPERTIES

Decoding is strict where Java is lenient: a record whose fields do not add up
to TOTALSIZE, a truncated record, an unknown magic code, a negative length or
text that is not UTF-8 raises :class:`~rmq_protocol.errors.RemoteProtocolError`
naming the byte offset, never ``IndexError``/``struct.error``/``UnicodeDecodeError``.

For speed a decoded :class:`MessageExt` keeps its properties as text and parses
them on first access of :attr:`MessageExt.properties`.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import importlib
import ipaddress
import struct
import types
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Self, cast, final

from rmq_protocol.codec import properties as _props
from rmq_protocol.codec.msgid import offset_msg_id as _offset_msg_id
from rmq_protocol.codec.properties import records as _records
from rmq_protocol.codec.speedups import crc32 as _crc32
from rmq_protocol.codec.speedups import speedups as _speedups
from rmq_protocol.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "BLANK_MAGIC",
    "BLANK_MAGIC_SIGNED",
    "BORN_HOST_POSITION",
    "BORN_TIMESTAMP_POSITION",
    "MAGIC_V1",
    "MAGIC_V1_SIGNED",
    "MAGIC_V2",
    "MAGIC_V2_SIGNED",
    "MAX_TOPIC_LENGTH_V1",
    "PHYSICAL_OFFSET_POSITION",
    "QUEUE_OFFSET_POSITION",
    "SYSFLAG_POSITION",
    "UNSPECIFIED_HOST",
    "BatchEntry",
    "CompressionType",
    "HostPort",
    "MessageExt",
    "SysFlag",
    "TransactionType",
    "body_crc",
    "compress_body",
    "compression_type",
    "decode_batch",
    "decode_batch_messages",
    "decode_message",
    "decode_messages",
    "decompress_body",
    "encode_batch",
    "encode_message",
    "new_message",
    "peek_record_header",
    "record_size",
    "reset_transaction_type",
    "store_timestamp_position",
    "transaction_type",
]

# --- magic codes and positions ------------------------------------------------------

MAGIC_V1: Final = 0xDAA320A7
"""Magic code of a v1 record (1-byte topic length), as an unsigned 32-bit value."""
MAGIC_V2: Final = 0xDAA320AB
"""Magic code of a v2 record (2-byte topic length; 5.x, topics over 127 bytes)."""
BLANK_MAGIC: Final = 0xCBD43194
"""Magic code of the blank filler at the end of a commit-log file."""
MAGIC_V1_SIGNED: Final = -626843481
""":data:`MAGIC_V1` as Java's ``int`` (``MessageDecoder.MESSAGE_MAGIC_CODE``)."""
MAGIC_V2_SIGNED: Final = -626843477
""":data:`MAGIC_V2` as Java's ``int``."""
BLANK_MAGIC_SIGNED: Final = -875286124
""":data:`BLANK_MAGIC` as Java's ``int``."""
MAX_TOPIC_LENGTH_V1: Final = 127
"""Longest topic (UTF-8 bytes) a v1 record can carry; longer topics use v2."""

QUEUE_OFFSET_POSITION: Final = 20
"""Offset of QUEUEOFFSET in a record (a store patches it at append time)."""
PHYSICAL_OFFSET_POSITION: Final = 28
"""Offset of PHYSICALOFFSET (the commit-log offset) in a record."""
SYSFLAG_POSITION: Final = 36
"""Offset of SYSFLAG in a record."""
BORN_TIMESTAMP_POSITION: Final = 40
"""Offset of BORNTIMESTAMP in a record."""
BORN_HOST_POSITION: Final = 48
"""Offset of BORNHOST; later fields move with the hosts (:func:`store_timestamp_position`)."""

# Fixed part up to and including BODYLENGTH, one layout per (born, store) host
# family; hosts are read as raw "address + port" bytes. Index = (sysFlag >> 4) & 3.
# Fields: TOTALSIZE MAGIC BODYCRC QUEUEID FLAG QUEUEOFFSET PHYSICALOFFSET SYSFLAG
# BORNTIMESTAMP BORNHOST STORETIMESTAMP STOREHOST RECONSUMETIMES PREPAREDOFFSET BODYLENGTH.
_FIXED: Final = tuple(
    struct.Struct(f">iIiiiqqiq{born}sq{store}siqi") for store in (8, 20) for born in (8, 20)
)
_FIXED_44: Final = _FIXED[0]  # 88 bytes: both hosts IPv4
_HEAD: Final = struct.Struct(">iI")  # TOTALSIZE, MAGICCODE
_I16: Final = struct.Struct(">h")
_I32: Final = struct.Struct(">i")
_U8: Final = struct.Struct(">B")
_BATCH_HEAD: Final = struct.Struct(">iIiii")  # TOTALSIZE, MAGIC, BODYCRC, FLAG, BODYLENGTH
_BATCH_MIN: Final = _BATCH_HEAD.size + 2
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


# --- sysFlag --------------------------------------------------------------------------


class SysFlag(enum.IntFlag):
    """Bits of a message's ``sysFlag`` (Java ``MessageSysFlag``)."""

    COMPRESSED = 0x1
    MULTI_TAGS = 0x2
    TRANSACTION_PREPARED_TYPE = 0x4
    TRANSACTION_COMMIT_TYPE = 0x8
    TRANSACTION_ROLLBACK_TYPE = 0xC
    BORNHOST_V6 = 0x10
    STOREHOSTADDRESS_V6 = 0x20
    NEED_UNWRAP = 0x40
    INNER_BATCH = 0x80
    COMPRESSION_LZ4_TYPE = 0x100
    COMPRESSION_ZSTD_TYPE = 0x200
    COMPRESSION_ZLIB_TYPE = 0x300


_TRANSACTION_MASK: Final = 0xC
_COMPRESSION_MASK: Final = 0x700
_HOSTS_V6_MASK: Final = 0x30


class TransactionType(enum.IntEnum):
    """Transaction type held in sysFlag bits 2–3."""

    NOT_TYPE = 0x0
    PREPARED_TYPE = 0x4
    COMMIT_TYPE = 0x8
    ROLLBACK_TYPE = 0xC


def transaction_type(sys_flag: int) -> TransactionType:
    """The transaction type bits of ``sys_flag``."""
    return TransactionType(sys_flag & _TRANSACTION_MASK)


def reset_transaction_type(sys_flag: int, kind: TransactionType) -> int:
    """``sys_flag`` with its transaction type replaced by ``kind``."""
    return (sys_flag & ~_TRANSACTION_MASK) | kind


class CompressionType(enum.IntEnum):
    """Body compression, sysFlag bits 8–10 (Java ``CompressionType``)."""

    LZ4 = 1
    ZSTD = 2
    ZLIB = 3

    @property
    def flag(self) -> SysFlag:
        """The sysFlag bits of this type (without :attr:`SysFlag.COMPRESSED`)."""
        return SysFlag(self.value << 8)


def compression_type(sys_flag: int) -> CompressionType:
    """The compression type in ``sys_flag``; 0 (pre-4.9.8 clients) means ZLIB.

    Raises:
        RemoteProtocolError: the type bits hold 4..7, which no RocketMQ writes.
    """
    value = (sys_flag & _COMPRESSION_MASK) >> 8
    if value == 0:
        return CompressionType.ZLIB
    if value > 3:
        raise RemoteProtocolError(
            f"sysFlag 0x{sys_flag & 0xFFFFFFFF:X}: unknown compression type {value} "
            "(known: 1 LZ4, 2 ZSTD, 3 ZLIB, 0 legacy zlib)"
        )
    return CompressionType(value)


# --- compression ------------------------------------------------------------------------

_ZSTD_HINT: Final = "install it with: pip install 'rmq-protocol[zstd]'"
_LZ4_HINT: Final = (
    "rmq-protocol has no LZ4 dependency; install the lz4 package (pip install lz4) to "
    "enable LZ4, or have the producer use ZLIB or ZSTD"
)
_modules: dict[str, types.ModuleType | None] = {}


def _optional_module(name: str) -> types.ModuleType | None:
    if name not in _modules:
        try:
            _modules[name] = importlib.import_module(name)
        except ImportError:
            _modules[name] = None
    return _modules[name]


def compress_body(
    body: bytes, compression: CompressionType = CompressionType.ZLIB, level: int = 5
) -> tuple[bytes, SysFlag]:
    """Compress a message body as a Java producer does.

    ZLIB output is an RFC 1950 stream, byte-identical to Java's ``Deflater`` at
    the same level; ZSTD is one zstd frame (needs the ``zstandard`` package); LZ4
    is the LZ4 frame format (needs the ``lz4`` package).

    Returns:
        The compressed body and the sysFlag bits to OR into the message's sysFlag
        (:attr:`SysFlag.COMPRESSED` plus the type bits).

    Raises:
        LocalProtocolError: the library for ``compression`` is not installed, or
            ``level`` is not valid for it.
    """
    flags = SysFlag.COMPRESSED | compression.flag
    if compression is CompressionType.ZLIB:
        try:
            return zlib.compress(body, level), flags
        except zlib.error as e:
            raise LocalProtocolError(f"zlib cannot compress at level {level}: {e}") from e
    if compression is CompressionType.ZSTD:
        zstd = _optional_module("zstandard")
        if zstd is None:
            raise LocalProtocolError(f"ZSTD compression needs the zstandard package; {_ZSTD_HINT}")
        try:
            return zstd.ZstdCompressor(level=level).compress(body), flags
        except zstd.ZstdError as e:
            raise LocalProtocolError(f"zstd cannot compress at level {level}: {e}") from e
    lz4 = _optional_module("lz4.frame")
    if lz4 is None:
        raise LocalProtocolError(f"LZ4 compression is not supported: {_LZ4_HINT}")
    return lz4.compress(body), flags


MAX_DECOMPRESSED_SIZE: Final = 64 * 1024 * 1024
"""Largest body a compressed body may inflate to (64 MiB); a bigger one is an error,
so a small "zip bomb" from a peer cannot exhaust memory. Java has no such bound."""


def decompress_body(body: bytes, sys_flag: int, *, max_size: int = MAX_DECOMPRESSED_SIZE) -> bytes:
    """Inflate ``body`` if ``sys_flag`` has :attr:`SysFlag.COMPRESSED`, else return it.

    Raises:
        RemoteProtocolError: the body is corrupt or truncated, inflates to more
            than ``max_size`` bytes, the compression type is unknown, or its
            library (zstandard, lz4) is not installed.
    """
    if not sys_flag & SysFlag.COMPRESSED:
        return body
    return _decompress(body, sys_flag, None, max_size)


def _too_big(where: str, max_size: int, offset: int | None) -> RemoteProtocolError:
    return RemoteProtocolError(
        f"{where} inflates to more than {max_size} bytes: refused (corrupt or hostile "
        "body; raise max_size if such bodies are legitimate)",
        offset=offset,
    )


def _decompress(
    body: bytes, sys_flag: int, offset: int | None, max_size: int = MAX_DECOMPRESSED_SIZE
) -> bytes:
    try:
        kind = compression_type(sys_flag)
    except RemoteProtocolError as e:
        raise RemoteProtocolError(str(e), offset=offset) from None
    where = f"{kind.name}-compressed body ({len(body)} bytes)"
    if kind is CompressionType.ZLIB:
        inflater = zlib.decompressobj()
        try:
            out = inflater.decompress(body, max_size + 1)
        except zlib.error as e:
            raise RemoteProtocolError(f"{where} does not inflate: {e}", offset=offset) from e
        if len(out) > max_size:
            raise _too_big(where, max_size, offset)
        if not inflater.eof:
            raise RemoteProtocolError(f"{where} does not inflate: truncated", offset=offset)
        return out
    if kind is CompressionType.ZSTD:
        zstd = _optional_module("zstandard")
        if zstd is None:
            raise RemoteProtocolError(
                f"{where}: cannot decompress without the zstandard package; {_ZSTD_HINT}",
                offset=offset,
            )
        return _zstd_frames(zstd, body, where, offset, max_size)
    lz4 = _optional_module("lz4.frame")
    if lz4 is None:
        raise RemoteProtocolError(f"{where}: LZ4 is not supported: {_LZ4_HINT}", offset=offset)
    inflater = lz4.LZ4FrameDecompressor()
    try:
        result: bytes = inflater.decompress(body, max_length=max_size + 1)
    except (RuntimeError, ValueError) as e:
        raise RemoteProtocolError(f"{where} does not decompress: {e}", offset=offset) from e
    if len(result) > max_size:
        raise _too_big(where, max_size, offset)
    if not inflater.eof:
        raise RemoteProtocolError(f"{where} is truncated", offset=offset)
    return result


def _zstd_frames(
    zstd: types.ModuleType, data: bytes, where: str, offset: int | None, max_size: int
) -> bytes:
    # Java's ZstdOutputStream writes frames without a content size, which
    # ZstdDecompressor.decompress() refuses; stream through every frame instead.
    # Input goes in small pieces so one call cannot inflate far past max_size
    # (a zstd block yields at most 128 KiB), and the total is checked after each.
    parts = []
    total = 0
    rest = data
    try:
        while rest:
            obj = zstd.ZstdDecompressor().decompressobj()
            pos = 0
            while pos < len(rest) and not obj.eof:
                chunk = obj.decompress(rest[pos : pos + 256])
                pos += 256
                total += len(chunk)
                if total > max_size:
                    raise _too_big(where, max_size, offset)
                parts.append(chunk)
            if not obj.eof:
                raise RemoteProtocolError(f"{where} is truncated", offset=offset)
            rest = obj.unused_data + rest[pos:]
    except zstd.ZstdError as e:
        raise RemoteProtocolError(f"{where} does not decompress: {e}", offset=offset) from e
    if not parts:
        raise RemoteProtocolError(f"{where} is empty", offset=offset)
    return b"".join(parts)


def body_crc(data: bytes | bytearray | memoryview) -> int:
    """BODYCRC of a body: ``crc32(data) & 0x7FFFFFFF`` (Java ``UtilAll.crc32``)."""
    return _crc32(data) & 0x7FFFFFFF


# --- hosts --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HostPort:
    """An IP address (text, as :mod:`ipaddress` renders it) and a port."""

    host: str
    port: int

    @property
    def is_ipv6(self) -> bool:
        """Whether :attr:`host` is an IPv6 address."""
        return ":" in self.host

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if self.is_ipv6 else f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> Self:
        """Parse ``"1.2.3.4:10911"`` or ``"[::1]:10911"``.

        Raises:
            ValueError: not ``address:port`` with an IP address and a port in 0..65535.
        """
        host, sep, port = text.rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not sep or not port.isdigit() or not 0 <= int(port) <= 0xFFFF:
            raise ValueError(f"{text!r} is not address:port with a port in 0..65535")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"{text!r}: {host!r} is not an IP address") from None
        return cls(str(address), int(port))


UNSPECIFIED_HOST: Final = HostPort("0.0.0.0", 0)  # noqa: S104 - a value, not a bind address
"""Default born/store host of a :class:`MessageExt` built without one."""

_CACHE_LIMIT: Final = 4096
_hosts_by_wire: dict[bytes, HostPort] = {}
_wire_by_host: dict[tuple[str, int], bytes] = {}  # keyed by (host, port): C-level hashing


def _host_from_wire(raw: bytes) -> HostPort | None:
    """HostPort of wire bytes (address + int32 port); None if the port is not 0..65535."""
    (port,) = _I32.unpack_from(raw, len(raw) - 4)
    if not 0 <= port <= 0xFFFF:
        return None
    address = raw[:-4]
    text = ".".join(map(str, address)) if len(address) == 4 else str(ipaddress.ip_address(address))
    host = HostPort(text, port)
    if len(_hosts_by_wire) >= _CACHE_LIMIT:
        _hosts_by_wire.clear()
    _hosts_by_wire[raw] = host
    return host


def _host_to_wire(host: HostPort, what: str) -> bytes:
    key = (host.host, host.port)
    raw = _wire_by_host.get(key)
    if raw is None:
        try:
            address = ipaddress.ip_address(host.host).packed
        except ValueError as e:
            raise LocalProtocolError(
                f"{what} {host.host!r} is not an IPv4 or IPv6 address (records carry IPs only)"
            ) from e
        if not 0 <= host.port <= 0xFFFF:
            raise LocalProtocolError(f"{what} port {host.port} not in 0..65535")
        raw = address + _I32.pack(host.port)
        if len(_wire_by_host) >= _CACHE_LIMIT:
            _wire_by_host.clear()
        _wire_by_host[key] = raw
    return raw


# --- MessageExt -------------------------------------------------------------------------------


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class MessageExt:
    """A stored message as a broker keeps it and a consumer receives it.

    Fields are the record fields in wire order (module docstring). Build one with
    keywords (only ``topic`` is required); :func:`encode_message` fills in
    ``store_size``, ``body_crc`` and the IPv6 sysFlag bits.

    ``properties`` is a plain dict (do not mutate it: the message is frozen).
    Messages from :func:`decode_message` parse it on first access.
    """

    store_size: int = 0
    magic: int = MAGIC_V1
    body_crc: int = 0
    queue_id: int = 0
    flag: int = 0
    queue_offset: int = 0
    commit_log_offset: int = 0
    sys_flag: int = 0
    born_timestamp: int = 0  # ms
    born_host: HostPort = UNSPECIFIED_HOST
    store_timestamp: int = 0  # ms
    store_host: HostPort = UNSPECIFIED_HOST
    reconsume_times: int = 0
    prepared_transaction_offset: int = 0
    body: bytes = b""
    topic: str
    properties: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def offset_msg_id(self) -> str:
        """Offset message id: store host + commit-log offset (spec §3.7).

        Raises:
            LocalProtocolError: the store host is not an IP address.
        """
        return _offset_msg_id(self.store_host.host, self.store_host.port, self.commit_log_offset)

    @property
    def msg_id(self) -> str:
        """The client-visible id: ``UNIQ_KEY`` if present, else :attr:`offset_msg_id`."""
        unique = self.properties.get(_props.UNIQ_KEY)
        return unique if unique is not None else self.offset_msg_id

    @property
    def tags(self) -> str | None:
        """The ``TAGS`` property."""
        return self.properties.get(_props.TAGS)

    @property
    def keys(self) -> list[str]:
        """The business keys: the ``KEYS`` property split on spaces."""
        text = self.properties.get(_props.KEYS)
        return [] if text is None else [k for k in text.split(_props.KEY_SEPARATOR) if k]

    def get_property(self, name: str, default: str | None = None) -> str | None:
        """The property ``name``, or ``default``."""
        return self.properties.get(name, default)


# The ``properties`` slot of a decoded message holds the undecoded text (a str)
# until first read; this descriptor, put in front of the slot, parses and stores
# the dict then. Writes (the dataclass __init__) go straight to the slot.
_PROPERTIES_SLOT: Final[types.MemberDescriptorType] = MessageExt.__dict__["properties"]


@final
class _LazyProperties:
    __slots__ = ()

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = _PROPERTIES_SLOT.__get__(obj, owner)
        if type(value) is str:
            value = _props.decode_properties(value)
            _PROPERTIES_SLOT.__set__(obj, value)
        return value

    def __set__(self, obj: object, value: object) -> None:
        _PROPERTIES_SLOT.__set__(obj, value)


def _install(cls: type, name: str, descriptor: object) -> None:
    setattr(cls, name, descriptor)


_install(MessageExt, "properties", _LazyProperties())


@final
class _MessageExtBuilder:
    """Same slots as MessageExt, plain setattr: the decoder fills one and re-classes it.

    ``obj.__class__ = MessageExt`` is allowed because both classes have identical
    slot layouts; it saves the frozen ``__init__`` (one ``object.__setattr__`` per
    field), which would dominate decoding time.
    """

    __slots__ = MessageExt.__slots__


def _fast_init_source(fields: tuple[dataclasses.Field[Any], ...]) -> str:
    """``MessageExt.__init__`` filling the fields as a builder, then re-classing.

    The frozen dataclass ``__init__`` calls ``object.__setattr__`` once per field
    (17 of them: ~3 µs, the largest cost of building a message in the broker's send
    path); plain slot stores on a :class:`_MessageExtBuilder` cost ~0.5 µs. Same
    signature, defaults and default factory as the dataclass's own.
    """
    params = []
    lines = ["    _set_class(self, '__class__', _Builder)"]
    for f in fields:
        if f.default is not dataclasses.MISSING:
            params.append(f"{f.name}=_default_{f.name}")
            lines.append(f"    self.{f.name} = {f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            params.append(f"{f.name}=_FACTORY")
            lines.append(
                f"    self.{f.name} = _factory_{f.name}() if {f.name} is _FACTORY else {f.name}"
            )
        else:
            params.append(f.name)
            lines.append(f"    self.{f.name} = {f.name}")
    lines.append("    self.__class__ = _MessageExt")
    return f"def __init__(self, *, {', '.join(params)}):\n" + "\n".join(lines)


def _install_fast_init() -> None:
    fields = dataclasses.fields(MessageExt)
    namespace: dict[str, Any] = {
        "_set_class": object.__setattr__,
        "_Builder": _MessageExtBuilder,
        "_MessageExt": MessageExt,
        "_FACTORY": object(),
    }
    for f in fields:
        namespace[f"_default_{f.name}"] = f.default
        namespace[f"_factory_{f.name}"] = f.default_factory
    exec(_fast_init_source(fields), namespace)  # noqa: S102 - generated from the fields
    init = namespace["__init__"]
    init.__qualname__ = "MessageExt.__init__"
    init.__doc__ = MessageExt.__init__.__doc__
    _install(MessageExt, "__init__", init)


_install_fast_init()


def _raw_properties(message: MessageExt) -> str | dict[str, str]:
    value: str | dict[str, str] = _PROPERTIES_SLOT.__get__(message, MessageExt)
    return value


# --- sizes ------------------------------------------------------------------------------------


def record_size(
    body_length: int,
    topic_length: int,
    properties_length: int,
    *,
    born_v6: bool = False,
    store_v6: bool = False,
    magic_v2: bool = False,
) -> int:
    """TOTALSIZE of a record with these lengths (bytes) and host families.

    Java ``MessageExtEncoder.calMsgLength``: 91 + body + topic + properties for
    IPv4 hosts and magic v1; +12 per IPv6 host, +1 for v2.
    """
    return (
        91
        + (12 if born_v6 else 0)
        + (12 if store_v6 else 0)
        + (1 if magic_v2 else 0)
        + body_length
        + topic_length
        + properties_length
    )


def store_timestamp_position(sys_flag: int) -> int:
    """Offset of STORETIMESTAMP in a record: 56, or 68 after an IPv6 born host."""
    return 68 if sys_flag & 0x10 else 56  # BORNHOST_V6 (an int: IntFlag's & is slow)


def peek_record_header(buf: bytes | bytearray | memoryview, offset: int = 0) -> tuple[int, int]:
    """TOTALSIZE and MAGICCODE (unsigned) of the record at ``offset``, unchecked.

    For a store scanning a commit log: compare the magic with :data:`MAGIC_V1`,
    :data:`MAGIC_V2` and :data:`BLANK_MAGIC` before decoding.

    Raises:
        RemoteProtocolError: fewer than 8 bytes from ``offset``.
    """
    if isinstance(buf, memoryview):
        buf = buf.cast("B")
    if offset < 0 or len(buf) - offset < _HEAD.size:
        raise RemoteProtocolError(
            f"record header needs 8 bytes, {max(len(buf) - offset, 0)} left", offset=offset
        )
    size, magic = _HEAD.unpack_from(buf, offset)
    return size, magic


# --- decoding ------------------------------------------------------------------------------


def decode_message(
    buf: bytes | bytearray | memoryview,
    offset: int = 0,
    *,
    decompress: bool = True,
    check_crc: bool = False,
    max_inflated: int = MAX_DECOMPRESSED_SIZE,
) -> tuple[MessageExt, int]:
    """Decode the record at ``offset``.

    Only the record's bytes are copied from a bytearray or memoryview, so this is
    fine on a large mapped file.

    Args:
        buf: the bytes holding the record.
        offset: where the record starts in ``buf``.
        decompress: inflate a COMPRESSED body and clear :attr:`SysFlag.COMPRESSED`
            in the returned ``sys_flag`` (as Java does; an empty body is left alone).
        check_crc: also verify BODYCRC against the stored body.
        max_inflated: the most bytes a compressed body may inflate to.

    Returns:
        The message and the offset just past the record.

    Raises:
        RemoteProtocolError: the bytes at ``offset`` are not a valid record;
            ``offset`` of the error is the position of the problem in ``buf``.
    """
    if type(buf) is bytes:
        if not 0 <= offset < len(buf):
            raise RemoteProtocolError(
                f"no record at offset {offset}: the buffer has {len(buf)} bytes"
            )
        out: list[MessageExt] = []
        budget = [max_inflated]
        end = _decode_records(out, buf, offset, len(buf), decompress, check_crc, 0, True, budget)
        return out[0], end
    view = memoryview(buf).cast("B")
    left = len(view) - offset
    if not 0 <= offset < len(view):
        raise RemoteProtocolError(f"no record at offset {offset}: the buffer has {len(view)} bytes")
    size = _I32.unpack_from(view, offset)[0] if left >= 4 else 0
    window = bytes(view[offset : offset + min(left, size if size > 0 else 128)])
    found: list[MessageExt] = []
    budget = [max_inflated]
    end = _decode_records(
        found, window, 0, len(window), decompress, check_crc, offset, True, budget
    )
    return found[0], offset + end


def decode_messages(
    buf: bytes | bytearray | memoryview,
    *,
    decompress: bool = True,
    check_crc: bool = False,
    max_inflated: int = MAX_DECOMPRESSED_SIZE,
) -> list[MessageExt]:
    """Decode back-to-back records filling ``buf`` (a pull, query or pop body).

    Args:
        buf: the whole body; it must end exactly at the end of a record.
        decompress: as for :func:`decode_message`.
        check_crc: as for :func:`decode_message`.
        max_inflated: the most bytes ALL compressed bodies of ``buf`` together may
            inflate to (one budget per call: many small bombs are one big bomb).

    Raises:
        RemoteProtocolError: any record is invalid (error offsets are positions in
            ``buf``) or the bodies inflate past ``max_inflated``; nothing is returned
            for the records before it.
    """
    data = buf if type(buf) is bytes else bytes(memoryview(buf).cast("B"))
    out: list[MessageExt] = []
    budget = [max_inflated]
    _decode_records(out, data, 0, len(data), decompress, check_crc, 0, False, budget)
    return out


def _decode_records_py(
    out: list[MessageExt],
    data: bytes,
    pos: int,
    limit: int,
    decompress: bool,
    check_crc: bool,
    base: int,
    single: bool,
    budget: list[int],
) -> int:
    """Append the records from ``pos`` up to ``limit`` (or just one if ``single``) to ``out``.

    Returns the offset after the last record. ``base`` shifts error offsets (the
    position of ``data`` in the caller's buffer). The loop only tests that the
    lengths add up; when a test fails, :func:`_diagnose` re-reads the record step
    by step to say what is wrong.
    """
    append = out.append
    unpack_44 = _FIXED_44.unpack_from
    unpack_16 = _I16.unpack_from
    hosts = _hosts_by_wire
    while pos < limit:
        try:
            (
                size, magic, crc, queue_id, flag, queue_offset, commit_log_offset, sys_flag,
                born_ts, born_raw, store_ts, store_raw, reconsume, prepared, body_len,
            ) = unpack_44(data, pos)  # fmt: skip
            start = pos + 88
            if sys_flag & _HOSTS_V6_MASK:
                layout = _FIXED[(sys_flag >> 4) & 3]
                (
                    size, magic, crc, queue_id, flag, queue_offset, commit_log_offset, sys_flag,
                    born_ts, born_raw, store_ts, store_raw, reconsume, prepared, body_len,
                ) = layout.unpack_from(data, pos)  # fmt: skip
                start = pos + layout.size
        except struct.error:
            raise _diagnose(data, pos, limit, base) from None
        end = pos + size
        body_end = start + body_len
        if magic == MAGIC_V1:
            if end > limit or body_len < 0 or body_end + 3 > end:
                raise _diagnose(data, pos, limit, base)
            topic_len = data[body_end]
            topic_start = body_end + 1
            if topic_len > MAX_TOPIC_LENGTH_V1:  # a signed byte: negative
                raise _diagnose(data, pos, limit, base)
        elif magic == MAGIC_V2:
            if end > limit or body_len < 0 or body_end + 4 > end:
                raise _diagnose(data, pos, limit, base)
            (topic_len,) = unpack_16(data, body_end)
            topic_start = body_end + 2
        else:
            raise _diagnose(data, pos, limit, base)
        topic_end = topic_start + topic_len
        if topic_len < 0 or topic_end + 2 > end:
            raise _diagnose(data, pos, limit, base)
        props_start = topic_end + 2
        if props_start + unpack_16(data, topic_end)[0] != end:
            raise _diagnose(data, pos, limit, base)
        try:
            topic = data[topic_start:topic_end].decode()
            props_text = data[props_start:end].decode()
        except UnicodeDecodeError:
            raise _diagnose(data, pos, limit, base) from None
        born_host = hosts.get(born_raw) or _host_from_wire(born_raw)
        store_host = hosts.get(store_raw) or _host_from_wire(store_raw)
        if born_host is None or store_host is None:
            raise _diagnose(data, pos, limit, base)
        body = data[start:body_end]
        if check_crc and _crc32(body) & 0x7FFFFFFF != crc:
            raise RemoteProtocolError(
                f"BODYCRC {crc} does not match the body (crc32 & 0x7FFFFFFF = "
                f"{body_crc(body)}): the record is corrupt (message record starting at byte "
                f"{base + pos})",
                offset=base + pos + 8,
            )
        if decompress and sys_flag & 1 and body:
            body = _decompress(body, sys_flag, base + start, budget[0])
            budget[0] -= len(body)
            sys_flag &= ~1

        m: Any = _MessageExtBuilder()
        m.store_size = size
        m.magic = magic
        m.body_crc = crc
        m.queue_id = queue_id
        m.flag = flag
        m.queue_offset = queue_offset
        m.commit_log_offset = commit_log_offset
        m.sys_flag = sys_flag
        m.born_timestamp = born_ts
        m.born_host = born_host
        m.store_timestamp = store_ts
        m.store_host = store_host
        m.reconsume_times = reconsume
        m.prepared_transaction_offset = prepared
        m.body = body
        m.topic = topic
        m.properties = props_text  # parsed on first read (_LazyProperties)
        m.__class__ = MessageExt
        append(m)
        pos = end
        if single:
            break
    return pos


_decode_records: Callable[
    [list[MessageExt], bytes, int, int, bool, bool, int, bool, list[int]], int
] = _decode_records_py
"""The record loop of :func:`decode_message` and :func:`decode_messages`:
:func:`_decode_records_py`, or the same function in C (``rmq_protocol._records``), which
hands every record it does not take to the Python one (one record at a time)."""


def _diagnose(data: bytes, pos: int, limit: int, base: int) -> RemoteProtocolError:
    """Say precisely why the record at ``pos`` does not decode (slow path)."""

    def error(what: str, at: int) -> RemoteProtocolError:
        return RemoteProtocolError(
            f"{what} (message record starting at byte {base + pos})", offset=base + at
        )

    left = limit - pos
    if pos < 0 or left < _HEAD.size:
        return error(f"truncated: {max(left, 0)} bytes left, a record has at least 91", pos)
    size, magic = _HEAD.unpack_from(data, pos)
    if magic == BLANK_MAGIC:
        return error("blank end-of-file filler (magic 0xCBD43194), not a message", pos + 4)
    if magic not in (MAGIC_V1, MAGIC_V2):
        return error(
            f"unknown magic code 0x{magic:08X} (expected 0xDAA320A7 or 0xDAA320AB): "
            "not a message record, or the buffer is misaligned",
            pos + 4,
        )
    if left < SYSFLAG_POSITION + 4:
        return error(f"truncated: {left} bytes left, a record has at least 91", pos)
    (sys_flag,) = _I32.unpack_from(data, pos + SYSFLAG_POSITION)
    layout = _FIXED[(sys_flag >> 4) & 3]
    topic_len_size = 1 if magic == MAGIC_V1 else 2
    fixed = layout.size + topic_len_size + 2
    if size < fixed:
        return error(f"TOTALSIZE {size} is less than the {fixed} bytes of fixed fields", pos)
    if size > left:
        return error(f"truncated: TOTALSIZE is {size} but only {left} bytes are left", pos)
    end = pos + size
    body_at = pos + layout.size - 4
    (body_len,) = _I32.unpack_from(data, body_at)
    if body_len < 0:
        return error(f"BODYLENGTH {body_len} is negative", body_at)
    body_end = pos + layout.size + body_len
    if body_end + topic_len_size + 2 > end:
        return error(
            f"BODYLENGTH {body_len} runs past the end of the record (TOTALSIZE {size})", body_at
        )
    if topic_len_size == 1:
        topic_len = data[body_end] - (256 if data[body_end] > MAX_TOPIC_LENGTH_V1 else 0)
    else:
        (topic_len,) = _I16.unpack_from(data, body_end)
    if topic_len < 0:
        return error(f"TOPICLENGTH {topic_len} is negative", body_end)
    topic_start = body_end + topic_len_size
    topic_end = topic_start + topic_len
    if topic_end + 2 > end:
        return error(
            f"TOPICLENGTH {topic_len} runs past the end of the record (TOTALSIZE {size})", body_end
        )
    (props_len,) = _I16.unpack_from(data, topic_end)
    if props_len < 0:
        return error(f"PROPERTIESLENGTH {props_len} is negative", topic_end)
    fields_end = topic_end + 2 + props_len
    if fields_end != end:
        return error(
            f"TOTALSIZE {size} does not match the fields (BODYLENGTH {body_len}, TOPICLENGTH "
            f"{topic_len}, PROPERTIESLENGTH {props_len}), which end {fields_end - pos} bytes "
            "after the record start",
            pos,
        )
    for what, first, last in (
        ("topic", topic_start, topic_end),
        ("properties", topic_end + 2, end),
    ):
        try:
            data[first:last].decode()
        except UnicodeDecodeError as e:
            return error(f"{what} is not valid UTF-8 ({e.reason})", first + e.start)
    for what, at, length in (
        ("BORNHOST", pos + BORN_HOST_POSITION, 20 if sys_flag & SysFlag.BORNHOST_V6 else 8),
        (
            "STOREHOST",
            pos + store_timestamp_position(sys_flag) + 8,
            20 if sys_flag & SysFlag.STOREHOSTADDRESS_V6 else 8,
        ),
    ):
        (port,) = _I32.unpack_from(data, at + length - 4)
        if not 0 <= port <= 0xFFFF:
            return error(f"{what} port {port} not in 0..65535", at + length - 4)
    return error("record does not decode", pos)


# --- encoding --------------------------------------------------------------------------------


def _field_error(message: MessageExt) -> LocalProtocolError:
    for name, low, high in (
        ("queue_id", _INT32_MIN, _INT32_MAX),
        ("flag", _INT32_MIN, _INT32_MAX),
        ("queue_offset", _INT64_MIN, _INT64_MAX),
        ("commit_log_offset", _INT64_MIN, _INT64_MAX),
        ("sys_flag", _INT32_MIN, _INT32_MAX),
        ("born_timestamp", _INT64_MIN, _INT64_MAX),
        ("store_timestamp", _INT64_MIN, _INT64_MAX),
        ("reconsume_times", _INT32_MIN, _INT32_MAX),
        ("prepared_transaction_offset", _INT64_MIN, _INT64_MAX),
    ):
        value = getattr(message, name)
        if not isinstance(value, int) or not low <= value <= high:
            return LocalProtocolError(f"{name} {value!r} does not fit its field ({low}..{high})")
    return LocalProtocolError(f"message too large: body {len(message.body)} bytes")


def _encode_message_py(message: MessageExt) -> bytes:
    """The record of ``message`` (as a broker stores it and a pull returns it).

    TOTALSIZE, BODYCRC (of ``body`` as given) and the IPv6 sysFlag bits are
    computed; ``store_size`` and ``body_crc`` of ``message`` are ignored. The
    body is written as it is: to send a compressed body, compress it with
    :func:`compress_body` and set the returned bits in ``sys_flag`` first.
    Magic v2 is used when ``message.magic`` is :data:`MAGIC_V2` or the topic is
    longer than 127 UTF-8 bytes (as a 5.x broker does).

    Raises:
        LocalProtocolError: a field does not fit its wire type, a host is not an
            IP address, the topic or properties are too long, a property holds a
            separator, or ``magic`` is neither v1 nor v2.
    """
    magic = message.magic
    if magic != MAGIC_V1 and magic != MAGIC_V2:
        raise LocalProtocolError(
            f"magic 0x{magic:X} is neither MAGIC_V1 nor MAGIC_V2: cannot encode a record"
        )
    body = message.body
    cached = _topic_fields.get((message.topic, magic))
    topic = message.topic.encode() if cached is None else b""
    raw_props = _PROPERTIES_SLOT.__get__(message, MessageExt)
    props_text = raw_props if isinstance(raw_props, str) else _props.encode_properties(raw_props)
    props = props_text.encode()
    props_len = len(props)
    if props_len > _props.MAX_PROPERTIES_LENGTH:
        raise LocalProtocolError(
            f"properties are {props_len} bytes encoded, more than the "
            f"{_props.MAX_PROPERTIES_LENGTH} a record can carry"
        )
    topic_field, record_magic = cached or _topic_field(message.topic, topic, magic)
    host = message.born_host
    born = _wire_by_host.get((host.host, host.port)) or _host_to_wire(host, "born host")
    host = message.store_host
    store = _wire_by_host.get((host.host, host.port)) or _host_to_wire(host, "store host")
    flags = (message.sys_flag & ~_HOSTS_V6_MASK) | (0x10 if len(born) == 20 else 0)
    flags |= 0x20 if len(store) == 20 else 0
    layout = _FIXED[(flags >> 4) & 3]
    body_len = len(body)
    size = layout.size + body_len + len(topic_field) + 2 + props_len
    try:
        head = layout.pack(
            size,
            record_magic,
            _crc32(body) & 0x7FFFFFFF,
            message.queue_id,
            message.flag,
            message.queue_offset,
            message.commit_log_offset,
            flags,
            message.born_timestamp,
            born,
            message.store_timestamp,
            store,
            message.reconsume_times,
            message.prepared_transaction_offset,
            body_len,
        )
    except struct.error:
        raise _field_error(message) from None
    return b"".join((head, body, topic_field, _I16.pack(props_len), props))


encode_message: Callable[[MessageExt], bytes] = _encode_message_py
"""The record of a message: :func:`_encode_message_py` (whose docstring tells what it does and
raises), or the same function in C from :mod:`rmq_protocol.codec.speedups`."""
encode_message_py: Final = _encode_message_py
"""The pure-Python :func:`encode_message`, whichever one is in use (differential tests)."""
if _speedups is not None:
    _speedups.init(
        message_type=MessageExt,
        host_type=HostPort,
        properties_slot=_PROPERTIES_SLOT,
        encode_message=_encode_message_py,
    )
    encode_message = _speedups.encode_message


# (topic, magic asked for) → (TOPICLENGTH + TOPIC, magic written)
_topic_fields: dict[tuple[str, int], tuple[bytes, int]] = {}


def _topic_field(topic: str, encoded: bytes, magic: int) -> tuple[bytes, int]:
    """TOPICLENGTH and TOPIC of a record, and its magic: v2 (a 2-byte length) when asked
    for or when the topic is longer than 127 bytes. Cached: a store sees few topics."""
    if magic == MAGIC_V2 or len(encoded) > MAX_TOPIC_LENGTH_V1:
        if len(encoded) > 0x7FFF:
            raise LocalProtocolError(f"topic is {len(encoded)} bytes, more than 32767")
        result = (_I16.pack(len(encoded)) + encoded, MAGIC_V2)
    else:
        result = (_U8.pack(len(encoded)) + encoded, MAGIC_V1)
    if len(_topic_fields) >= _CACHE_LIMIT:
        _topic_fields.clear()
    _topic_fields[(topic, magic)] = result
    return result


# --- batch bodies ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchEntry:
    """One message of a SEND_BATCH_MESSAGE body (topic and queue are in the header)."""

    body: bytes
    flag: int = 0
    properties: dict[str, str] = field(default_factory=dict, hash=False)


def _encode_batch_py(entries: Iterable[BatchEntry]) -> bytes:
    """The SEND_BATCH_MESSAGE body of ``entries`` (MAGICCODE and BODYCRC 0, as clients write).

    Raises:
        LocalProtocolError: a flag is not an int32, properties are longer than
            32767 bytes or hold a separator character.
    """
    parts: list[bytes] = []
    for index, entry in enumerate(entries):
        props = _props.encode_properties(entry.properties).encode()
        if len(props) > _props.MAX_PROPERTIES_LENGTH:
            raise LocalProtocolError(
                f"batch entry {index}: properties are {len(props)} bytes encoded, more than "
                f"{_props.MAX_PROPERTIES_LENGTH}"
            )
        body = entry.body
        try:
            head = _BATCH_HEAD.pack(
                _BATCH_MIN + len(body) + len(props), 0, 0, entry.flag, len(body)
            )
        except struct.error:
            raise LocalProtocolError(
                f"batch entry {index}: flag {entry.flag!r} is not an int32 or the body is too large"
            ) from None
        parts += (head, body, _I16.pack(len(props)), props)
    return b"".join(parts)


def _batch_error(start: int, what: str, at: int) -> RemoteProtocolError:
    return RemoteProtocolError(f"{what} (batch entry starting at byte {start})", offset=at)


def _split_batch(body: bytes | bytearray | memoryview) -> list[tuple[int, bytes, str]]:
    """The entries of a SEND_BATCH_MESSAGE body as (flag, body, properties text).

    Raises:
        RemoteProtocolError: as :func:`_decode_batch_py`.
    """
    data = body if type(body) is bytes else bytes(memoryview(body).cast("B"))
    limit = len(data)
    pos = 0
    out: list[tuple[int, bytes, str]] = []
    head_size = _BATCH_HEAD.size
    unpack_head, unpack_i16 = _BATCH_HEAD.unpack_from, _I16.unpack_from
    while pos < limit:
        left = limit - pos
        if left < _BATCH_MIN:
            error = functools.partial(_batch_error, pos)
            raise error(f"truncated: {left} bytes left, an entry has at least {_BATCH_MIN}", pos)
        size, _magic, _crc, flag, body_len = unpack_head(data, pos)
        if size < _BATCH_MIN:
            error = functools.partial(_batch_error, pos)
            raise error(
                f"TOTALSIZE {size} is less than the {_BATCH_MIN} bytes of fixed fields", pos
            )
        if size > left:
            error = functools.partial(_batch_error, pos)
            raise error(f"truncated: TOTALSIZE is {size} but only {left} bytes are left", pos)
        end = pos + size
        if body_len < 0 or body_len > size - _BATCH_MIN:
            error = functools.partial(_batch_error, pos)
            raise error(f"BODYLENGTH {body_len} does not fit TOTALSIZE {size}", pos + 16)
        body_end = pos + head_size + body_len
        (props_len,) = unpack_i16(data, body_end)
        if props_len < 0 or body_end + 2 + props_len != end:
            error = functools.partial(_batch_error, pos)
            raise error(f"PROPERTIESLENGTH {props_len} does not match TOTALSIZE {size}", body_end)
        try:
            text = data[body_end + 2 : end].decode()
        except UnicodeDecodeError as e:
            error = functools.partial(_batch_error, pos)
            raise error(
                f"properties are not valid UTF-8 ({e.reason})", body_end + 2 + e.start
            ) from None
        out.append((flag, data[pos + head_size : body_end], text))
        pos = end
    return out


def _decode_batch_py(body: bytes | bytearray | memoryview) -> list[BatchEntry]:
    """Split a SEND_BATCH_MESSAGE body into its entries.

    MAGICCODE and BODYCRC are ignored (clients write 0); TOTALSIZE must match.

    Raises:
        RemoteProtocolError: an entry is truncated, has a negative length, does not
            add up to its TOTALSIZE, or has properties that are not UTF-8.
    """
    out: list[BatchEntry] = []
    decode_properties = _props.decode_properties
    for flag, entry_body, text in _split_batch(body):
        # BatchEntry(body, flag, properties) without the frozen __init__ (see
        # _MessageExtBuilder): filled as a builder, then re-classed.
        entry = _BatchEntryBuilder()
        entry.body = entry_body
        entry.flag = flag
        entry.properties = decode_properties(text)
        entry.__class__ = BatchEntry  # type: ignore[assignment]
        out.append(cast(BatchEntry, entry))
    return out


def _decode_batch_messages_py(
    body: bytes | bytearray | memoryview,
    topic: str,
    queue_id: int,
    sys_flag: int,
    born_timestamp: int,
    born_host: HostPort,
    store_host: HostPort,
    reconsume_times: int,
    watch: str,
    text_properties: bool,
    /,
) -> tuple[list[MessageExt], list[int]]:
    """A SEND_BATCH_MESSAGE body straight into the messages a broker stores.

    One :class:`MessageExt` per entry, with the entry's ``flag``, ``body`` and
    ``properties`` and the given ``topic``, ``queue_id``, ``sys_flag``,
    ``born_timestamp``, ``born_host``, ``store_host`` and ``reconsume_times`` (these
    objects themselves, shared by every message); every other field has its default, as
    ``MessageExt(topic=..., ...)`` gives it. With ``text_properties`` the properties stay
    the entry's text, parsed on first read of :attr:`MessageExt.properties` (a store
    copies the text into the record as it is); otherwise they are a dict.

    Returns:
        The messages, and the indexes of the entries whose properties have a property
        named ``watch`` (as :func:`~rmq_protocol.codec.properties.decode_properties`
        reads them), e.g. ``"DELAY"`` for a broker that refuses delayed entries.

    Raises:
        RemoteProtocolError: as :func:`decode_batch`.
    """
    messages: list[MessageExt] = []
    watched: list[int] = []
    decode_properties = _props.decode_properties
    for index, (flag, entry_body, text) in enumerate(_split_batch(body)):
        properties = decode_properties(text)
        if watch in properties:
            watched.append(index)
        messages.append(
            _new_message_py(
                topic,
                queue_id,
                flag,
                sys_flag,
                born_timestamp,
                born_host,
                store_host,
                reconsume_times,
                entry_body,
                text if text_properties else properties,
            )
        )
    return messages, watched


def _new_message_py(
    topic: str,
    queue_id: int,
    flag: int,
    sys_flag: int,
    born_timestamp: int,
    born_host: HostPort,
    store_host: HostPort,
    reconsume_times: int,
    body: bytes,
    properties: dict[str, str] | str,
    /,
) -> MessageExt:
    """The :class:`MessageExt` that ``MessageExt(topic=topic, queue_id=queue_id, ...)``
    builds with these ten fields (every other field its default), positionally and
    without the keyword constructor: the message a broker stores for a send. The values
    are stored as given, unchecked; ``properties`` may be the undecoded properties text
    (parsed on first read of :attr:`MessageExt.properties`, as a decoded record's)."""
    m: Any = _MessageExtBuilder()
    m.store_size = 0
    m.magic = MAGIC_V1
    m.body_crc = 0
    m.queue_id = queue_id
    m.flag = flag
    m.queue_offset = 0
    m.commit_log_offset = 0
    m.sys_flag = sys_flag
    m.born_timestamp = born_timestamp
    m.born_host = born_host
    m.store_timestamp = 0
    m.store_host = store_host
    m.reconsume_times = reconsume_times
    m.prepared_transaction_offset = 0
    m.body = body
    m.topic = topic
    m.properties = properties
    m.__class__ = MessageExt
    message: MessageExt = m
    return message


new_message: Callable[
    [str, int, int, int, int, HostPort, HostPort, int, bytes, dict[str, str] | str], MessageExt
] = _new_message_py
"""``new_message(topic, queue_id, flag, sys_flag, born_timestamp, born_host, store_host,
reconsume_times, body, properties)``, all positional: :func:`_new_message_py` (whose
docstring tells what it builds), or the same function in C from ``rmq_protocol._records``."""
new_message_py: Final = _new_message_py
"""The pure-Python :func:`new_message` (differential tests)."""


encode_batch: Callable[[Iterable[BatchEntry]], bytes] = _encode_batch_py
"""The SEND_BATCH_MESSAGE body of entries: :func:`_encode_batch_py` (whose docstring tells
what it does and raises), or the same function in C from ``rmq_protocol._records``."""
decode_batch: Callable[[bytes | bytearray | memoryview], list[BatchEntry]] = _decode_batch_py
"""A SEND_BATCH_MESSAGE body's entries: :func:`_decode_batch_py` (whose docstring tells what
it does and raises), or the same function in C from ``rmq_protocol._records``."""
decode_batch_messages: Callable[
    [bytes | bytearray | memoryview, str, int, int, int, HostPort, HostPort, int, str, bool],
    tuple[list[MessageExt], list[int]],
] = _decode_batch_messages_py
"""``decode_batch_messages(body, topic, queue_id, sys_flag, born_timestamp, born_host,
store_host, reconsume_times, watch, text_properties) -> (messages, watched)``, all
positional: :func:`_decode_batch_messages_py` (whose docstring tells what it does and
raises), or the same function in C from ``rmq_protocol._records``."""
encode_batch_py: Final = _encode_batch_py
"""The pure-Python :func:`encode_batch` (differential tests)."""
decode_batch_py: Final = _decode_batch_py
"""The pure-Python :func:`decode_batch` (differential tests)."""
decode_batch_messages_py: Final = _decode_batch_messages_py
"""The pure-Python :func:`decode_batch_messages` (differential tests)."""
decode_records_py: Final = _decode_records_py
"""The pure-Python record loop (differential tests)."""


@final
class _BatchEntryBuilder:
    """Same slots as BatchEntry, plain setattr (decode_batch fills one, re-classes it)."""

    __slots__ = BatchEntry.__slots__

    body: bytes
    flag: int
    properties: dict[str, str]


if _records is not None:
    _records.init(
        message_type=MessageExt,
        message_fields=tuple(f.name for f in dataclasses.fields(MessageExt)),
        properties_slot=_PROPERTIES_SLOT,
        batch_entry_type=BatchEntry,
        batch_entry_fields=tuple(f.name for f in dataclasses.fields(BatchEntry)),
        decode_records=_decode_records_py,
        host_from_wire=_host_from_wire,
        decompress=_decompress,
        decode_batch=_decode_batch_py,
        decode_batch_messages=_decode_batch_messages_py,
        encode_batch=_encode_batch_py,
    )
    _install(MessageExt, "properties", _records.LazyProperties())
    _decode_records = _records.decode_records
    encode_batch = _records.encode_batch
    decode_batch = _records.decode_batch
    decode_batch_messages = _records.decode_batch_messages
    new_message = _records.new_message
