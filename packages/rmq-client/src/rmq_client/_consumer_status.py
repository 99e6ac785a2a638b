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

``GetConsumerStatusBody`` has no class in :mod:`rmq_protocol.codec.body` yet; the maps
are read through :class:`~rmq_protocol.codec.body.ResetOffsetBody`'s
``Map<MessageQueue, Long>`` codec (fastjson object keys, or keys holding the
MessageQueue JSON as a string) and written with fastjson object keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from rmq_protocol.codec.body import MessageQueue, ResetOffsetBody
from rmq_protocol.codec.command import BytesLike
from rmq_protocol.codec.fastjson import JSONKey, JSONValue, ObjectKey, dumps, loads
from rmq_protocol.errors import ProtocolError, RemoteProtocolError

if TYPE_CHECKING:
    from rmq_client._instance import ConsumerHandle

__all__ = [
    "consumer_offsets",
    "consumer_status_body",
    "decode_consumer_table",
    "decode_queue_offsets",
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
    table: dict[JSONKey, JSONValue] = {mq.to_key(): offset for mq, offset in offsets.items()}
    return dumps({"consumerTable": {}, "messageQueueTable": table}, object_keys=True)


def decode_queue_offsets(value: JSONValue, *, what: str) -> dict[MessageQueue, int]:
    """A ``Map<MessageQueue, Long>`` member of a body.

    Raises:
        RemoteProtocolError: ``value`` is not such a map (``what`` names the member).
    """
    if value is None:
        return {}
    try:
        return dict(ResetOffsetBody.from_value({"offsetTable": value}).offset_table)
    except ProtocolError as exc:
        raise RemoteProtocolError(f"{what}: {exc}") from exc


def decode_consumer_table(body: BytesLike) -> dict[str, dict[MessageQueue, int]]:
    """The ``consumerTable`` of a broker's answer to 223: client id → queue → offset.

    Raises:
        RemoteProtocolError: the body is not a GetConsumerStatusBody.
    """
    value = loads(body)
    if not isinstance(value, dict):
        raise RemoteProtocolError(
            f"GetConsumerStatusBody is a {type(value).__name__}, not an object"
        )
    table = value.get("consumerTable")
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise RemoteProtocolError(
            f"GetConsumerStatusBody.consumerTable is a {type(table).__name__}, not an object"
        )
    out: dict[str, dict[MessageQueue, int]] = {}
    for client_id, offsets in table.items():
        name = client_id if isinstance(client_id, str) else str(client_id.to_dict())
        out[name] = decode_queue_offsets(
            offsets, what=f"GetConsumerStatusBody.consumerTable[{name!r}]"
        )
    return out
