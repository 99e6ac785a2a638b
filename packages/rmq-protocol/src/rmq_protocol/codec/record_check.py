"""Is there a valid message record here? :func:`decode_message`'s verdict, without decoding.

Recovery walks gigabytes of commit log only to find where the valid records end; building
a :class:`~rmq_protocol.codec.message.MessageExt` (and copying each record out of the
mapped file to do so) for every record it then throws away is most of that walk's cost.
:func:`check_record` applies the same tests as :func:`decode_message` (the lengths add
up, the topic and properties are UTF-8, the ports are 0..65535, and optionally BODYCRC)
reading only the fixed fields in place: the body is CRC-checked through a memoryview and
only the topic and properties are copied, to test their UTF-8.
"""

from __future__ import annotations

import mmap
import struct
from typing import Final, NamedTuple

from rmq_protocol.codec.message import MAGIC_V1, MAGIC_V2, MAX_TOPIC_LENGTH_V1
from rmq_protocol.codec.speedups import crc32

__all__ = ["RecordShape", "check_record"]

# TOTALSIZE MAGIC BODYCRC QUEUEID FLAG QUEUEOFFSET PHYSICALOFFSET SYSFLAG BORNTIMESTAMP
_PREFIX: Final = struct.Struct(">iIiiiqqiq")  # 48 bytes, up to BORNHOST
_I32: Final = struct.Struct(">i")
_I16: Final = struct.Struct(">h")
_V6_BORN: Final = 0x10
_V6_STORE: Final = 0x20


class RecordShape(NamedTuple):
    """Where the parts of a valid record are, relative to its start."""

    size: int
    properties_length: int


def check_record(
    buf: bytes | bytearray | memoryview | mmap.mmap,
    offset: int,
    limit: int,
    *,
    check_crc: bool,
) -> RecordShape | None:
    """The shape of the record at ``offset`` when :func:`decode_message` would decode it
    from ``buf[offset:limit]`` (``decompress=False``, the same ``check_crc``); else None.

    ``buf`` may be a mapped file: nothing is copied but the topic and properties.
    """
    if limit - offset < 88:  # the fixed fields of the shortest layout (both hosts IPv4)
        return None
    size, magic, crc, _, _, _, _, sys_flag, _ = _PREFIX.unpack_from(buf, offset)
    born_end = offset + 48 + (20 if sys_flag & _V6_BORN else 8)
    store_end = born_end + 8 + (20 if sys_flag & _V6_STORE else 8)
    body_at = store_end + 16  # RECONSUMETIMES, PREPARED_TRANSACTION_OFFSET, BODYLENGTH
    if body_at > limit:
        return None
    (body_len,) = _I32.unpack_from(buf, body_at - 4)
    end = offset + size
    body_end = body_at + body_len
    if magic == MAGIC_V1:
        if end > limit or body_len < 0 or body_end + 3 > end:
            return None
        topic_len = buf[body_end]
        if topic_len > MAX_TOPIC_LENGTH_V1:  # a signed byte: negative
            return None
        topic_at = body_end + 1
    elif magic == MAGIC_V2:
        if end > limit or body_len < 0 or body_end + 4 > end:
            return None
        (topic_len,) = _I16.unpack_from(buf, body_end)
        topic_at = body_end + 2
    else:
        return None
    topic_end = topic_at + topic_len
    if topic_len < 0 or topic_end + 2 > end:
        return None
    (properties_len,) = _I16.unpack_from(buf, topic_end)
    if topic_end + 2 + properties_len != end:
        return None
    (born_port,) = _I32.unpack_from(buf, born_end - 4)
    (store_port,) = _I32.unpack_from(buf, store_end - 4)
    if not (0 <= born_port <= 0xFFFF and 0 <= store_port <= 0xFFFF):
        return None
    with memoryview(buf) as view:  # released at once: a mapped file can then close
        try:
            bytes(view[topic_at:topic_end]).decode()
            bytes(view[topic_end + 2 : end]).decode()
        except UnicodeDecodeError:
            return None
        if check_crc and crc32(view[body_at:body_end]) & 0x7FFFFFFF != crc:
            return None
    return RecordShape(size, properties_len)
