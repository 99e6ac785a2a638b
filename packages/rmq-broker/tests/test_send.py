"""SEND_MESSAGE, SEND_MESSAGE_V2, SEND_BATCH_MESSAGE against a real broker and store."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import struct
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rmq_broker import Broker, BrokerSettings
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.hashing import java_string_hash
from rmq_protocol.codec.headers import SendMessageResponseHeader
from rmq_protocol.codec.message import BatchEntry, _raw_properties, encode_batch
from rmq_protocol.codec.msgid import decode_offset_msg_id
from rmq_protocol.transport import RemotingClient
from rmq_store import FlushDiskType, MessageStore

if TYPE_CHECKING:
    from conftest import Builders, Send


def _header(response: object) -> SendMessageResponseHeader:
    from rmq_protocol.codec.command import RemotingCommand

    assert isinstance(response, RemotingCommand)
    assert response.code == ResponseCode.SUCCESS, (response.code, response.remark)
    return response.decode_header(SendMessageResponseHeader)


async def test_send_v2_response_headers(broker: Broker, send: Send) -> None:
    response = await send("TopicSend", b"one", queue_id=1, tags="TagA", keys="k1")
    header = _header(response)
    assert header.queue_id == 1
    assert header.queue_offset == 0
    host, port, offset = decode_offset_msg_id(header.msg_id)
    assert (host, port) == ("127.0.0.1", broker.port)
    assert offset == 0
    assert header.transaction_id is not None
    assert header.transaction_id.startswith("7F000001")
    assert response.ext_fields is not None
    assert response.ext_fields["MSG_REGION"] == "DefaultRegion"
    assert response.ext_fields["TRACE_ON"] == "true"
    # built without a header object: SendMessageResponseHeader's fields in its order,
    # then the region and trace switch, and nothing else
    assert list(response.ext_fields) == [
        "msgId", "queueId", "queueOffset", "transactionId", "MSG_REGION", "TRACE_ON",
    ]  # fmt: skip
    assert {k: response.ext_fields[k] for k in list(response.ext_fields)[:4]} == (
        header.to_ext_fields()
    )
    second = _header(await send("TopicSend", b"two", queue_id=1))
    assert second.queue_offset == 1


async def test_send_v1_long_header_names(broker: Broker, send: Send) -> None:
    header = _header(
        await send("TopicV1", b"from the C++ 1.x client", code=RequestCode.SEND_MESSAGE)
    )
    assert header.queue_offset == 0


async def test_sends_after_the_first_to_a_topic(broker: Broker, send: Send) -> None:
    """A send to a topic that passed the name checks takes process's plain path when every
    check lets it through; any other is answered as the first send to a topic is."""
    import time

    from rmq_protocol.codec.body import TopicConfig

    c = broker.controller
    store = c.store
    assert isinstance(store, MessageStore)
    c.topics.update(
        TopicConfig(topic_name="TopicPlain", read_queue_nums=6, write_queue_nums=4, perm=6)
    )
    assert _header(await send("TopicPlain", queue_id=1)).queue_offset == 0
    first = _header(await send("TopicPlain", queue_id=1, tags="TagA", keys="k1"))
    assert (first.queue_id, first.queue_offset) == (1, 1)
    assert first.transaction_id is not None
    assert first.transaction_id.startswith("7F000001")
    message = store.look_message_by_offset(decode_offset_msg_id(first.msg_id)[2])
    assert message is not None
    assert message.properties["TAGS"] == "TagA"
    assert message.properties["CLUSTER"] == "DefaultCluster"
    assert (message.born_host.host, message.store_host.port) == ("127.0.0.1", broker.port)
    v1 = _header(await send("TopicPlain", queue_id=1, code=RequestCode.SEND_MESSAGE))
    assert v1.queue_offset == 2
    # a queue past the write queues but within the read queues is taken, as Java does
    assert _header(await send("TopicPlain", queue_id=5)).queue_id == 5
    assert _header(await send("TopicPlain", queue_id=-1)).queue_id in range(4)
    response = await send("TopicPlain", queue_id=6)
    assert response.code == ResponseCode.INVALID_PARAMETER
    assert response.remark is not None
    assert response.remark.startswith("request queueId[6] is illegal, TopicConfig [")
    # a delay level or a transaction: routed as ever
    in_queue = store.get_max_offset_in_queue("TopicPlain", 0)
    assert _header(await send("TopicPlain", properties={"DELAY": "3"})).queue_id == 0
    assert store.get_max_offset_in_queue("SCHEDULE_TOPIC_XXXX", 2) == 1
    assert _header(await send("TopicPlain", properties={"TRAN_MSG": "true"})).queue_id == 0
    assert store.get_max_offset_in_queue("RMQ_SYS_TRANS_HALF_TOPIC", 0) == 1
    assert store.get_max_offset_in_queue("TopicPlain", 0) == in_queue
    # the broker's config, changed at run time (UPDATE_BROKER_CONFIG)
    config = c.config
    c.config = dataclasses.replace(config, broker_permission=4)
    response = await send("TopicPlain")
    assert (response.code, response.remark) == (
        ResponseCode.NO_PERMISSION,
        "the broker[127.0.0.1] sending message is forbidden",
    )
    until = int(time.time() * 1000) + 60_000
    c.config = dataclasses.replace(config, start_accept_send_request_time_stamp=until)
    response = await send("TopicPlain")
    assert (response.code, response.remark) == (
        ResponseCode.SYSTEM_ERROR,
        f"broker unable to service, until {until}",
    )
    c.config = dataclasses.replace(config, start_accept_send_request_time_stamp=until - 120_000)
    assert _header(await send("TopicPlain", queue_id=3)).queue_id == 3
    c.config = dataclasses.replace(config, broker_cluster_name="OtherCluster")
    other = _header(await send("TopicPlain", queue_id=2))
    message = store.look_message_by_offset(decode_offset_msg_id(other.msg_id)[2])
    assert message is not None
    assert message.properties["CLUSTER"] == "OtherCluster"
    c.config = config
    # the topic, made read-only
    c.topics.update(
        TopicConfig(topic_name="TopicPlain", read_queue_nums=6, write_queue_nums=4, perm=4)
    )
    response = await send("TopicPlain")
    assert (response.code, response.remark) == (
        ResponseCode.NO_PERMISSION,
        "the topic[TopicPlain] sending message is forbidden",
    )


async def test_properties_are_stored_as_sent_plus_cluster(broker: Broker, send: Send) -> None:
    _header(await send("TopicProps", b"x", tags="TagA", keys="k1 k2", properties={"custom": "v"}))
    store = broker.controller.store
    assert isinstance(store, MessageStore)
    message = store.look_message_by_offset(0)
    assert message is not None
    assert message.properties["custom"] == "v"
    assert message.properties["TAGS"] == "TagA"
    assert message.properties["KEYS"] == "k1 k2"
    assert message.properties["CLUSTER"] == "DefaultCluster"
    assert message.born_host.host == "127.0.0.1"
    assert message.store_host.port == broker.port


async def test_random_queue_when_queue_id_is_negative(broker: Broker, send: Send) -> None:
    seen = {_header(await send("TopicRandom", queue_id=-1)).queue_id for _ in range(40)}
    assert seen <= {0, 1, 2, 3}
    assert len(seen) > 1


async def test_auto_create_via_tbw102(broker: Broker, send: Send) -> None:
    assert broker.controller.topics.select("TopicAuto") is None
    _header(await send("TopicAuto"))
    created = broker.controller.topics.select("TopicAuto")
    assert created is not None
    assert (created.read_queue_nums, created.write_queue_nums, created.perm) == (4, 4, 6)


async def test_queue_id_out_of_range(broker: Broker, send: Send) -> None:
    _header(await send("TopicRange"))
    response = await send("TopicRange", queue_id=4)
    assert response.code == ResponseCode.INVALID_PARAMETER
    assert response.remark is not None
    assert response.remark.startswith(
        "request queueId[4] is illegal, TopicConfig [topicName=TopicRange, readQueueNums=4, "
        "writeQueueNums=4, perm=RW-,"
    )
    assert "Producer: 127.0.0.1:" in response.remark
    assert response.ext_fields is not None
    assert "MSG_REGION" in response.ext_fields


@pytest.mark.parametrize(
    ("topic", "code", "remark"),
    [
        (
            "bad topic",
            ResponseCode.INVALID_PARAMETER,
            "The specified topic: bad topic, contains illegal characters, allowing only "
            "^[%|a-zA-Z0-9_-]+$",
        ),
        (
            "SCHEDULE_TOPIC_XXXX",
            ResponseCode.NO_PERMISSION,
            "Sending message to topic[SCHEDULE_TOPIC_XXXX] is forbidden.",
        ),
    ],
)
async def test_topic_checks(broker: Broker, send: Send, topic: str, code: int, remark: str) -> None:
    response = await send(topic)
    assert (response.code, response.remark) == (code, remark)


async def test_topic_not_exist_without_auto_create(
    settings: BrokerSettings, client: RemotingClient, build: Builders
) -> None:
    async with Broker(build.with_broker(settings, auto_create_topic_enable=False)) as broker:
        response = await client.request(broker.address, build.send("TopicNone"), timeout=5)
    assert response.code == ResponseCode.TOPIC_NOT_EXIST
    assert response.remark == (
        "topic[TopicNone] not exist, apply first please!\n"
        "See https://rocketmq.apache.org/docs/bestPractice/06FAQ for further details."
    )


async def test_no_permission_when_the_broker_is_not_writable(
    settings: BrokerSettings, client: RemotingClient, build: Builders
) -> None:
    async with Broker(build.with_broker(settings, broker_permission=4)) as broker:
        response = await client.request(broker.address, build.send("TopicRO"), timeout=5)
    assert response.code == ResponseCode.NO_PERMISSION
    assert response.remark == "the broker[127.0.0.1] sending message is forbidden"


async def test_no_permission_when_the_topic_is_not_writable(broker: Broker, send: Send) -> None:
    from rmq_protocol.codec.body import TopicConfig

    broker.controller.topics.update(TopicConfig(topic_name="TopicR", perm=4))
    response = await send("TopicR")
    assert response.code == ResponseCode.NO_PERMISSION
    assert response.remark == "the topic[TopicR] sending message is forbidden"


async def test_message_too_large(
    settings: BrokerSettings, client: RemotingClient, build: Builders
) -> None:
    small = dataclasses.replace(
        settings, store=dataclasses.replace(settings.store, max_message_size=1024)
    )
    async with Broker(small) as broker:
        response = await client.request(
            broker.address, build.send("TopicBig", b"x" * 1025), timeout=5
        )
        ok = await client.request(broker.address, build.send("TopicBig", b"x" * 1024), timeout=5)
        again = await client.request(broker.address, build.send("TopicBig", b"x" * 1025), timeout=5)
    assert response.code == ResponseCode.MESSAGE_ILLEGAL
    assert (again.code, again.remark) == (response.code, response.remark)
    assert response.remark == (
        "the message is illegal, maybe msg body or properties length not matched. msg body "
        "length limit 1024B, msg properties length limit 32KB."
    )
    assert ok.code == ResponseCode.SUCCESS


async def test_batch(broker: Broker, client: RemotingClient, build: Builders) -> None:
    entries = [
        BatchEntry(f"batch-{i}".encode(), properties={"UNIQ_KEY": f"U{i}", "TAGS": "TagB"})
        for i in range(5)
    ]
    request = build.send(
        "TopicBatch", encode_batch(entries), queue_id=2, code=RequestCode.SEND_BATCH_MESSAGE
    )
    header = _header(await client.request(broker.address, request, timeout=5))
    ids = header.msg_id.split(",")
    assert len(ids) == 5
    offsets = [decode_offset_msg_id(i)[2] for i in ids]
    assert offsets == sorted(offsets)
    assert offsets[0] == 0
    assert (header.queue_id, header.queue_offset) == (2, 0)
    store = broker.controller.store
    assert store.get_max_offset_in_queue("TopicBatch", 2) == 5
    again = _header(await client.request(broker.address, request, timeout=5))
    assert again.queue_offset == 5


def _batch_body(entries: list[tuple[bytes, str]]) -> bytes:
    """A SEND_BATCH_MESSAGE body whose entries carry these properties texts as they are
    (encode_batch would write a dict's canonical text)."""
    out = bytearray()
    for body, text in entries:
        props = text.encode()
        out += struct.pack(">iIiii", 22 + len(body) + len(props), 0, 0, 0, len(body))
        out += body + struct.pack(">h", len(props)) + props
    return bytes(out)


async def test_batch_properties_text_stored_as_sent(
    broker: Broker, client: RemotingClient, build: Builders
) -> None:
    """Each entry's properties text goes into its record byte for byte, as Java's batch
    encoder copies it; the consume-queue tags code and the index keys are those the text
    decodes to (a repeated name keeps its last value; a segment without a name, a value
    or a 0x01 does not count)."""
    canonical = "TAGS\x01TagB\x02UNIQ_KEY\x01U0\x02"
    assert _batch_body([(b"b0", canonical)]) == encode_batch(
        [BatchEntry(b"b0", properties={"TAGS": "TagB", "UNIQ_KEY": "U0"})]
    )
    hostile = (
        "TAGS\x01first\x02KEYS\x01old\x02\x01orphan\x02TAGS\x01TagB\x02KEYS\x01\x02"
        "KEYS\x01k1 k2\x02UNIQ_KEY\x01U1\x02junk"
    )
    texts = [canonical, hostile, "", "TAGS\x01\u00e9t\u00e9\x02"]
    request = build.send(
        "TopicBatchText",
        _batch_body([(f"b{i}".encode(), text) for i, text in enumerate(texts)]),
        queue_id=1,
        code=RequestCode.SEND_BATCH_MESSAGE,
    )
    header = _header(await client.request(broker.address, request, timeout=5))
    offsets = [decode_offset_msg_id(i)[2] for i in header.msg_id.split(",")]
    store = broker.controller.store
    assert isinstance(store, MessageStore)
    stored = [store.look_message_by_offset(offset) for offset in offsets]
    assert [m.body for m in stored if m is not None] == [b"b0", b"b1", b"b2", b"b3"]
    assert [_raw_properties(m) for m in stored if m is not None] == texts
    tag_b = store.get_messages("TopicBatchText", 1, 0, tags_codes={java_string_hash("TagB")})
    assert tag_b.queue_offsets == [0, 1]
    first = store.get_messages("TopicBatchText", 1, 0, tags_codes={java_string_hash("first")})
    assert first.queue_offsets == []
    latin = store.get_messages(
        "TopicBatchText", 1, 0, tags_codes={java_string_hash("\u00e9t\u00e9")}
    )
    assert latin.queue_offsets == [3]
    for key, found in (("k2", [offsets[1]]), ("U1", [offsets[1]]), ("U0", [offsets[0]])):
        assert store.query_message("TopicBatchText", key, max_num=8).phy_offsets == found, key
    assert store.query_message("TopicBatchText", "old", max_num=8).phy_offsets == []


async def test_batch_to_a_retry_topic_is_refused(
    broker: Broker, client: RemotingClient, build: Builders
) -> None:
    body = encode_batch([BatchEntry(b"x")])
    broker.controller.groups.find("CID_b")
    response = await client.request(
        broker.address,
        build.send("%RETRY%CID_b", body, code=RequestCode.SEND_BATCH_MESSAGE),
        timeout=5,
    )
    assert response.code == ResponseCode.MESSAGE_ILLEGAL
    assert response.remark == "batch request does not support retry group %RETRY%CID_b"


async def test_retry_topic_and_dead_letter_queue(
    broker: Broker, client: RemotingClient, build: Builders
) -> None:
    from rmq_protocol.codec.headers import SendMessageRequestHeaderV2

    async def retry(reconsume_times: int) -> SendMessageResponseHeader:
        request = build.send("%RETRY%CID_dlq", b"retry me", queue_id=-1)
        header = request.decode_header(SendMessageRequestHeaderV2)._replace(
            reconsume_times=reconsume_times, max_reconsume_times=16
        )
        request = request._replace(ext_fields=header.to_ext_fields())
        return _header(await client.request(broker.address, request, timeout=5))

    # as in Java, a retry topic nobody's heartbeat created yet is made from TBW102
    store = broker.controller.store

    def stored(topic: str) -> int:
        return sum(store.get_max_offset_in_queue(topic, q) for q in range(8))

    await retry(3)
    assert broker.controller.topics.select("%RETRY%CID_dlq") is not None
    assert stored("%RETRY%CID_dlq") == 1
    await retry(17)  # past maxReconsumeTimes 16: dead letter
    dlq = broker.controller.topics.select("%DLQ%CID_dlq")
    assert dlq is not None
    assert (dlq.write_queue_nums, dlq.perm) == (1, 6)
    assert stored("%DLQ%CID_dlq") == 1
    assert stored("%RETRY%CID_dlq") == 1


async def test_retry_topic_of_an_unknown_group(
    settings: BrokerSettings, client: RemotingClient, build: Builders
) -> None:
    async with Broker(build.with_broker(settings, auto_create_subscription_group=False)) as broker:
        response = await client.request(broker.address, build.send("%RETRY%CID_none"), timeout=5)
    assert response.code == ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST
    assert response.remark is not None
    assert response.remark.startswith("subscription group not exist, CID_none \nSee ")


async def test_transactional_sends_go_to_the_half_queue(broker: Broker, send: Send) -> None:
    # (END_TRANSACTION and the check-back: test_transaction.py)
    response = await send("TopicTx", properties={"TRAN_MSG": "true", "PGROUP": "PID_tx"})
    assert response.code == ResponseCode.SUCCESS
    assert response.decode_header(SendMessageResponseHeader).queue_id == 0
    assert broker.controller.store.get_max_offset_in_queue("TopicTx", 0) == 0
    assert broker.controller.store.get_max_offset_in_queue("RMQ_SYS_TRANS_HALF_TOPIC", 0) == 1


async def test_sync_flush(
    settings: BrokerSettings, client: RemotingClient, build: Builders
) -> None:
    sync = dataclasses.replace(
        settings,
        store=dataclasses.replace(settings.store, flush_disk_type=FlushDiskType.SYNC_FLUSH),
    )
    async with Broker(sync) as broker:
        responses = await asyncio.gather(
            *(
                client.request(broker.address, build.send("TopicSync", b"d"), timeout=5)
                for _ in range(20)
            )
        )
        store = broker.controller.store
        assert all(r.code == ResponseCode.SUCCESS for r in responses)
        assert store.flushed_offset >= store.get_max_offset_in_queue("TopicSync", 0) * 100


class _StalledFlushStore:
    """A real store whose flushes never report (a disk that hangs)."""

    def __init__(self, store: MessageStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    @property
    def flushed_offset(self) -> int:
        return 0

    def add_flush_listener(self, listener: Callable[[int], None]) -> None:
        pass

    def remove_flush_listener(self, listener: Callable[[int], None]) -> None:
        pass

    def flush_future(self, offset: int) -> concurrent.futures.Future[int]:
        return concurrent.futures.Future()


async def test_flush_disk_timeout_and_system_busy(
    settings: BrokerSettings, client: RemotingClient, build: Builders, tmp_path: Path
) -> None:
    store_config = dataclasses.replace(
        settings.store, flush_disk_type=FlushDiskType.SYNC_FLUSH, sync_flush_timeout=300
    )
    sync = build.with_broker(
        dataclasses.replace(settings, store=store_config), send_thread_pool_queue_capacity=1
    )
    with MessageStore.open(store_config) as real:
        async with Broker(sync, store=_StalledFlushStore(real)) as broker:  # type: ignore[arg-type]
            first = asyncio.ensure_future(
                client.request(broker.address, build.send("TopicStall"), timeout=5)
            )
            await asyncio.sleep(0.05)
            busy = await client.request(broker.address, build.send("TopicStall"), timeout=5)
            timed_out = await first
    assert busy.code == ResponseCode.SYSTEM_BUSY
    assert busy.remark is not None
    assert busy.remark.startswith("[REJECTREQUEST]")
    assert timed_out.code == ResponseCode.FLUSH_DISK_TIMEOUT
    header = timed_out.decode_header(SendMessageResponseHeader)  # a "sent" code carries it
    assert header.queue_offset == 0


async def test_wait_false_does_not_wait_for_the_flush(
    settings: BrokerSettings, client: RemotingClient, build: Builders
) -> None:
    store_config = dataclasses.replace(
        settings.store, flush_disk_type=FlushDiskType.SYNC_FLUSH, sync_flush_timeout=300
    )
    with MessageStore.open(store_config) as real:
        async with Broker(
            dataclasses.replace(settings, store=store_config),
            store=_StalledFlushStore(real),  # type: ignore[arg-type]
        ) as broker:
            responses = [
                await client.request(
                    broker.address,
                    build.send("TopicNoWait", properties={"WAIT": "false"}),
                    timeout=5,
                )
                for _ in range(2)  # the first send to a topic, and one after it
            ]
    assert [r.code for r in responses] == [ResponseCode.SUCCESS] * 2


async def test_single_sends_store_what_decoding_and_adding_cluster_gives(
    broker: Broker, client: RemotingClient, build: Builders
) -> None:
    """A plain message's canonical text is kept as sent with the CLUSTER pair appended
    (no decode and re-encode); every other text is decoded, CLUSTER set and re-encoded.
    Either way the record holds exactly what the decoding path stores, and the queue's
    tags code and index keys follow the stored properties."""
    from rmq_protocol.codec.properties import decode_properties, encode_properties

    texts = [
        "TAGS\x01TagA\x02KEYS\x01k1 k2\x02UNIQ_KEY\x01U1\x02WAIT\x01true\x02",  # kept
        "TAGS\x01\u4e2d\u6587\x02UNIQ_KEY\x01U2\x02",  # kept (non-ASCII)
        "TAGS\x01first\x02TAGS\x01TagA\x02",  # a repeated name: the last one counts
        "TAGS\x01TagA\x02KEYS\x01k3",  # no final separator
        "TAGS\x01TagA\x02\x02\x01orphan\x02KEYS\x01k4\x02",  # segments decoding drops
        "CLUSTER\x01Elsewhere\x02TAGS\x01TagA\x02",  # its own CLUSTER: replaced
        "TAGS\x01TagA\x02WAIT\x01false\x02",  # answered without waiting, kept
    ]
    store = broker.controller.store
    assert isinstance(store, MessageStore)
    for text in texts:
        request = build.send("TopicText", b"body", queue_id=2)
        assert request.ext_fields is not None
        fields = dict(request.ext_fields)
        fields["i"] = text  # SEND_MESSAGE_V2's short name for properties
        header = _header(
            await client.request(broker.address, request._replace(ext_fields=fields), timeout=5)
        )
        stored = store.look_message_by_offset(decode_offset_msg_id(header.msg_id)[2])
        assert stored is not None
        expected = encode_properties({**decode_properties(text), "CLUSTER": "DefaultCluster"})
        assert _raw_properties(stored) == expected, text
    assert texts[0] + "CLUSTER\x01DefaultCluster\x02" == encode_properties(
        {**decode_properties(texts[0]), "CLUSTER": "DefaultCluster"}
    )
    tag_a = store.get_messages("TopicText", 2, 0, tags_codes={java_string_hash("TagA")})
    assert tag_a.queue_offsets == [0, 2, 3, 4, 5, 6]
    keyed = store.query_message("TopicText", "k4", max_num=8)
    assert len(keyed.messages) == 1
