"""What a slave broker (``brokerRole=SLAVE``) answers instead of storing messages.

A slave's store takes no writes from clients: in Apache RocketMQ 4.9 its
``DefaultMessageStore.putMessage`` refuses with ``SERVICE_NOT_AVAILABLE`` whatever the
send carried, and ``SendMessageProcessor`` turns that into:

* SEND_MESSAGE, SEND_MESSAGE_V2, SEND_BATCH_MESSAGE: SERVICE_NOT_AVAILABLE (14) with
  Java's remark, ``service not available now. It may be caused by one of the following
  reasons: the broker's disk is full [CL:  0.42 CQ:  0.42 INDEX:  0.42], messages are put
  to the slave, message store has been shut down, etc.`` (the disk figures are the used
  ratios of the commit-log, consume-queue and index partitions). Java clients retry
  that code on another broker.
* CONSUMER_SEND_MSG_BACK: SYSTEM_ERROR (1) with the remark ``SERVICE_NOT_AVAILABLE``
  (the put status name, as Java's send-back answers a failed put).

rmq refuses before any other check (as 5.x's ``rejectRequest`` does for a slave), so a
slave never creates topics on a send either. Pulls, offsets and queries are served from
the slave's own store by the ordinary processors. There is no replication (HA stream):
a slave holds what its store directory holds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final, final

from rmq_broker.controller import BrokerController
from rmq_broker.processors._common import respond
from rmq_protocol.codec import properties as props
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.transport import Connection, ProcessorRegistry

__all__ = ["SlaveProcessor"]

_SEND_CODES: Final = (
    RequestCode.SEND_MESSAGE,
    RequestCode.SEND_MESSAGE_V2,
    RequestCode.SEND_BATCH_MESSAGE,
)


def _used_ratio(path: Path) -> float:
    """Java ``UtilAll.getDiskPartitionSpaceUsedPercent``: used/total, -1 if absent."""
    try:
        stat = os.statvfs(path)
    except OSError:
        return -1.0
    if stat.f_blocks == 0:
        return -1.0
    return (stat.f_blocks - stat.f_bfree) / stat.f_blocks


@final
class SlaveProcessor:
    """Refuses the requests that would write to a slave's store."""

    def __init__(self, controller: BrokerController) -> None:
        self._c = controller
        self._root = Path(controller.settings.store.store_path_root_dir)
        self._ext = {
            props.MSG_REGION: controller.config.region_id,
            props.TRACE_SWITCH: "true" if controller.config.trace_on else "false",
        }

    def register(self, registry: ProcessorRegistry) -> None:
        """Register over the send processors (call after them)."""
        for code in _SEND_CODES:
            registry.register(code, self.refuse_send)
        registry.register(RequestCode.CONSUMER_SEND_MSG_BACK, self.refuse_send_back)

    def disk_util(self) -> str:
        """Java ``SendMessageProcessor.diskUtil``."""
        root = self._root
        return (
            f"CL: {_used_ratio(root / 'commitlog'):5.2f} "
            f"CQ: {_used_ratio(root / 'consumequeue'):5.2f} "
            f"INDEX: {_used_ratio(root / 'index'):5.2f}"
        )

    def refuse_send(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        return respond(
            request,
            ResponseCode.SERVICE_NOT_AVAILABLE,
            "service not available now. It may be caused by one of the following reasons: "
            f"the broker's disk is full [{self.disk_util()}], messages are put to the slave, "
            "message store has been shut down, etc.",
            ext_fields=self._ext,
        )

    def refuse_send_back(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        return respond(request, ResponseCode.SYSTEM_ERROR, "SERVICE_NOT_AVAILABLE")
