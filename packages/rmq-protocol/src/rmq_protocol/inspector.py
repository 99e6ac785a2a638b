"""Frame inspector: remoting frames in, one JSON object per frame out.

Behind ``python -m rmq_protocol decode``. Input is either a raw byte stream of
length-prefixed frames (a file, stdin, a tcpdump payload) or hex text with one
frame per line (``--hex``; the length prefix may be present or not; spaces,
``0x`` and ``#`` comments are ignored). Each frame becomes one JSON line with
its header fields, code names, typed custom header and, where the code has a
known body, the decoded body: route data, heartbeats, register-broker bodies,
message lists of pull/query responses and batch sends, …

Responses do not say which request they answer; the inspector pairs them with
earlier requests of the same input by ``opaque``. Otherwise (or with
``--response-to CODE``) the body is recognised by its shape: stored messages,
then JSON.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import struct
from collections.abc import Callable, Iterator
from typing import Final

import orjson

from rmq_protocol.capture import Endpoint, read_tcp_chunks
from rmq_protocol.codec import body as bodies
from rmq_protocol.codec.codes import RequestCode, ResponseCode, SerializeType
from rmq_protocol.codec.command import RemotingCommand, decode_command
from rmq_protocol.codec.fastjson import JSONValue, ObjectKey, dumps, loads
from rmq_protocol.codec.frame import DEFAULT_MAX_FRAME_SIZE, FrameDecoder
from rmq_protocol.codec.header import CommandHeader
from rmq_protocol.codec.headers import REQUEST_HEADERS, RESPONSE_HEADERS
from rmq_protocol.codec.message import MessageExt, decode_batch, decode_messages
from rmq_protocol.codec.properties import decode_properties
from rmq_protocol.codec.version import version_name
from rmq_protocol.errors import ProtocolError, RemoteProtocolError

__all__ = ["FrameReport", "describe", "inspect_capture", "inspect_hex_lines", "inspect_stream"]

_LENGTH: Final = struct.Struct(">i")
_HEX_NOISE: Final = re.compile(r"0x|[\s:,]", re.IGNORECASE)
_TEXT_PREVIEW: Final = 256

Report = dict[str, object]
_BodyDecoder = Callable[[bytes], object]


@dataclasses.dataclass(frozen=True, slots=True)
class FrameReport:
    """One inspected frame: the JSON-ready report and whether it was an error."""

    report: Report
    ok: bool

    def to_json(self) -> bytes:
        return orjson.dumps(self.report)


# --------------------------------------------------------------------------- bodies


def _json_body(cls: type[bodies._Body]) -> _BodyDecoder:
    def decode(data: bytes) -> object:
        return _jsonable(cls.from_json(data).to_value())

    decode.__name__ = cls.__name__
    return decode


def _messages(data: bytes) -> object:
    return [_message(m) for m in decode_messages(data)]


def _batch(data: bytes) -> object:
    return [
        {"flag": e.flag, "properties": e.properties, **_payload(e.body)} for e in decode_batch(data)
    ]


def _properties_text(data: bytes) -> object:
    return bodies.decode_properties_text(data)


def _register_broker(data: bytes) -> object:
    return _jsonable(bodies.RegisterBrokerBody.decode(data).to_value())


_REQUEST_BODIES: Final[dict[int, _BodyDecoder]] = {
    RequestCode.REGISTER_BROKER: _register_broker,
    RequestCode.HEART_BEAT: _json_body(bodies.HeartbeatData),
    RequestCode.SEND_BATCH_MESSAGE: _batch,
    RequestCode.LOCK_BATCH_MQ: _json_body(bodies.LockBatchRequestBody),
    RequestCode.UNLOCK_BATCH_MQ: _json_body(bodies.UnlockBatchRequestBody),
    RequestCode.UPDATE_NAMESRV_CONFIG: _properties_text,
    RequestCode.UPDATE_BROKER_CONFIG: _properties_text,
    RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: _json_body(bodies.SubscriptionGroupConfig),
    RequestCode.CHECK_TRANSACTION_STATE: _messages,
    RequestCode.CONSUME_MESSAGE_DIRECTLY: _messages,
    RequestCode.RESET_CONSUMER_CLIENT_OFFSET: _json_body(bodies.ResetOffsetBody),
    RequestCode.REGISTER_TOPIC_IN_NAMESRV: _json_body(bodies.TopicRouteData),
}

_RESPONSE_BODIES: Final[dict[int, _BodyDecoder]] = {
    RequestCode.GET_ROUTEINFO_BY_TOPIC: _json_body(bodies.TopicRouteData),
    RequestCode.GET_BROKER_CLUSTER_INFO: _json_body(bodies.ClusterInfo),
    RequestCode.PULL_MESSAGE: _messages,
    RequestCode.LITE_PULL_MESSAGE: _messages,
    RequestCode.QUERY_MESSAGE: _messages,
    RequestCode.VIEW_MESSAGE_BY_ID: _messages,
    RequestCode.POP_MESSAGE: _messages,
    RequestCode.PEEK_MESSAGE: _messages,
    RequestCode.GET_CONSUMER_LIST_BY_GROUP: _json_body(bodies.GetConsumerListByGroupResponseBody),
    RequestCode.LOCK_BATCH_MQ: _json_body(bodies.LockBatchResponseBody),
    RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER: _json_body(bodies.TopicList),
    RequestCode.GET_TOPICS_BY_CLUSTER: _json_body(bodies.TopicList),
    RequestCode.GET_KVLIST_BY_NAMESPACE: _json_body(bodies.KVTable),
    RequestCode.GET_BROKER_RUNTIME_INFO: _json_body(bodies.KVTable),
    RequestCode.REGISTER_BROKER: _json_body(bodies.KVTable),
    RequestCode.GET_CONSUMER_CONNECTION_LIST: _json_body(bodies.ConsumerConnection),
    RequestCode.GET_PRODUCER_CONNECTION_LIST: _json_body(bodies.ProducerConnection),
    RequestCode.GET_CONSUME_STATS: _json_body(bodies.ConsumeStats),
    RequestCode.GET_TOPIC_STATS_INFO: _json_body(bodies.TopicStatsTable),
    RequestCode.GET_NAMESRV_CONFIG: _properties_text,
    RequestCode.GET_BROKER_CONFIG: _properties_text,
    RequestCode.GET_SUBSCRIPTIONGROUP_CONFIG: _json_body(bodies.SubscriptionGroupConfig),
}

_SEND_CODES: Final = frozenset(
    {
        RequestCode.SEND_MESSAGE,
        RequestCode.SEND_MESSAGE_V2,
        RequestCode.SEND_REPLY_MESSAGE,
        RequestCode.SEND_REPLY_MESSAGE_V2,
    }
)


def _payload(data: bytes) -> Report:
    """A message body for humans: text when it is printable UTF-8, else base64."""
    out: Report = {"bodyLength": len(data)}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and text.isprintable():
        out["bodyText"] = text if len(text) <= _TEXT_PREVIEW else text[:_TEXT_PREVIEW] + "…"
    else:
        shown = data[: _TEXT_PREVIEW * 3 // 4]
        out["bodyBase64"] = base64.b64encode(shown).decode()
        if len(shown) < len(data):
            out["bodyTruncated"] = True
    return out


def _message(m: MessageExt) -> Report:
    return {
        "topic": m.topic,
        "queueId": m.queue_id,
        "queueOffset": m.queue_offset,
        "commitLogOffset": m.commit_log_offset,
        "msgId": m.msg_id,
        "offsetMsgId": m.offset_msg_id,
        "sysFlag": m.sys_flag,
        "flag": m.flag,
        "bornTimestamp": m.born_timestamp,
        "bornHost": str(m.born_host),
        "storeTimestamp": m.store_timestamp,
        "storeHost": str(m.store_host),
        "reconsumeTimes": m.reconsume_times,
        "preparedTransactionOffset": m.prepared_transaction_offset,
        "storeSize": m.store_size,
        "bodyCrc": m.body_crc,
        "properties": m.properties,
        **_payload(m.body),
    }


def _jsonable(value: JSONValue | ObjectKey | object) -> object:
    """Make a decoded JSON value printable by orjson (object keys become their JSON text)."""
    if isinstance(value, dict):
        return {_key_text(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, ObjectKey):
        return _jsonable(value.to_dict())
    return value


def _key_text(key: object) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, ObjectKey):
        return dumps(key.to_dict()).decode()
    return str(key)


def _sniff_body(data: bytes) -> tuple[str, object]:
    """Recognise a body by its shape: stored messages, then JSON, then raw."""
    if len(data) >= 8 and _LENGTH.unpack_from(data)[0] <= len(data):
        try:
            return "messages", _messages(data)
        except RemoteProtocolError:
            pass
    stripped = data.lstrip()
    if stripped[:1] in (b"{", b"["):
        try:
            return "json", _jsonable(loads(data))
        except RemoteProtocolError:
            pass
    return "raw", _payload(data)


# --------------------------------------------------------------------------- frames


def describe(
    cmd: RemotingCommand, *, request_code: int | None = None, offset: int | None = None
) -> Report:
    """The report for one decoded command.

    ``request_code`` names the request a response answers (to decode its body and
    header); without it the body is sniffed.
    """
    body = bytes(cmd.body)
    report: Report = {}
    if offset is not None:
        report["offset"] = offset
    kind = "response" if cmd.is_response else ("oneway" if cmd.is_oneway else "request")
    report.update(
        {
            "kind": kind,
            "serializeType": SerializeType(cmd.serialize_type).name,
            "code": cmd.code,
            "codeName": cmd.code_name,
            "language": cmd.language.name,
            "version": cmd.version,
            "versionName": version_name(cmd.version),
            "opaque": cmd.opaque,
            "flag": cmd.flag,
            "remark": cmd.remark,
            "extFields": cmd.ext_fields,
        }
    )
    header_cls: type[CommandHeader] | None
    if cmd.is_response:
        report["answers"] = _request_name(request_code) if request_code is not None else None
        header_cls = RESPONSE_HEADERS.get(request_code) if request_code is not None else None  # type: ignore[call-overload]
        if cmd.code != ResponseCode.SUCCESS and cmd.code not in (10, 11, 12):
            header_cls = None  # error responses carry no typed header
    else:
        header_cls = REQUEST_HEADERS.get(cmd.code)  # type: ignore[call-overload]
    if header_cls is not None:
        report["headerType"] = header_cls.__name__
        try:
            header = cmd.decode_header(header_cls)
        except ProtocolError as exc:
            report["headerError"] = str(exc)
        else:
            report["header"] = _header_values(header)
    report["bodyLength"] = len(body)
    if body:
        _describe_body(cmd, body, request_code, report)
    return report


def _describe_body(
    cmd: RemotingCommand, body: bytes, request_code: int | None, report: Report
) -> None:
    decoder: _BodyDecoder | None
    if cmd.is_response:
        decoder = _RESPONSE_BODIES.get(request_code) if request_code is not None else None
    else:
        decoder = _REQUEST_BODIES.get(cmd.code)
    if decoder is None and not cmd.is_response and cmd.code in _SEND_CODES:
        report["bodyType"] = "message"
        report["body"] = _payload(body)
        properties = (cmd.ext_fields or {}).get("i") or (cmd.ext_fields or {}).get("properties")
        if properties:
            report["properties"] = decode_properties(properties)
        return
    if decoder is None:
        kind, value = _sniff_body(body)
        report["bodyType"] = kind
        report["body"] = value
        return
    report["bodyType"] = decoder.__name__.lstrip("_")
    try:
        report["body"] = decoder(body)
    except ProtocolError as exc:
        report["bodyError"] = str(exc)
        report["body"] = _payload(body)


def _header_values(header: CommandHeader) -> Report:
    values: Report = {}
    for field in header.wire_fields:
        value = getattr(header, field.name)
        if value is not None:
            values[field.key] = value.value if hasattr(value, "value") else value
    return values


def _request_name(code: int) -> str:
    try:
        return RequestCode(code).name
    except ValueError:
        return f"UNKNOWN({code})"


class _Pairing:
    """Remembers request codes by opaque so responses can be decoded."""

    def __init__(self, default: int | None) -> None:
        self._default = default
        self._codes: dict[int, int] = {}

    def code_for(self, cmd: RemotingCommand) -> int | None:
        if not cmd.is_response:
            if not cmd.is_oneway:
                self._codes[cmd.opaque] = cmd.code
            return None
        return self._codes.pop(cmd.opaque, self._default)


def inspect_stream(
    chunks: Iterator[bytes],
    *,
    response_to: int | None = None,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
) -> Iterator[FrameReport]:
    """Reports for a raw byte stream of length-prefixed frames.

    A framing error ends the stream (its report says where and why): after a bad
    length the frame boundaries are lost. Trailing bytes that do not make a
    whole frame are reported too.
    """
    decoder = FrameDecoder(max_frame_size=max_frame_size)
    pairing = _Pairing(response_to)
    position = 0
    for chunk in chunks:
        decoder.feed(chunk)
        while True:
            start = position
            try:
                frame = decoder.next_frame()
            except RemoteProtocolError as exc:
                yield _error(exc, start)
                return
            if frame is None:
                break
            position += 4 + len(frame)
            try:
                cmd = decode_command(frame)
            except RemoteProtocolError as exc:
                yield _error(exc, start, base=start)
                continue
            yield FrameReport(describe(cmd, request_code=pairing.code_for(cmd), offset=start), True)
    if decoder.buffered:
        yield FrameReport(
            {
                "offset": position,
                "error": f"input ends inside a frame: {decoder.buffered} bytes left over "
                "(truncated capture?)",
            },
            False,
        )


def inspect_capture(
    capture: bytes,
    *,
    port: int | None = None,
    response_to: int | None = None,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
) -> Iterator[FrameReport]:
    """Reports for every remoting frame in a pcap/pcapng capture, in capture order.

    Each TCP direction is reassembled and decoded on its own; responses are paired
    with requests of the same connection. A direction that is not remoting (HTTP,
    TLS, a framing error) is reported once and then ignored.
    """
    decoders: dict[tuple[Endpoint, Endpoint], FrameDecoder | None] = {}
    pairings: dict[tuple[Endpoint, Endpoint], _Pairing] = {}
    positions: dict[tuple[Endpoint, Endpoint], int] = {}
    chunks = read_tcp_chunks(capture, port=port)
    while True:
        try:
            chunk = next(chunks, None)
        except RemoteProtocolError as exc:  # the capture is cut or damaged from here on
            yield _error(exc, exc.offset or 0)
            break
        if chunk is None:
            break
        key = (chunk.source, chunk.destination)
        connection = (min(key), max(key))
        where = {
            "time": round(chunk.time, 6),
            "from": str(chunk.source),
            "to": str(chunk.destination),
        }
        if key not in decoders:
            decoders[key] = FrameDecoder(max_frame_size=max_frame_size)
            positions[key] = 0
        decoder = decoders[key]
        if decoder is None:
            continue
        pairing = pairings.setdefault(connection, _Pairing(response_to))
        decoder.feed(chunk.data)
        while True:
            start = positions[key]
            try:
                frame = decoder.next_frame()
            except RemoteProtocolError as exc:
                decoders[key] = None
                report = _error(exc, start).report
                report["error"] = f"{report['error']} (this direction is ignored from here on)"
                yield FrameReport({**where, **report}, False)
                break
            if frame is None:
                break
            positions[key] += 4 + len(frame)
            try:
                cmd = decode_command(frame)
            except RemoteProtocolError as exc:
                yield FrameReport({**where, **_error(exc, start, base=start).report}, False)
                continue
            report = describe(cmd, request_code=pairing.code_for(cmd), offset=start)
            yield FrameReport({**where, **report}, True)
    for (source, destination), decoder in decoders.items():
        if decoder is not None and decoder.buffered:
            yield FrameReport(
                {
                    "from": str(source),
                    "to": str(destination),
                    "error": f"capture ends inside a frame: {decoder.buffered} bytes left over",
                },
                False,
            )


def inspect_hex_lines(
    lines: Iterator[str], *, response_to: int | None = None
) -> Iterator[FrameReport]:
    """Reports for hex text, one frame per line (length prefix optional).

    A bad line is reported and the next line is read.
    """
    pairing = _Pairing(response_to)
    for number, raw in enumerate(lines, start=1):
        text = _HEX_NOISE.sub("", raw.split("#", 1)[0])
        if not text:
            continue
        try:
            data = bytes.fromhex(text)
        except ValueError as exc:
            yield FrameReport({"line": number, "error": f"not hex: {exc}"}, False)
            continue
        if (declared := _truncated_length(data)) is not None:
            yield FrameReport(
                {
                    "line": number,
                    "error": f"frame declares length {declared} but only {len(data) - 4} "
                    "bytes follow the length prefix: truncated line?",
                },
                False,
            )
            continue
        frame = _strip_length(data)
        try:
            cmd = decode_command(frame)
        except RemoteProtocolError as exc:
            report = _error(exc, 0).report
            report["line"] = number
            yield FrameReport(report, False)
            continue
        report = describe(cmd, request_code=pairing.code_for(cmd))
        yield FrameReport({"line": number, **report}, True)


def _truncated_length(data: bytes) -> int | None:
    """The declared length when ``data`` looks like a length-prefixed frame cut short."""
    if len(data) < 8:
        return None
    declared, info = struct.unpack_from(">iI", data)
    if len(data) - 4 < declared and declared >= 4 and (info & 0xFFFFFF) <= declared - 4:
        return int(declared)
    return None


def _strip_length(data: bytes) -> bytes:
    """Drop the length prefix when the line has one (it then counts the rest exactly)."""
    if len(data) >= 8 and _LENGTH.unpack_from(data)[0] == len(data) - 4:
        return data[4:]
    return data


def _error(exc: RemoteProtocolError, offset: int, *, base: int = 0) -> FrameReport:
    where = offset if exc.offset is None else base + exc.offset
    return FrameReport({"offset": where, "frameOffset": offset, "error": exc.detail}, False)
