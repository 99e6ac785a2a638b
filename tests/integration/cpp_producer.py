"""Send messages with the official C++ client (librocketmq 2.1.0 via rocketmq-python-cvs).

usage: python cpp_producer.py <namesrv host:port> <topic> <count>
Prints one JSON line per SendResult. Runs in its own process: the library blocks the
calling thread and starts threads of its own.
"""

from __future__ import annotations

import json
import sys

from rocketmq.client import Message, Producer


def main() -> int:
    namesrv, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    producer = Producer("PID_rmq_interop_cpp")
    producer.set_namesrv_addr(namesrv)
    producer.start()
    try:
        for i in range(count):
            msg = Message(topic)
            msg.set_keys(f"key-{i}")
            msg.set_tags("TagA")
            msg.set_property("origin", "librocketmq")
            msg.set_body(f"hello from librocketmq #{i}")
            result = producer.send_sync(msg)
            print(
                json.dumps(
                    {"status": str(result.status), "msgId": result.msg_id, "offset": result.offset}
                ),
                flush=True,
            )
    finally:
        producer.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
