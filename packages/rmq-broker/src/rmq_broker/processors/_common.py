"""Helpers shared by the processors."""

from __future__ import annotations

from collections.abc import Mapping

from rmq_protocol.codec.codes import LanguageCode, ResponseCode
from rmq_protocol.codec.command import BytesLike, RemotingCommand
from rmq_protocol.codec.header import CommandHeader

__all__ = ["respond"]

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
