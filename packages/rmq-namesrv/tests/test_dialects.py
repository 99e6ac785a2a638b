"""What real clients send (spec/captures.md), byte for byte, over a raw socket.

ali-ons, the C++ clients (1.x, 2.1 and rocketmq-nodejs) and the Java 4.9.8 client each
put their first GET_ROUTEINFO_BY_TOPIC on the wire differently: key order, ``version``
(121, 63, 333, 409), ACL fields, ``remark:""``, a trailing newline counted in the
header length. The NameServer must answer every one in JSON with the request's opaque
and a route body they all parse (compact, quoted ``brokerAddrs`` keys).
"""

from __future__ import annotations

import asyncio
import json
import zlib

import pytest

from rmq_namesrv import NameServer
from rmq_protocol.codec.body import (
    DataVersion,
    RegisterBrokerBody,
    TopicConfig,
    TopicConfigSerializeWrapper,
    TopicRouteData,
)
from rmq_protocol.codec.codes import RequestCode, ResponseCode, SerializeType
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.frame import FrameDecoder
from rmq_protocol.codec.headers import RegisterBrokerRequestHeader
from rmq_protocol.transport import RemotingClient

# First frames of real clients, from spec/captures.md (topic "TopicTest").
CAPTURED = {
    "ali-ons 3.12.0": (
        "00000066000000627b22636f6465223a3130352c226c616e6775616765223a224a415641222c226f70"
        "61717565223a312c22666c6167223a302c2276657273696f6e223a3132312c226578744669656c6473"
        "223a7b22746f706963223a22546f70696354657374227d7d"
    ),
    "C++ 1.x (PyPI rocketmq 0.4.4)": (
        "000000c1000000bd7b22636f6465223a3130352c226578744669656c6473223a7b224163636573734"
        "b6579223a22222c224f6e734368616e6e656c223a22414c4959554e222c225369676e617475726522"
        "3a224e2f5954375836744a6535556675746d572b754e7754544a3746633d222c22746f706963223a22"
        "546f70696354657374227d2c22666c6167223a302c226c616e6775616765223a22435050222c226f70"
        "61717565223a302c2272656d61726b223a22222c2276657273696f6e223a36337d0a"
    ),
    "C++ 2.1.0": (
        "000000c2000000be7b22636f6465223a3130352c226578744669656c6473223a7b224163636573734b"
        "6579223a22222c224f6e734368616e6e656c223a22414c4959554e222c225369676e6174757265223a"
        "224e2f5954375836744a6535556675746d572b754e7754544a3746633d222c22746f706963223a2254"
        "6f70696354657374227d2c22666c6167223a302c226c616e6775616765223a22435050222c226f7061"
        "717565223a302c2272656d61726b223a22222c2276657273696f6e223a3333337d0a"
    ),
    "rocketmq-nodejs 1.1.2": (
        "000000710000006d7b22636f6465223a3130352c226578744669656c6473223a7b22746f706963223a"
        "22546f70696354657374227d2c22666c6167223a302c226c616e6775616765223a22435050222c226f"
        "7061717565223a302c2272656d61726b223a22222c2276657273696f6e223a3333337d"
    ),
    "Java 4.9.8": (
        "00000087000000837b22636f6465223a3130352c226578744669656c6473223a7b22746f706963223a"
        "22546f70696354657374227d2c22666c6167223a302c226c616e6775616765223a224a415641222c22"
        "6f7061717565223a302c2273657269616c697a655479706543757272656e74525043223a224a534f4e"
        "222c2276657273696f6e223a3430397d"
    ),
    # Golden vector V2: the same request with a ROCKETMQ binary header (version 399).
    "ROCKETMQ binary header": (
        "0000002d01000029006900018f000000010000000000000000000000140005746f706963000000"
        "09546f70696354657374"
    ),
}


async def exchange(namesrv: NameServer, frame: bytes) -> RemotingCommand:
    """Write ``frame`` on a fresh connection and read one answer."""
    host, port = namesrv.address.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(frame)
        await writer.drain()
        decoder = FrameDecoder()
        async with asyncio.timeout(5):
            while (response := decoder.next_command()) is None:
                chunk = await reader.read(65536)
                assert chunk, "connection closed before the answer"
                decoder.feed(chunk)
        return response
    finally:
        writer.close()
        await writer.wait_closed()


async def register_topic_test(namesrv: NameServer) -> None:
    wrapper = TopicConfigSerializeWrapper(
        topic_config_table={
            "TopicTest": TopicConfig(topic_name="TopicTest", read_queue_nums=8, write_queue_nums=8),
            "TBW102": TopicConfig(topic_name="TBW102", perm=7),
        },
        data_version=DataVersion(timestamp=1, counter=1),
    )
    body = RegisterBrokerBody(topic_config_serialize_wrapper=wrapper).encode()
    header = RegisterBrokerRequestHeader(
        broker_name="broker-a",
        broker_addr="127.0.0.1:10911",
        cluster_name="DefaultCluster",
        ha_server_addr="127.0.0.1:10912",
        broker_id=0,
        body_crc32=zlib.crc32(body) & 0x7FFFFFFF,
    )
    async with RemotingClient() as broker:
        request = RemotingCommand.request(RequestCode.REGISTER_BROKER, header, body=body)
        response = await broker.request(namesrv.address, request, timeout=5)
        assert response.code == ResponseCode.SUCCESS
        # (The broker's connection stays open while the clients ask: closing it would
        # unregister the broker.)
        for name, hexed in CAPTURED.items():
            frame = bytes.fromhex(hexed)
            sent = FrameDecoder()
            sent.feed(frame)
            request_sent = sent.next_command()
            assert request_sent is not None, name
            answer = await exchange(namesrv, frame)
            assert answer.code == ResponseCode.SUCCESS, name
            assert answer.is_response, name
            assert answer.opaque == request_sent.opaque, name
            assert answer.serialize_type == request_sent.serialize_type, name
            route = TopicRouteData.from_json(answer.body)
            assert route.broker_datas[0].broker_addrs == {0: "127.0.0.1:10911"}, name
            assert route.queue_datas[0].write_queue_nums == 8, name
            text = bytes(answer.body).decode()
            assert '"brokerAddrs":{"0":"127.0.0.1:10911"}' in text, name
            assert " " not in text, name  # rocketmq-client-go splits the raw text
            json.loads(text)  # standard JSON


async def test_every_captured_dialect_gets_the_route(namesrv: NameServer) -> None:
    await register_topic_test(namesrv)


@pytest.mark.parametrize("name", sorted(CAPTURED))
async def test_every_captured_dialect_gets_javas_topic_not_exist(
    namesrv: NameServer, name: str
) -> None:
    answer = await exchange(namesrv, bytes.fromhex(CAPTURED[name]))
    assert answer.code == ResponseCode.TOPIC_NOT_EXIST
    assert answer.remark is not None
    assert answer.remark.startswith(
        "No topic route info in name server for the topic: TopicTest\nSee "
    )
    assert not answer.body
    if name != "ROCKETMQ binary header":
        assert answer.serialize_type == SerializeType.JSON  # ali-ons only reads JSON
