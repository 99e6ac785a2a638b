"""ClientInstance against a real rmq standalone: routes, invoke, heartbeats, errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rmq_client import NotConnectedError, RequestTimeout, TopicNotFoundError
from rmq_client._instance import ClientConfig, ClientInstance
from rmq_protocol.codec.codes import RequestCode, ResponseCode


async def test_route_of_default_topic_and_missing_topic(namesrv_addr: str) -> None:
    instance = ClientInstance.acquire(ClientConfig(namesrv_addr=namesrv_addr))
    await instance.start()
    try:
        route = await instance.topic_route("TBW102")
        assert route.broker_datas
        name = route.broker_datas[0].broker_name
        assert instance.broker_addr(name) is not None
        assert await instance.find_broker_addr(name) == instance.broker_addr(name)
        assert instance.publish_queues("TBW102")
        with pytest.raises(TopicNotFoundError) as info:
            await instance.topic_route("NoSuchTopic_xyz")
        assert info.value.code == ResponseCode.TOPIC_NOT_EXIST
        assert info.value.broker == namesrv_addr
        assert info.value.remark
    finally:
        await instance.release()
    assert instance.closed


async def test_acquire_shares_by_client_id(namesrv_addr: str) -> None:
    config = ClientConfig(namesrv_addr=namesrv_addr, instance_name="shared")
    a = ClientInstance.acquire(config)
    b = ClientInstance.acquire(config)
    c = ClientInstance.acquire(ClientConfig(namesrv_addr=namesrv_addr))
    assert a is b
    assert c is not a
    assert a.client_id.endswith("@shared")
    assert "#" in c.client_id  # DEFAULT became pid#clock, as in Java 4.9+
    await a.release()
    still_open = not a.closed
    assert still_open
    await b.release()
    assert a.closed
    await c.release()


async def test_heartbeat_reaches_broker(
    namesrv_addr: str, standalone: object, unique: Callable[[str], str]
) -> None:
    instance = ClientInstance.acquire(ClientConfig(namesrv_addr=namesrv_addr))
    await instance.start()

    class Handle:
        group = unique("PG")

        async def check_transaction_state(self, *args: object) -> None:
            raise AssertionError

    try:
        await instance.topic_route("TBW102")
        instance.register_producer(Handle.group, Handle())
        data = instance.heartbeat_data()
        assert [p.group_name for p in data.producer_data_set] == [
            Handle.group,
            "CLIENT_INNER_PRODUCER",
        ]
        await instance.send_heartbeat_to_all_brokers()
        addr = instance.broker_addr(instance.broker_names[0])
        assert addr is not None
        cmd = instance.request(RequestCode.HEART_BEAT, body=data.to_json())
        response = await instance.invoke_checked(addr, cmd)
        assert response.code == ResponseCode.SUCCESS
        await instance.unregister_producer(Handle.group)
    finally:
        await instance.aclose()


async def test_transport_errors_are_typed() -> None:
    instance = ClientInstance.acquire(ClientConfig(namesrv_addr="127.0.0.1:1", request_timeout=1))
    try:
        with pytest.raises(NotConnectedError) as info:
            await instance.topic_route("T")
        assert info.value.broker == "127.0.0.1:1"
        assert isinstance(info.value, ConnectionError)
        assert issubclass(RequestTimeout, TimeoutError)
    finally:
        await instance.release()


def test_public_names_resolve_and_no_server_packages_load() -> None:
    import subprocess
    import sys

    import rmq_client

    for name in rmq_client.__all__:
        assert getattr(rmq_client, name) is not None, name
    code = (
        "import sys, rmq_client, rmq_client.sync, rmq_client.admin; "
        "print('\\n'.join(sorted(sys.modules)))"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert {m.split(".")[0] for m in out if m.startswith("rmq")} == {"rmq_protocol", "rmq_client"}
