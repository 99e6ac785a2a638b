"""Shared fixtures for rmq-broker tests (test modules never import each other).

Brokers run for real: a socket on 127.0.0.1:0, a MessageStore in tmp_path with small
segments, and a real rmq NameServer to register with.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Protocol

import pytest

from rmq_broker import Broker, BrokerConfig, BrokerSettings
from rmq_namesrv import NameServer, NamesrvConfig
from rmq_protocol.codec.body import (
    ConsumeFromWhere,
    ConsumerData,
    ConsumeType,
    HeartbeatData,
    MessageModel,
    ProducerData,
    SubscriptionData,
)
from rmq_protocol.codec.codes import RequestCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.hashing import java_string_hash
from rmq_protocol.codec.headers import PullMessageRequestHeader, SendMessageRequestHeaderV2
from rmq_protocol.codec.properties import encode_properties
from rmq_protocol.transport import RemotingClient
from rmq_store import StoreConfig


def _loop_factories() -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
        "asyncio": asyncio.new_event_loop
    }
    try:
        import uvloop
    except ImportError:
        return factories
    factories["uvloop"] = uvloop.new_event_loop
    return factories


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Every async test runs on asyncio's loop and, when installed, on uvloop."""
    return _loop_factories()


@pytest.fixture
async def namesrv(tmp_path: Path) -> AsyncIterator[NameServer]:
    """A real rmq NameServer on a free port."""
    config = NamesrvConfig(
        listen_port=0,
        bind_address="127.0.0.1",
        kv_config_path=tmp_path / "namesrv" / "kvConfig.json",
        config_store_path=tmp_path / "namesrv" / "namesrv.properties",
    )
    async with NameServer(config) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, namesrv: NameServer) -> BrokerSettings:
    """A broker on 127.0.0.1:0, store under tmp_path, registered with ``namesrv``."""
    return BrokerSettings(
        broker=BrokerConfig(
            listen_port=0,
            bind_address="127.0.0.1",
            broker_ip1="127.0.0.1",
            broker_name="broker-a",
            namesrv_addr=namesrv.address,
        ),
        store=StoreConfig(
            store_path_root_dir=tmp_path / "store",
            mapped_file_size_commit_log=4 * 1024 * 1024,
            mapped_file_size_consume_queue=20 * 1000,
            max_hash_slot_num=1000,
            max_index_num=4000,
        ),
    )


def with_broker(settings: BrokerSettings, **changes: object) -> BrokerSettings:
    """``settings`` with broker keys changed."""
    return dataclasses.replace(settings, broker=dataclasses.replace(settings.broker, **changes))  # type: ignore[arg-type]


@pytest.fixture
async def broker(settings: BrokerSettings) -> AsyncIterator[Broker]:
    async with Broker(settings) as running:
        yield running


@pytest.fixture
async def client() -> AsyncIterator[RemotingClient]:
    async with RemotingClient() as remoting:
        yield remoting


class Send(Protocol):
    async def __call__(
        self,
        topic: str,
        body: bytes = ...,
        *,
        queue_id: int = ...,
        tags: str | None = ...,
        keys: str | None = ...,
        properties: dict[str, str] | None = ...,
        code: int = ...,
    ) -> RemotingCommand: ...


_uniq = itertools.count()


def send_request(
    topic: str,
    body: bytes = b"hello",
    *,
    queue_id: int = 0,
    tags: str | None = None,
    keys: str | None = None,
    properties: dict[str, str] | None = None,
    code: int = RequestCode.SEND_MESSAGE_V2,
    default_topic_queue_nums: int = 4,
    group: str = "PID_test",
) -> RemotingCommand:
    """A SEND_MESSAGE_V2 (or SEND_MESSAGE / batch with ``code``) as the Java client builds it."""
    props = {"WAIT": "true", "UNIQ_KEY": f"7F0000010000000000000000{next(_uniq):08X}"}
    if tags is not None:
        props["TAGS"] = tags
    if keys is not None:
        props["KEYS"] = keys
    props.update(properties or {})
    header = SendMessageRequestHeaderV2(
        producer_group=group,
        topic=topic,
        default_topic="TBW102",
        default_topic_queue_nums=default_topic_queue_nums,
        queue_id=queue_id,
        sys_flag=0,
        born_timestamp=1_700_000_000_000,
        flag=0,
        properties=encode_properties(props),
        reconsume_times=0,
        unit_mode=False,
        batch=code == RequestCode.SEND_BATCH_MESSAGE,
    )
    if code == RequestCode.SEND_MESSAGE:
        return RemotingCommand.request(code, header.to_v1(), body=body)
    return RemotingCommand.request(code, header, body=body)


@pytest.fixture
def send(broker: Broker, client: RemotingClient) -> Send:
    """Send one message to ``broker`` and return the response."""

    async def do(
        topic: str,
        body: bytes = b"hello",
        *,
        queue_id: int = 0,
        tags: str | None = None,
        keys: str | None = None,
        properties: dict[str, str] | None = None,
        code: int = RequestCode.SEND_MESSAGE_V2,
    ) -> RemotingCommand:
        request = send_request(
            topic, body, queue_id=queue_id, tags=tags, keys=keys, properties=properties, code=code
        )
        return await client.request(broker.address, request, timeout=5)

    return do


def pull_request(
    topic: str,
    queue_id: int,
    offset: int,
    *,
    group: str = "CID_test",
    subscription: str | None = "*",
    sys_flag: int = 0x4,
    suspend_ms: int = 0,
    max_msg_nums: int = 32,
    commit_offset: int = 0,
    expression_type: str | None = "TAG",
    sub_version: int = 0,
) -> RemotingCommand:
    """A PULL_MESSAGE; by default with its own subscription (sysFlag 0x4), no suspension."""
    return RemotingCommand.request(
        RequestCode.PULL_MESSAGE,
        PullMessageRequestHeader(
            consumer_group=group,
            topic=topic,
            queue_id=queue_id,
            queue_offset=offset,
            max_msg_nums=max_msg_nums,
            sys_flag=sys_flag,
            commit_offset=commit_offset,
            suspend_timeout_millis=suspend_ms,
            subscription=subscription,
            sub_version=sub_version,
            expression_type=expression_type,
        ),
    )


def heartbeat(
    client_id: str,
    *,
    consumer_group: str | None = "CID_test",
    producer_group: str | None = None,
    topic: str = "TopicTest",
    sub_string: str = "*",
) -> RemotingCommand:
    """A Java-style HEART_BEAT."""
    consumers: tuple[ConsumerData, ...] = ()
    if consumer_group is not None:
        tags = tuple(t.strip() for t in sub_string.split("||")) if sub_string != "*" else ()
        consumers = (
            ConsumerData(
                group_name=consumer_group,
                consume_type=ConsumeType.CONSUME_PASSIVELY,
                message_model=MessageModel.CLUSTERING,
                consume_from_where=ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET,
                subscription_data_set=(
                    SubscriptionData(
                        topic=topic,
                        sub_string=sub_string,
                        tags_set=tags,
                        code_set=tuple(java_string_hash(t) for t in tags),
                        sub_version=1,
                    ),
                ),
            ),
        )
    producers = (ProducerData(producer_group),) if producer_group is not None else ()
    body = HeartbeatData(
        client_id=client_id, producer_data_set=producers, consumer_data_set=consumers
    ).to_json()
    return RemotingCommand.request(RequestCode.HEART_BEAT, body=body)


@dataclasses.dataclass(frozen=True)
class Builders:
    """Request builders for tests (modules cannot import conftest at run time)."""

    send: Callable[..., RemotingCommand] = send_request
    pull: Callable[..., RemotingCommand] = pull_request
    heartbeat: Callable[..., RemotingCommand] = heartbeat
    with_broker: Callable[..., BrokerSettings] = with_broker


@pytest.fixture
def build() -> Builders:
    return Builders()
