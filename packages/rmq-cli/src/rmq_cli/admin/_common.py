"""What every ``rmq admin`` command shares: the command table, options, output, errors.

A command is a :class:`Command`: its mqadmin name, its group (as mqadmin's ``tools``
packages group them), a one-line help, a function adding its options to an argparse
parser and an ``async`` function running it with a started :class:`rmq_client.Admin`.
It writes to :class:`Output` (a table or ``--json``) and raises :class:`CommandError`
(or lets a :class:`rmq_client.ClientError` through) to fail; :func:`rmq_cli.admin.main`
turns either into one ``error: …`` line and exit code 1.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, TextIO

if TYPE_CHECKING:
    from rmq_client import Admin, ReceivedMessage

__all__ = [
    "GROUPS",
    "Command",
    "CommandError",
    "Output",
    "command",
    "parse_bool",
    "parse_time",
]

GROUPS: Final = (
    "Topic",
    "Cluster",
    "Broker",
    "Message",
    "Consumer",
    "Producer",
    "NameServer",
    "Offset",
)
"""Command groups, in the order ``rmq admin --help`` lists them."""


class CommandError(Exception):
    """A command failed for a reason it explains in one line (exit code 1)."""


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    group: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Admin, argparse.Namespace, Output], Awaitable[int]]
    needs_namesrv: bool = True


COMMANDS: dict[str, Command] = {}


def command(
    name: str, group: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None]
) -> Callable[
    [Callable[[Admin, argparse.Namespace, Output], Awaitable[int]]],
    Callable[[Admin, argparse.Namespace, Output], Awaitable[int]],
]:
    """Register the decorated coroutine function as command ``name`` of ``group``."""
    assert group in GROUPS, group  # noqa: S101 - a typo here is a bug

    def register(
        run: Callable[[Admin, argparse.Namespace, Output], Awaitable[int]],
    ) -> Callable[[Admin, argparse.Namespace, Output], Awaitable[int]]:
        COMMANDS[name] = Command(name, group, help, add_arguments, run)
        return run

    return register


# ---------------------------------------------------------------------- option values


def parse_bool(text: str) -> bool:
    """``true``/``false`` as mqadmin takes them (also yes/no, 1/0)."""
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "1", "on"):
        return True
    if lowered in ("false", "no", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


def parse_time(text: str) -> float:
    """A point in time as mqadmin takes it → seconds since the epoch.

    ``now``; milliseconds since the epoch (``1700000000000``); mqadmin's
    ``yyyy-MM-dd#HH:mm:ss:SSS`` (local time); or ISO 8601 (``2024-05-01T12:00:00``,
    local time unless it has an offset).
    """
    value = text.strip()
    if value.lower() == "now":
        return time.time()
    if value.lstrip("-").isdigit():
        return int(value) / 1000
    try:
        if "#" in value:
            day, _, clock = value.partition("#")
            parts = clock.split(":")
            if len(parts) == 4:
                clock = f"{parts[0]}:{parts[1]}:{parts[2]}.{parts[3]}"
            stamp = datetime.datetime.fromisoformat(f"{day}T{clock}")
        else:
            stamp = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time (now, milliseconds since the epoch, "
            "yyyy-MM-dd#HH:mm:ss:SSS or ISO 8601)"
        ) from None
    return stamp.timestamp()


def add_topic(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument("-t", "--topic", required=required, help="topic name")


def add_cluster(parser: argparse.ArgumentParser, what: str = "which cluster") -> None:
    parser.add_argument(
        "-c", "--clusterName", dest="cluster", default=None, help=f"{what} (default: all)"
    )


def add_broker_addr(parser: argparse.ArgumentParser, what: str = "broker address") -> None:
    parser.add_argument("-b", "--brokerAddr", dest="broker_addr", default=None, help=what)


# ---------------------------------------------------------------------- output


def format_time(seconds: float) -> str:
    """Local time with milliseconds, as mqadmin prints store/born times."""
    if seconds <= 0:
        return "unknown"
    return datetime.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def body_text(body: bytes) -> tuple[str, str]:
    """(text, encoding): UTF-8 text, or base64 when the body is not UTF-8."""
    try:
        return body.decode(), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(body).decode(), "base64"


def message_record(msg: ReceivedMessage) -> dict[str, object]:
    """A received message as the JSON object the message commands print."""
    text, encoding = body_text(bytes(msg.body))
    return {
        "topic": msg.topic,
        "msgId": msg.msg_id,
        "offsetMsgId": msg.offset_msg_id,
        "queueId": msg.queue_id,
        "queueOffset": msg.queue_offset,
        "commitLogOffset": msg.commit_log_offset,
        "tags": msg.tags,
        "keys": msg.keys,
        "bornTimestamp": msg.born_timestamp,
        "storeTimestamp": msg.store_timestamp,
        "bornHost": str(msg.born_host),
        "storeHost": str(msg.store_host),
        "reconsumeTimes": msg.reconsume_times,
        "properties": dict(msg.properties),
        "bodyLength": len(msg.body),
        "body": text,
        "bodyEncoding": encoding,
    }


class Output:
    """Where a command writes: human-readable tables, or one JSON document (``--json``)."""

    def __init__(self, out: TextIO, *, as_json: bool) -> None:
        self.out = out
        self.as_json = as_json

    def line(self, text: str = "") -> None:
        """A line of text (ignored in JSON mode: use :meth:`result`)."""
        if not self.as_json:
            self.out.write(text + "\n")

    def lines(self, items: Iterable[object]) -> None:
        for item in items:
            self.line(str(item))

    def json(self, value: object) -> None:
        self.out.write(json.dumps(value, indent=2, sort_keys=False, default=str) + "\n")

    def result(self, value: object, text: Callable[[], None] | None = None) -> None:
        """``value`` as JSON in JSON mode, else call ``text`` (or print ``value``)."""
        if self.as_json:
            self.json(value)
        elif text is not None:
            text()
        else:
            self.line(str(value))

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        """Left-aligned columns, two spaces apart (numbers right-aligned)."""
        cells = [[_cell(v) for v in row] for row in rows]
        numeric = [
            bool(cells) and all(_is_number(row[i]) for row in cells) for i in range(len(headers))
        ]
        widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]

        def fmt(values: Sequence[str]) -> str:
            return "  ".join(
                v.rjust(w) if num else v.ljust(w)
                for v, w, num in zip(values, widths, numeric, strict=True)
            ).rstrip()

        self.line(fmt(list(headers)))
        for row in cells:
            self.line(fmt(row))

    def pairs(self, items: Iterable[tuple[str, object]]) -> None:
        """``key : value`` lines, keys padded (mqadmin's layout for configs and stats)."""
        rows = [(k, _cell(v)) for k, v in items]
        width = max((len(k) for k, _ in rows), default=0)
        for key, value in rows:
            self.line(f"{key.ljust(width)} : {value}")


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
