"""GET_CONSUMER_STATUS_FROM_CLIENT (221) and the ``GetConsumerStatusBody`` codec.

A broker asks each client of a group for its consumer status when an admin sends it
INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223, mqadmin ``getConsumerStatus``). As Java's
``ClientRemotingProcessor.getConsumeStatus`` → ``MQClientInstance.getConsumerStatus``
→ ``OffsetStore.cloneOffsetTable(topic)``, the client answers SUCCESS with
``{"consumerTable":{},"messageQueueTable":{{MessageQueue}:offset}}``: the offsets its
consumer of the group holds for the topic (every topic when the topic is blank), an
empty table when it has no consumer of that group.

The offsets come from the consumer's running info (its owned queues and their
``commitOffset``, which is its offset store's value); a queue without an offset yet
(-1) is left out, as it has no entry in a Java offset store either.

Bodies are :class:`rmq_protocol.codec.consumer_status.GetConsumerStatusBody` (fastjson
MessageQueue object keys written; those or keys holding the MessageQueue JSON as a
string read).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from rmq_protocol.codec.body import MessageQueue
from rmq_protocol.codec.command import BytesLike
from rmq_protocol.codec.consumer_status import GetConsumerStatusBody
from rmq_protocol.codec.fastjson import ObjectKey

if TYPE_CHECKING:
    from rmq_client._instance import ConsumerHandle

__all__ = [
    "consumer_offsets",
    "consumer_status_body",
    "decode_consumer_table",
]


def consumer_offsets(consumer: ConsumerHandle | None, topic: str | None) -> dict[MessageQueue, int]:
    """The offsets ``consumer`` holds for ``topic`` (all topics when blank); {} for None."""
    if consumer is None:
        return {}
    table = consumer.running_info().get("mqTable")
    if not isinstance(table, Mapping):
        return {}
    wanted = (topic or "").strip()
    out: dict[MessageQueue, int] = {}
    for key, info in table.items():
        if isinstance(key, ObjectKey):
            mq = MessageQueue.from_value(key.to_dict())
        elif isinstance(key, MessageQueue):
            mq = key
        else:
            continue
        offset = info.get("commitOffset", -1) if isinstance(info, Mapping) else -1
        if isinstance(offset, int) and offset >= 0 and (not wanted or mq.topic == wanted):
            out[mq] = offset
    return dict(sorted(out.items()))


def consumer_status_body(offsets: Mapping[MessageQueue, int]) -> bytes:
    """A client's GetConsumerStatusBody (``messageQueueTable`` = ``offsets``)."""
    return GetConsumerStatusBody(message_queue_table=offsets).to_json()


def decode_consumer_table(body: BytesLike) -> dict[str, dict[MessageQueue, int]]:
    """The ``consumerTable`` of a broker's answer to 223: client id → queue → offset.

    Raises:
        RemoteProtocolError: the body is not a GetConsumerStatusBody (the message names
            the member).
    """
    table = GetConsumerStatusBody.from_json(body).consumer_table
    return {client_id: dict(offsets) for client_id, offsets in table.items()}
