"""Helpers shared by the processors."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Final, final

from rmq_protocol.codec.codes import LanguageCode, ResponseCode
from rmq_protocol.codec.command import BytesLike, RemotingCommand
from rmq_protocol.codec.header import CommandHeader
from rmq_protocol.codec.message import HostPort, MessageExt

__all__ = ["new_message", "respond"]

_JAVA = LanguageCode.JAVA


def respond(
    request: RemotingCommand,
    code: int = ResponseCode.SUCCESS,
    remark: str | None = None,
    header: CommandHeader | None = None,
    *,
    ext_fields: Mapping[str, str] | None = None,
    body: BytesLike = b"",
) -> RemotingCommand:
    """The response to ``request``, marked ``language: JAVA`` as a Java broker's are."""
    return RemotingCommand.response_to(
        request, code, remark, header, body=body, ext_fields=ext_fields, language=_JAVA
    )


@final
class _MessageShell:
    """MessageExt's slots without its frozen ``__setattr__`` and keyword ``__init__``:
    filled with plain slot stores, then re-classed (as rmq_protocol's record decoder
    builds messages). Allowed because the slot layouts are identical."""

    __slots__ = MessageExt.__slots__


# The fields the send path sets; every other field takes MessageExt's default.
_GIVEN: Final = (
    "topic",
    "queue_id",
    "flag",
    "sys_flag",
    "born_timestamp",
    "born_host",
    "store_host",
    "reconsume_times",
    "body",
    "properties",
)


def _new_message_source() -> tuple[str, dict[str, Any]]:
    namespace: dict[str, Any] = {
        "_Shell": _MessageShell,
        "_MessageExt": MessageExt,
    }
    lines = [f"def new_message({', '.join(_GIVEN)}):", "    m = _Shell()"]
    for f in dataclasses.fields(MessageExt):
        if f.name in _GIVEN:
            lines.append(f"    m.{f.name} = {f.name}")
        elif f.default is not dataclasses.MISSING:
            namespace[f"_default_{f.name}"] = f.default
            lines.append(f"    m.{f.name} = _default_{f.name}")
        else:  # pragma: no cover - a new MessageExt field without a default
            raise TypeError(f"MessageExt.{f.name} has no default: new_message must set it")
    lines += ["    m.__class__ = _MessageExt", "    return m"]
    return "\n".join(lines), namespace


def _make_new_message() -> Callable[
    [str, int, int, int, int, HostPort, HostPort, int, bytes, dict[str, str]], MessageExt
]:
    source, namespace = _new_message_source()
    exec(source, namespace)  # noqa: S102 - generated from MessageExt's fields
    built: Callable[
        [str, int, int, int, int, HostPort, HostPort, int, bytes, dict[str, str]], MessageExt
    ] = namespace["new_message"]
    return built


new_message: Final = _make_new_message()
"""``new_message(topic, queue_id, flag, sys_flag, born_timestamp, born_host, store_host,
reconsume_times, body, properties)``: the MessageExt the keyword constructor builds
(defaults elsewhere), positionally and about ten times cheaper (callgrind: ~14,500
instructions for ``MessageExt(...)`` with ten keywords on the send path)."""
