"""processors._common.new_message builds exactly what MessageExt's own constructor builds."""

from __future__ import annotations

import dataclasses

import pytest

from rmq_broker.processors._common import new_message
from rmq_protocol.codec.message import HostPort, MessageExt


def test_new_message_equals_the_keyword_constructor() -> None:
    born, store = HostPort("10.1.2.3", 45678), HostPort("127.0.0.1", 10911)
    properties = {"TAGS": "TagA", "UNIQ_KEY": "7F0000010001", "CLUSTER": "DefaultCluster"}
    built = new_message("T", 3, 7, 2, 1_700_000_000_123, born, store, 4, b"body", properties)
    expected = MessageExt(
        topic="T", queue_id=3, flag=7, sys_flag=2, born_timestamp=1_700_000_000_123,
        born_host=born, store_host=store, reconsume_times=4, body=b"body",
        properties=properties,
    )  # fmt: skip
    assert type(built) is MessageExt
    for f in dataclasses.fields(MessageExt):
        assert getattr(built, f.name) == getattr(expected, f.name), f.name
    assert built == expected
    assert built.properties is properties  # not copied: the send path adds CLUSTER first
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.topic = "other"  # type: ignore[misc]
    # two calls give two objects
    again = new_message("T", 3, 7, 2, 1, born, store, 4, b"body", {})
    assert again is not built
    assert again.properties == {}
