"""Message trace (Java's ``org.apache.rocketmq.client.trace``): records of sends and
consumptions written to ``RMQ_SYS_TRACE_TOPIC`` in Java's format, so mqadmin
``queryMsgTraceById`` and RocketMQ Dashboard read ours and we read theirs.

Enable with ``Producer(..., enable_trace=True)`` / ``PushConsumer(..., enable_trace=True)``;
query with :meth:`rmq_client.Admin.query_message_trace`.
"""

from rmq_client.trace._codec import (
    CONTENT_SEPARATOR,
    DEFAULT_REGION,
    FIELD_SEPARATOR,
    TRACE_TOPIC,
    ConsumeReturnType,
    EndTransactionTrace,
    PubTrace,
    RecallTrace,
    SubAfterTrace,
    SubBeforeTrace,
    TraceFormatError,
    TraceMessageType,
    TraceRecord,
    TraceType,
    decode_records,
    encode_record,
    encode_records,
    trace_keys,
)
from rmq_client.trace._dispatcher import TraceDispatcher, wrap_listener
from rmq_client.trace._view import ConsumeAttempt, MessageTrace, build_trace

__all__ = [
    "CONTENT_SEPARATOR",
    "DEFAULT_REGION",
    "FIELD_SEPARATOR",
    "TRACE_TOPIC",
    "ConsumeAttempt",
    "ConsumeReturnType",
    "EndTransactionTrace",
    "MessageTrace",
    "PubTrace",
    "RecallTrace",
    "SubAfterTrace",
    "SubBeforeTrace",
    "TraceDispatcher",
    "TraceFormatError",
    "TraceMessageType",
    "TraceRecord",
    "TraceType",
    "build_trace",
    "decode_records",
    "encode_record",
    "encode_records",
    "trace_keys",
    "wrap_listener",
]
