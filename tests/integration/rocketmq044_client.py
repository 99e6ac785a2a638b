"""Drive ``rocketmq==0.4.4`` (PyPI): a ctypes wrapper whose wheel bundles the C++ client 1.x.

usage:
    python rocketmq044_client.py produce <namesrv> <topic> <count> [<key prefix>]
    python rocketmq044_client.py consume <namesrv> <topic> <group> [<expected count>]

The C++ client 1.x sends SEND_MESSAGE (code 10) with long header names and integer enums
in its heartbeats, unlike the 2.x client of cpp_producer.py. ``rocketmq`` must be the
0.4.4 package: the test puts its ``pip install --target`` directory first on PYTHONPATH
(rocketmq-python-cvs, in the same environment, has the same top-level name); the first
line printed says which library was loaded.

produce: message i has tags TagA (even i) or TagB (odd), keys ``<prefix>-<i>``, the
property origin=rocketmq-0.4.4 and a non-ASCII body; one JSON line per SendResult.
consume: a push consumer (clustering) of the group, one JSON line per message; it stops
after the expected count, or, without one, when its stdin is closed; exits 1 if it did not
get the expected count within 60 s.
"""

from __future__ import annotations

import json
import sys
import threading

import rocketmq.client
import rocketmq.ffi
from rocketmq.client import Message, Producer, PushConsumer


def _body(key: str) -> str:
    return f"rocketmq 0.4.4 ✓ {key} ünïcode"


def produce(namesrv: str, topic: str, count: int, prefix: str) -> int:
    producer = Producer("PID_rmq_interop_rocketmq044")
    producer.set_namesrv_addr(namesrv)
    producer.start()
    try:
        for i in range(count):
            key = f"{prefix}-{i}"
            msg = Message(topic)
            msg.set_keys(key)
            msg.set_tags("TagA" if i % 2 == 0 else "TagB")
            msg.set_property("origin", "rocketmq-0.4.4")
            msg.set_body(_body(key))
            result = producer.send_sync(msg)
            print(
                json.dumps(
                    {
                        "key": key,
                        "status": int(result.status),
                        "msgId": result.msg_id,
                        "offset": result.offset,
                    }
                ),
                flush=True,
            )
    finally:
        producer.shutdown()
    return 0


def consume(namesrv: str, topic: str, group: str, expected: int | None) -> int:
    lock = threading.Lock()
    seen = 0
    enough = threading.Event()

    def on_message(msg: object) -> None:  # returning normally = CONSUME_SUCCESS
        nonlocal seen
        record = {
            "msgId": msg.id,  # type: ignore[attr-defined]
            "topic": msg.topic,  # type: ignore[attr-defined]
            "tags": msg.tags,  # type: ignore[attr-defined]
            "keys": msg.keys,  # type: ignore[attr-defined]
            "body": msg.body,  # type: ignore[attr-defined]
            "origin": msg.get_property("origin"),  # type: ignore[attr-defined]
            "queueId": msg.queue_id,  # type: ignore[attr-defined]
            "queueOffset": msg.queue_offset,  # type: ignore[attr-defined]
            "reconsumeTimes": msg.reconsume_times,  # type: ignore[attr-defined]
        }
        record = {k: v.decode("utf-8") if isinstance(v, bytes) else v for k, v in record.items()}
        with lock:
            print(json.dumps(record), flush=True)
            seen += 1
            if expected is not None and seen >= expected:
                enough.set()

    consumer = PushConsumer(group)
    consumer.set_namesrv_addr(namesrv)
    consumer.subscribe(topic, on_message)
    consumer.start()
    print(json.dumps({"started": group}), flush=True)
    if expected is None:
        sys.stdin.read()  # until the test closes our stdin
        ok = True
    else:
        ok = enough.wait(60)
    consumer.shutdown()  # UNREGISTER_CLIENT, offsets committed (works in 1.x)
    return 0 if ok else 1


def main() -> int:
    library = str(rocketmq.ffi._DYLIB_PATH)
    print(json.dumps({"library": library, "module": rocketmq.client.__file__}), flush=True)
    mode, namesrv, topic = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "produce":
        prefix = sys.argv[5] if len(sys.argv) > 5 else "key"
        return produce(namesrv, topic, int(sys.argv[4]), prefix)
    if mode == "consume":
        expected = int(sys.argv[5]) if len(sys.argv) > 5 else None
        return consume(namesrv, topic, sys.argv[4], expected)
    print(f"unknown mode {mode!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
