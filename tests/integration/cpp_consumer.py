"""Consume with the official C++ push consumer (librocketmq 2.1.0 via rocketmq-python-cvs).

usage: python cpp_consumer.py <namesrv host:port> <topic> <expected count>
Prints one JSON line per message, exits once it has the expected count (or after 60 s).
"""

from __future__ import annotations

import json
import os
import sys
import threading

from rocketmq.client import PushConsumer


def main() -> int:
    namesrv, topic, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
    lock = threading.Lock()
    seen: list[str] = []
    enough = threading.Event()

    def on_message(msg: object) -> None:  # returning normally = CONSUME_SUCCESS
        record = {
            "msgId": msg.id,  # type: ignore[attr-defined]
            "topic": msg.topic,  # type: ignore[attr-defined]
            "tags": msg.tags,  # type: ignore[attr-defined]
            "keys": msg.keys,  # type: ignore[attr-defined]
            "queueId": msg.queue_id,  # type: ignore[attr-defined]
            "queueOffset": msg.queue_offset,  # type: ignore[attr-defined]
            "commitLogOffset": msg.commit_log_offset,  # type: ignore[attr-defined]
            "bornTimestamp": msg.born_timestamp,  # type: ignore[attr-defined]
            "storeTimestamp": msg.store_timestamp,  # type: ignore[attr-defined]
            "origin": msg.get_property("origin"),  # type: ignore[attr-defined]
            "body": msg.body,  # type: ignore[attr-defined]
        }
        record = {k: v.decode("utf-8") if isinstance(v, bytes) else v for k, v in record.items()}
        with lock:
            print(json.dumps(record), flush=True)
            seen.append(record["msgId"])
            if len(seen) >= expected:
                enough.set()

    consumer = PushConsumer("CID_rmq_interop_cpp")
    consumer.set_namesrv_addr(namesrv)
    consumer.subscribe(topic, on_message)
    consumer.start()
    ok = enough.wait(60)
    sys.stdout.flush()
    # librocketmq 2.1.0 segfaults inside PushConsumer shutdown (also against a real
    # Apache RocketMQ 4.9.8 broker: the captured conversation of this client ends
    # without UNREGISTER_CLIENT). Leave without calling it.
    os._exit(0 if ok else 1)


if __name__ == "__main__":
    sys.exit(main())
