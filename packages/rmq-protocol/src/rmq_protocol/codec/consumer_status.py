"""``GetConsumerStatusBody``: the body of GET_CONSUMER_STATUS_FROM_CLIENT (221) answers
and of INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223) answers.

Mirrors ``org.apache.rocketmq.remoting.protocol.body.GetConsumerStatusBody`` (4.9 and
5.x, deprecated there but still what mqadmin ``getConsumerStatus`` reads)::

    {"consumerTable":{"<clientId>":{{MessageQueue}:offset,…},…},
     "messageQueueTable":{{MessageQueue}:offset,…}}

* ``messageQueueTable`` (``Map<MessageQueue, Long>``): a client's answer to 221, the
  offsets its offset store holds for the asked topic (every topic when blank);
  ``consumerTable`` is empty there.
* ``consumerTable`` (``Map<String, Map<MessageQueue, Long>>``): the broker's answer to
  223, client id → that client's ``messageQueueTable``; ``messageQueueTable`` is empty
  there.

JSON dialect (spec §10): the MessageQueue keys are written as fastjson writes them,
JSON objects as keys (``{{"brokerName":"b","queueId":0,"topic":"t"}:3}``), which Java's
admin tools require; they are read in that form or as strings holding the MessageQueue
JSON. Members in alphabetical order, maps in the order given (Java's HashMap order is
arbitrary: callers that want a stable order pass sorted mappings). The shared body
machinery of :mod:`rmq_protocol.codec.body` does the work, so reading is as lenient as
for every other body and a malformed body raises
:class:`~rmq_protocol.errors.RemoteProtocolError` naming the member
(``GetConsumerStatusBody.consumerTable.cid-1[0]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import final

from rmq_protocol.codec.body import MessageQueue, _Body, _json_body

__all__ = ["GetConsumerStatusBody"]


@final
@_json_body
@dataclass(frozen=True, slots=True, kw_only=True)
class GetConsumerStatusBody(_Body):
    """``GetConsumerStatusBody`` (see the module docstring)."""

    message_queue_table: Mapping[MessageQueue, int] = field(default_factory=dict)
    consumer_table: Mapping[str, Mapping[MessageQueue, int]] = field(default_factory=dict)
