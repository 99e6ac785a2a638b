"""Transaction types (Java ``TransactionListener``, ``LocalTransactionState``,
``TransactionSendResult``).

A transactional send stores a *half* message the consumers cannot see yet, runs
the local transaction, then tells the broker COMMIT or ROLLBACK (END_TRANSACTION).
When the outcome was UNKNOW (or the END_TRANSACTION was lost) the broker later asks
a producer of the group (CHECK_TRANSACTION_STATE), which runs
:meth:`TransactionListener.check_local_transaction` and answers with END_TRANSACTION.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Final, Protocol

from rmq_client.message import Message, ReceivedMessage, SendResult

__all__ = ["LocalTransactionState", "TransactionListener", "TransactionSendResult"]


class LocalTransactionState(enum.StrEnum):
    """Outcome of a local transaction (Java's spelling of UNKNOW)."""

    COMMIT_MESSAGE = "COMMIT_MESSAGE"
    ROLLBACK_MESSAGE = "ROLLBACK_MESSAGE"
    UNKNOW = "UNKNOW"


# END_TRANSACTION commitOrRollback values (MessageSysFlag transaction types).
COMMIT_OR_ROLLBACK: Final = {
    LocalTransactionState.COMMIT_MESSAGE: 0x8,
    LocalTransactionState.ROLLBACK_MESSAGE: 0xC,
    LocalTransactionState.UNKNOW: 0x0,
}


class TransactionListener(Protocol):
    """The application's side of transactional sends. Either method may be a
    coroutine function or a plain function; an exception counts as UNKNOW."""

    def execute_local_transaction(
        self, message: Message, arg: object
    ) -> LocalTransactionState | Awaitable[LocalTransactionState]:
        """Run the local transaction for the half message just stored."""
        ...

    def check_local_transaction(
        self, message: ReceivedMessage
    ) -> LocalTransactionState | Awaitable[LocalTransactionState]:
        """Say how the local transaction of ``message`` ended (broker check)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionSendResult:
    """A transactional send: the half message's SendResult and the local outcome."""

    send_result: SendResult
    local_transaction_state: LocalTransactionState
