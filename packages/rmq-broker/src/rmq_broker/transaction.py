"""Transactional messages on the broker: half messages, END_TRANSACTION, check-back.

Behaviour of RocketMQ 4.9's ``TransactionalMessageBridge``,
``TransactionalMessageServiceImpl``, ``EndTransactionProcessor`` and
``TransactionalMessageCheckService`` (spec §6.5), on rmq's store:

* **Half messages.** A send with ``TRAN_MSG=true`` is stored in
  ``RMQ_SYS_TRANS_HALF_TOPIC`` queue 0 with ``REAL_TOPIC`` / ``REAL_QID`` holding
  where it was sent and its sysFlag transaction bits cleared, so no consumer of the
  real topic sees it (:func:`prepare_half_message`, called by the send processor).
* **Operations.** Commit re-stores the half message in its real topic and queue
  (sysFlag COMMIT, PREPARED TRANSACTION OFFSET = the half's commit-log offset,
  REAL_TOPIC / REAL_QID removed); rollback stores nothing new. A half message keeps
  its ``DELAY`` / ``TIMER_*`` properties in the half topic; its commit goes through
  :func:`rmq_broker.schedule.route_scheduled` as a send does, so it waits in
  ``SCHEDULE_TOPIC_XXXX`` / ``rmq_sys_wheel_timer`` from the commit on (a timer the
  broker would refuse is refused when the half message is sent). Both write op records
  to ``RMQ_SYS_TRANS_OP_HALF_TOPIC`` queue 0: tag ``d``, body = the half queue offset
  (a comma-joined list is read too, as 5.x writes). The committed message and its op
  records go to the store in one append, so a crash cannot keep one without the other.
* **Check-back.** Every ``transactionCheckInterval`` the service walks the half queue
  from the progress offset of the system group ``CID_RMQ_SYS_TRANS``. An unresolved
  half message born more than ``transactionTimeOut`` ago (or its
  ``CHECK_IMMUNITY_TIME_IN_SECONDS``) is put back at the end of the half queue with
  ``TRANSACTION_CHECK_TIMES`` + 1 and a CHECK_TRANSACTION_STATE (oneway) for the new
  copy goes to a live producer of its ``PGROUP``; one already checked
  ``transactionCheckMax`` times is discarded (logged, counted). The walk stops at the
  first half message still too young. The progress offsets (half and op queue) are
  consumer offsets of ``CID_RMQ_SYS_TRANS``, persisted with ``consumerOffset.json``.

Where rmq differs from Java, on purpose: the half messages of one transaction (its
put-back copies, or the copies a producer's retried send stored) are resolved
together, found by their ``UNIQ_KEY``; a second END_TRANSACTION for a resolved
transaction (a late answer to a check, a commit after a rollback) changes nothing. So
a message is committed at most once, also across restarts: the unresolved state is
rebuilt at start from the half and op queues past the progress offsets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Final, final

from rmq_broker.controller import BrokerController
from rmq_broker.schedule import route_scheduled
from rmq_broker.timer import TimerRefusal
from rmq_protocol.codec import properties as props
from rmq_protocol.codec.codes import LanguageCode, RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import (
    CheckTransactionStateRequestHeader,
    EndTransactionRequestHeader,
)
from rmq_protocol.codec.message import (
    MessageExt,
    TransactionType,
    decode_message,
    encode_message,
    reset_transaction_type,
)
from rmq_protocol.errors import ProtocolError, RemoteProtocolError
from rmq_protocol.transport import Connection
from rmq_store import GetMessageStatus, StoreError

__all__ = [
    "HALF_TOPIC",
    "OP_TOPIC",
    "REMOVE_TAG",
    "SYS_TRANS_GROUP",
    "TransactionService",
    "prepare_half_message",
]

logger = logging.getLogger(__name__)

HALF_TOPIC: Final = "RMQ_SYS_TRANS_HALF_TOPIC"
OP_TOPIC: Final = "RMQ_SYS_TRANS_OP_HALF_TOPIC"
SYS_TRANS_GROUP: Final = "CID_RMQ_SYS_TRANS"  # MixAll.CID_SYS_RMQ_TRANS
REMOVE_TAG: Final = "d"  # TransactionalMessageUtil.REMOVE_TAG
_QUEUE: Final = 0  # both system topics have one queue
_BATCH: Final = 32  # messages read per store call
_CHECK_SEND_TIMEOUT: Final = 3.0  # seconds a CHECK_TRANSACTION_STATE write may wait
_COMMIT: Final = int(TransactionType.COMMIT_TYPE)
_ROLLBACK: Final = int(TransactionType.ROLLBACK_TYPE)
_UNKNOWN: Final = int(TransactionType.NOT_TYPE)


def prepare_half_message(
    reject: bool, topic: str, queue_id: int, sys_flag: int, properties: dict[str, str]
) -> tuple[str, int, int] | None:
    """Turn a transactional send into a half message (Java ``parseHalfMessageInner``).

    Adds ``REAL_TOPIC`` / ``REAL_QID`` to ``properties`` (in place) and returns the
    (topic, queue id, sysFlag) to store it with, or None when the broker refuses
    transactional messages (``rejectTransactionMessage``: NO_PERMISSION).
    """
    if reject:
        return None
    properties[props.REAL_TOPIC] = topic
    properties[props.REAL_QUEUE_ID] = str(queue_id)
    return HALF_TOPIC, _QUEUE, reset_transaction_type(sys_flag, TransactionType.NOT_TYPE)


@dataclasses.dataclass(slots=True)
class _Pending:
    """An unresolved transaction: the half queue offsets of its copies (the last is
    the one checked) and that copy's commit-log offset."""

    offsets: list[int]
    commit_log_offset: int


@dataclasses.dataclass(frozen=True, slots=True)
class EndResult:
    """What END_TRANSACTION did: the response code and remark."""

    code: int
    remark: str | None = None


@final
class TransactionService:
    """The broker's transaction state; one per broker, used on its event loop.

    :meth:`load` after the consumer offsets are loaded, then :meth:`end` for each
    END_TRANSACTION; :meth:`run` is the check-back loop (a task the broker owns).
    """

    def __init__(self, controller: BrokerController) -> None:
        self._c = controller
        self._pending: dict[str, _Pending] = {}
        self._key_of: dict[int, str] = {}  # half queue offset -> transaction key
        self._scanned_to = 0  # half queue offsets below this are in _pending (or resolved)
        self.commits = 0
        self.rollbacks = 0
        self.checks_sent = 0  # CHECK_TRANSACTION_STATE requests written
        self.discarded = 0  # half messages dropped after transactionCheckMax checks
        self.rounds = 0  # check rounds done
        self._round_done = asyncio.Event()

    # ------------------------------------------------------------------ state

    @property
    def pending(self) -> int:
        """Unresolved transactions known to the broker."""
        self._catch_up()
        return len(self._pending)

    def _progress(self, topic: str) -> int:
        offset = self._c.offsets.query_offset(SYS_TRANS_GROUP, topic, _QUEUE)
        if offset < 0:
            return self._c.store.get_min_offset_in_queue(topic, _QUEUE)
        return offset

    def _read(self, topic: str, offset: int) -> list[tuple[int, MessageExt]]:
        """Up to a batch of (queue offset, message) of ``topic`` from ``offset``."""
        result = self._c.store.get_messages(topic, _QUEUE, offset, max_count=_BATCH)
        if result.status is not GetMessageStatus.FOUND:
            return []
        out: list[tuple[int, MessageExt]] = []
        for queue_offset, view in zip(result.queue_offsets, result.messages, strict=True):
            try:
                message, _ = decode_message(view, decompress=False)
            except RemoteProtocolError as exc:
                logger.error("%s offset %d is unreadable: %s", topic, queue_offset, exc)
                continue
            finally:
                view.release()
            out.append((queue_offset, message))
        return out

    @staticmethod
    def _key(offset: int, message: MessageExt) -> str:
        return message.properties.get(props.UNIQ_KEY) or f"@{offset}"

    def load(self) -> None:
        """Rebuild the unresolved transactions from the half and op queues past the
        progress offsets (at start, after the consumer offsets are loaded)."""
        self._pending.clear()
        self._key_of.clear()
        resolved: set[int] = set()
        offset = self._progress(OP_TOPIC)
        while batch := self._read(OP_TOPIC, offset):
            for queue_offset, message in batch:
                resolved.update(_op_offsets(message))
                offset = queue_offset + 1
        self._scanned_to = self._progress(HALF_TOPIC)
        self._catch_up()
        done = {key for key, p in self._pending.items() if resolved.intersection(p.offsets)}
        for key in done:
            self._forget(key)
        logger.info(
            "transactions: %d unresolved half message(s) from half queue offset %d",
            len(self._pending),
            self._progress(HALF_TOPIC),
        )

    def _catch_up(self) -> None:
        """Take in the half messages stored since the last look."""
        store = self._c.store
        while self._scanned_to < store.get_max_offset_in_queue(HALF_TOPIC, _QUEUE):
            batch = self._read(HALF_TOPIC, self._scanned_to)
            if not batch:
                # a gap (expired segment): skip to what the queue still holds
                self._scanned_to = max(
                    self._scanned_to + 1, store.get_min_offset_in_queue(HALF_TOPIC, _QUEUE)
                )
                continue
            for queue_offset, message in batch:
                key = self._key(queue_offset, message)
                entry = self._pending.get(key)
                if entry is None:
                    self._pending[key] = _Pending([queue_offset], message.commit_log_offset)
                else:
                    entry.offsets.append(queue_offset)
                    entry.commit_log_offset = message.commit_log_offset
                self._key_of[queue_offset] = key
                self._scanned_to = queue_offset + 1

    def _forget(self, key: str) -> None:
        entry = self._pending.pop(key, None)
        if entry is not None:
            for offset in entry.offsets:
                self._key_of.pop(offset, None)

    def _op_record(self, half_offset: int) -> MessageExt:
        c = self._c
        return MessageExt(
            topic=OP_TOPIC,
            queue_id=_QUEUE,
            born_timestamp=c.clock_ms(),
            born_host=c.store_host,
            store_host=c.store_host,
            body=str(half_offset).encode(),
            properties={props.TAGS: REMOVE_TAG, props.WAIT_STORE_MSG_OK: "false"},
        )

    # ------------------------------------------------------------------ END_TRANSACTION

    def end(self, header: EndTransactionRequestHeader) -> EndResult:
        """Commit or roll back the half message ``header`` names (Java's
        ``EndTransactionProcessor`` checks, in its order, with its remarks)."""
        kind = header.commit_or_rollback
        if kind == _UNKNOWN:
            logger.info(
                "producer group %s reports transaction %s unknown%s",
                header.producer_group,
                header.transaction_id,
                " (check answer)" if header.from_transaction_check else "",
            )
            return EndResult(ResponseCode.SUCCESS)
        if kind not in (_COMMIT, _ROLLBACK):
            return EndResult(
                ResponseCode.INVALID_PARAMETER,
                f"commitOrRollback {kind} is not 0 (unknown), 8 (commit) or 12 (rollback)",
            )
        half = self._find_half(header.commit_log_offset)
        if half is None:
            return EndResult(ResponseCode.SYSTEM_ERROR, "Find prepared transaction message failed")
        if half.properties.get(props.PRODUCER_GROUP) != header.producer_group:
            return EndResult(ResponseCode.SYSTEM_ERROR, "The producer group wrong")
        if half.queue_offset != header.tran_state_table_offset:
            return EndResult(ResponseCode.SYSTEM_ERROR, "The transaction state table offset wrong")
        self._catch_up()
        key = self._key(half.queue_offset, half)
        entry = self._pending.get(key)
        if entry is None:
            logger.info(
                "END_TRANSACTION (%s) for transaction %s of group %s: already resolved, ignored",
                "commit" if kind == _COMMIT else "rollback",
                key,
                header.producer_group,
            )
            return EndResult(ResponseCode.SUCCESS)
        records = [self._op_record(offset) for offset in entry.offsets]
        if kind == _COMMIT:
            final = self._final_message(half, header.commit_log_offset)
            if isinstance(final, EndResult):
                return final
            records.insert(0, final)
        try:
            self._c.store.append_messages(records)
        except StoreError as exc:
            logger.error("END_TRANSACTION for %s: the store refused: %s", key, exc)
            return EndResult(ResponseCode.SYSTEM_ERROR, f"store putMessage failed: {exc}")
        self._forget(key)
        if kind == _COMMIT:
            self.commits += 1
        else:
            self.rollbacks += 1
        return EndResult(ResponseCode.SUCCESS)

    def _find_half(self, commit_log_offset: int) -> MessageExt | None:
        if commit_log_offset < 0:
            return None
        try:
            view = self._c.store.read_message(commit_log_offset)
        except StoreError:
            return None
        if view is None:
            return None
        try:
            message, _ = decode_message(view, decompress=False)
        except RemoteProtocolError:
            return None
        finally:
            view.release()
        if message.topic != HALF_TOPIC or message.commit_log_offset != commit_log_offset:
            return None
        return message

    def _final_message(self, half: MessageExt, commit_log_offset: int) -> MessageExt | EndResult:
        """Java ``endMessageTransaction``: the half message back in its real queue."""
        properties = dict(half.properties)
        real_topic = properties.pop(props.REAL_TOPIC, None)
        real_qid = properties.pop(props.REAL_QUEUE_ID, None)
        if real_topic is None or real_qid is None or not real_qid.lstrip("-").isdecimal():
            return EndResult(
                ResponseCode.SYSTEM_ERROR,
                f"the half message at {commit_log_offset} has no REAL_TOPIC/REAL_QID "
                f"({real_topic!r}, {real_qid!r})",
            )
        sys_flag = reset_transaction_type(half.sys_flag, TransactionType.COMMIT_TYPE)
        # Java puts the committed message through the store's put hooks: a delay level
        # or a 5.x timer holds it in SCHEDULE_TOPIC_XXXX / rmq_sys_wheel_timer from now.
        c = self._c
        routed = route_scheduled(
            properties,
            real_topic,
            int(real_qid),
            sys_flag,
            settings=c.settings,
            clock_ms=c.clock_ms,
        )
        if isinstance(routed, TimerRefusal):
            return EndResult(routed.code, routed.remark)
        topic, queue_id = routed
        return MessageExt(
            topic=topic,
            queue_id=queue_id,
            flag=half.flag,
            sys_flag=sys_flag,
            born_timestamp=half.born_timestamp,
            born_host=half.born_host,
            store_host=half.store_host,
            reconsume_times=half.reconsume_times,
            prepared_transaction_offset=commit_log_offset,
            body=half.body,
            properties=properties,
        )

    # ------------------------------------------------------------------ check-back

    async def run(self) -> None:
        """Check rounds every ``transactionCheckInterval`` until cancelled."""
        while True:
            await asyncio.sleep(max(self._c.config.transaction_check_interval, 1) / 1000)
            try:
                self.check_once()
            except Exception:  # a bug in one round must not stop the broker: log, go on
                logger.exception("transaction check round failed")

    async def wait_rounds(self, count: int, *, timeout: float) -> None:
        """Wait until ``count`` check rounds were done in total.

        Raises:
            TimeoutError: not within ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            while self.rounds < count:
                self._round_done.clear()
                await self._round_done.wait()

    def check_once(self) -> int:
        """One check round (Java ``TransactionalMessageServiceImpl.check``); returns
        how many checks were sent."""
        c = self._c
        config = c.config
        self._catch_up()
        now = c.clock_ms()
        start = self._progress(HALF_TOPIC)
        end = c.store.get_max_offset_in_queue(HALF_TOPIC, _QUEUE)
        offset = start
        sent = 0
        stop = False
        while offset < end and not stop:
            batch = self._read(HALF_TOPIC, offset)
            if not batch:
                offset = max(offset + 1, c.store.get_min_offset_in_queue(HALF_TOPIC, _QUEUE))
                continue
            for queue_offset, half in batch:
                if queue_offset >= end:
                    stop = True
                    break
                key = self._key_of.get(queue_offset, "")
                entry = self._pending.get(key)
                if entry is None or entry.offsets[-1] != queue_offset:
                    offset = queue_offset + 1  # resolved, or an older copy
                    continue
                if now - half.born_timestamp < _immunity_ms(half, config.transaction_time_out):
                    stop = True  # the rest is younger still
                    break
                times = _check_times(half)
                if times >= config.transaction_check_max:
                    self._discard(key, half, times)
                elif self._put_back_and_check(half, times + 1):
                    sent += 1
                offset = queue_offset + 1
        if offset != start:
            c.offsets.commit_offset(SYS_TRANS_GROUP, HALF_TOPIC, _QUEUE, offset)
            self._advance_op_progress(offset)
        self.rounds += 1
        self._round_done.set()
        return sent

    def _discard(self, key: str, half: MessageExt, times: int) -> None:
        self._forget(key)
        self.discarded += 1
        logger.warning(
            "half message %s (topic %s, group %s) checked %d times without an answer: "
            "discarded (transactionCheckMax %d)",
            key,
            half.properties.get(props.REAL_TOPIC),
            half.properties.get(props.PRODUCER_GROUP),
            times,
            self._c.config.transaction_check_max,
        )

    def _put_back_and_check(self, half: MessageExt, times: int) -> bool:
        """Store the half message again with ``times`` checks, then ask a producer."""
        c = self._c
        properties = dict(half.properties)
        properties[props.TRANSACTION_CHECK_TIMES] = str(times)
        copy = dataclasses.replace(half, properties=properties)
        try:
            result = c.store.append_messages([copy])
        except StoreError as exc:
            logger.error("putting back half message %s failed: %s", half.msg_id, exc)
            return False
        self._catch_up()  # the copy becomes the transaction's checked copy
        group = properties.get(props.PRODUCER_GROUP, "")
        conn = c.clients.find_producer_channel(group)
        if conn is None:
            logger.warning(
                "transaction %s: no producer of group %s online to check it (check %d)",
                properties.get(props.UNIQ_KEY),
                group,
                times,
            )
            return False
        checked = dataclasses.replace(
            copy,
            topic=properties.get(props.REAL_TOPIC, half.topic),
            queue_id=int(properties.get(props.REAL_QUEUE_ID, "0") or 0),
            queue_offset=result.queue_offset,
            commit_log_offset=result.phy_offset,
            store_timestamp=result.store_timestamp,
        )
        header = CheckTransactionStateRequestHeader(
            topic=checked.topic,
            tran_state_table_offset=result.queue_offset,
            commit_log_offset=result.phy_offset,
            msg_id=properties.get(props.UNIQ_KEY),
            transaction_id=properties.get(props.UNIQ_KEY),
            offset_msg_id=result.msg_id,
        )
        command = RemotingCommand.request(
            RequestCode.CHECK_TRANSACTION_STATE,
            header,
            oneway=True,
            body=encode_message(checked),
            language=LanguageCode.JAVA,
        )
        c.spawn(self._send_check(conn, command, group))
        self.checks_sent += 1
        return True

    async def _send_check(self, conn: Connection, command: RemotingCommand, group: str) -> None:
        try:
            await conn.send_oneway(command, timeout=_CHECK_SEND_TIMEOUT)
        except ProtocolError as exc:
            logger.info(
                "CHECK_TRANSACTION_STATE to %s (group %s) failed: %s", conn.peer, group, exc
            )

    def _advance_op_progress(self, half_progress: int) -> None:
        """Move the op queue's progress past the records whose half offsets are all
        below the half queue's progress (they are not needed at the next start)."""
        c = self._c
        offset = self._progress(OP_TOPIC)
        start = offset
        while batch := self._read(OP_TOPIC, offset):
            for queue_offset, message in batch:
                if any(o >= half_progress for o in _op_offsets(message)):
                    break
                offset = queue_offset + 1
            else:
                continue
            break
        if offset != start:
            c.offsets.commit_offset(SYS_TRANS_GROUP, OP_TOPIC, _QUEUE, offset)


def _op_offsets(message: MessageExt) -> list[int]:
    if message.properties.get(props.TAGS) != REMOVE_TAG:
        return []
    out: list[int] = []
    for part in message.body.decode("utf-8", "replace").split(","):
        part = part.strip()
        if part.isdecimal():
            out.append(int(part))
    return out


def _check_times(message: MessageExt) -> int:
    text = message.properties.get(props.TRANSACTION_CHECK_TIMES)
    return int(text) if text and text.isdecimal() else 0


def _immunity_ms(message: MessageExt, default_ms: int) -> int:
    text = message.properties.get(props.CHECK_IMMUNITY_TIME_IN_SECONDS)
    if text and text.isdecimal():
        return max(int(text) * 1000, default_ms)
    return default_ms
