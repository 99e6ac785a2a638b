"""SQL92 and exact-tag filtering on a real broker (rmq_broker.filtering), and the
subscription-consistency guard."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from rmq_broker import Broker, BrokerSettings
from rmq_filter import java_string_hash
from rmq_protocol.codec.body import (
    ConsumeFromWhere,
    ConsumerData,
    ConsumeType,
    HeartbeatData,
    KVTable,
    MessageModel,
    SubscriptionData,
)
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.hashing import tags_code
from rmq_protocol.codec.headers import PullMessageResponseHeader
from rmq_protocol.codec.message import decode_messages
from rmq_protocol.transport import RemotingClient

if TYPE_CHECKING:
    from conftest import Builders

TOPIC = "TopicSql"
DISABLED = "The broker does not support consumer to filter message by SQL92"


@pytest.fixture
async def sql_broker(settings: BrokerSettings, build: Builders) -> AsyncIterator[Broker]:
    async with Broker(build.with_broker(settings, enable_property_filter=True)) as running:
        yield running


async def _send(
    client: RemotingClient, broker: Broker, build: Builders, body: bytes, **props: str
) -> None:
    tags = props.pop("TAGS", None)
    request = build.send(TOPIC, body, tags=tags, properties=props)
    response = await client.request(broker.address, request, timeout=5)
    assert response.code == ResponseCode.SUCCESS, response.remark


async def _pull(
    client: RemotingClient,
    broker: Broker,
    build: Builders,
    offset: int,
    expression: str,
    **kw: object,
) -> tuple[RemotingCommand, PullMessageResponseHeader | None]:
    kw.setdefault("expression_type", "SQL92")
    request = build.pull(TOPIC, 0, offset, subscription=expression, **kw)
    response = await client.request(broker.address, request, timeout=10)
    header = None
    if response.code in (0, 19, 20, 21):
        header = response.decode_header(PullMessageResponseHeader)
    return response, header


def _heartbeat(client_id: str, *subs: SubscriptionData, group: str = "CID_sql") -> RemotingCommand:
    body = HeartbeatData(
        client_id=client_id,
        consumer_data_set=(
            ConsumerData(
                group_name=group,
                consume_type=ConsumeType.CONSUME_PASSIVELY,
                message_model=MessageModel.CLUSTERING,
                consume_from_where=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
                subscription_data_set=subs,
            ),
        ),
    ).to_json()
    return RemotingCommand.request(RequestCode.HEART_BEAT, body=body)


def _sql(expression: str, topic: str = TOPIC) -> SubscriptionData:
    return SubscriptionData(
        topic=topic, sub_string=expression, expression_type="SQL92", sub_version=1
    )


def _tag(expression: str, topic: str = TOPIC) -> SubscriptionData:
    tags = tuple(t.strip() for t in expression.split("||")) if expression != "*" else ()
    return SubscriptionData(
        topic=topic,
        sub_string=expression,
        tags_set=tags,
        code_set=tuple(java_string_hash(t) for t in tags),
        sub_version=1,
    )


async def test_sql92_pull_filters_on_properties(
    sql_broker: Broker, client: RemotingClient, build: Builders
) -> None:
    for i in range(6):
        await _send(
            client, sql_broker, build, f"m{i}".encode(), n=str(i), region="eu" if i % 2 else "us"
        )
    await _send(client, sql_broker, build, b"no-n", region="eu")
    await _send(client, sql_broker, build, b"bad-n", n="abc", region="eu")
    response, header = await _pull(client, sql_broker, build, 0, "region = 'eu' AND n > 1")
    assert response.code == ResponseCode.SUCCESS, response.remark
    assert [m.body for m in decode_messages(response.body)] == [b"m3", b"m5"]
    assert header is not None
    assert header.next_begin_offset == 8  # past everything examined, matched or not
    response, header = await _pull(
        client, sql_broker, build, 0, "n IS NULL OR n NOT IN ('0', '1', '2', '3', '4', '5')"
    )
    assert [m.body for m in decode_messages(response.body)] == [b"no-n", b"bad-n"]


async def test_filtered_out_messages_advance_the_offset(
    sql_broker: Broker, client: RemotingClient, build: Builders
) -> None:
    for i in range(5):
        await _send(client, sql_broker, build, f"m{i}".encode(), n=str(i))
    response, header = await _pull(client, sql_broker, build, 0, "n > 100")
    assert (response.code, response.remark) == (
        ResponseCode.PULL_RETRY_IMMEDIATELY,
        "NO_MATCHED_MESSAGE",
    )
    assert header is not None
    assert header.next_begin_offset == 5
    response, header = await _pull(client, sql_broker, build, 5, "n > 100")
    assert response.code == ResponseCode.PULL_NOT_FOUND
    await _send(client, sql_broker, build, b"big", n="101")
    response, header = await _pull(client, sql_broker, build, 5, "n > 100")
    assert [m.body for m in decode_messages(response.body)] == [b"big"]
    assert header is not None
    assert header.next_begin_offset == 6


async def test_sql92_parse_failure_at_pull(
    sql_broker: Broker, client: RemotingClient, build: Builders
) -> None:
    await _send(client, sql_broker, build, b"x", n="1")
    response, _ = await _pull(client, sql_broker, build, 0, "n >> 1")
    assert response.code == ResponseCode.SUBSCRIPTION_PARSE_FAILED
    assert response.remark is not None
    assert "at position 3" in response.remark
    assert "expected one of" in response.remark
    response, _ = await _pull(client, sql_broker, build, 0, "n > 'x'")
    assert response.code == ResponseCode.SUBSCRIPTION_PARSE_FAILED
    assert "cannot be compared" in (response.remark or "")


async def test_sql92_refused_when_disabled(
    broker: Broker, client: RemotingClient, build: Builders
) -> None:
    response = await client.request(broker.address, _heartbeat("c1@1", _sql("a > 1")), timeout=5)
    assert (response.code, response.remark) == (ResponseCode.SYSTEM_ERROR, DISABLED)
    request = RemotingCommand.request(
        RequestCode.CHECK_CLIENT_CONFIG,
        body=json.dumps(
            {"clientId": "c1@1", "group": "CID_sql", "subscriptionData": {
                "topic": TOPIC, "subString": "a > 1", "expressionType": "SQL92"}}
        ).encode(),
    )  # fmt: skip
    response = await client.request(broker.address, request, timeout=5)
    assert (response.code, response.remark) == (ResponseCode.SYSTEM_ERROR, DISABLED)


async def test_heartbeat_and_check_client_config_compile_the_expression(
    sql_broker: Broker, client: RemotingClient
) -> None:
    ok = await client.request(sql_broker.address, _heartbeat("c1@1", _sql("a > 1")), timeout=5)
    assert ok.code == ResponseCode.SUCCESS
    bad = await client.request(sql_broker.address, _heartbeat("c1@1", _sql("a >")), timeout=5)
    assert bad.code == ResponseCode.SUBSCRIPTION_PARSE_FAILED
    assert "unexpected end of input at position 3" in (bad.remark or "")

    def check(expression: str, expression_type: str) -> RemotingCommand:
        sub = {"topic": TOPIC, "subString": expression, "expressionType": expression_type}
        body = {"clientId": "c1@1", "group": "CID_sql", "subscriptionData": sub}
        return RemotingCommand.request(
            RequestCode.CHECK_CLIENT_CONFIG, body=json.dumps(body).encode()
        )

    assert (
        await client.request(sql_broker.address, check("a = 'x'", "SQL92"), timeout=5)
    ).code == 0
    assert (await client.request(sql_broker.address, check("TagA", "TAG"), timeout=5)).code == 0
    response = await client.request(sql_broker.address, check("a = = 1", "SQL92"), timeout=5)
    assert response.code == ResponseCode.SUBSCRIPTION_PARSE_FAILED
    assert "position 4" in (response.remark or "")


async def test_registered_sql92_subscription_filters_pulls(
    sql_broker: Broker, client: RemotingClient, build: Builders
) -> None:
    await client.request(sql_broker.address, _heartbeat("c1@1", _sql("k = 'yes'")), timeout=5)
    await _send(client, sql_broker, build, b"no", k="no")
    await _send(client, sql_broker, build, b"yes", k="yes")
    response, _ = await _pull(
        client, sql_broker, build, 0, "", group="CID_sql", sys_flag=0, sub_version=1,
        expression_type=None,
    )  # fmt: skip
    assert response.code == ResponseCode.SUCCESS, response.remark
    assert [m.body for m in decode_messages(response.body)] == [b"yes"]


async def test_tags_filter_on_the_hash_only(
    broker: Broker, client: RemotingClient, build: Builders
) -> None:
    """As Java: the tag hash is the broker's filter (a colliding tag reaches the client,
    which re-checks the string); other tags do not arrive and the offset moves past them."""
    assert tags_code("Aa") == tags_code("BB") == java_string_hash("Aa")  # a Java collision
    await _send(client, broker, build, b"bb", TAGS="BB")
    await _send(client, broker, build, b"aa", TAGS="Aa")
    await _send(client, broker, build, b"cc", TAGS="Cc")
    response, header = await _pull(client, broker, build, 0, "Aa", expression_type="TAG")
    assert [m.body for m in decode_messages(response.body)] == [b"bb", b"aa"]
    assert header is not None
    assert header.next_begin_offset == 3
    response, _ = await _pull(client, broker, build, 0, "Cc || Zz", expression_type="TAG")
    assert [m.body for m in decode_messages(response.body)] == [b"cc"]


async def test_retry_topic_judged_by_the_original_topic_expression(
    settings: BrokerSettings, client: RemotingClient, build: Builders
) -> None:
    on = build.with_broker(settings, enable_property_filter=True, filter_support_retry=True)
    async with Broker(on) as broker:
        group = "CID_retry"
        await client.request(
            broker.address, _heartbeat("c1@1", _sql("k = 'yes'"), group=group), timeout=5
        )
        retry = f"%RETRY%{group}"
        for body, k, topic in (
            (b"r-no", "no", TOPIC),
            (b"r-yes", "yes", TOPIC),
            (b"other", "no", "T2"),
        ):
            request = build.send(retry, body, properties={"k": k, "RETRY_TOPIC": topic})
            assert (await client.request(broker.address, request, timeout=5)).code == 0
        pull = build.pull(
            retry, 0, 0, group=group, subscription="k = 'whatever'", expression_type="SQL92"
        )
        response = await client.request(broker.address, pull, timeout=5)
        assert [m.body for m in decode_messages(response.body)] == [b"r-yes", b"other"]
        # a TAG "*" retry subscription (what clients send) is not filtered, as in Java
        pull = build.pull(retry, 0, 0, group=group, subscription="*")
        response = await client.request(broker.address, pull, timeout=5)
        assert len(decode_messages(response.body)) == 3


async def _runtime_info(client: RemotingClient, broker: Broker) -> dict[str, str]:
    request = RemotingCommand.request(RequestCode.GET_BROKER_RUNTIME_INFO)
    response = await client.request(broker.address, request, timeout=5)
    return dict(KVTable.from_json(response.body).table)


async def test_guard_warns_once_per_change(
    broker: Broker, client: RemotingClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rmq_broker.filtering")
    address = broker.address
    client2 = RemotingClient()
    async with client2:
        await client.request(address, _heartbeat("c1@1", _tag("TagA")), timeout=5)
        await client2.request(address, _heartbeat("c2@1", _tag("TagA")), timeout=5)
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert (await _runtime_info(client, broker))["inconsistentSubscriptionGroups"] == ""
        for _ in range(3):  # repeated heartbeats: one warning
            await client2.request(address, _heartbeat("c2@1", _tag("TagB")), timeout=5)
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        text = warnings[0].getMessage()
        assert "CID_sql" in text
        assert "c1@1" in text
        assert "c2@1" in text
        assert "TopicSql [TAG] TagA" in text
        assert "TopicSql [TAG] TagB" in text
        info = (await _runtime_info(client, broker))["inconsistentSubscriptionGroups"]
        assert info.startswith("CID_sql{")
        assert "c2@1: {TopicSql [TAG] TagB}" in info
        # a different difference: warned again
        await client2.request(address, _heartbeat("c2@1", _sql("a > 1", topic="Other")), timeout=5)
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2
    # c2 gone (connection closed): consistent again
    for _ in range(100):
        if not broker.controller.clients.guard.conflicts():
            break
        await client.request(address, _heartbeat("c1@1", _tag("TagA")), timeout=5)
    assert broker.controller.clients.guard.conflicts() == {}
    assert any("alike again" in r.getMessage() for r in caplog.records)
