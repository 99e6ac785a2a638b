# Types of the optional C module (see rmq_protocol/codec/speedups.py).
from collections.abc import Callable
from typing import Any, Final

ABI: Final[int]
CRC32_IMPLEMENTATION: Final[str]  # "pclmul" or "sliced"
crc32_api: Final[object]  # capsule of the C function, for other packages' C modules

def crc32(data: bytes | bytearray | memoryview, value: int = 0, /) -> int: ...
def crc32_sliced(data: bytes | bytearray | memoryview, value: int = 0, /) -> int: ...
def init(
    *,
    message_type: type,
    host_type: type,
    properties_slot: Any,
    encode_message: Callable[[Any], bytes],
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
