"""The frame inspector, through its command line (`python -m rmq_protocol decode`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson

from rmq_protocol.codec.body import BrokerData, HeartbeatData, QueueData, TopicRouteData
from rmq_protocol.codec.codes import LanguageCode, RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand, encode_command
from rmq_protocol.codec.message import (
    BatchEntry,
    HostPort,
    MessageExt,
    encode_batch,
    encode_message,
)

VECTORS = Path(__file__).parent / "vectors" / "frames.json"


def _decode(*args: str, stdin: bytes) -> tuple[int, list[dict[str, object]], str]:
    proc = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "rmq_protocol", "decode", *args],
        input=stdin,
        capture_output=True,
        check=False,
        timeout=60,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    return proc.returncode, lines, proc.stderr.decode()


def test_hex_lines_of_every_captured_client() -> None:
    vectors = json.loads(VECTORS.read_text())
    text = "\n".join(f"{v['hex']}  # {v['source']}" for v in vectors.values())
    code, reports, _ = _decode("--hex", stdin=text.encode())
    assert code == 0
    assert len(reports) == len(vectors)
    for report in reports:
        assert report["codeName"] == "GET_ROUTEINFO_BY_TOPIC"
        assert report["kind"] == "request"
        assert report["header"] == {"topic": "TopicTest"}
    languages = {r["language"] for r in reports}
    assert languages == {"JAVA", "CPP"}
    versions = {r["version"]: r["versionName"] for r in reports}
    assert versions[409] == "V4_9_8"
    assert versions[121] == "V3_4_9"
    assert versions[63] == "V3_1_8"


def test_raw_stream_pairs_responses_with_requests(tmp_path: Path) -> None:
    request = RemotingCommand.request(
        RequestCode.GET_ROUTEINFO_BY_TOPIC, ext_fields={"topic": "TopicTest"}
    )
    route = TopicRouteData(
        queue_datas=(
            QueueData(broker_name="broker-a", read_queue_nums=4, write_queue_nums=4, perm=6),
        ),
        broker_datas=(
            BrokerData(
                cluster="DefaultCluster",
                broker_name="broker-a",
                broker_addrs={0: "127.0.0.1:10911"},
            ),
        ),
    )
    response = RemotingCommand.response_to(
        request._replace(opaque=7), language=LanguageCode.JAVA, body=route.to_json()
    )
    capture = tmp_path / "conversation.bin"
    capture.write_bytes(encode_command(request, opaque=7) + encode_command(response))
    code, reports, _ = _decode(str(capture), stdin=b"")
    assert code == 0
    req, resp = reports
    assert (req["offset"], req["kind"], req["opaque"]) == (0, "request", 7)
    assert resp["kind"] == "response"
    assert resp["answers"] == "GET_ROUTEINFO_BY_TOPIC"
    assert resp["bodyType"] == "TopicRouteData"
    assert resp["body"] == {
        "brokerDatas": [
            {
                "brokerAddrs": {"0": "127.0.0.1:10911"},
                "brokerName": "broker-a",
                "cluster": "DefaultCluster",
                "enableActingMaster": False,
            }
        ],
        "filterServerTable": {},
        "queueDatas": [
            {
                "brokerName": "broker-a",
                "perm": 6,
                "readQueueNums": 4,
                "topicSysFlag": 0,
                "writeQueueNums": 4,
            }
        ],
    }


def _message(offset: int, body: bytes) -> bytes:
    return encode_message(
        MessageExt(
            topic="TopicTest",
            body=body,
            queue_offset=offset,
            commit_log_offset=offset * 200,
            born_timestamp=1_700_000_000_000,
            born_host=HostPort("127.0.0.1", 50000),
            store_timestamp=1_700_000_000_123,
            store_host=HostPort("127.0.0.1", 10911),
            properties={"TAGS": "TagA", "UNIQ_KEY": f"7F00000100002A9F00000000000000{offset:02X}"},
        )
    )


def test_pull_response_lists_messages_with_response_to() -> None:
    pull_body = _message(0, b"Hello") + _message(1, b"\x00\x01binary")
    response = RemotingCommand(
        code=ResponseCode.SUCCESS,
        flag=1,
        opaque=3,
        remark="FOUND",
        ext_fields={
            "suggestWhichBrokerId": "0",
            "nextBeginOffset": "2",
            "minOffset": "0",
            "maxOffset": "2",
        },
        body=pull_body,
    )
    code, (report,), _ = _decode(
        "--hex", "--response-to", "pull_message", stdin=encode_command(response).hex().encode()
    )
    assert code == 0
    assert report["answers"] == "PULL_MESSAGE"
    assert report["headerType"] == "PullMessageResponseHeader"
    header = report["header"]
    assert isinstance(header, dict)
    assert header["nextBeginOffset"] == 2
    messages = report["body"]
    assert isinstance(messages, list)
    assert [m["bodyText"] if "bodyText" in m else m["bodyBase64"] for m in messages] == [
        "Hello",
        "AAFiaW5hcnk=",
    ]
    assert messages[0]["offsetMsgId"] == "7F00000100002A9F0000000000000000"
    assert messages[0]["properties"]["TAGS"] == "TagA"


def test_unpaired_message_body_is_recognised_by_shape() -> None:
    response = RemotingCommand(code=0, flag=1, opaque=99, body=_message(5, b"x"))
    code, (report,), _ = _decode("--hex", stdin=encode_command(response).hex().encode())
    assert code == 0
    assert report["bodyType"] == "messages"


def test_batch_send_and_cpp_heartbeat_bodies() -> None:
    batch = RemotingCommand.request(
        RequestCode.SEND_BATCH_MESSAGE,
        ext_fields={
            "a": "PID",
            "b": "T",
            "c": "TBW102",
            "d": "4",
            "e": "0",
            "f": "0",
            "g": "1",
            "h": "0",
            "m": "true",
        },
        body=encode_batch(
            [
                BatchEntry(body=b"A", flag=0, properties={"UNIQ_KEY": "X"}),
                BatchEntry(body=b"BC", flag=7, properties={"KEYS": "k1 k2"}),
            ]
        ),
    )
    heartbeat_body = (
        b'{"clientID":"127.0.0.1@29369#DEFAULT","consumerDataSet":[{"consumeFromWhere":0,'
        b'"consumeType":1,"groupName":"CID_capC","messageModel":1,"subscriptionDataSet":'
        b'[{"expressionType":"TAG","subString":"*","subVersion":"1700000000000",'
        b'"topic":"TopicCapC"}],"unitMode":false}],"producerDataSet":[]}\n'
    )
    heartbeat = RemotingCommand.request(RequestCode.HEART_BEAT, body=heartbeat_body)
    stream = encode_command(batch) + encode_command(heartbeat)
    code, (b, h), _ = _decode(stdin=stream)
    assert code == 0
    assert b["bodyType"] == "batch"
    entries = b["body"]
    assert isinstance(entries, list)
    assert [e["bodyText"] for e in entries] == ["A", "BC"]
    assert h["bodyType"] == "HeartbeatData"
    parsed = HeartbeatData.from_json(heartbeat_body)
    assert h["body"] == orjson.loads(parsed.to_json())


def test_garbage_reports_offset_and_exits_1() -> None:
    good = encode_command(RemotingCommand.request(RequestCode.HEART_BEAT))
    code, reports, _ = _decode(stdin=good + b"GET / HTTP/1.1\r\n\r\n")
    assert code == 1
    assert reports[0]["codeName"] == "HEART_BEAT"
    assert reports[1]["offset"] == len(good)
    assert "frame length" in str(reports[1]["error"])


def test_truncated_stream_and_bad_hex() -> None:
    wire = encode_command(RemotingCommand.request(RequestCode.HEART_BEAT, body=b"{}"))
    code, reports, _ = _decode(stdin=wire[:-1])
    assert code == 1
    assert "ends inside a frame" in str(reports[0]["error"])
    code, reports, _ = _decode("--hex", stdin=b"zz\n" + wire.hex().encode() + b"\n")
    assert code == 1
    assert reports[0]["line"] == 1
    assert "not hex" in str(reports[0]["error"])
    assert reports[1]["codeName"] == "HEART_BEAT"


def test_bad_header_json_names_the_offset() -> None:
    frame = b"\x00\x00\x00\x07\x00\x00\x00\x03{x}"
    code, (report,), _ = _decode(stdin=frame)
    assert code == 1
    assert report["offset"] == 8
    assert "does not parse" in str(report["error"])


def test_missing_file_is_a_clear_error() -> None:
    code, reports, stderr = _decode("/nonexistent/capture.bin", stdin=b"")
    assert code == 1
    assert reports == []
    assert "cannot read /nonexistent/capture.bin" in stderr
