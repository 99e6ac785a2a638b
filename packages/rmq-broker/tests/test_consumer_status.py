"""INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223) → GET_CONSUMER_STATUS_FROM_CLIENT (221).

The group's clients are real remoting peers (RemotingClient with a 221 processor) that
heartbeat into an in-process broker; the admin is another connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import pytest

from rmq_broker import Broker
from rmq_broker.processors import consumer_status
from rmq_protocol.codec.body import MessageQueue
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import BytesLike, RemotingCommand
from rmq_protocol.codec.fastjson import ObjectKey, dumps, loads
from rmq_protocol.codec.headers import GetConsumerStatusRequestHeader
from rmq_protocol.transport import Connection, ProcessorRegistry, RemotingClient

if TYPE_CHECKING:
    from conftest import Builders

TOPIC = "TopicStatus"
GROUP = "CID_status"

Answer = Callable[[RemotingCommand], RemotingCommand | None]


def _mq(queue_id: int) -> MessageQueue:
    return MessageQueue(topic=TOPIC, broker_name="broker-a", queue_id=queue_id)


def _status(client_id: str | None = None, group: str = GROUP) -> RemotingCommand:
    return RemotingCommand.request(
        RequestCode.INVOKE_BROKER_TO_GET_CONSUMER_STATUS,
        GetConsumerStatusRequestHeader(topic=TOPIC, group=group, client_addr=client_id),
    )


def _offsets_body(offsets: dict[MessageQueue, int], *, string_keys: bool = False) -> bytes:
    """A client's GetConsumerStatusBody: fastjson object keys (Java) or keys holding the
    MessageQueue JSON as a string (as some non-Java writers do)."""
    if string_keys:
        table = {dumps(mq.to_value()).decode(): o for mq, o in offsets.items()}
        return dumps({"messageQueueTable": table, "consumerTable": {}})  # type: ignore[dict-item]
    keyed = {mq.to_key(): o for mq, o in offsets.items()}
    return dumps({"messageQueueTable": keyed, "consumerTable": {}}, object_keys=True)  # type: ignore[dict-item]


def _consumer_table(body: BytesLike) -> dict[str, dict[MessageQueue, int]]:
    value = loads(body)
    assert isinstance(value, dict)
    assert value["messageQueueTable"] == {}
    table = value["consumerTable"]
    assert isinstance(table, dict)
    out: dict[str, dict[MessageQueue, int]] = {}
    for client_id, offsets in table.items():
        assert isinstance(client_id, str)
        assert isinstance(offsets, dict)
        decoded: dict[MessageQueue, int] = {}
        for key, offset in offsets.items():
            assert isinstance(key, ObjectKey)  # fastjson's object-key form
            assert isinstance(offset, int)
            decoded[MessageQueue.from_value(key.to_dict())] = offset
        out[client_id] = decoded
    return out


class Clients:
    """Consumers of GROUP: each a RemotingClient that answers 221 with ``answer``."""

    def __init__(self, broker: Broker, build: Builders, stack: AsyncExitStack) -> None:
        self._broker, self._build, self._stack = broker, build, stack
        self.asked: list[tuple[str, GetConsumerStatusRequestHeader]] = []

    async def join(self, client_id: str, answer: Answer, *, version: int | None = None) -> None:
        async def on_status(request: RemotingCommand, conn: Connection) -> RemotingCommand | None:
            self.asked.append((client_id, request.decode_header(GetConsumerStatusRequestHeader)))
            response = answer(request)
            if response is None:
                await asyncio.Event().wait()  # never answers
            return response

        registry = ProcessorRegistry()
        registry.register(RequestCode.GET_CONSUMER_STATUS_FROM_CLIENT, on_status)
        client = await self._stack.enter_async_context(RemotingClient(registry))
        beat = self._build.heartbeat(client_id, consumer_group=GROUP, topic=TOPIC)
        if version is not None:
            beat = beat._replace(version=version)
        response = await client.request(self._broker.address, beat, timeout=5)
        assert response.code == ResponseCode.SUCCESS, response.remark


@pytest.fixture
async def clients(broker: Broker, build: Builders) -> AsyncIterator[Clients]:
    async with AsyncExitStack() as stack:
        yield Clients(broker, build, stack)


def _answer(offsets: dict[MessageQueue, int], *, string_keys: bool = False) -> Answer:
    def answer(request: RemotingCommand) -> RemotingCommand:
        body = _offsets_body(offsets, string_keys=string_keys)
        return RemotingCommand.response_to(request, ResponseCode.SUCCESS, body=body)

    return answer


async def test_no_consumer_online(broker: Broker, client: RemotingClient) -> None:
    response = await client.request(broker.address, _status(), timeout=5)
    assert (response.code, response.remark) == (
        ResponseCode.SYSTEM_ERROR,
        f"No Any Consumer online in the consumer group: [{GROUP}]",
    )


async def test_every_client_answers_with_its_offsets(
    broker: Broker, client: RemotingClient, clients: Clients
) -> None:
    await clients.join("10.0.0.1@a", _answer({_mq(0): 5, _mq(1): 7}))
    await clients.join("10.0.0.2@b", _answer({_mq(2): 0, _mq(3): 11}, string_keys=True))
    refused = RemotingCommand.response_to
    await clients.join(
        "10.0.0.3@c", lambda r: refused(r, ResponseCode.SYSTEM_ERROR, "no such group here")
    )
    response = await client.request(broker.address, _status(), timeout=10)
    assert response.code == ResponseCode.SUCCESS, response.remark
    assert _consumer_table(response.body) == {
        "10.0.0.1@a": {_mq(0): 5, _mq(1): 7},
        "10.0.0.2@b": {_mq(2): 0, _mq(3): 11},
    }
    assert sorted(c for c, _ in clients.asked) == ["10.0.0.1@a", "10.0.0.2@b", "10.0.0.3@c"]
    for _, header in clients.asked:
        assert (header.topic, header.group, header.client_addr) == (TOPIC, GROUP, None)


async def test_client_id_selects_one_client(
    broker: Broker, client: RemotingClient, clients: Clients
) -> None:
    await clients.join("10.0.0.1@a", _answer({_mq(0): 5}))
    await clients.join("10.0.0.2@b", _answer({_mq(1): 9}))
    response = await client.request(broker.address, _status("10.0.0.2@b"), timeout=10)
    assert response.code == ResponseCode.SUCCESS, response.remark
    assert _consumer_table(response.body) == {"10.0.0.2@b": {_mq(1): 9}}
    assert [c for c, _ in clients.asked] == ["10.0.0.2@b"]
    # an id no client has: nobody is asked, the table is empty (as Java)
    response = await client.request(broker.address, _status("10.9.9.9@z"), timeout=10)
    assert (response.code, _consumer_table(response.body)) == (ResponseCode.SUCCESS, {})


async def test_silent_or_garbled_clients_are_left_out(
    broker: Broker,
    client: RemotingClient,
    clients: Clients,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(consumer_status, "CLIENT_TIMEOUT", 0.5)
    await clients.join("10.0.0.1@a", _answer({_mq(0): 3}))
    await clients.join("10.0.0.2@silent", lambda r: None)
    await clients.join(
        "10.0.0.3@garbled",
        lambda r: RemotingCommand.response_to(
            r, ResponseCode.SUCCESS, body=b'{"messageQueueTable":7}'
        ),
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await client.request(broker.address, _status(), timeout=10)
    assert loop.time() - started < 5  # the clients are asked at once, not one by one
    assert response.code == ResponseCode.SUCCESS, response.remark
    assert _consumer_table(response.body) == {"10.0.0.1@a": {_mq(0): 3}}


async def test_too_old_client_is_refused(
    broker: Broker, client: RemotingClient, clients: Clients
) -> None:
    await clients.join("10.0.0.1@old", _answer({_mq(0): 1}), version=27)  # V3_0_6
    response = await client.request(broker.address, _status(), timeout=5)
    assert (response.code, response.remark) == (
        ResponseCode.SYSTEM_ERROR,
        "the client does not support this feature. version=V?(27)",
    )
    assert clients.asked == []
