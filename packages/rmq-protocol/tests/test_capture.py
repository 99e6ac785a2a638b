"""Packet captures: pcap/pcapng, link layers, TCP reassembly, and the --pcap inspector."""

from __future__ import annotations

import ipaddress
import json
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rmq_protocol.capture import read_tcp_chunks
from rmq_protocol.codec.codes import RequestCode
from rmq_protocol.codec.command import RemotingCommand, encode_command
from rmq_protocol.errors import RemoteProtocolError
from rmq_protocol.inspector import inspect_capture

REAL = Path(__file__).parent / "vectors" / "alions-conversation.pcap"


def test_real_tcpdump_capture_of_alions_against_rmq() -> None:
    """Recorded with tcpdump on loopback: ali-ons producing and consuming via rmq."""
    reports = [r.report for r in inspect_capture(REAL.read_bytes())]
    assert all("error" not in r for r in reports), [r for r in reports if "error" in r]
    codes = [r["codeName"] for r in reports if r["kind"] != "response"]
    assert codes[:3] == ["GET_ROUTEINFO_BY_TOPIC", "SEND_MESSAGE_V2", "SEND_MESSAGE_V2"]
    assert "PULL_MESSAGE" in codes
    assert "HEART_BEAT" in codes
    pulls = [r for r in reports if r.get("answers") == "PULL_MESSAGE" and r["code"] == 0]
    (found,) = pulls
    messages = found["body"]
    assert isinstance(messages, list)
    assert messages[0]["bodyText"] == "pulled ünïcode"
    routes = [r for r in reports if r.get("bodyType") == "TopicRouteData"]
    assert routes
    assert all(r["from"] == "127.0.0.1:19876" for r in routes)


# ------------------------------------------------------------------ synthetic captures

A, B = ("10.0.0.1", 40000), ("10.0.0.2", 9876)


def _ipv4(src: str, dst: str, payload: bytes) -> bytes:
    header = struct.pack(
        ">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0, 64, 6, 0,
        bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))),
    )  # fmt: skip
    return header + payload


def _ipv6(src: str, dst: str, payload: bytes) -> bytes:
    return (
        struct.pack(">IHBB", 6 << 28, len(payload), 6, 64)
        + ipaddress.IPv6Address(src).packed
        + ipaddress.IPv6Address(dst).packed
        + payload
    )


def _tcp(sport: int, dport: int, seq: int, payload: bytes, *, syn: bool = False) -> bytes:
    flags = 0x02 if syn else 0x18
    return struct.pack(">HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 65535, 0, 0) + payload


def _ethernet(ip: bytes, *, v6: bool = False, vlan: bool = False) -> bytes:
    tag = b"\x81\x00\x00\x05" if vlan else b""
    return bytes(12) + tag + (b"\x86\xdd" if v6 else b"\x08\x00") + ip


def _pcap(packets: list[bytes], link: int = 1) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, link)
    for i, packet in enumerate(packets):
        out += struct.pack("<IIII", 1700000000 + i, 0, len(packet), len(packet)) + packet
    return out


def _pcapng(packets: list[bytes], link: int = 1) -> bytes:
    def block(kind: int, body: bytes) -> bytes:
        body += bytes(-len(body) % 4)
        return struct.pack("<II", kind, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))

    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack("<HHI", link, 0, 65535))
    for i, packet in enumerate(packets):
        ts = (1700000000 + i) * 1_000_000
        out += block(
            6,
            struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(packet), len(packet)) + packet,
        )
    return out


REQUEST = encode_command(
    RemotingCommand.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, ext_fields={"topic": "T"}), opaque=7
)
RESPONSE = encode_command(
    RemotingCommand(code=17, flag=1, opaque=7, remark="No topic route info in name server")
)


IpBuilder = Callable[[str, str, bytes], bytes]


def _conversation(ip: IpBuilder = _ipv4, hosts: tuple[str, str] = (A[0], B[0])) -> list[bytes]:
    """SYNs, the request split in three segments delivered out of order with a
    retransmission, then the response in one segment."""
    a, b = hosts
    s1, s2 = 1000, 5000
    head, middle, tail = REQUEST[:5], REQUEST[5:60], REQUEST[60:]
    return [
        ip(a, b, _tcp(A[1], B[1], s1 - 1, b"", syn=True)),
        ip(b, a, _tcp(B[1], A[1], s2 - 1, b"", syn=True)),
        ip(a, b, _tcp(A[1], B[1], s1, head)),
        ip(a, b, _tcp(A[1], B[1], s1 + 60, tail)),  # early: held until the gap fills
        ip(a, b, _tcp(A[1], B[1], s1, head)),  # retransmission: dropped
        ip(a, b, _tcp(A[1], B[1], s1 + 5, middle)),
        ip(b, a, _tcp(B[1], A[1], s2, RESPONSE)),
    ]


def _check(capture: bytes, a: str = "10.0.0.1:40000", b: str = "10.0.0.2:9876") -> None:
    reports = [r.report for r in inspect_capture(capture)]
    assert [(r["from"], r["to"], r["kind"], r["codeName"]) for r in reports] == [
        (a, b, "request", "GET_ROUTEINFO_BY_TOPIC"),
        (b, a, "response", "TOPIC_NOT_EXIST"),
    ]
    assert reports[1]["answers"] == "GET_ROUTEINFO_BY_TOPIC"
    assert reports[0]["header"] == {"topic": "T"}


@pytest.mark.parametrize("container", [_pcap, _pcapng])
@pytest.mark.parametrize("vlan", [False, True])
def test_ethernet_ipv4_out_of_order_and_retransmitted(
    container: Callable[[list[bytes]], bytes], vlan: bool
) -> None:
    packets = [_ethernet(p, vlan=vlan) for p in _conversation()]
    _check(container(packets))


def test_ipv6_over_linux_cooked_capture() -> None:
    hosts = ("fd00::1", "fd00::2")
    packets = [bytes(14) + b"\x86\xdd" + p for p in _conversation(_ipv6, hosts)]  # SLL: 16 bytes
    _check(_pcap(packets, link=113), "[fd00::1]:40000", "[fd00::2]:9876")


def test_bsd_loopback_and_raw_ip_links() -> None:
    loop = [struct.pack("<I", 2) + p for p in _conversation()]
    _check(_pcap(loop, link=0))
    _check(_pcap(_conversation(), link=101))


def test_non_remoting_stream_is_reported_once_then_ignored() -> None:
    http = _ipv4("10.0.0.3", B[0], _tcp(50000, B[1], 1, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 3))
    packets = [_ethernet(p) for p in [*_conversation(), http, http]]
    reports = [r.report for r in inspect_capture(_pcap(packets))]
    errors = [r for r in reports if "error" in r]
    assert len(errors) == 1
    assert errors[0]["from"] == "10.0.0.3:50000"
    assert "ignored from here on" in str(errors[0]["error"])
    assert sum(1 for r in reports if "codeName" in r) == 2


def test_port_filter_and_truncated_captures() -> None:
    capture = _pcap([_ethernet(p) for p in _conversation()])
    assert list(read_tcp_chunks(capture, port=1234)) == []
    streams: dict[str, bytes] = {}
    for chunk in read_tcp_chunks(capture, port=9876):
        streams[str(chunk.source)] = streams.get(str(chunk.source), b"") + chunk.data
    assert streams == {"10.0.0.1:40000": REQUEST, "10.0.0.2:9876": RESPONSE}  # reassembled
    with pytest.raises(RemoteProtocolError, match="runs past the end"):
        list(read_tcp_chunks(capture[:-10]))
    with pytest.raises(RemoteProtocolError, match="not a pcap or pcapng"):
        list(read_tcp_chunks(b"\x00\x00\x00\x87" + REQUEST))
    cut = _pcap([_ethernet(p) for p in _conversation()[:-3]])  # request never completes
    reports = [r.report for r in inspect_capture(cut)]
    assert "capture ends inside a frame" in str(reports[-1]["error"])


def test_cli_with_pcap_and_port() -> None:
    proc = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "rmq_protocol", "decode", "--pcap", "--port", "19911", str(REAL)],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    reports = [json.loads(line) for line in proc.stdout.splitlines()]
    assert reports
    assert all(
        19911 in (int(r["from"].rsplit(":", 1)[1]), int(r["to"].rsplit(":", 1)[1])) for r in reports
    )


def test_retransmission_merging_across_a_held_segment() -> None:
    # data [0,100), then [200,300) arrives early (held), then a merged
    # retransmission [100,250) that overlaps the held segment.
    payload = bytes(range(256)) + bytes(range(44))
    ip = [
        _ipv4(A[0], B[0], _tcp(A[1], B[1], 999, b"", syn=True)),
        _ipv4(A[0], B[0], _tcp(A[1], B[1], 1000, payload[:100])),
        _ipv4(A[0], B[0], _tcp(A[1], B[1], 1200, payload[200:300])),
        _ipv4(A[0], B[0], _tcp(A[1], B[1], 1100, payload[100:250])),
    ]
    got = b"".join(c.data for c in read_tcp_chunks(_pcap([_ethernet(p) for p in ip])))
    assert got == payload


def test_repeated_syn_and_syn_with_data() -> None:
    ip = [
        _ipv4(A[0], B[0], _tcp(A[1], B[1], 999, b"", syn=True)),
        _ipv4(A[0], B[0], _tcp(A[1], B[1], 1000, b"abc")),
        _ipv4(A[0], B[0], _tcp(A[1], B[1], 999, b"", syn=True)),  # a retransmitted SYN
        _ipv4(A[0], B[0], _tcp(A[1], B[1], 1003, b"def")),
        _ipv4("10.0.0.7", B[0], _tcp(1, B[1], 41, b"tfo", syn=True)),  # TCP Fast Open
        _ipv4("10.0.0.7", B[0], _tcp(1, B[1], 45, b"!")),
    ]
    streams: dict[str, bytes] = {}
    for chunk in read_tcp_chunks(_pcap([_ethernet(p) for p in ip])):
        streams[chunk.source.host] = streams.get(chunk.source.host, b"") + chunk.data
    assert streams == {"10.0.0.1": b"abcdef", "10.0.0.7": b"tfo!"}


def test_snapshot_length_cut_is_named() -> None:
    packets = [_ethernet(p) for p in _conversation()]
    capture = bytearray(_pcap(packets))
    # Claim the response packet was longer on the wire than captured.
    pos = 24
    for _ in range(len(packets) - 1):
        pos += 16 + struct.unpack_from("<I", capture, pos + 8)[0]
    struct.pack_into("<I", capture, pos + 12, struct.unpack_from("<I", capture, pos + 8)[0] + 100)
    reports = [r.report for r in inspect_capture(bytes(capture))]
    assert reports[0]["codeName"] == "GET_ROUTEINFO_BY_TOPIC"  # what came before is kept
    assert "snapshot length" in str(reports[-1]["error"])


def test_truncated_capture_keeps_the_frames_before_the_cut() -> None:
    capture = _pcap([_ethernet(p) for p in _conversation()])
    reports = [r.report for r in inspect_capture(capture[:-10])]
    assert reports[0]["codeName"] == "GET_ROUTEINFO_BY_TOPIC"
    assert "runs past the end" in str(reports[-1]["error"])


def test_pcapng_option_without_a_value_is_not_a_crash() -> None:
    option = struct.pack("<HH", 9, 1)  # if_tsresol claiming one byte, none present
    capture = _pcapng([_ethernet(p) for p in _conversation()])
    shb_len = struct.unpack_from("<I", capture, 4)[0]
    idb = struct.pack("<HHI", 1, 0, 65535) + option
    idb_block = struct.pack("<II", 1, 12 + len(idb)) + idb + struct.pack("<I", 12 + len(idb))
    old_idb_len = struct.unpack_from("<I", capture, shb_len + 4)[0]
    broken = capture[:shb_len] + idb_block + capture[shb_len + old_idb_len :]
    reports = [r.report for r in inspect_capture(broken)]
    assert [r.get("codeName") for r in reports] == ["GET_ROUTEINFO_BY_TOPIC", "TOPIC_NOT_EXIST"]
