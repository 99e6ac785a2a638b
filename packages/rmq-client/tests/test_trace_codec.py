"""Trace record codec and timeline, against strings built by Java's encoder rules
(``TraceDataEncoder``: fields joined by 0x01, each record ended by 0x02, absent strings
written ``null``, booleans ``true``/``false``, message types as ordinals)."""

from __future__ import annotations

import asyncio

import pytest

from rmq_client import ConsumeResult
from rmq_client._instance import ClientConfig
from rmq_client.trace import (
    ConsumeReturnType,
    EndTransactionTrace,
    PubTrace,
    RecallTrace,
    SubAfterTrace,
    SubBeforeTrace,
    TraceDispatcher,
    TraceFormatError,
    TraceMessageType,
    TraceRecord,
    build_trace,
    decode_records,
    encode_record,
    encode_records,
    trace_keys,
    wrap_listener,
)
from rmq_protocol.codec.message import MessageExt

C, F = "\x01", "\x02"
MSG = "7F00000100002A9F0000000000000001"
OFFSET_ID = "7F00000100002A9F00000000000004D2"


def java(*fields: object) -> str:
    """A record as Java's StringBuilder chain writes it (null, true/false as Java)."""
    text = []
    for f in fields:
        if f is None:
            text.append("null")
        elif isinstance(f, bool):
            text.append("true" if f else "false")
        else:
            text.append(str(f))
    return C.join(text) + F


PUB_JAVA = java(
    "Pub", 1700000000123, "DefaultRegion", "PG", "TopicTest", MSG, "TagA", "k1 k2",
    "127.0.0.1:10911", 11, 3, 0, OFFSET_ID, True,
)  # fmt: skip
PUB = PubTrace(
    timestamp=1700000000123, region_id="DefaultRegion", group="PG", topic="TopicTest",
    msg_id=MSG, tags="TagA", keys="k1 k2", store_host="127.0.0.1:10911", body_length=11,
    cost_ms=3, msg_type=TraceMessageType.NORMAL, offset_msg_id=OFFSET_ID, success=True,
)  # fmt: skip
SUB_BEFORE_JAVA = java("SubBefore", 1700000000200, "DefaultRegion", "CG", "REQ1", MSG, 0, "k1 k2")
SUB_BEFORE = SubBeforeTrace(
    timestamp=1700000000200, region_id="DefaultRegion", group="CG", request_id="REQ1",
    msg_id=MSG, retry_times=0, keys="k1 k2",
)  # fmt: skip
SUB_AFTER_JAVA = java("SubAfter", "REQ1", MSG, 7, False, "k1 k2", 4, 1700000000200, "CG")
SUB_AFTER = SubAfterTrace(
    request_id="REQ1", msg_id=MSG, cost_ms=7, success=False, keys="k1 k2",
    context_code=ConsumeReturnType.FAILED, timestamp=1700000000200, group="CG",
)  # fmt: skip
END_TX_JAVA = java(
    "EndTransaction", 1700000000300, "DefaultRegion", "PG", "TopicTest", MSG, None, None,
    "127.0.0.1:10911", 2, "TX1", "COMMIT_MESSAGE", False,
)  # fmt: skip
END_TX = EndTransactionTrace(
    timestamp=1700000000300, region_id="DefaultRegion", group="PG", topic="TopicTest",
    msg_id=MSG, tags=None, keys=None, store_host="127.0.0.1:10911",
    msg_type=TraceMessageType.TRANS_COMMIT, transaction_id="TX1",
    transaction_state="COMMIT_MESSAGE", from_transaction_check=False,
)  # fmt: skip
RECALL_JAVA = java("Recall", 1700000000400, "DefaultRegion", "PG", "TopicTest", MSG, True)
RECALL = RecallTrace(
    timestamp=1700000000400, region_id="DefaultRegion", group="PG", topic="TopicTest",
    msg_id=MSG, success=True,
)  # fmt: skip


@pytest.mark.parametrize(
    ("record", "text"),
    [
        (PUB, PUB_JAVA),
        (SUB_BEFORE, SUB_BEFORE_JAVA),
        (SUB_AFTER, SUB_AFTER_JAVA),
        (END_TX, END_TX_JAVA),
        (RECALL, RECALL_JAVA),
    ],
    ids=["Pub", "SubBefore", "SubAfter", "EndTransaction", "Recall"],
)
def test_encode_is_javas_text_and_decodes_back(record: TraceRecord, text: str) -> None:
    assert encode_record(record) == text
    assert decode_records(text.encode()) == [record]


def test_absent_strings_are_written_null_and_read_back_as_none() -> None:
    pub = PubTrace(
        timestamp=1, region_id="R", group="PG", topic="T", msg_id=MSG, tags=None, keys=None,
        store_host="h:1", body_length=1, cost_ms=0, msg_type=TraceMessageType.DELAY,
        offset_msg_id=None, success=False,
    )  # fmt: skip
    text = encode_record(pub)
    assert text == java("Pub", 1, "R", "PG", "T", MSG, None, None, "h:1", 1, 0, 3, None, False)
    assert decode_records(text) == [pub]
    # An empty last field would vanish in Java's split (and crash its reader): null instead.
    before = SubBeforeTrace(
        timestamp=1, region_id="R", group="G", request_id="Q", msg_id=MSG, retry_times=2, keys=""
    )
    assert encode_record(before).endswith(f"{C}2{C}null{F}")


def test_cloud_sub_after_has_no_timestamp_and_group() -> None:
    text = f"SubAfter{C}REQ1{C}{MSG}{C}5{C}true{C}k1{C}0{C}{F}"  # Java's CLOUD channel
    [record] = decode_records(text)
    assert record == SubAfterTrace(
        request_id="REQ1", msg_id=MSG, cost_ms=5, success=True, keys="k1", context_code=0
    )
    assert encode_record(record, cloud=True) == text


def test_old_java_layouts() -> None:
    # Pub before offsetMsgId (13 fields), and with the old clientHost (15 fields).
    old = f"Pub{C}1{C}R{C}PG{C}T{C}{MSG}{C}tag{C}key{C}h:1{C}4{C}2{C}0{C}false{F}"
    [pub13] = decode_records(old)
    assert isinstance(pub13, PubTrace)
    assert (pub13.success, pub13.offset_msg_id, pub13.client_host) == (False, "", None)
    fifteen = PUB_JAVA[:-1] + f"{C}10.0.0.9{F}"
    [pub15] = decode_records(fifteen)
    assert isinstance(pub15, PubTrace)
    assert (pub15.offset_msg_id, pub15.client_host) == (OFFSET_ID, "10.0.0.9")
    # SubAfter without contextCode (6 fields).
    [after] = decode_records(f"SubAfter{C}REQ{C}{MSG}{C}9{C}TRUE{C}key{F}")
    assert after == SubAfterTrace(request_id="REQ", msg_id=MSG, cost_ms=9, success=True, keys="key")


def test_a_body_holds_many_records_and_unknown_types_are_skipped() -> None:
    body = encode_records([PUB, SUB_BEFORE, SUB_AFTER]) + f"Future{C}x{C}y{F}".encode()
    assert body.startswith(PUB_JAVA.encode())
    assert decode_records(body) == [PUB, SUB_BEFORE, SUB_AFTER]
    assert decode_records(b"") == []
    assert decode_records(F) == []


def test_malformed_records_raise_precise_errors() -> None:
    with pytest.raises(TraceFormatError, match=r"SubBefore trace record has 4 fields, needs 8"):
        decode_records(f"SubBefore{C}1{C}R{C}G{F}")
    with pytest.raises(TraceFormatError, match=r"costTime \(field 10\) is 'abc'"):
        decode_records(PUB_JAVA.replace(f"{C}3{C}0{C}", f"{C}abc{C}0{C}"))
    with pytest.raises(TraceFormatError, match=r"msgType 9 is not 0\.\.4"):
        decode_records(PUB_JAVA.replace(f"{C}3{C}0{C}", f"{C}3{C}9{C}"))


def test_trace_keys_are_msg_id_then_keys() -> None:
    assert trace_keys(PUB) == [MSG, "k1", "k2"]
    assert trace_keys(END_TX) == [MSG]
    assert trace_keys(RECALL) == [MSG]


def test_build_trace_pairs_attempts_and_counts_retries() -> None:
    second_before = SubBeforeTrace(
        timestamp=1700000010300, region_id="R", group="CG", request_id="REQ2", msg_id=MSG,
        retry_times=1, keys=None,
    )  # fmt: skip
    second_after = SubAfterTrace(
        request_id="REQ2", msg_id=MSG, cost_ms=2, success=True, keys=None, context_code=0,
        timestamp=1700000010300, group="CG",
    )  # fmt: skip
    orphan_after = SubAfterTrace(
        request_id="REQ9", msg_id=MSG, cost_ms=1, success=True, keys=None, context_code=0,
        timestamp=1700000000500, group="OTHER",
    )  # fmt: skip
    other_msg = SubBeforeTrace(
        timestamp=1, region_id="R", group="CG", request_id="X", msg_id="OTHER", retry_times=0,
        keys=None,
    )  # fmt: skip
    entries: list[tuple[TraceRecord, str | None]] = [
        (second_after, "10.0.0.2"), (SUB_AFTER, "10.0.0.2"), (PUB, "10.0.0.1"),
        (SUB_BEFORE, "10.0.0.2"), (second_before, "10.0.0.2"), (other_msg, None),
        (PUB, "10.0.0.1"), (orphan_after, None),
    ]  # fmt: skip
    trace = build_trace(MSG, entries)
    assert trace.pub == [PUB]
    assert trace.pub_client_hosts == ["10.0.0.1"]
    assert trace.sent
    first, second = trace.attempts["CG"]
    assert (first.request_id, first.retry_times, first.success, first.cost_ms) == (
        "REQ1", 0, False, 7,
    )  # fmt: skip
    assert first.context_code == ConsumeReturnType.FAILED
    assert first.client_host == "10.0.0.2"
    assert (second.retry_times, second.success, second.cost_ms) == (1, True, 2)
    assert trace.retries("CG") == 1
    assert trace.retries("nobody") == 0
    [orphan] = trace.attempts["OTHER"]
    assert (orphan.success, orphan.retry_times, orphan.began) == (True, None, 1700000000500)
    assert trace.consumed_by == ["CG", "OTHER"]
    assert len(trace.records) == 6  # the duplicate Pub and the other message's record left out


def _msg(topic: str = "T", keys: str | None = "k") -> MessageExt:
    properties = {"UNIQ_KEY": MSG}
    if keys:
        properties["KEYS"] = keys
    return MessageExt(topic=topic, body=b"x", properties=properties, reconsume_times=3)


async def test_wrapped_listener_records_before_and_after_and_keeps_its_kind() -> None:
    dispatcher = TraceDispatcher(
        ClientConfig(namesrv_addr="127.0.0.1:1"), group="CG", kind="CONSUME"
    )
    queue = dispatcher._queue  # not started: records stay queued for inspection

    def plain(msgs: list[MessageExt]) -> ConsumeResult:
        return ConsumeResult.RECONSUME_LATER

    async def coroutine(msgs: list[MessageExt]) -> ConsumeResult:
        return ConsumeResult.SUCCESS

    def boom(msgs: list[MessageExt]) -> ConsumeResult:
        raise RuntimeError("listener bug")

    ok = ConsumeResult.SUCCESS
    traced = wrap_listener(plain, dispatcher, "CG", ok)
    assert not asyncio.iscoroutinefunction(traced)
    assert traced([_msg()]) is ConsumeResult.RECONSUME_LATER
    before, after = queue.get_nowait(), queue.get_nowait()
    assert isinstance(before, SubBeforeTrace)
    assert isinstance(after, SubAfterTrace)
    assert (before.group, before.msg_id, before.retry_times, before.keys) == ("CG", MSG, 3, "k")
    assert before.region_id == "DefaultRegion"
    assert (after.request_id, after.success, after.context_code) == (
        before.request_id, False, ConsumeReturnType.FAILED,
    )  # fmt: skip
    assert (after.group, after.timestamp) == ("CG", before.timestamp)

    traced_async = wrap_listener(coroutine, dispatcher, "CG", ok)
    assert asyncio.iscoroutinefunction(traced_async)
    assert await traced_async([_msg()]) is ConsumeResult.SUCCESS
    queue.get_nowait()
    after = queue.get_nowait()
    assert isinstance(after, SubAfterTrace)
    assert after.success
    assert after.context_code == 0

    with pytest.raises(RuntimeError, match="listener bug"):
        wrap_listener(boom, dispatcher, "CG", ok)([_msg()])
    queue.get_nowait()
    after = queue.get_nowait()
    assert isinstance(after, SubAfterTrace)
    assert (after.success, after.context_code) == (False, ConsumeReturnType.EXCEPTION)

    # A message whose producer switched tracing off is not traced.
    off = MessageExt(topic="T", body=b"x", properties={"UNIQ_KEY": MSG, "TRACE_ON": "false"})
    wrap_listener(plain, dispatcher, "CG", ok)([off])
    assert queue.empty()


async def test_full_queue_drops_and_counts_without_raising() -> None:
    dispatcher = TraceDispatcher(
        ClientConfig(namesrv_addr="127.0.0.1:1"), group="PG", kind="PRODUCE", queue_size=2
    )
    assert [dispatcher.append(PUB) for _ in range(5)] == [True, True, False, False, False]
    assert dispatcher.dropped == 3
    with pytest.raises(ValueError, match="queue_size 0"):
        TraceDispatcher(ClientConfig(namesrv_addr="x:1"), group="PG", kind="PRODUCE", queue_size=0)
