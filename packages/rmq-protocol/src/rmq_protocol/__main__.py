"""``python -m rmq_protocol decode``: print remoting frames as JSON lines.

Examples::

    python -m rmq_protocol decode capture.bin
    echo 000000870000008373... | python -m rmq_protocol decode --hex
    python -m rmq_protocol decode --hex --response-to GET_ROUTEINFO_BY_TOPIC answer.hex
    python -m rmq_protocol decode --pcap capture.pcap        # tcpdump -w / Wireshark file

Exit status: 0 when every frame decoded, 1 when any frame had an error, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from rmq_protocol.codec.codes import RequestCode
from rmq_protocol.codec.frame import DEFAULT_MAX_FRAME_SIZE
from rmq_protocol.inspector import (
    FrameReport,
    inspect_capture,
    inspect_hex_lines,
    inspect_stream,
)


def _request_code(text: str) -> int:
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return RequestCode[text.upper()].value
    except KeyError:
        raise argparse.ArgumentTypeError(
            f"unknown request code {text!r}: give a number or a name such as PULL_MESSAGE"
        ) from None


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(64 * 1024):
        yield chunk


def _reports(args: argparse.Namespace, stream: BinaryIO) -> Iterator[FrameReport]:
    if args.pcap:
        return inspect_capture(
            stream.read(),
            port=args.port,
            response_to=args.response_to,
            max_frame_size=args.max_frame_size,
        )
    if args.hex:
        lines = (line.decode("utf-8", "replace") for line in stream)
        return inspect_hex_lines(lines, response_to=args.response_to)
    return inspect_stream(
        _chunks(stream), response_to=args.response_to, max_frame_size=args.max_frame_size
    )


def _decode(args: argparse.Namespace) -> int:
    out = sys.stdout.buffer
    failed = False
    sources = args.inputs or ["-"]
    for source in sources:
        if source == "-":
            reports = _reports(args, sys.stdin.buffer)
            failed |= _emit(reports, out, source if len(sources) > 1 else None)
            continue
        path = Path(source)
        try:
            stream = path.open("rb")
        except OSError as exc:
            sys.stderr.write(f"rmq_protocol decode: cannot read {source}: {exc.strerror}\n")
            failed = True
            continue
        with stream:
            failed |= _emit(_reports(args, stream), out, source if len(sources) > 1 else None)
    return 1 if failed else 0


def _emit(reports: Iterator[FrameReport], out: BinaryIO, source: str | None) -> bool:
    failed = False
    for report in reports:
        if source is not None:
            report = FrameReport({"source": source, **report.report}, report.ok)
        out.write(report.to_json() + b"\n")
        failed |= not report.ok
    out.flush()
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rmq_protocol",
        description="Tools for RocketMQ's remoting protocol.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    decode = commands.add_parser(
        "decode",
        help="print remoting frames as JSON lines",
        description="Decode remoting frames (raw length-prefixed bytes, or --hex text with "
        "one frame per line) and print one JSON object per frame.",
    )
    decode.add_argument("inputs", nargs="*", help="files to read ('-' or nothing: stdin)")
    form = decode.add_mutually_exclusive_group()
    form.add_argument("--hex", action="store_true", help="input is hex text, one frame per line")
    form.add_argument(
        "--pcap",
        action="store_true",
        help="input is a packet capture (tcpdump pcap or Wireshark pcapng): every TCP "
        "connection in it is reassembled and decoded",
    )
    decode.add_argument(
        "--port", type=int, metavar="N", help="with --pcap: only connections on this port"
    )
    decode.add_argument(
        "--response-to",
        type=_request_code,
        metavar="CODE",
        help="request code (number or name) that unpaired responses answer, to decode "
        "their headers and bodies",
    )
    decode.add_argument(
        "--max-frame-size",
        type=int,
        default=DEFAULT_MAX_FRAME_SIZE,
        metavar="BYTES",
        help=f"largest frame accepted in raw input (default {DEFAULT_MAX_FRAME_SIZE})",
    )
    args = parser.parse_args(argv)
    if args.port is not None and not args.pcap:
        parser.error("--port goes with --pcap")
    try:
        return _decode(args)
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
