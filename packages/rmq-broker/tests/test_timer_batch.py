"""SEND_BATCH_MESSAGE with a delay level: refused as Apache RocketMQ refuses it.

Java's ``CommitLog.asyncPutMessages`` answers MESSAGE_ILLEGAL (with the generic
illegal-message remark) for a batch whose own properties carry ``DELAY`` > 0 or whose
sysFlag is transactional; rmq also refuses an inner message with ``DELAY`` > 0, naming it.
Nothing of a refused batch is stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from rmq_broker import Broker
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import SendMessageRequestHeaderV2
from rmq_protocol.codec.message import BatchEntry, encode_batch
from rmq_protocol.codec.properties import encode_properties
from rmq_protocol.transport import RemotingClient

if TYPE_CHECKING:
    from conftest import Builders

_ILLEGAL = (
    "the message is illegal, maybe msg body or properties length not matched. msg body "
    "length limit {}B, msg properties length limit 32KB."
)


def _batch(build: Builders, topic: str, entries: list[BatchEntry], **props: str) -> RemotingCommand:
    request: RemotingCommand = build.send(
        topic, encode_batch(entries), properties=props, code=RequestCode.SEND_BATCH_MESSAGE
    )
    return request


async def test_batch_whose_properties_carry_a_delay_level_is_refused(
    broker: Broker, client: RemotingClient, build: Builders
) -> None:
    request = _batch(build, "TopicBatchDelay", [BatchEntry(b"a"), BatchEntry(b"b")], DELAY="3")
    response = await client.request(broker.address, request, timeout=5)
    assert response.code == ResponseCode.MESSAGE_ILLEGAL
    limit = broker.controller.settings.store.max_message_size
    assert response.remark == _ILLEGAL.format(limit)
    assert broker.controller.store.get_max_offset_in_queue("TopicBatchDelay", 0) == 0
    assert broker.controller.store.get_max_offset_in_queue("SCHEDULE_TOPIC_XXXX", 2) == 0


async def test_batch_with_a_delayed_inner_message_is_refused(
    broker: Broker, client: RemotingClient, build: Builders
) -> None:
    entries = [
        BatchEntry(b"a"),
        BatchEntry(b"b", properties={"DELAY": "2", "UNIQ_KEY": "U1"}),
        BatchEntry(b"c"),
    ]
    response = await client.request(
        broker.address, _batch(build, "TopicBatchDelay2", entries), timeout=5
    )
    assert response.code == ResponseCode.MESSAGE_ILLEGAL
    assert response.remark is not None
    limit = broker.controller.settings.store.max_message_size
    assert response.remark.startswith(_ILLEGAL.format(limit))
    assert "Message 1 of 3 in the batch has delay level 2 (DELAY)" in response.remark
    for queue_id in range(4):
        assert broker.controller.store.get_max_offset_in_queue("TopicBatchDelay2", queue_id) == 0


@pytest.mark.parametrize("level", ["0", "-1", "x"])
async def test_batch_with_no_positive_delay_level_is_stored(
    broker: Broker, client: RemotingClient, build: Builders, level: str
) -> None:
    entries = [BatchEntry(b"a", properties={"DELAY": level}), BatchEntry(b"b")]
    response = await client.request(
        broker.address, _batch(build, "TopicBatchNoDelay", entries, DELAY=level), timeout=5
    )
    assert response.code == ResponseCode.SUCCESS, response.remark
    assert broker.controller.store.get_max_offset_in_queue("TopicBatchNoDelay", 0) == 2


async def test_transactional_batch_is_refused(broker: Broker, client: RemotingClient) -> None:
    header = SendMessageRequestHeaderV2(
        producer_group="PID_test",
        topic="TopicBatchTx",
        default_topic="TBW102",
        default_topic_queue_nums=4,
        queue_id=0,
        sys_flag=0x4,  # TRANSACTION_PREPARED_TYPE
        born_timestamp=1_700_000_000_000,
        flag=0,
        properties=encode_properties({"WAIT": "true"}),
        reconsume_times=0,
        unit_mode=False,
        batch=True,
    )
    request = RemotingCommand.request(
        RequestCode.SEND_BATCH_MESSAGE, header, body=encode_batch([BatchEntry(b"a")])
    )
    response = await client.request(broker.address, request, timeout=5)
    assert response.code == ResponseCode.MESSAGE_ILLEGAL
    limit = broker.controller.settings.store.max_message_size
    assert response.remark == _ILLEGAL.format(limit)
    assert broker.controller.store.get_max_offset_in_queue("TopicBatchTx", 0) == 0
