# Types of the optional C module (see rmq_store/speedups.py).
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
def append_run(
    messages: list[Any],
    encoded: list[bytes],
    buffer: Any,
    position: int,
    room: int,
    base_offset: int,
    store_timestamp: int,
    offsets: dict[tuple[str, int], int],
    queues: dict[tuple[str, int], Any],
    schedule_topic: str,
    arrivals: list[tuple[str, int, int, int]],
    index_records: list[Any] | None,
    msg_id_prefix: str,
    max_record: int,
    /,
) -> tuple[tuple[str, ...], int, int, int] | None: ...
