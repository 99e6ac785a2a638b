"""Sans-IO codec for RocketMQ's remoting protocol: bytes in, frozen values out.

No event loop, sockets, clocks or logging here (a ruff rule bans the imports);
:mod:`rmq_protocol.transport` does the I/O. Modules:

* :mod:`~rmq_protocol.codec.frame` — :class:`FrameDecoder` (feed bytes, pull commands)
* :mod:`~rmq_protocol.codec.command` — :class:`RemotingCommand`, both header forms
* :mod:`~rmq_protocol.codec.codes` — RequestCode, ResponseCode, LanguageCode
* :mod:`~rmq_protocol.codec.header` / :mod:`~rmq_protocol.codec.headers` — typed custom headers
* :mod:`~rmq_protocol.codec.message` / :mod:`~rmq_protocol.codec.properties` /
  :mod:`~rmq_protocol.codec.msgid` — stored messages, batches, properties, message ids
* :mod:`~rmq_protocol.codec.body` / :mod:`~rmq_protocol.codec.fastjson` — JSON bodies
* :mod:`~rmq_protocol.codec.version` — the ``version`` field (MQVersion ordinals)
* :mod:`~rmq_protocol.codec.hashing` — Java ``String.hashCode``, tag codes, index key hashes
* :mod:`~rmq_protocol.codec.acl` — ACL 1.0 request signing and verification
"""

from rmq_protocol.codec.acl import sign_command, verify_signature
from rmq_protocol.codec.codes import (
    FLAG_ONEWAY,
    FLAG_RESPONSE,
    LanguageCode,
    RequestCode,
    ResponseCode,
    SerializeType,
    code_name,
)
from rmq_protocol.codec.command import (
    BytesLike,
    RemotingCommand,
    decode_command,
    encode_command,
    encode_command_parts,
)
from rmq_protocol.codec.frame import DEFAULT_MAX_FRAME_SIZE, FrameDecoder
from rmq_protocol.codec.hashing import index_key_hash, java_string_hash, tags_code
from rmq_protocol.codec.header import CommandHeader, command_header, wire
from rmq_protocol.codec.message import (
    BatchEntry,
    HostPort,
    MessageExt,
    decode_batch,
    decode_message,
    decode_messages,
    encode_batch,
    encode_message,
)
from rmq_protocol.codec.msgid import UniqueIdGenerator, decode_offset_msg_id, offset_msg_id
from rmq_protocol.codec.properties import decode_properties, encode_properties
from rmq_protocol.codec.version import CURRENT_VERSION, mq_version, version_name

__all__ = [
    "CURRENT_VERSION",
    "DEFAULT_MAX_FRAME_SIZE",
    "FLAG_ONEWAY",
    "FLAG_RESPONSE",
    "BatchEntry",
    "BytesLike",
    "CommandHeader",
    "FrameDecoder",
    "HostPort",
    "LanguageCode",
    "MessageExt",
    "RemotingCommand",
    "RequestCode",
    "ResponseCode",
    "SerializeType",
    "UniqueIdGenerator",
    "code_name",
    "command_header",
    "decode_batch",
    "decode_command",
    "decode_message",
    "decode_messages",
    "decode_offset_msg_id",
    "decode_properties",
    "encode_batch",
    "encode_command",
    "encode_command_parts",
    "encode_message",
    "encode_properties",
    "index_key_hash",
    "java_string_hash",
    "mq_version",
    "offset_msg_id",
    "sign_command",
    "tags_code",
    "verify_signature",
    "version_name",
    "wire",
]
