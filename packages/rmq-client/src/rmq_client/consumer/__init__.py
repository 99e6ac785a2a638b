"""Consumers: :class:`PushConsumer` (listener driven) and :class:`PullConsumer` (lite pull).

Allocation strategies (:class:`AllocateAveragely`, :class:`AllocateAveragelyByCircle`,
:class:`AllocateConsistentHash`) decide which queues each member of a group consumes.
"""

from rmq_client.consumer._allocate import (
    AllocateAveragely,
    AllocateAveragelyByCircle,
    AllocateConsistentHash,
    AllocateStrategy,
)
from rmq_client.consumer.lite_pull import PullConsumer
from rmq_client.consumer.push import (
    ConcurrentListener,
    ConsumeOrderlyResult,
    ConsumeResult,
    OrderlyListener,
    PushConsumer,
)

__all__ = [
    "AllocateAveragely",
    "AllocateAveragelyByCircle",
    "AllocateConsistentHash",
    "AllocateStrategy",
    "ConcurrentListener",
    "ConsumeOrderlyResult",
    "ConsumeResult",
    "OrderlyListener",
    "PullConsumer",
    "PushConsumer",
]
