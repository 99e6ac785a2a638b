"""rmq-client: the Python RocketMQ client (asyncio-native, with a synchronous facade).

Works against rmq brokers and Apache RocketMQ 4.9 / 5.x brokers over the remoting
protocol. The public API is this module's ``__all__``; synchronous facades live in
:mod:`rmq_client.sync`.
"""

from rmq_client._instance import ClientConfig
from rmq_client._selector import (
    HashSelector,
    MessageQueueSelector,
    RandomSelector,
    RoundRobinSelector,
)
from rmq_client._transaction import (
    LocalTransactionState,
    TransactionListener,
    TransactionSendResult,
)
from rmq_client._version import __version__
from rmq_client.admin import Admin, ConsumerProgress, QueueProgress
from rmq_client.consumer import (
    AllocateAveragely,
    AllocateAveragelyByCircle,
    AllocateConsistentHash,
    AllocateStrategy,
    ConcurrentListener,
    ConsumeOrderlyResult,
    ConsumeResult,
    OrderlyListener,
    PushConsumer,
)
from rmq_client.errors import (
    BrokerBusyError,
    BrokerError,
    ClientClosedError,
    ClientError,
    MessageTooLargeError,
    NoPermissionError,
    NoRouteError,
    NotConnectedError,
    OffsetNotFoundError,
    RequestTimeout,
    ServiceNotAvailableError,
    SubscriptionGroupNotFoundError,
    TopicNotFoundError,
    TransactionError,
)
from rmq_client.message import Message, MessageQueue, ReceivedMessage, SendResult, SendStatus
from rmq_client.producer import Producer, SendCallback

__all__ = [
    "Admin",
    "AllocateAveragely",
    "AllocateAveragelyByCircle",
    "AllocateConsistentHash",
    "AllocateStrategy",
    "BrokerBusyError",
    "BrokerError",
    "ClientClosedError",
    "ClientConfig",
    "ClientError",
    "ConcurrentListener",
    "ConsumeOrderlyResult",
    "ConsumeResult",
    "ConsumerProgress",
    "HashSelector",
    "LocalTransactionState",
    "Message",
    "MessageQueue",
    "MessageQueueSelector",
    "MessageTooLargeError",
    "NoPermissionError",
    "NoRouteError",
    "NotConnectedError",
    "OffsetNotFoundError",
    "OrderlyListener",
    "Producer",
    "PushConsumer",
    "QueueProgress",
    "RandomSelector",
    "ReceivedMessage",
    "RequestTimeout",
    "RoundRobinSelector",
    "SendCallback",
    "SendResult",
    "SendStatus",
    "ServiceNotAvailableError",
    "SubscriptionGroupNotFoundError",
    "TopicNotFoundError",
    "TransactionError",
    "TransactionListener",
    "TransactionSendResult",
    "__version__",
]

# Consumer engineer's export (lite pull consumer), appended.
from rmq_client.consumer import PullConsumer

__all__ += ["PullConsumer"]
