"""PULL_MESSAGE: build the request, read the answer, filter tags (Java ``PullAPIWrapper``).

Request (spec §6.2): ``sysFlag`` bits 0x1 commit offset (the request carries the
consumer's offset for the broker to store), 0x2 suspend (long polling: the broker holds
an empty pull up to ``suspendTimeoutMillis``, 15 s for push consumers), 0x4 subscription
(the request carries ``subscription``/``expressionType`` instead of relying on the
heartbeat registration), 0x8 class filter (legacy). ``subVersion`` is the
subscription's version, ``bname`` the queue's broker.

Answer → :class:`PullStatus`: SUCCESS → FOUND, PULL_NOT_FOUND → NO_NEW_MSG,
PULL_RETRY_IMMEDIATELY → NO_MATCHED_MSG, PULL_OFFSET_MOVED → OFFSET_ILLEGAL; any other
code raises the error from the code table. ``suggestWhichBrokerId`` is remembered per
queue and picks the broker (master or slave) of the next pull, as in Java.
FOUND bodies are decoded (bodies inflated) and, for TAG subscriptions with tags, the
messages whose tag is not subscribed are dropped (the broker filters on tag hash only).
"""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass
from typing import Final, Protocol, final

from rmq_client.errors import ClientError, error_for_code
from rmq_protocol.codec.body import MessageQueue, SubscriptionData
from rmq_protocol.codec.codes import LanguageCode, RequestCode, ResponseCode, SerializeType
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.hashing import java_string_hash
from rmq_protocol.codec.headers import PullMessageRequestHeader, PullMessageResponseHeader
from rmq_protocol.codec.message import MessageExt, decode_messages
from rmq_protocol.errors import ProtocolError

__all__ = [
    "FLAG_CLASS_FILTER",
    "FLAG_COMMIT_OFFSET",
    "FLAG_SUBSCRIPTION",
    "FLAG_SUSPEND",
    "SUB_ALL",
    "PullResult",
    "PullStatus",
    "Puller",
    "build_subscription",
    "build_sys_flag",
]

logger = logging.getLogger(__name__)

FLAG_COMMIT_OFFSET: Final = 0x1
FLAG_SUSPEND: Final = 0x2
FLAG_SUBSCRIPTION: Final = 0x4
FLAG_CLASS_FILTER: Final = 0x8

SUB_ALL: Final = "*"
MASTER_ID: Final = 0
_PULL: Final = int(RequestCode.PULL_MESSAGE)
_JSON: Final = SerializeType.JSON
_make_command: Final = RemotingCommand._make  # a request from its field tuple


def build_sys_flag(
    *, commit_offset: bool, suspend: bool, subscription: bool, class_filter: bool = False
) -> int:
    """PullSysFlag.buildSysFlag."""
    flag = FLAG_COMMIT_OFFSET if commit_offset else 0
    if suspend:
        flag |= FLAG_SUSPEND
    if subscription:
        flag |= FLAG_SUBSCRIPTION
    if class_filter:
        flag |= FLAG_CLASS_FILTER
    return flag


def build_subscription(
    topic: str, expression: str | None = SUB_ALL, *, expression_type: str = "TAG"
) -> SubscriptionData:
    """Java ``FilterAPI.build``: a subscription with tags and their hash codes.

    TAG: ``None``/``""``/``"*"`` is everything; otherwise ``"A || B"`` gives the tags
    ``A`` and ``B``. SQL92: the expression is passed through (the broker evaluates it).

    Raises:
        ValueError: an SQL92 subscription without expression, or an unknown type.
    """
    now = int(time.time() * 1000)
    if expression_type == "TAG":
        text = (expression or "").strip()
        if not text or text == SUB_ALL:
            return SubscriptionData(topic=topic, sub_string=SUB_ALL, sub_version=now)
        tags = tuple(dict.fromkeys(t.strip() for t in text.split("||") if t.strip()))
        if not tags:
            raise ValueError(f"tag expression {expression!r} of topic {topic} names no tag")
        return SubscriptionData(
            topic=topic,
            sub_string=text,
            tags_set=tags,
            code_set=tuple(java_string_hash(t) for t in tags),
            sub_version=now,
        )
    if expression_type == "SQL92":
        if not expression or not expression.strip():
            raise ValueError(f"an SQL92 subscription of topic {topic} needs an expression")
        return SubscriptionData(
            topic=topic, sub_string=expression.strip(), sub_version=now, expression_type="SQL92"
        )
    raise ValueError(f"expression type {expression_type!r} is not TAG or SQL92")


class PullStatus(enum.Enum):
    """Java ``PullStatus``."""

    FOUND = "FOUND"
    NO_NEW_MSG = "NO_NEW_MSG"
    NO_MATCHED_MSG = "NO_MATCHED_MSG"
    OFFSET_ILLEGAL = "OFFSET_ILLEGAL"


_STATUS: Final[dict[int, PullStatus]] = {
    ResponseCode.SUCCESS: PullStatus.FOUND,
    ResponseCode.PULL_NOT_FOUND: PullStatus.NO_NEW_MSG,
    ResponseCode.PULL_RETRY_IMMEDIATELY: PullStatus.NO_MATCHED_MSG,
    ResponseCode.PULL_OFFSET_MOVED: PullStatus.OFFSET_ILLEGAL,
}


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class PullResult:
    """What one pull returned (Java ``PullResult``).

    Attributes:
        status: see :class:`PullStatus`.
        next_begin_offset: where the next pull of this queue starts.
        min_offset: the queue's lowest offset on the broker.
        max_offset: the queue's next offset to be written on the broker.
        messages: the messages (after client-side tag filtering; FOUND only).
        found: how many messages the broker returned before tag filtering.
    """

    status: PullStatus
    next_begin_offset: int
    min_offset: int
    max_offset: int
    messages: list[MessageExt]
    found: int = 0


class _Client(Protocol):
    """The part of ClientInstance pulls use."""

    def broker_addr(self, broker_name: str, broker_id: int = MASTER_ID) -> str | None: ...

    async def find_broker_addr(self, broker_name: str, *, master_only: bool = True) -> str: ...

    @property
    def dialect(self) -> tuple[LanguageCode, int]: ...

    async def invoke(
        self, addr: str, cmd: RemotingCommand, *, timeout: float
    ) -> RemotingCommand: ...


@final
class Puller:
    """Sends pulls for one consumer group (Java ``PullAPIWrapper``). Not thread-safe."""

    def __init__(self, client: _Client, group: str) -> None:
        self._client = client
        self.group = group
        self._suggested: dict[MessageQueue, int] = {}
        # id(queue) -> (queue, the other inputs, PULL_MESSAGE extFields template): the
        # request header of a queue only changes in three numbers from pull to pull.
        self._templates: dict[int, tuple[MessageQueue, tuple[object, ...], dict[str, str]]] = {}

    def _cached_broker(self, mq: MessageQueue) -> tuple[str, bool] | None:
        """The address to pull ``mq`` from and whether it is a slave, from cached
        routes (None: unknown)."""
        suggested = self._suggested
        if suggested:
            broker_id = suggested.get(mq, MASTER_ID)
            if broker_id != MASTER_ID:
                addr = self._client.broker_addr(mq.broker_name, broker_id)
                if addr is not None:
                    return addr, True
        addr = self._client.broker_addr(mq.broker_name, MASTER_ID)
        return None if addr is None else (addr, False)

    async def _broker_for(self, mq: MessageQueue) -> tuple[str, bool]:
        """The address to pull ``mq`` from and whether it is a slave."""
        cached = self._cached_broker(mq)
        if cached is not None:
            return cached
        return await self._client.find_broker_addr(mq.broker_name, master_only=False), False

    def _ext_fields(
        self,
        mq: MessageQueue,
        subscription: SubscriptionData,
        send_sub: bool,
        offset: int,
        max_nums: int,
        sys_flag: int,
        commit_offset: int,
        suspend_ms: int,
        max_bytes: int | None,
    ) -> dict[str, str]:
        """The request's extFields: ``PullMessageRequestHeader(...).to_ext_fields()``,
        from a per-queue copy where only the offsets and the flag change."""
        inputs = (
            subscription.sub_string if send_sub else None,
            subscription.sub_version,
            subscription.expression_type,
            max_nums,
            suspend_ms,
            max_bytes,
        )
        cached = self._templates.get(id(mq))
        if cached is None or cached[0] is not mq or cached[1] != inputs:
            header = PullMessageRequestHeader(
                consumer_group=self.group,
                topic=mq.topic,
                queue_id=mq.queue_id,
                queue_offset=0,
                max_msg_nums=max_nums,
                sys_flag=0,
                commit_offset=0,
                suspend_timeout_millis=suspend_ms,
                subscription=inputs[0],
                sub_version=subscription.sub_version,
                expression_type=subscription.expression_type,
                max_msg_bytes=max_bytes,
                bname=mq.broker_name,
            )
            if len(self._templates) >= 4096:  # queues replaced many times: start afresh
                self._templates.clear()
            cached = (mq, inputs, header.to_ext_fields())
            self._templates[id(mq)] = cached
        ext = cached[2].copy()
        ext["queueOffset"] = str(offset)
        ext["sysFlag"] = str(sys_flag)
        ext["commitOffset"] = str(commit_offset)
        return ext

    async def pull(
        self,
        mq: MessageQueue,
        subscription: SubscriptionData,
        *,
        offset: int,
        max_nums: int,
        sys_flag: int,
        commit_offset: int = 0,
        suspend_timeout: float = 15.0,
        timeout: float = 30.0,
        max_bytes: int | None = None,
    ) -> PullResult:
        """One PULL_MESSAGE of ``mq`` from ``offset``.

        Args:
            subscription: the topic's subscription (its expression is sent only when
                ``sys_flag`` has :data:`FLAG_SUBSCRIPTION`).
            sys_flag: see :func:`build_sys_flag`.
            commit_offset: the consumer offset the broker stores (flag 0x1).
            suspend_timeout: seconds the broker may hold an empty pull (flag 0x2).
            timeout: seconds to wait for the answer (more than ``suspend_timeout``).

        Raises:
            BrokerError: the broker answered another code (subclass per code).
            RequestTimeout, NotConnectedError: as ClientInstance.invoke.
        """
        cached = self._cached_broker(mq)
        addr, slave = await self._broker_for(mq) if cached is None else cached
        if slave:
            sys_flag &= ~FLAG_COMMIT_OFFSET
        ext = self._ext_fields(
            mq,
            subscription,
            bool(sys_flag & FLAG_SUBSCRIPTION),
            offset,
            max_nums,
            sys_flag,
            commit_offset,
            int(suspend_timeout * 1000),
            max_bytes,
        )
        language, version = self._client.dialect
        cmd = _make_command((_PULL, language, version, 0, 0, None, ext, b"", _JSON))
        response = await self._client.invoke(addr, cmd, timeout=timeout)
        status = _STATUS.get(response.code)
        if status is None:
            raise error_for_code(
                response.code, response.remark, broker=addr, request=RequestCode.PULL_MESSAGE
            )
        try:
            rh = response.decode_header(PullMessageResponseHeader)
        except ProtocolError as exc:
            raise ClientError(
                f"PULL_MESSAGE to {addr}: malformed response header: {exc}", broker=addr
            ) from exc
        if rh.suggest_which_broker_id != MASTER_ID or self._suggested:
            self._suggested[mq] = rh.suggest_which_broker_id  # (absent means the master)
        messages: list[MessageExt] = []
        found = 0
        if status is PullStatus.FOUND and response.body:
            messages = decode_messages(response.body)
            found = len(messages)
            tags = subscription.tags_set
            if tags and not subscription.class_filter_mode:
                wanted = frozenset(tags)
                messages = [m for m in messages if m.tags in wanted]
        return PullResult(
            status=status,
            next_begin_offset=rh.next_begin_offset,
            min_offset=rh.min_offset,
            max_offset=rh.max_offset,
            messages=messages,
            found=found,
        )

    def forget(self, mq: MessageQueue) -> None:
        """Forget the broker suggestion for ``mq``."""
        self._suggested.pop(mq, None)
