"""GetConsumerStatusBody: fastjson's object-keyed form, both tables, lenient reading."""

from __future__ import annotations

import pytest

from rmq_protocol.codec.body import MessageQueue
from rmq_protocol.codec.consumer_status import GetConsumerStatusBody
from rmq_protocol.errors import RemoteProtocolError

MQ0 = MessageQueue(topic="T", broker_name="broker-a", queue_id=0)
MQ1 = MessageQueue(topic="T", broker_name="broker-a", queue_id=1)
KEY0 = b'{"brokerName":"broker-a","queueId":0,"topic":"T"}'
KEY1 = b'{"brokerName":"broker-a","queueId":1,"topic":"T"}'


def test_a_clients_answer_as_java_writes_it() -> None:
    body = GetConsumerStatusBody(message_queue_table={MQ0: 5, MQ1: 7})
    text = body.to_json()
    assert text == b'{"consumerTable":{},"messageQueueTable":{' + KEY0 + b":5," + KEY1 + b":7}}"
    assert GetConsumerStatusBody.from_json(text) == body


def test_a_brokers_answer_as_java_writes_it() -> None:
    body = GetConsumerStatusBody(consumer_table={"cid-1": {MQ0: 5}, "cid-2": {MQ1: 0}})
    text = body.to_json()
    assert text == (
        b'{"consumerTable":{"cid-1":{'
        + KEY0
        + b':5},"cid-2":{'
        + KEY1
        + b':0}},"messageQueueTable":{}}'
    )
    assert GetConsumerStatusBody.from_json(text) == body


def test_reads_string_keys_missing_members_and_nulls() -> None:
    # MessageQueue keys as strings holding its JSON (standard JSON writers), members in
    # any order, null or absent tables.
    text = (
        b'{"messageQueueTable":{"{\\"topic\\":\\"T\\",\\"brokerName\\":\\"broker-a\\",'
        b'\\"queueId\\":1}":"9"},"consumerTable":null}'
    )
    body = GetConsumerStatusBody.from_json(text)
    assert body == GetConsumerStatusBody(message_queue_table={MQ1: 9})
    assert GetConsumerStatusBody.from_json(b"{}") == GetConsumerStatusBody()


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (b"[]", "GetConsumerStatusBody"),
        (b'{"consumerTable":{"cid":[1]}}', "GetConsumerStatusBody.consumerTable.cid"),
        (b'{"messageQueueTable":{"not a queue":1}}', "GetConsumerStatusBody.messageQueueTable"),
        (b'{"messageQueueTable":{' + KEY0 + b':"x"}}', "GetConsumerStatusBody.messageQueueTable"),
    ],
)
def test_malformed_bodies_name_the_member(text: bytes, where: str) -> None:
    with pytest.raises(RemoteProtocolError, match=rf"^{where.replace('.', '[.]')}"):
        GetConsumerStatusBody.from_json(text)
