"""Errors raised by rmq-client.

One base, :class:`ClientError`; every error carries the broker (or NameServer)
address it concerns, the response code and the remark when there is one::

    try:
        await producer.send(Message("T", b"x"))
    except BrokerError as exc:
        print(exc.broker, exc.code, exc.remark, exc.retriable)

Response codes map to classes through one table (:func:`error_for_code`), with the
``retriable`` flag saying whether the Java producer would retry the send on another
queue or broker (spec §1.8: 17, 14, 1, 2, 16, 204, 205, 1500).
Transport failures become :class:`RequestTimeout` (also a :class:`TimeoutError`) and
:class:`NotConnectedError` (also a :class:`ConnectionError`), with the protocol
error in ``__cause__``.
"""

from __future__ import annotations

from typing import ClassVar, Final

from rmq_protocol.codec.codes import ResponseCode, code_name

__all__ = [
    "BrokerBusyError",
    "BrokerError",
    "ClientClosedError",
    "ClientError",
    "MessageTooLargeError",
    "NoPermissionError",
    "NoRouteError",
    "NotConnectedError",
    "OffsetNotFoundError",
    "RequestTimeout",
    "ServiceNotAvailableError",
    "SubscriptionGroupNotFoundError",
    "SystemError_",
    "TopicNotFoundError",
    "TransactionError",
    "error_for_code",
]


class ClientError(Exception):
    """Base class of every rmq-client error.

    Attributes:
        broker: address of the server concerned (broker or NameServer), when known.
        code: the response code, when the server answered.
        remark: the server's remark, when it gave one.
    """

    retriable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        broker: str | None = None,
        code: int | None = None,
        remark: str | None = None,
    ) -> None:
        self.broker, self.code, self.remark = broker, code, remark
        super().__init__(message)


class ClientClosedError(ClientError):
    """The client (or its shared instance) is closed: start a new one."""


class NotConnectedError(ClientError, ConnectionError):
    """No connection to ``broker`` could be opened, or it broke during the call."""

    retriable = True


class RequestTimeout(ClientError, TimeoutError):
    """No answer from ``broker`` within the timeout (``timeout`` seconds)."""

    retriable = True

    def __init__(self, message: str, *, broker: str | None, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(message, broker=broker)


class NoRouteError(ClientError):
    """No route (or no writable/readable queue) is known for a topic."""

    def __init__(self, message: str, *, topic: str) -> None:
        self.topic = topic
        super().__init__(message)


class MessageTooLargeError(ClientError, ValueError):
    """A message (or batch) is larger than the producer's ``max_message_size``."""

    def __init__(self, message: str, *, size: int, limit: int) -> None:
        self.size, self.limit = size, limit
        super().__init__(message)


class BrokerError(ClientError):
    """The server answered a request with an error code (``code``, ``remark``).

    Attributes:
        request: the request code that failed.
    """

    def __init__(
        self, remark: str | None, *, broker: str | None, code: int, request: int | None = None
    ) -> None:
        self.request = request
        what = code_name(request, response=False) if request is not None else "request"
        where = f" to {broker}" if broker else ""
        super().__init__(
            f"{what}{where}: {code_name(code, response=True)} ({code}): {remark or 'no remark'}",
            broker=broker,
            code=code,
            remark=remark,
        )


class SystemError_(BrokerError):  # SystemError is a builtin
    """SYSTEM_ERROR (1)."""

    retriable = True


class BrokerBusyError(BrokerError):
    """SYSTEM_BUSY (2): the server is overloaded; retry later or elsewhere."""

    retriable = True


class ServiceNotAvailableError(BrokerError):
    """SERVICE_NOT_AVAILABLE (14), or GO_AWAY (1500): the broker is not serving."""

    retriable = True


class NoPermissionError(BrokerError):
    """NO_PERMISSION (16): the topic or broker refuses this operation."""

    retriable = True


class TopicNotFoundError(BrokerError):
    """TOPIC_NOT_EXIST (17): create the topic (Admin.create_topic) or enable auto-creation."""

    retriable = True


class OffsetNotFoundError(BrokerError):
    """QUERY_NOT_FOUND (22): the broker has no offset (or message) for the query."""


class SubscriptionGroupNotFoundError(BrokerError):
    """SUBSCRIPTION_GROUP_NOT_EXIST (26)."""


class TransactionError(ClientError):
    """A transactional send failed outside the broker (no listener, listener error)."""


_RETRIABLE_OTHER: Final = frozenset({204, 205})  # NO_BUYER_ID, NOT_IN_CURRENT_UNIT


class _RetriableBrokerError(BrokerError):
    retriable = True


_BY_CODE: Final[dict[int, type[BrokerError]]] = {
    ResponseCode.SYSTEM_ERROR: SystemError_,
    ResponseCode.SYSTEM_BUSY: BrokerBusyError,
    ResponseCode.SERVICE_NOT_AVAILABLE: ServiceNotAvailableError,
    ResponseCode.NO_PERMISSION: NoPermissionError,
    ResponseCode.TOPIC_NOT_EXIST: TopicNotFoundError,
    ResponseCode.QUERY_NOT_FOUND: OffsetNotFoundError,
    ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST: SubscriptionGroupNotFoundError,
    1500: ServiceNotAvailableError,  # GO_AWAY (5.3+)
    **dict.fromkeys(_RETRIABLE_OTHER, _RetriableBrokerError),
}


def error_for_code(
    code: int, remark: str | None, *, broker: str | None, request: int | None = None
) -> BrokerError:
    """The error for response ``code`` (one table; unknown codes give BrokerError)."""
    cls = _BY_CODE.get(code, BrokerError)
    return cls(remark, broker=broker, code=code, request=request)
