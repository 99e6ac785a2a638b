# Types of the optional C module (see rmq_protocol/codec/speedups.py).
from collections.abc import Callable
from typing import Any, Final

ABI: Final[int]

def init(
    *,
    message_type: type,
    host_type: type,
    properties_slot: Any,
    encode_message: Callable[[Any], bytes],
    crc32: Callable[[bytes], int],
) -> None: ...
def java_string_hash(text: str, /) -> int: ...
def index_key_hash(text: str, /) -> int: ...
def index_key_hashes(
    topic: str, keys: str | None, unique_key: str | None, /
) -> list[int] | None: ...
def encode_message(message: Any, /) -> bytes: ...
def write_records(
    buffer: Any,
    position: int,
    room: int,
    base: int,
    records: list[bytes],
    start: int,
    queue_offsets: list[int],
    store_timestamp: int,
    offsets: list[int],
    /,
) -> tuple[int, int, int]: ...
