"""The benchmarks' ``rocketmq==0.4.4`` side (PyPI: a ctypes wrapper around the C++ client 1.x).

Run by bench_producer.py and bench_consumer.py as a subprocess whose PYTHONPATH starts
with the ``pip install --target`` directory of rocketmq 0.4.4 (its top-level package
``rocketmq`` collides with rocketmq-python-cvs's). Prints one JSON line:
``{"seconds": …, "done": …, "failed": …, "cpu": …}``.

usage:
    python _rocketmq044.py sync  <namesrv> <topic> <count> <threads> <size>
    python _rocketmq044.py batch <namesrv> <topic> <count> <threads> <size> <batch>
    python _rocketmq044.py drain <namesrv> <topic> <group> <count> <timeout>

sync: ``count`` send_sync calls spread over ``threads`` threads (the C++ calls release
the GIL). batch: send_batch of ``batch`` messages per call. drain: a push consumer
(clustering, CONSUME_FROM_LAST_OFFSET is 1.x's default; a new group on a topic whose
messages are all older starts at 0 on an rmq broker, as on Apache RocketMQ for a queue
whose min offset is 0) timed from start() until ``count`` messages were delivered, or
``timeout`` seconds.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import rocketmq.client as rmq044


def _message(topic: str, body: bytes) -> rmq044.Message:
    msg = rmq044.Message(topic)
    msg.set_body(body)
    return msg


def sends(
    namesrv: str, topic: str, count: int, threads: int, size: int, batch: int
) -> dict[str, float]:
    producer = rmq044.Producer(f"PID_bench044_{int(time.time())}")
    producer.set_namesrv_addr(namesrv)
    producer.start()
    body = b"x" * size
    failed = 0
    lock = threading.Lock()
    per_thread = [count // threads + (1 if i < count % threads else 0) for i in range(threads)]

    def worker(n: int) -> None:
        nonlocal failed
        errors = 0
        done = 0
        while done < n:
            k = min(batch, n - done) if batch > 1 else 1
            try:
                if k == 1 and batch == 1:
                    producer.send_sync(_message(topic, body))
                else:
                    producer.send_batch([_message(topic, body) for _ in range(k)])
            except Exception:  # noqa: BLE001 - the wrapper's errors are plain exceptions
                errors += k
            done += k
        with lock:
            failed += errors

    try:
        producer.send_sync(_message(topic, body))  # route and connection ready
        workers = [threading.Thread(target=worker, args=(n,)) for n in per_thread]
        cpu, began = time.process_time(), time.perf_counter()
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    finally:
        producer.shutdown()
    return {"seconds": seconds, "done": count - failed, "failed": failed, "cpu": cpu}


def drain(namesrv: str, topic: str, group: str, count: int, timeout: float) -> dict[str, float]:
    seen = 0
    lock = threading.Lock()
    enough = threading.Event()

    def on_message(msg: object) -> None:
        nonlocal seen
        with lock:
            seen += 1
            if seen >= count:
                enough.set()

    consumer = rmq044.PushConsumer(group)
    consumer.set_namesrv_addr(namesrv)
    consumer.subscribe(topic, on_message)
    cpu, began = time.process_time(), time.perf_counter()
    consumer.start()
    enough.wait(timeout)
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    consumer.shutdown()
    return {"seconds": seconds, "done": seen, "failed": max(count - seen, 0), "cpu": cpu}


def main() -> int:
    mode, namesrv, topic = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode in ("sync", "batch"):
        count, threads, size = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
        batch = int(sys.argv[7]) if mode == "batch" else 1
        result = sends(namesrv, topic, count, threads, size, batch)
    elif mode == "drain":
        result = drain(namesrv, topic, sys.argv[4], int(sys.argv[5]), float(sys.argv[6]))
    else:
        print(f"unknown mode {mode!r}", file=sys.stderr)
        return 2
    print(json.dumps({**result, "module": rmq044.__file__}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
