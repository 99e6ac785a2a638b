"""END_TRANSACTION (37): a producer commits or rolls back a half message.

Mirrors ``org.apache.rocketmq.broker.processor.EndTransactionProcessor``: refused on a
slave (SLAVE_NOT_AVAILABLE); the half message is looked up by ``commitLogOffset`` and
must carry the request's producer group and half queue offset (SYSTEM_ERROR with
Java's remarks otherwise); the work is :meth:`rmq_broker.transaction.TransactionService.end`.
The request is usually oneway: then nothing is answered, and a refusal is logged.
"""

from __future__ import annotations

import logging
from typing import final

from rmq_broker.config import BrokerRole
from rmq_broker.controller import BrokerController
from rmq_broker.processors._common import respond
from rmq_broker.transaction import TransactionService
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import EndTransactionRequestHeader
from rmq_protocol.transport import Connection, ProcessorRegistry

__all__ = ["EndTransactionProcessor"]

logger = logging.getLogger(__name__)


@final
class EndTransactionProcessor:
    """Handles END_TRANSACTION; one instance per broker."""

    def __init__(self, controller: BrokerController, service: TransactionService) -> None:
        self._c = controller
        self._service = service

    def register(self, registry: ProcessorRegistry) -> None:
        registry.register(RequestCode.END_TRANSACTION, self.process)

    def process(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        if self._c.config.broker_role is BrokerRole.SLAVE:
            return respond(
                request,
                ResponseCode.SLAVE_NOT_AVAILABLE,
                "Can't process the end transaction request in slave broker",
            )
        header = EndTransactionRequestHeader.from_ext_fields(request.ext_fields)
        result = self._service.end(header)
        if result.code != ResponseCode.SUCCESS:
            logger.warning(
                "END_TRANSACTION from %s (group %s, half offset %d, commit log offset %d, "
                "type %d) refused: %s",
                conn.peer,
                header.producer_group,
                header.tran_state_table_offset,
                header.commit_log_offset,
                header.commit_or_rollback,
                result.remark,
            )
        return respond(request, result.code, result.remark)
