"""Offset stores: the broker store against a fake broker, the local file store on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmq_client.consumer._offset_store import (
    LocalFileOffsetStore,
    ReadOffsetType,
    RemoteOffsetStore,
)
from rmq_client.errors import OffsetNotFoundError
from rmq_protocol.codec.body import MessageQueue
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import (
    QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader,
    UpdateConsumerOffsetRequestHeader,
)

MQ0 = MessageQueue("T", "broker-a", 0)
MQ1 = MessageQueue("T", "broker-a", 1)


class FakeBroker:
    def __init__(self) -> None:
        self.offsets: dict[tuple[str, int], int] = {("T", 0): 42}
        self.oneway: list[RemotingCommand] = []

    async def find_broker_addr(self, broker_name: str, *, master_only: bool = True) -> str:
        assert broker_name == "broker-a"
        return "127.0.0.1:10911"

    async def invoke(self, addr: str, cmd: RemotingCommand, *, timeout: float) -> RemotingCommand:
        assert cmd.code == RequestCode.QUERY_CONSUMER_OFFSET
        header = cmd.decode_header(QueryConsumerOffsetRequestHeader)
        assert header.consumer_group == "g"
        assert cmd.ext_fields is not None
        assert cmd.ext_fields["bname"] == "broker-a"
        offset = self.offsets.get((header.topic, header.queue_id))
        if offset is None:
            return RemotingCommand.response_to(cmd, ResponseCode.QUERY_NOT_FOUND, "Not found")
        return RemotingCommand.response_to(
            cmd, header=QueryConsumerOffsetResponseHeader(offset=offset)
        )

    async def invoke_oneway(self, addr: str, cmd: RemotingCommand, *, timeout: float) -> None:
        assert cmd.is_oneway
        self.oneway.append(cmd)


async def test_remote_store_reads_and_persists_changed_offsets() -> None:
    broker = FakeBroker()
    store = RemoteOffsetStore(broker, "g")
    assert await store.read(MQ0, ReadOffsetType.READ_FROM_STORE) == 42
    assert await store.read(MQ1, ReadOffsetType.READ_FROM_STORE) == -1
    assert await store.read(MQ1, ReadOffsetType.READ_FROM_MEMORY) == -1
    with pytest.raises(OffsetNotFoundError):
        await store.fetch(MQ1)
    store.update(MQ0, 40)  # increase only: ignored
    assert await store.read(MQ0, ReadOffsetType.READ_FROM_MEMORY) == 42
    store.update(MQ0, 50)
    store.update(MQ1, 7)
    await store.persist_all([MQ0, MQ1])
    sent = {
        (h.queue_id, h.commit_offset)
        for h in (c.decode_header(UpdateConsumerOffsetRequestHeader) for c in broker.oneway)
    }
    assert sent == {(0, 50), (1, 7)}
    await store.persist_all([MQ0])  # unchanged: nothing sent; MQ1 forgotten
    assert len(broker.oneway) == 2
    assert store.offsets() == {MQ0: 50}
    store.update(MQ0, 3, increase_only=False)
    assert store.offsets("T") == {MQ0: 3}
    assert store.offsets("other") == {}


async def test_local_store_round_trip_and_backup(tmp_path: Path) -> None:
    store = LocalFileOffsetStore("127.0.0.1@1", "g", base_dir=tmp_path)
    assert store.path == tmp_path / "127.0.0.1@1" / "g" / "offsets.json"
    assert await store.read(MQ0, ReadOffsetType.READ_FROM_STORE) == -1
    store.update(MQ0, 5)
    store.update(MQ1, 9)
    await store.persist_all([MQ0, MQ1])
    store.update(MQ0, 6)
    await store.persist(MQ0)
    text = store.path.read_text()
    assert text.startswith('{"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:6')
    assert store.path.with_name("offsets.json.bak").exists()

    again = LocalFileOffsetStore("127.0.0.1@1", "g", base_dir=tmp_path)
    await again.load()
    assert again.offsets() == {MQ0: 6, MQ1: 9}
    store.path.write_text("not json")  # unreadable: the backup is used
    third = LocalFileOffsetStore("127.0.0.1@1", "g", base_dir=tmp_path)
    assert await third.read(MQ1, ReadOffsetType.MEMORY_FIRST_THEN_STORE) == 9
