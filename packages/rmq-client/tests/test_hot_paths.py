"""The pull hot path's cached request header is the typed header's (the send path's
shortcuts are checked end to end in test_producer.py)."""

from __future__ import annotations

from rmq_client.consumer._pull import Puller, build_subscription
from rmq_protocol.codec.body import MessageQueue
from rmq_protocol.codec.headers import PullMessageRequestHeader


def test_pull_ext_fields_are_the_typed_headers() -> None:
    """Puller's per-queue template, across offsets, flags and changed inputs."""
    puller = Puller(None, "CG")  # type: ignore[arg-type]  # _ext_fields needs no client
    mqs = [
        MessageQueue("T", "b0", 0),
        MessageQueue("T", "b1", 3),
        MessageQueue("%RETRY%CG", "b0", 1),
    ]
    subs = [build_subscription("T", "*"), build_subscription("T", "A || B"),
            build_subscription("T", "a > 1", expression_type="SQL92")]  # fmt: skip
    cases = 0
    for mq in mqs:
        for sub in subs:
            for send_sub in (False, True):
                for offset, flag, commit, nums, suspend, max_bytes in (
                    (0, 0x2, 0, 32, 15000, None),
                    (12345678901, 0x7, 99, 32, 15000, None),
                    (5, 0x3, 4, 16, 0, 1 << 20),
                ):
                    got = puller._ext_fields(
                        mq, sub, send_sub, offset, nums, flag, commit, suspend, max_bytes
                    )
                    want = PullMessageRequestHeader(
                        consumer_group="CG", topic=mq.topic, queue_id=mq.queue_id,
                        queue_offset=offset, max_msg_nums=nums, sys_flag=flag,
                        commit_offset=commit, suspend_timeout_millis=suspend,
                        subscription=sub.sub_string if send_sub else None,
                        sub_version=sub.sub_version, expression_type=sub.expression_type,
                        max_msg_bytes=max_bytes, bname=mq.broker_name,
                    ).to_ext_fields()  # fmt: skip
                    assert got == want
                    assert list(got) == list(want)  # the same key order on the wire
                    cases += 1
    assert cases == 54
