"""Broadcasting end to end: every member of the group gets every message, offsets live in
a local file per client (not on the broker), and a restarted member resumes from its
file."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

from rmq_client import Admin, Message, Producer, ReceivedMessage
from rmq_client._instance import ClientConfig
from rmq_client.consumer import ConsumeResult, PushConsumer
from rmq_protocol.codec.body import ConsumeFromWhere, MessageModel

Unique = Callable[[str], str]


class Sink:
    def __init__(self, expected: int) -> None:
        self.bodies: list[bytes] = []
        self.expected = expected
        self.done = asyncio.Event()

    async def __call__(self, msgs: list[ReceivedMessage]) -> ConsumeResult:
        self.bodies += [m.body for m in msgs]
        if len(self.bodies) >= self.expected:
            self.done.set()
        return ConsumeResult.SUCCESS


async def test_three_members_get_everything_and_resume_from_local_offsets(
    namesrv_addr: str, unique: Unique, tmp_path: Path
) -> None:
    topic, group = unique("T"), unique("G")
    async with Admin(namesrv_addr) as admin:
        await admin.create_topic(topic, queue_nums=4)
    names = [unique("i") for _ in range(3)]

    def member(name: str, sink: Sink) -> PushConsumer:
        c = PushConsumer(
            group,
            config=ClientConfig(namesrv_addr=namesrv_addr, instance_name=name),
            listener=sink,
            message_model=MessageModel.BROADCASTING,
            consume_from=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
            offset_store_dir=tmp_path,
        )
        c.subscribe(topic)
        return c

    async with Producer(unique("PG"), namesrv_addr=namesrv_addr) as producer:
        await producer.send_batch([Message(topic, b"%d" % i) for i in range(60)])
        sinks = [Sink(60) for _ in names]
        members = [member(n, s) for n, s in zip(names, sinks, strict=True)]
        for m in members:
            await m.start()
        try:
            async with asyncio.timeout(30):
                for s in sinks:
                    await s.done.wait()
            for m in members:  # each member holds all 4 queues
                assert len([q for q in m.assigned_queues if q.topic == topic]) == 4
        finally:
            for m in members:
                await m.aclose()
        for s in sinks:
            assert sorted(s.bodies) == sorted(b"%d" % i for i in range(60))

        files = sorted(await asyncio.to_thread(lambda: list(tmp_path.glob("*/*/offsets.json"))))
        assert len(files) == 3
        for file in files:  # Java's format: {"offsetTable":{{queue}:offset,...}}
            text = file.read_text()
            assert topic in text
            assert sum(map(int, re.findall(r"\}:(\d+)", text))) == 60, text

        # The broker kept no offsets for the group: broadcasting commits locally.
        async with Admin(namesrv_addr) as admin:
            progress = await admin.consumer_progress(group)
        assert [q for q in progress.queues if q.consumer_offset > 0] == []

        # A restarted member starts from its file: only the new messages come.
        await producer.send_batch([Message(topic, b"new-%d" % i) for i in range(6)])
    again = Sink(6)
    restarted = member(names[0], again)
    async with restarted:
        async with asyncio.timeout(30):
            await again.done.wait()
        await asyncio.sleep(0.3)  # nothing more arrives
    assert sorted(again.bodies) == sorted(b"new-%d" % i for i in range(6))
