"""The official C++ client (librocketmq 2.1.0, from rocketmq-python-cvs) against
rmq-protocol's transport and codec: it must parse our route body and send responses,
and we must decode its SEND_MESSAGE_V2 dialect (ACL fields, "k":"0", trailing newline)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rmq_protocol.codec.codes import LanguageCode, RequestCode
from rmq_protocol.codec.properties import decode_properties
from rmq_protocol.transport import RemotingServer

if TYPE_CHECKING:
    from conftest import FakeCluster, RunClient

PRODUCER = Path(__file__).parent / "cpp_producer.py"


@pytest.fixture
def librocketmq() -> None:
    """The C++ client must be installed (tox's integration env installs it)."""
    pytest.importorskip("rocketmq.client", reason="pip install rocketmq-python-cvs==2.1.0.3")


async def test_cpp_producer_sends_through_our_codec(
    librocketmq: None, cluster: tuple[FakeCluster, RemotingServer], run_client: RunClient
) -> None:
    fake, namesrv = cluster
    run = await run_client(
        sys.executable, str(PRODUCER), namesrv.address, fake.topic, "3", cwd=PRODUCER.parent
    )
    assert run.returncode == 0, run.stderr
    results = run.results

    # What the C++ client understood from our route and send responses.
    assert [r["status"] for r in results] == ["0"] * 3  # SendStatus.OK
    assert [r["offset"] for r in results] == [0, 1, 2]

    # What we decoded from its requests.
    assert len(fake.sends) == 3
    for i, ((header, body), result) in enumerate(zip(fake.sends, results, strict=True)):
        assert header.producer_group == "PID_rmq_interop_cpp"
        assert header.topic == fake.topic
        assert header.unit_mode is False  # C++ sends "k":"0"
        assert body == f"hello from librocketmq #{i}".encode()
        assert header.properties is not None
        properties = decode_properties(header.properties)
        assert properties["TAGS"] == "TagA"
        assert properties["KEYS"] == f"key-{i}"
        assert properties["origin"] == "librocketmq"
        assert properties["UNIQ_KEY"] == result["msgId"]  # its SendResult shows its own id
    languages = {cmd.language for _, cmd in fake.requests}
    assert languages == {LanguageCode.CPP}
    first = fake.requests[0][1]
    assert first.code == RequestCode.GET_ROUTEINFO_BY_TOPIC
    assert first.ext_fields is not None
    assert first.ext_fields["OnsChannel"] == "ALIYUN"  # ACL fields ride along, ignored
