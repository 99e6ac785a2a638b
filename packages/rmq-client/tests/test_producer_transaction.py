"""Transactions: the client side against a scripted broker (exact END_TRANSACTION
headers, a CHECK_TRANSACTION_STATE sent on cue), and a half message stored by rmq-broker
(end to end with check-backs and restarts: test_transaction_e2e.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from rmq_client import (
    LocalTransactionState,
    Message,
    Producer,
    ReceivedMessage,
    SendStatus,
    TransactionError,
)
from rmq_protocol.codec.body import BrokerData, QueueData, TopicRouteData
from rmq_protocol.codec.codes import RequestCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import (
    CheckTransactionStateRequestHeader,
    EndTransactionRequestHeader,
    SendMessageRequestHeaderV2,
)
from rmq_protocol.codec.message import HostPort, MessageExt, encode_message
from rmq_protocol.codec.msgid import offset_msg_id
from rmq_protocol.codec.properties import decode_properties
from rmq_protocol.transport import Connection, ProcessorRegistry, RemotingServer, start_server


class FakeBroker:
    """Answers sends, records END_TRANSACTIONs, can call the client back."""

    def __init__(self) -> None:
        self.sends: list[SendMessageRequestHeaderV2] = []
        self.ends: asyncio.Queue[EndTransactionRequestHeader] = asyncio.Queue()
        self.clients: list[Connection] = []
        self.server: RemotingServer | None = None

    def registry(self) -> ProcessorRegistry:
        registry = ProcessorRegistry()
        registry.register(RequestCode.SEND_MESSAGE_V2, self.send)
        registry.register(RequestCode.END_TRANSACTION, self.end)
        registry.register_default(lambda cmd, conn: RemotingCommand.response_to(cmd))
        return registry

    def send(self, cmd: RemotingCommand, conn: Connection) -> RemotingCommand:
        header = cmd.decode_header(SendMessageRequestHeaderV2)
        self.sends.append(header)
        assert self.server is not None
        uniq = decode_properties(header.properties or "")["UNIQ_KEY"]
        return RemotingCommand.response_to(
            cmd,
            ext_fields={
                "msgId": offset_msg_id("127.0.0.1", self.server.port, 1234),
                "queueId": str(header.queue_id),
                "queueOffset": "7",
                "transactionId": uniq,
                "MSG_REGION": "DefaultRegion",
                "TRACE_ON": "true",
            },
        )

    def end(self, cmd: RemotingCommand, conn: Connection) -> None:
        assert cmd.is_oneway
        self.ends.put_nowait(cmd.decode_header(EndTransactionRequestHeader))


@pytest.fixture
async def broker() -> AsyncIterator[FakeBroker]:
    fake = FakeBroker()
    fake.server = await start_server(fake.registry(), on_connect=fake.clients.append)
    async with fake.server:
        yield fake


class Listener:
    def __init__(self, local: LocalTransactionState, check: LocalTransactionState) -> None:
        self.local, self.check = local, check
        self.checked: list[ReceivedMessage] = []

    async def execute_local_transaction(
        self, message: Message, arg: object
    ) -> LocalTransactionState:
        if arg == "boom":
            raise RuntimeError("local failure")
        return self.local

    def check_local_transaction(self, message: ReceivedMessage) -> LocalTransactionState:
        self.checked.append(message)
        return self.check


def route_to(broker: FakeBroker) -> TopicRouteData:
    assert broker.server is not None
    return TopicRouteData(
        queue_datas=(QueueData(broker_name="fake", read_queue_nums=1, write_queue_nums=1, perm=6),),
        broker_datas=(
            BrokerData(cluster="c", broker_name="fake", broker_addrs={0: broker.server.address}),
        ),
    )


async def test_commit_rollback_and_check(broker: FakeBroker, unique: Callable[[str], str]) -> None:
    listener = Listener(
        LocalTransactionState.COMMIT_MESSAGE, LocalTransactionState.ROLLBACK_MESSAGE
    )
    group = unique("PG")
    async with Producer(
        group, namesrv_addr="127.0.0.1:1", transaction_listener=listener
    ) as producer:
        producer.instance.update_route("TxTopic", route_to(broker))
        result = await producer.send_message_in_transaction(Message("TxTopic", b"tx"))
        assert result.local_transaction_state is LocalTransactionState.COMMIT_MESSAGE
        sent = broker.sends[0]
        assert sent.sys_flag & 0x4  # TRANSACTION_PREPARED_TYPE
        props = decode_properties(sent.properties or "")
        assert props["TRAN_MSG"] == "true"
        assert props["PGROUP"] == group
        end = await asyncio.wait_for(broker.ends.get(), 5)
        assert end.commit_or_rollback == 8
        assert end.commit_log_offset == 1234
        assert end.tran_state_table_offset == 7
        assert end.msg_id == result.send_result.msg_id
        assert end.transaction_id == props["UNIQ_KEY"]
        assert end.producer_group == group
        assert not end.from_transaction_check

        failed = await producer.send_message_in_transaction(Message("TxTopic", b"tx"), "boom")
        assert failed.local_transaction_state is LocalTransactionState.UNKNOW
        assert (await asyncio.wait_for(broker.ends.get(), 5)).commit_or_rollback == 0

        # The broker asks about a half message on the connection the client opened.
        half = MessageExt(
            topic="TxTopic",
            body=b"tx",
            store_host=HostPort("127.0.0.1", 10911),
            born_host=HostPort("127.0.0.1", 5555),
            properties={"PGROUP": group, "UNIQ_KEY": "UNIQ1", "TRAN_MSG": "true"},
        )
        check = RemotingCommand.request(
            RequestCode.CHECK_TRANSACTION_STATE,
            CheckTransactionStateRequestHeader(
                topic="TxTopic",
                tran_state_table_offset=3,
                commit_log_offset=99,
                msg_id="UNIQ1",
                transaction_id="UNIQ1",
            ),
            body=encode_message(half),
            oneway=True,
        )
        await broker.clients[0].send_oneway(check, timeout=5)
        end = await asyncio.wait_for(broker.ends.get(), 5)
        assert end.from_transaction_check
        assert end.commit_or_rollback == 12
        assert (end.commit_log_offset, end.tran_state_table_offset) == (99, 3)
        assert end.msg_id == "UNIQ1"
        assert [m.body for m in listener.checked] == [b"tx"]


async def test_needs_listener_and_rmq_broker_stores_half_messages(
    namesrv_addr: str, unique: Callable[[str], str]
) -> None:
    listener = Listener(
        LocalTransactionState.ROLLBACK_MESSAGE, LocalTransactionState.COMMIT_MESSAGE
    )
    async with Producer(unique("PG"), namesrv_addr=namesrv_addr) as plain:
        with pytest.raises(TransactionError):
            await plain.send_message_in_transaction(Message(unique("T"), b"x"))
    async with Producer(
        unique("PG"), namesrv_addr=namesrv_addr, transaction_listener=listener
    ) as producer:
        # rmq-broker stores the half message (end to end: test_transaction_e2e.py)
        result = await producer.send_message_in_transaction(Message(unique("T"), b"x"))
        assert result.send_result.status is SendStatus.SEND_OK
        assert result.send_result.queue.queue_id == 0  # the half queue
        assert result.local_transaction_state is LocalTransactionState.ROLLBACK_MESSAGE
