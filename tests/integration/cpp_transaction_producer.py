"""Transactional sends with the official C++ client (librocketmq 2.1.0, rocketmq-python-cvs).

usage: python cpp_transaction_producer.py <namesrv host:port> <topic> <group> <checks>

rocketmq-python-cvs 2.1.0.3's Python API has no transactional producer (its
``rocketmq.client`` offers Producer, PushConsumer and PullConsumer only), but the
library it ships exports the C API's ``CreateTransactionProducer`` and
``SendMessageTransaction``; this driver binds those two with ctypes (as
rocketmq-client-python 2.0.0's ``TransactionMQProducer`` does) and uses the package's
``Message`` and producer functions for the rest.

Sends four half messages whose keys say what the local transaction answers:
``commit``, ``rollback``, and ``unknown-commit`` / ``unknown-rollback`` (UNKNOWN; the
checker, called on the broker's CHECK_TRANSACTION_STATE, then commits / rolls back).
Prints one JSON line per send result and per check, and exits once ``checks`` checks
were answered (or after 60 s). Runs in its own process: the library starts threads.
"""

from __future__ import annotations

import ctypes
import json
import sys
import threading
import time
from ctypes import POINTER, c_char_p, c_int, c_void_p

from rocketmq.client import Message, _to_bytes
from rocketmq.ffi import _CSendResult, dll

COMMIT, ROLLBACK, UNKNOWN = 0, 1, 2  # CTransactionStatus
CHECKER = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_void_p)  # (producer, CMessageExt*, data)
EXECUTOR = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_void_p)  # (producer, CMessage*, data)

dll.CreateTransactionProducer.argtypes = [c_char_p, CHECKER, c_void_p]
dll.CreateTransactionProducer.restype = c_void_p
dll.SendMessageTransaction.argtypes = [
    c_void_p,
    c_void_p,
    EXECUTOR,
    c_void_p,
    POINTER(_CSendResult),
]
dll.SendMessageTransaction.restype = c_int
dll.GetMessageKeys.restype = c_char_p
dll.GetMessageId.restype = c_char_p
dll.GetMessageProperty.restype = c_char_p
dll.GetOriginMessageKeys.restype = c_char_p
dll.GetOriginMessageKeys.argtypes = [c_void_p]

LOCAL = {
    "commit": COMMIT,
    "rollback": ROLLBACK,
    "unknown-commit": UNKNOWN,
    "unknown-rollback": UNKNOWN,
}
CHECKED = {"unknown-commit": COMMIT, "unknown-rollback": ROLLBACK}


def emit(record: dict[str, object]) -> None:
    print(json.dumps(record), flush=True)


def main() -> int:
    namesrv, topic, group, wanted = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    lock = threading.Lock()
    checks: list[str] = []
    done = threading.Event()

    def on_check(producer: int, msg: int, data: int) -> int:
        keys = (dll.GetMessageKeys(msg) or b"").decode()
        answer = CHECKED.get(keys, UNKNOWN)
        emit(
            {
                "event": "check",
                "keys": keys,
                "msgId": (dll.GetMessageId(msg) or b"").decode(),
                "transactionId": (dll.GetMessageProperty(msg, b"UNIQ_KEY") or b"").decode(),
                "answer": answer,
            }
        )
        with lock:
            checks.append(keys)
            if len(checks) >= wanted:
                done.set()
        return answer

    def on_execute(producer: int, msg: int, data: int) -> int:
        keys = (dll.GetOriginMessageKeys(msg) or b"").decode()
        return LOCAL.get(keys, UNKNOWN)

    checker = CHECKER(on_check)
    executor = EXECUTOR(on_execute)
    producer = dll.CreateTransactionProducer(_to_bytes(group), checker, None)
    if not producer:
        emit({"event": "error", "what": "CreateTransactionProducer returned NULL"})
        return 1
    dll.SetProducerNameServerAddress(producer, _to_bytes(namesrv))
    if dll.StartProducer(producer) != 0:
        emit({"event": "error", "what": "StartProducer failed"})
        return 1
    try:
        for keys in LOCAL:
            msg = Message(topic)
            msg.set_keys(keys)
            msg.set_tags("TagTx")
            msg.set_body(f"transactional {keys}")
            result = _CSendResult()
            status = dll.SendMessageTransaction(
                producer, msg._handle, executor, None, ctypes.pointer(result)
            )
            emit(
                {
                    "event": "send",
                    "keys": keys,
                    "rc": status,
                    "status": result.sendStatus,
                    "msgId": result.msgId.decode(),
                    "offset": result.offset,
                }
            )
        done.wait(60)
        time.sleep(1)  # the END_TRANSACTION of the last check leaves after the callback
        emit({"event": "done", "checks": len(checks)})
    finally:
        dll.ShutdownProducer(producer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
