"""Codec benchmark: encode + decode of a SEND_MESSAGE_V2 request with a 1 KiB body.

    python benchmarks/bench_codec.py [--seconds N]
    python benchmarks/bench_codec.py --callgrind [OP ...]

One iteration = build the typed header, encode the frame, feed it to a
FrameDecoder, decode the command and its typed header: everything a producer and
a broker do with the bytes of one send, minus the socket.

``--callgrind`` prints the instructions of single codec operations (the :data:`OPS`
below: the steps a broker and a client take per send), each measured as the
difference of two callgrind runs of this script (``--op NAME N``) with different N, so
that start-up cancels out. Instruction counts are stable on a shared machine where
wall-clock rates are not.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable

from rmq_protocol.codec.codes import LanguageCode, RequestCode, ResponseCode, SerializeType
from rmq_protocol.codec.command import (
    RemotingCommand,
    decode_command,
    encode_command,
    response_with_ext,
)
from rmq_protocol.codec.frame import FrameDecoder
from rmq_protocol.codec.headers import SendMessageRequestHeaderV2

BODY = bytes(range(256)) * 4  # 1 KiB
PROPERTIES = (
    "TAGS\x01TagA\x02KEYS\x01order-4711\x02WAIT\x01true\x02"
    "UNIQ_KEY\x017F0000014E2018B4AAC26B0A6F3A0000\x02"
)


def one_send(decoder: FrameDecoder, serialize_type: SerializeType, i: int) -> int:
    header = SendMessageRequestHeaderV2(
        producer_group="PID_bench",
        topic="BenchmarkTest",
        default_topic="TBW102",
        default_topic_queue_nums=4,
        queue_id=i & 7,
        sys_flag=0,
        born_timestamp=1_700_000_000_000 + i,
        flag=0,
        properties=PROPERTIES,
        reconsume_times=0,
        unit_mode=False,
        batch=False,
    )
    cmd = RemotingCommand.request(
        RequestCode.SEND_MESSAGE_V2, header, body=BODY, serialize_type=serialize_type
    )
    decoder.feed(encode_command(cmd, opaque=i))
    received = decoder.next_command()
    assert received is not None
    decoded = received.decode_header(SendMessageRequestHeaderV2)
    return decoded.queue_id


def measure(serialize_type: SerializeType, seconds: float) -> float:
    decoder = FrameDecoder()
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for i in range(1000):
            one_send(decoder, serialize_type, count + i)
        count += 1000
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def _send_request(serialize_type: SerializeType) -> RemotingCommand:
    header = SendMessageRequestHeaderV2(
        producer_group="PID_bench",
        topic="BenchmarkTest",
        default_topic="TBW102",
        default_topic_queue_nums=4,
        queue_id=3,
        sys_flag=0,
        born_timestamp=1_700_000_000_000,
        flag=0,
        properties=PROPERTIES,
        reconsume_times=0,
        unit_mode=False,
        batch=False,
    )
    return RemotingCommand.request(
        RequestCode.SEND_MESSAGE_V2, header, body=BODY, serialize_type=serialize_type
    )


def _frame_view(cmd: RemotingCommand) -> memoryview:
    """The frame as the broker's FrameDecoder hands it over: a slice of the read."""
    return memoryview(encode_command(cmd, opaque=4711))[4:]


_SEND_ANSWER = {
    "msgId": "7F00000100002A9F0000000000001F40",
    "queueId": "3",
    "queueOffset": "8000",
    "transactionId": "7F0000014E2018B4AAC26B0A6F3A0000",
    "MSG_REGION": "DefaultRegion",
    "TRACE_ON": "true",
}


def _ops() -> dict[str, Callable[[], object]]:
    json_request = _send_request(SerializeType.JSON)
    json_frame = _frame_view(json_request)
    binary_frame = _frame_view(_send_request(SerializeType.ROCKETMQ))
    ext = decode_command(json_frame).ext_fields
    response = response_with_ext(
        json_request, ResponseCode.SUCCESS, None, dict(_SEND_ANSWER), LanguageCode.JAVA
    )
    response_frame = memoryview(encode_command(response))[4:]
    from_ext = SendMessageRequestHeaderV2.from_ext_fields
    decoder = FrameDecoder()
    return {
        # the whole round of the rate benchmark: build, encode, frame, decode, header
        "send_round": lambda: one_send(decoder, SerializeType.JSON, 7),
        "send_round_rocketmq": lambda: one_send(decoder, SerializeType.ROCKETMQ, 7),
        # broker: a SEND_MESSAGE_V2 frame to a RemotingCommand, JSON / ROCKETMQ header
        "decode_send_request": lambda: decode_command(json_frame),
        "decode_send_request_rocketmq": lambda: decode_command(binary_frame),
        # broker: its extFields to the typed header (19 fields)
        "send_header_from_ext": lambda: from_ext(ext),
        # broker: the SUCCESS response to bytes
        "encode_send_response": lambda: encode_command(response),
        # client: the response frame to a RemotingCommand
        "decode_send_response": lambda: decode_command(response_frame),
    }


OPS = tuple(_ops())


def _run_op(name: str, count: int) -> None:
    op = _ops()[name]
    for _ in range(count):
        op()


def _instructions(name: str, count: int) -> int:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("--callgrind needs valgrind on PATH")
    run = subprocess.run(  # noqa: S603 - this script under valgrind
        [
            valgrind,
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--op",
            name,
            str(count),
        ],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ,
    )
    match = re.search(r"Collected : (\d+)", run.stderr)
    if match is None:
        raise RuntimeError(f"no callgrind total in: {run.stderr[-500:]}")
    return int(match.group(1))


def callgrind(names: list[str]) -> None:
    low, high = 2_000, 6_000
    for name in names or OPS:
        per_op = (_instructions(name, high) - _instructions(name, low)) / (high - low)
        print(f"{name:30} {per_op:>10,.0f} instructions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--callgrind", nargs="*", metavar="OP", choices=OPS)
    parser.add_argument("--op", nargs=2, metavar=("NAME", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.op:
        _run_op(args.op[0], int(args.op[1]))
        return
    if args.callgrind is not None:
        callgrind(args.callgrind)
        return
    for serialize_type in SerializeType:
        rate = measure(serialize_type, args.seconds)
        print(
            f"SEND_MESSAGE_V2 encode+decode, 1 KiB body, {serialize_type.name:8} header: "
            f"{rate:>10,.0f} /s  ({1e6 / rate:.2f} us each)"
        )


if __name__ == "__main__":
    main()
