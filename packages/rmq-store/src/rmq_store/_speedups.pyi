# Types of the optional C module (see rmq_store/speedups.py).
from collections.abc import Callable, Sequence
from typing import Any, Final

ABI: Final[int]

def init(message_type: type, properties_slot: Any, /) -> None: ...
def dispatch(
    messages: list[Any],
    phy_offsets: list[int],
    sizes: list[int],
    queue_offsets: list[int],
    store_timestamp: int,
    start: int,
    queues: dict[tuple[str, int], Any],
    arrivals: list[tuple[str, int, int, int]],
    index_records: list[Any] | None,
    schedule_topic: str,
    /,
) -> int: ...
def index_put(
    mapping: Any,
    entries_at: int,
    hash_slot_num: int,
    index_num: int,
    state: list[int],
    records: list[tuple[list[int], int, int]],
    start: int,
    /,
) -> tuple[int, int, int]: ...
def index_build(
    mapping: Any,
    entries_at: int,
    hash_slot_num: int,
    index_num: int,
    state: list[int],
    records: list[tuple[str, str | None, str | None, int, int]],
    start: int,
    /,
) -> tuple[int, int]: ...
def check_records(
    buffer: Any, position: int, file_size: int, check_crc: bool, /
) -> tuple[int, int, int]: ...
def skip_dispatched(
    buffer: Any,
    position: int,
    limit: int,
    base_offset: int,
    queues: dict[tuple[str, int], Any],
    index_end: int,
    /,
) -> tuple[int, int, int]: ...
def init_append(
    store_type: type,
    put_result_type: type,
    wall_clock: Callable[[], int],
    encode_message: Callable[[Any], bytes],
    schedule_topic: str,
    index_batch: int,
    mapped_file_type: type,
    progress_type: type,
    consume_queue_type: type,
    /,
) -> None: ...
def append(store: Any, messages: Sequence[Any], /) -> Any: ...
def pwrite(fd: int, data: Any, position: int, /) -> None: ...
