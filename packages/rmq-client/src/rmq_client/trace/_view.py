"""A message's timeline from its trace records (sans-IO; what mqadmin
``queryMsgTraceById`` prints, structured)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rmq_client.trace._codec import (
    EndTransactionTrace,
    PubTrace,
    RecallTrace,
    SubAfterTrace,
    SubBeforeTrace,
    TraceRecord,
)

__all__ = ["ConsumeAttempt", "MessageTrace", "build_trace"]


@dataclass(slots=True, kw_only=True)
class ConsumeAttempt:
    """One delivery of the message to a listener of ``group`` (a SubBefore and its
    SubAfter, paired by request id).

    Attributes:
        began: epoch ms the listener was called.
        retry_times: the message's reconsume times at that delivery (0 = first).
        cost_ms / success / context_code: from the SubAfter; None while it is missing
            (the attempt is running, or its record was lost).
        client_host: the consumer's address (born host of the trace message), if known.
    """

    group: str
    request_id: str
    began: int
    retry_times: int | None = None
    cost_ms: int | None = None
    success: bool | None = None
    context_code: int | None = None
    client_host: str | None = None


@dataclass(slots=True, kw_only=True)
class MessageTrace:
    """The trace of one message id.

    Attributes:
        pub: the send(s) (one normally; a retried send that reached two brokers, two).
        attempts: consumption attempts per consumer group, oldest first.
        end_transactions: commit/rollback records of a transactional message.
        dlq_groups: groups that moved the message to their ``%DLQ%`` topic (filled by
            :meth:`rmq_client.Admin.query_message_trace` when it finds it there).
        records: every decoded record of this message id.
        pub_client_hosts: the producers' addresses, parallel to ``pub``.
    """

    msg_id: str
    pub: list[PubTrace] = field(default_factory=list)
    pub_client_hosts: list[str | None] = field(default_factory=list)
    attempts: dict[str, list[ConsumeAttempt]] = field(default_factory=dict)
    end_transactions: list[EndTransactionTrace] = field(default_factory=list)
    recalls: list[RecallTrace] = field(default_factory=list)
    dlq_groups: set[str] = field(default_factory=set)
    records: list[TraceRecord] = field(default_factory=list)

    @property
    def sent(self) -> bool:
        """A successful Pub was recorded."""
        return any(p.success for p in self.pub)

    @property
    def consumed_by(self) -> list[str]:
        """Groups with a successful attempt."""
        return sorted(g for g, a in self.attempts.items() if any(x.success for x in a))

    def retries(self, group: str) -> int:
        """Failed attempts of ``group`` (each one is a redelivery, or the DLQ)."""
        return sum(1 for a in self.attempts.get(group, ()) if a.success is False)


def build_trace(msg_id: str, entries: Iterable[tuple[TraceRecord, str | None]]) -> MessageTrace:
    """The timeline of ``msg_id`` from ``(record, client_host)`` pairs; records of
    other messages are ignored, exact duplicates counted once."""
    trace = MessageTrace(msg_id=msg_id)
    seen: set[TraceRecord] = set()
    by_request: dict[tuple[str, str], ConsumeAttempt] = {}
    afters: list[tuple[SubAfterTrace, str | None]] = []
    for record, host in entries:
        if record.msg_id != msg_id or record in seen:
            continue
        seen.add(record)
        trace.records.append(record)
        match record:
            case PubTrace():
                trace.pub.append(record)
                trace.pub_client_hosts.append(record.client_host or host)
            case SubBeforeTrace():
                attempt = ConsumeAttempt(
                    group=record.group,
                    request_id=record.request_id,
                    began=record.timestamp,
                    retry_times=record.retry_times,
                    client_host=host,
                )
                by_request[(record.request_id, record.msg_id)] = attempt
                trace.attempts.setdefault(record.group, []).append(attempt)
            case SubAfterTrace():
                afters.append((record, host))
            case EndTransactionTrace():
                trace.end_transactions.append(record)
            case RecallTrace():
                trace.recalls.append(record)
    for after, host in afters:
        found = by_request.get((after.request_id, after.msg_id))
        if found is not None:
            attempt = found
        else:  # its SubBefore was lost: the SubAfter alone
            group = after.group or ""
            attempt = ConsumeAttempt(
                group=group,
                request_id=after.request_id,
                began=after.timestamp or 0,
                client_host=host,
            )
            trace.attempts.setdefault(group, []).append(attempt)
        attempt.cost_ms = after.cost_ms
        attempt.success = after.success
        attempt.context_code = after.context_code
    pubs = sorted(zip(trace.pub, trace.pub_client_hosts, strict=True), key=lambda x: x[0].timestamp)
    trace.pub = [p for p, _ in pubs]
    trace.pub_client_hosts = [h for _, h in pubs]
    for attempts in trace.attempts.values():
        attempts.sort(key=lambda a: a.began)
    return trace
