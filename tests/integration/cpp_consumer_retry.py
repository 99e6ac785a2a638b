"""Consume with the official C++ push consumer (librocketmq 2.1.0 via rocketmq-python-cvs)
and fail messages on purpose.

usage: python cpp_consumer_retry.py <namesrv host:port> <topic> <group> <deliveries>
Prints one JSON line per delivery. A message whose body starts with ``fail-always`` is
always failed, one starting with ``fail-once`` only while its reconsume times is 0 (the
listener raises, which the wrapper answers RECONSUME_LATER: the client sends the
message back with CONSUMER_SEND_MSG_BACK). Exits after <deliveries> deliveries (or 120 s).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

from rocketmq.client import PushConsumer


class FailedOnPurposeError(Exception):
    """Raised by the listener to make the client answer RECONSUME_LATER."""


def main() -> int:
    namesrv, topic, group, deliveries = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    lock = threading.Lock()
    count = 0
    enough = threading.Event()

    def on_message(msg: object) -> None:
        nonlocal count
        body = msg.body.decode("utf-8")  # type: ignore[attr-defined]
        reconsume_times = msg.reconsume_times  # type: ignore[attr-defined]
        fail = body.startswith("fail-always") or (
            body.startswith("fail-once") and reconsume_times == 0
        )
        record = {
            "msgId": msg.id,  # type: ignore[attr-defined]
            "topic": msg.topic,  # type: ignore[attr-defined]
            "retryTopic": msg.get_property("RETRY_TOPIC"),  # type: ignore[attr-defined]
            "reconsumeTimes": reconsume_times,
            "queueId": msg.queue_id,  # type: ignore[attr-defined]
            "storeTimestamp": msg.store_timestamp,  # type: ignore[attr-defined]
            "body": body,
            "failed": fail,
        }
        record = {k: v.decode("utf-8") if isinstance(v, bytes) else v for k, v in record.items()}
        with lock:
            print(json.dumps(record), flush=True)
            count += 1
            if count >= deliveries:
                enough.set()
        if fail:
            raise FailedOnPurposeError(body)

    consumer = PushConsumer(group)
    consumer.set_namesrv_addr(namesrv)
    consumer.subscribe(topic, on_message)
    consumer.start()
    ok = enough.wait(120)
    time.sleep(1.0)  # let the last send-back reach the broker
    sys.stdout.flush()
    # librocketmq 2.1.0 segfaults inside PushConsumer shutdown (see cpp_consumer.py).
    os._exit(0 if ok else 1)


if __name__ == "__main__":
    sys.exit(main())
