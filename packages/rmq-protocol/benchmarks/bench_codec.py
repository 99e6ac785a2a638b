"""Codec benchmark: encode + decode of a SEND_MESSAGE_V2 request with a 1 KiB body.

    python benchmarks/bench_codec.py [--seconds N]

One iteration = build the typed header, encode the frame, feed it to a
FrameDecoder, decode the command and its typed header: everything a producer and
a broker do with the bytes of one send, minus the socket.
"""

from __future__ import annotations

import argparse
import time

from rmq_protocol.codec.codes import RequestCode, SerializeType
from rmq_protocol.codec.command import RemotingCommand, encode_command
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    for serialize_type in SerializeType:
        rate = measure(serialize_type, args.seconds)
        print(
            f"SEND_MESSAGE_V2 encode+decode, 1 KiB body, {serialize_type.name:8} header: "
            f"{rate:>10,.0f} /s  ({1e6 / rate:.2f} us each)"
        )


if __name__ == "__main__":
    main()
