# Types of the optional C module rmq_protocol._records (see rmq_protocol/codec/properties.py).
# Every function mirrors a Python reference in rmq_protocol.codec exactly.
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

ABI: Final[int]

def init(
    *,
    message_type: type = ...,
    message_fields: tuple[str, ...] = ...,
    properties_slot: Any = ...,
    batch_entry_type: type = ...,
    batch_entry_fields: tuple[str, ...] = ...,
    decode_records: Callable[..., int] = ...,
    host_from_wire: Callable[[bytes], Any] = ...,
    decompress: Callable[[bytes, int, int | None, int], bytes] = ...,
    decode_batch: Callable[[Any], list[Any]] = ...,
    decode_batch_messages: Callable[..., tuple[list[Any], list[int]]] = ...,
    encode_batch: Callable[[Iterable[Any]], bytes] = ...,
    encode_properties: Callable[[Mapping[str, str]], str] = ...,
    decode_properties: Callable[[str], dict[str, str]] = ...,
    unique_ids: Callable[[str, int, Iterator[int], int], list[str]] = ...,
) -> None: ...
def decode_records(
    out: list[Any],
    data: bytes,
    pos: int,
    limit: int,
    decompress: bool,
    check_crc: bool,
    base: int,
    single: bool,
    budget: list[int],
    /,
) -> int: ...
def decode_batch(body: bytes | bytearray | memoryview, /) -> list[Any]: ...
def decode_batch_messages(
    body: bytes | bytearray | memoryview,
    topic: str,
    queue_id: int,
    sys_flag: int,
    born_timestamp: int,
    born_host: Any,
    store_host: Any,
    reconsume_times: int,
    watch: str,
    text_properties: bool,
    /,
) -> tuple[list[Any], list[int]]: ...
def new_message(
    topic: str,
    queue_id: int,
    flag: int,
    sys_flag: int,
    born_timestamp: int,
    born_host: Any,
    store_host: Any,
    reconsume_times: int,
    body: bytes,
    properties: Any,
    /,
) -> Any: ...
def encode_batch(entries: Iterable[Any], /) -> bytes: ...
def encode_properties(props: Mapping[str, str], /) -> str: ...
def decode_properties(text: str, /) -> dict[str, str]: ...
def unique_ids(prefix: str, span: int, counter: Iterator[int], n: int, /) -> list[str]: ...
def unique_id(prefix: str, span: int, counter: Iterator[int], /) -> str: ...

class LazyProperties:
    def __get__(self, obj: object, owner: type | None = None) -> Any: ...
    def __set__(self, obj: object, value: object) -> None: ...
