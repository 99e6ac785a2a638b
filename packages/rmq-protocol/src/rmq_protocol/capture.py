"""Read TCP byte streams out of packet captures (tcpdump's pcap and Wireshark's pcapng).

For ``python -m rmq_protocol decode --pcap``: people debugging a wire incompatibility
usually have a capture file, not a raw byte stream. This module parses the capture
formats, the link layers tcpdump and Wireshark write on Linux and macOS (Ethernet with
VLAN tags, Linux "cooked" SLL and SLL2, BSD loopback, raw IP), IPv4/IPv6 and TCP, and
reassembles each direction of each TCP connection by sequence number (retransmissions
and overlaps dropped, out-of-order segments held until the gap fills).

Pure parsing, no I/O: feed it the capture's bytes.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import struct
from collections.abc import Iterator
from typing import Final

from rmq_protocol.errors import RemoteProtocolError

__all__ = ["Chunk", "Endpoint", "read_tcp_chunks"]

_PCAP_MAGICS: Final = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_PCAPNG_SHB: Final = 0x0A0D0D0A
_LINK_NULL, _LINK_ETHERNET, _LINK_RAW, _LINK_LOOP = 0, 1, 101, 108
_LINK_SLL, _LINK_SLL2, _LINK_IPV4, _LINK_IPV6 = 113, 276, 228, 229
_MAX_HELD: Final = 64 * 1024 * 1024  # out-of-order bytes held per direction


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclasses.dataclass(frozen=True, slots=True)
class Chunk:
    """In-order TCP payload bytes of one direction of one connection."""

    source: Endpoint
    destination: Endpoint
    time: float  # capture timestamp of the packet that completed these bytes (s)
    data: bytes


@dataclasses.dataclass(slots=True)
class _Packet:
    time: float
    link: int
    data: bytes
    cut: bool = False  # shorter than on the wire (the capture's snapshot length)


def _packets(capture: bytes) -> Iterator[_Packet]:
    if len(capture) < 4:
        raise RemoteProtocolError("file too short for a capture", offset=0)
    magic = capture[:4]
    if magic in _PCAP_MAGICS:
        yield from _pcap(capture, *_PCAP_MAGICS[magic])
    elif struct.unpack_from("<I", capture)[0] == _PCAPNG_SHB:
        yield from _pcapng(capture)
    else:
        raise RemoteProtocolError(
            f"not a pcap or pcapng capture (magic {magic.hex()}); for raw frames drop --pcap",
            offset=0,
        )


def _pcap(capture: bytes, endian: str, tick: float) -> Iterator[_Packet]:
    if len(capture) < 24:
        raise RemoteProtocolError("pcap global header cut short", offset=0)
    link = struct.unpack_from(endian + "I", capture, 20)[0] & 0x0FFFFFFF
    record = struct.Struct(endian + "IIII")
    pos = 24
    while pos + 16 <= len(capture):
        seconds, fraction, captured, original = record.unpack_from(capture, pos)
        pos += 16
        if captured > len(capture) - pos:
            raise RemoteProtocolError(
                f"packet of {captured} bytes runs past the end of the capture", offset=pos - 16
            )
        data = capture[pos : pos + captured]
        yield _Packet(seconds + fraction * tick, link, data, captured < original)
        pos += captured


def _pcapng(capture: bytes) -> Iterator[_Packet]:
    pos = 0
    endian = "<"
    links: list[tuple[int, float]] = []  # per interface: link type, seconds per tick
    while pos + 12 <= len(capture):
        block_type = struct.unpack_from(endian + "I", capture, pos)[0]
        if block_type == _PCAPNG_SHB:
            endian = "<" if capture[pos + 8 : pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            links = []
        length = struct.unpack_from(endian + "I", capture, pos + 4)[0]
        if length < 12 or length > len(capture) - pos:
            raise RemoteProtocolError(f"pcapng block length {length} is invalid", offset=pos)
        body = capture[pos + 8 : pos + length - 4]
        if block_type == 1 and len(body) >= 8:  # interface description
            links.append((struct.unpack_from(endian + "H", body)[0], _if_tsresol(body, endian)))
        elif block_type == 6 and len(body) >= 20:  # enhanced packet
            interface, high, low, captured, original = struct.unpack_from(endian + "IIIII", body)
            if interface < len(links) and captured <= len(body) - 20:
                link, tick = links[interface]
                data = body[20 : 20 + captured]
                yield _Packet(((high << 32) | low) * tick, link, data, captured < original)
        elif block_type == 3 and len(body) >= 4 and links:  # simple packet
            link, _ = links[0]
            yield _Packet(0.0, link, body[4:])
        pos += length


def _if_tsresol(body: bytes, endian: str) -> float:
    pos = 8
    while pos + 4 <= len(body):
        code, size = struct.unpack_from(endian + "HH", body, pos)
        if code == 0:
            break
        if pos + 4 + size > len(body):
            break
        if code == 9 and size >= 1:  # if_tsresol
            value = body[pos + 4]
            return 2.0 ** -(value & 0x7F) if value & 0x80 else 10.0**-value
        pos += 4 + (size + 3) // 4 * 4
    return 1e-6


def _network(packet: _Packet) -> bytes | None:
    """The IP packet inside a link-layer frame, or None for anything else."""
    data, link = packet.data, packet.link
    if link == _LINK_ETHERNET:
        pos, ethertype = 12, 0
        while pos + 2 <= len(data):
            ethertype = struct.unpack_from(">H", data, pos)[0]
            pos += 2
            if ethertype in (0x8100, 0x88A8):  # VLAN tag: skip it
                pos += 2
                continue
            break
        return data[pos:] if ethertype in (0x0800, 0x86DD) else None
    if link in (_LINK_NULL, _LINK_LOOP):
        return data[4:]
    if link == _LINK_SLL:
        return data[16:]
    if link == _LINK_SLL2:
        return data[20:]
    if link in (_LINK_RAW, _LINK_IPV4, _LINK_IPV6, 12, 14):
        return data
    return None


@dataclasses.dataclass(slots=True)
class _Segment:
    source: Endpoint
    destination: Endpoint
    seq: int
    syn: bool
    payload: bytes


def _tcp(ip: bytes) -> _Segment | None:
    if len(ip) < 20:
        return None
    version = ip[0] >> 4
    if version == 4:
        header_len = (ip[0] & 0x0F) * 4
        total = struct.unpack_from(">H", ip, 2)[0]
        if ip[9] != 6 or header_len < 20 or len(ip) < header_len:
            return None
        if struct.unpack_from(">H", ip, 6)[0] & 0x3FFF:
            return None  # IP fragments are not reassembled
        src: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv4Address(ip[12:16])
        dst: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv4Address(ip[16:20])
        end = min(len(ip), total) if total else len(ip)
        tcp = ip[header_len:end]
    elif version == 6 and len(ip) >= 40:
        if ip[6] != 6:
            return None  # extension headers are not followed
        payload_len = struct.unpack_from(">H", ip, 4)[0]
        src, dst = ipaddress.IPv6Address(ip[8:24]), ipaddress.IPv6Address(ip[24:40])
        tcp = ip[40 : 40 + payload_len]
    else:
        return None
    if len(tcp) < 20:
        return None
    sport, dport, seq = struct.unpack_from(">HHI", tcp)
    offset = (tcp[12] >> 4) * 4
    if offset < 20 or offset > len(tcp):
        return None
    syn = bool(tcp[13] & 0x02)
    return _Segment(
        Endpoint(str(src), sport), Endpoint(str(dst), dport), seq, syn, bytes(tcp[offset:])
    )


@dataclasses.dataclass(slots=True)
class _Direction:
    isn: int | None = None  # the SYN's sequence number, when seen
    next_seq: int | None = None
    held: dict[int, bytes] = dataclasses.field(default_factory=dict)
    held_bytes: int = 0


def _accept(direction: _Direction, seq: int, payload: bytes) -> bytes:
    """The new in-order bytes that ``payload`` at ``seq`` makes available."""
    if direction.next_seq is None:
        direction.next_seq = seq
    out = bytearray()
    offset = (seq - direction.next_seq) % 2**32
    if offset >= 2**31:  # starts before what we have: a retransmission or overlap
        overlap = 2**32 - offset
        if overlap >= len(payload):
            return b""
        payload, offset = payload[overlap:], 0
    if offset > 0:  # a gap: hold it until the missing bytes arrive
        previous = direction.held.get(seq, b"")
        if len(payload) > len(previous) and (
            direction.held_bytes - len(previous) + len(payload) <= _MAX_HELD
        ):
            direction.held[seq] = payload
            direction.held_bytes += len(payload) - len(previous)
        return b""
    out += payload
    direction.next_seq = (direction.next_seq + len(payload)) % 2**32
    # Held segments that now start at or before next_seq: append what is new in them.
    progress = True
    while progress and direction.held:
        progress = False
        for held_seq in list(direction.held):
            start = (held_seq - direction.next_seq) % 2**32
            if 0 < start < 2**31:
                continue  # still beyond a gap
            data = direction.held.pop(held_seq)
            direction.held_bytes -= len(data)
            skip = 0 if start == 0 else 2**32 - start
            if skip < len(data):
                out += data[skip:]
                direction.next_seq = (direction.next_seq + len(data) - skip) % 2**32
            progress = True
    return bytes(out)


def read_tcp_chunks(capture: bytes, *, port: int | None = None) -> Iterator[Chunk]:
    """In-order payload of every TCP direction in ``capture``, in capture order.

    Args:
        capture: the whole capture file (pcap or pcapng).
        port: only connections with this port on either side.

    Raises:
        RemoteProtocolError: the file is not a capture, or is cut inside a record.
    """
    directions: dict[tuple[Endpoint, Endpoint], _Direction] = {}
    for packet in _packets(capture):
        ip = _network(packet)
        segment = _tcp(ip) if ip is not None else None
        if segment is None:
            continue
        if port is not None and port not in (segment.source.port, segment.destination.port):
            continue
        if packet.cut and segment.payload:
            raise RemoteProtocolError(
                f"a packet of {segment.source} -> {segment.destination} was cut by the "
                "capture's snapshot length: capture with tcpdump -s 0 (the default) to "
                "decode its frames"
            )
        key = (segment.source, segment.destination)
        direction = directions.setdefault(key, _Direction())
        seq = segment.seq
        if segment.syn:
            if direction.isn != seq:  # a new connection on these ports (not a repeated SYN)
                direction.isn, direction.next_seq = seq, (seq + 1) % 2**32
                direction.held.clear()
                direction.held_bytes = 0
            seq = (seq + 1) % 2**32  # data on a SYN (TCP Fast Open) follows it
        if not segment.payload:
            continue
        data = _accept(direction, seq, segment.payload)
        if data:
            yield Chunk(segment.source, segment.destination, packet.time, data)
