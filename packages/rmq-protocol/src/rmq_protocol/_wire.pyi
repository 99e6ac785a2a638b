# Types of the optional C module (see rmq_protocol/codec/header.py, wire_speedups).
from collections.abc import Callable
from typing import Any, Final

ABI: Final[int]

def init(
    *,
    command_type: type,
    decode_command: Callable[[Any], Any],
    encode_command: Callable[..., bytes],
    encode_response: Callable[[Any, int, Any, tuple[str, ...]], bytes],
    version: int,
    languages: tuple[Any, ...],
    java: Any,
    other: Any,
    json: Any,
    rocketmq: Any,
) -> None: ...
def decode_command(frame: Any, /) -> Any: ...
def decode_frames(data: Any, pos: int, max_frame_size: int, /) -> tuple[list[Any], int]: ...
def encode_command(cmd: Any, /, *, opaque: int | None = None) -> bytes: ...
def encode_response(request: Any, code: int, language: Any, pairs: tuple[str, ...], /) -> bytes: ...

class HeaderDecoder:
    cls: Final[type]
    fallback: Final[Callable[[type, Any], Any]]
    def __init__(
        self,
        cls: type,
        fields: tuple[tuple[str, int, bool, object], ...],
        fallback: Callable[[type, Any], Any],
    ) -> None: ...
    def __call__(self, cls: type, ext_fields: Any, /) -> Any: ...

class HeaderEncoder:
    cls: Final[type]
    fallback: Final[Callable[[Any], dict[str, Any]]]
    def __init__(
        self,
        cls: type,
        fields: tuple[tuple[str, int, bool], ...],
        fallback: Callable[[Any], dict[str, Any]],
    ) -> None: ...
    def __call__(self, header: Any, /) -> dict[str, Any]: ...
