"""What one SYNC_FLUSH group commit costs the disk, by how the records were written.

Run: ``python benchmarks/fsync_cost.py [--seconds 6] [--dir DIR]``.

A cycle is what rmq-store's group commit does with 64 writers: 64 records of 1,189 bytes
appended back to back, then one ``fdatasync``. Each variant has its own 1 GiB file made as
the store makes a commit-log segment (``posix_fallocate``) and mapped; the variants take
turns second by second, so that the disk's drift on this VM hits them alike. Printed per
variant: the time of the 64 writes and of the ``fdatasync`` (means over the cycles).

- ``mapped``: records copied into the mapping, which MADV_POPULATE_READ faulted in first
  (rmq-store's ASYNC_FLUSH log, and its SYNC_FLUSH log before decision D20);
- ``pwrite``: records written with ``pwrite``, pages not faulted into the mapping (a
  SYNC_FLUSH store's log since D20);
- ``pwrite, mapped``: ``pwrite`` into pages that are faulted into the mapping (what the
  prefaulter would add);
- ``pwrite, zeroed``: ``pwrite`` into blocks written (with zeros) and synced before, so no
  extent has to be converted from unwritten to written on the way.
"""

from __future__ import annotations

import argparse
import ctypes
import mmap
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

RECORD = 1189  # a 1 KiB body with TAGS, KEYS and UNIQ_KEY, as in bench_store.py
WRITERS = 64
FILE_SIZE = 1 << 30
_MADV_POPULATE_READ = 22


@dataclass
class Variant:
    name: str
    fd: int
    mapping: mmap.mmap
    mapped_writes: bool
    position: int = 0
    cycles: int = 0
    write_seconds: float = 0.0
    sync_seconds: float = 0.0

    def run(self, seconds: float, record: bytes) -> None:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            if self.position + WRITERS * RECORD > FILE_SIZE:
                return
            started = time.perf_counter()
            for _ in range(WRITERS):
                if self.mapped_writes:
                    self.mapping[self.position : self.position + RECORD] = record
                else:
                    os.pwrite(self.fd, record, self.position)
                self.position += RECORD
            written = time.perf_counter()
            os.fdatasync(self.fd)
            self.write_seconds += written - started
            self.sync_seconds += time.perf_counter() - written
            self.cycles += 1


def _populate(mapping: mmap.mmap) -> None:
    madvise = ctypes.CDLL(None, use_errno=True).madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    address = ctypes.addressof(ctypes.c_char.from_buffer(mapping))
    if madvise(address, FILE_SIZE, _MADV_POPULATE_READ) != 0:
        raise OSError(ctypes.get_errno(), "madvise(MADV_POPULATE_READ) failed")


def _variant(directory: Path, name: str, *, mapped: bool, populate: bool, zeroed: bool) -> Variant:
    fd = os.open(directory / name.replace(", ", "-"), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    if zeroed:
        zeros = bytes(1 << 20)
        for _ in range(FILE_SIZE >> 20):
            os.write(fd, zeros)
        os.fdatasync(fd)
    else:
        os.posix_fallocate(fd, 0, FILE_SIZE)
    mapping = mmap.mmap(fd, FILE_SIZE)
    if populate:
        _populate(mapping)
    return Variant(name, fd, mapping, mapped)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="per variant")
    parser.add_argument("--dir", type=Path, default=Path(__file__).resolve().parents[3])
    args = parser.parse_args()
    record = os.urandom(RECORD)
    with tempfile.TemporaryDirectory(prefix=".fsync-cost-", dir=args.dir) as directory:
        root = Path(directory)
        variants = [
            _variant(root, "mapped", mapped=True, populate=True, zeroed=False),
            _variant(root, "pwrite", mapped=False, populate=False, zeroed=False),
            _variant(root, "pwrite, mapped", mapped=False, populate=True, zeroed=False),
            _variant(root, "pwrite, zeroed", mapped=False, populate=False, zeroed=True),
        ]
        try:
            for _ in range(int(args.seconds)):
                for variant in variants:
                    variant.run(1.0, record)
        finally:
            for variant in variants:
                variant.mapping.close()
                os.close(variant.fd)
    print(f"{WRITERS} records of {RECORD} B, then fdatasync; in {root.parent}")
    for v in variants:
        n = max(v.cycles, 1)
        print(
            f"  {v.name:15} writes {v.write_seconds / n * 1e3:6.3f} ms, "
            f"fdatasync {v.sync_seconds / n * 1e3:6.3f} ms, "
            f"{v.cycles / args.seconds:6.0f} cycles/s"
        )


if __name__ == "__main__":
    main()
