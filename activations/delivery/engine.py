"""The send loop shared by every channel: ledger intent → request → outcome, under a bounded
number of batches in flight. Channel clients (activations/channels/) only know their provider.
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from activations.delivery.ledger import Outcome, PendingRow, SendLedger

Progress = Callable[[str, dict], None]


@dataclass
class BatchResult:
    outcomes: list[Outcome]
    suppress: list[tuple] = field(default_factory=list)  # (channel, address, reason, customer_id, source)
    requests: int = 0
    retries: int = 0
    # messages whose request was provably cancelled at the provider (their outcome: failed,
    # retryable): the engine sends them again in this run under a new batch (a new intent)
    resend: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class BatchTicket:
    """The id a batch is recorded and sent under, and when the provider will deliver it
    (SendGrid `send_at`; None: at once)."""

    batch_id: str
    scheduled_at: datetime | None = None
    requests: int = 0  # provider calls made to open it (SendGrid: POST /v3/mail/batch)
    retries: int = 0


class ChannelClient(Protocol):
    channel: str  # ledger channel
    parallel_batches: int

    def batches(self, messages: Iterable[Any]) -> Iterator[list[Any]]: ...

    def open_batch(self, messages: Sequence[Any] = ()) -> BatchTicket: ...

    def send_batch(self, ticket: BatchTicket, messages: Sequence[Any]) -> BatchResult: ...

    def reconcile(self, rows: Sequence[PendingRow]) -> list[Outcome]: ...

    def close(self) -> None: ...


@dataclass
class ChannelSummary:
    """What happened on one channel in one delivery run (JSON-able via `to_metadata`)."""

    channel: str
    mode: str
    offered: int = 0  # eligible messages handed to delivery
    sent: int = 0
    failed: Counter = field(default_factory=Counter)  # reason -> n
    ambiguous: int = 0  # this run's requests whose fate is unknown (held, reported)
    already_in_ledger: Counter = field(default_factory=Counter)  # status -> n (not sent again)
    suppressed_at_send: Counter = field(default_factory=Counter)  # reason -> n (suppression list hit)
    reconciled: Counter = field(default_factory=Counter)  # sent / released / ambiguous (crash recovery)
    ambiguous_batches: list[str] = field(default_factory=list)
    duplicate_in_input: int = 0  # same ledger key offered twice in one run (sent once)
    cancelled_and_resent: int = (
        0  # unconfirmed requests cancelled at the provider, sent again (not in `sent`)
    )
    unresolved: dict[str, int] = field(default_factory=dict)  # ledger: batch_id -> recipients still ambiguous
    requests: int = 0
    retries: int = 0
    batches: int = 0
    elapsed_seconds: float = 0.0
    sample: dict | None = None
    plan: dict = field(default_factory=dict)  # audience / holdout / suppressed from the plan side
    extra: dict = field(default_factory=dict)

    @property
    def failed_total(self) -> int:
        return sum(self.failed.values())

    def accounted(self) -> int:
        return (
            self.sent
            + self.failed_total
            + self.ambiguous
            + sum(self.already_in_ledger.values())
            + sum(self.suppressed_at_send.values())
            + self.duplicate_in_input
        )

    def add_plan(self, batch_metadata: dict) -> None:
        """Fold in the plan side's counts (`ChannelBatch.metadata()`), summing over campaigns."""
        for key in (
            "audience",
            "holdout",
            "eligible",
            "suppressed_total",
            "queued_quiet_hours",
            "sms_segments",
        ):
            self.plan[key] = self.plan.get(key, 0) + int(batch_metadata.get(key, 0) or 0)
        if "estimated_cost" in batch_metadata:
            self.plan["estimated_cost"] = round(
                self.plan.get("estimated_cost", 0.0) + batch_metadata["estimated_cost"], 2
            )
        sup = self.plan.setdefault("suppressed", {})
        for reason, n in (batch_metadata.get("suppressed") or {}).items():
            sup[reason] = sup.get(reason, 0) + n

    def to_metadata(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "mode": self.mode,
            "audience": self.plan.get("audience"),
            "holdout": self.plan.get("holdout"),
            "suppressed_by_reason": self.plan.get("suppressed", {}),
            "offered": self.offered,
            "sent": self.sent,
            "failed_by_reason": dict(self.failed),
            "ambiguous": self.ambiguous,
            "ambiguous_batches": self.ambiguous_batches[:50],
            "already_in_ledger": dict(self.already_in_ledger),
            "suppressed_at_send": dict(self.suppressed_at_send),
            "duplicate_in_input": self.duplicate_in_input,
            "cancelled_and_resent": self.cancelled_and_resent,
            "reconciled_after_crash": dict(self.reconciled),
            "operator_action": self.operator_action(),
            "unresolved_batches": dict(list(self.unresolved.items())[:50]),
            "requests": self.requests,
            "retries": self.retries,
            "batches": self.batches,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "sample": self.sample,
            # SMS: the plan's estimate (plan.yml sms.price_per_segment), the one price there is
            **(
                {k: self.plan[k] for k in ("sms_segments", "estimated_cost") if k in self.plan}
                if self.channel == "sms"
                else {}
            ),
            **self.extra,
        }

    def operator_action(self) -> str | None:
        """What a person must do, with the commands, while recipients' fate is unknown (else None)."""
        if not self.unresolved:
            return None
        n = sum(self.unresolved.values())
        first = next(iter(self.unresolved))
        return (
            f"{n} {self.channel} recipient(s) in {len(self.unresolved)} batch(es) may or may not have been "
            f"delivered and are held (never resent blindly). Look each batch id up at the provider "
            f"(for email: SendGrid Activity, custom arg batch_id; ids in unresolved_batches), then run "
            f"`crmloop ledger confirm-sent {first}` if it was delivered or `crmloop ledger release {first}` "
            f"if not (released recipients are sent by the next run); `crmloop ledger ambiguous` lists them."
        )


def new_batch_id(channel: str) -> str:
    # sortable by time (zone maps in DuckDB prune by batch_id), unique across processes
    return f"{channel}-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def recover_pending(
    client: ChannelClient, ledger: SendLedger, summary: ChannelSummary, progress: Progress | None = None
) -> None:
    """Reconcile rows a crashed run left `pending`, and earlier `ambiguous` ones, with the
    provider (never resend them blindly). Rows still ambiguous stay as they are (reported in
    `unresolved`); `reconciled` counts what this run learnt."""
    rows = ledger.unresolved(client.channel)
    if not rows:
        return
    if progress:
        progress("reconcile", {"channel": client.channel, "unresolved": len(rows)})
    outcomes = client.reconcile(rows)
    by_id = {o.send_id: o for o in outcomes}
    # anything the client did not decide stays ambiguous
    final = [by_id.get(r.send_id) or Outcome(r.send_id, "ambiguous", reason="no_lookup") for r in rows]
    learnt = [(r, o) for r, o in zip(rows, final, strict=True) if not (r.status == o.status == "ambiguous")]
    ledger.resolve([o for _, o in learnt])
    for _, o in learnt:
        if o.status == "sent":
            summary.reconciled["sent"] += 1
        elif o.status == "failed" and o.retryable:
            summary.reconciled["released"] += 1
        elif o.status == "failed":
            summary.reconciled["failed"] += 1
        else:
            summary.reconciled["ambiguous"] += 1
    summary.ambiguous_batches.extend(sorted({r.batch_id for r, o in learnt if o.status == "ambiguous"}))


def _prefilter(
    messages: Iterable[Any],
    client: ChannelClient,
    ledger: SendLedger,
    summary: ChannelSummary,
    chunk: int,
) -> Iterator[Any]:
    """Drop keys already in the ledger and addresses on the suppression list."""
    it = iter(messages)
    while True:
        block = list(itertools.islice(it, chunk))
        if not block:
            return
        summary.offered += len(block)
        ids = [m.send_id for m in block]
        existing = ledger.existing(ids)
        suppressed = ledger.suppressed_addresses(client.channel, [m.to for m in block])
        seen: set[str] = set()
        for m, sid in zip(block, ids, strict=True):
            if sid in seen:  # the same key twice in the input: one message only
                summary.duplicate_in_input += 1
                continue
            seen.add(sid)
            state = existing.get(sid)
            if state is not None and not (state[0] == "failed" and state[1]):
                summary.already_in_ledger[state[0]] += 1
                continue
            reason = suppressed.get(m.to)
            if reason is not None:
                summary.suppressed_at_send[reason] += 1
                continue
            yield m


def deliver(
    messages: Iterable[Any],
    client: ChannelClient,
    ledger: SendLedger,
    *,
    mode: str = "sandbox",
    progress: Progress | None = None,
    prefilter_chunk: int = 10_000,
    summary: ChannelSummary | None = None,
) -> ChannelSummary:
    """Send `messages` exactly once each through `client`, recording everything in `ledger`.

    A batch the provider provably cancelled (`BatchResult.resend`) is sent again under a new
    batch, up to `client.max_resends` times (default 3); past that its rows stay released
    (failed, retryable) for the next run."""
    max_resends = int(getattr(client, "max_resends", 3))
    started = time.perf_counter()
    summary = summary or ChannelSummary(channel=client.channel, mode=mode)
    recover_pending(client, ledger, summary, progress)
    in_flight: deque[tuple[BatchTicket, list, int, Future]] = deque()
    resend: deque[tuple[list, int]] = deque()  # (messages, generation) cancelled at the provider
    limit = max(1, int(client.parallel_batches))
    last_report = time.monotonic()

    def result_of(batch: list, fut: Future) -> BatchResult:
        try:
            return fut.result()
        except BaseException as exc:  # an unexpected client bug: the batch's fate is unknown
            return BatchResult(
                [Outcome(m.send_id, "ambiguous", reason=f"client_error: {exc!r}"[:300]) for m in batch]
            )

    def account(batch_id: str, result: BatchResult, generation: int) -> None:
        summary.requests += result.requests
        summary.retries += result.retries
        again = {m.send_id for m in result.resend} if generation < max_resends else set()
        if again:
            resend.append(([m for m in result.resend if m.send_id in again], generation + 1))
        amb = False
        for o in result.outcomes:
            if o.send_id in again:
                summary.cancelled_and_resent += 1  # counted again when its new batch ends
            elif o.status == "sent":
                summary.sent += 1
            elif o.status == "failed":
                summary.failed[o.reason or "unknown"] += 1
            else:
                summary.ambiguous += 1
                amb = True
        if amb:
            summary.ambiguous_batches.append(batch_id)

    def collect(block: bool) -> list[tuple]:
        """Finished batches as (batch_id, outcomes, suppress) rows for the ledger."""
        nonlocal in_flight
        if not in_flight:
            return []
        if block:
            wait([f for *_, f in in_flight], return_when=FIRST_COMPLETED)
        finished, keep = [], deque()
        for ticket, batch, generation, fut in in_flight:
            if fut.done():
                res = result_of(batch, fut)
                account(ticket.batch_id, res, generation)
                finished.append((ticket.batch_id, res.outcomes, res.suppress))
            else:
                keep.append((ticket, batch, generation, fut))
        in_flight = keep
        return finished

    def batches() -> Iterator[tuple[list, int]]:
        """New batches, and before each one any batch cancelled at the provider (sent again)."""
        source = client.batches(_prefilter(messages, client, ledger, summary, prefilter_chunk))
        for batch in source:
            while resend:
                yield resend.popleft()
            if batch:
                yield batch, 0
        while resend or in_flight:
            while resend:
                yield resend.popleft()
            if in_flight:  # a batch still out may yet be cancelled and come back
                ledger.step(collect(block=True), None)

    with ThreadPoolExecutor(max_workers=limit, thread_name_prefix=f"send-{client.channel}") as pool:
        try:
            for batch, generation in batches():
                finished = collect(block=len(in_flight) >= limit)
                while len(in_flight) >= limit:
                    finished += collect(block=True)
                ticket = client.open_batch(batch)
                # outcomes of finished batches and the intent of this one: one commit, BEFORE the request
                ledger.step(finished, (ticket.batch_id, client.channel, batch, ticket.scheduled_at))
                summary.batches += 1
                summary.requests += ticket.requests
                summary.retries += ticket.retries
                in_flight.append((ticket, batch, generation, pool.submit(client.send_batch, ticket, batch)))
                if progress and time.monotonic() - last_report > 2.0:
                    last_report = time.monotonic()
                    progress(
                        "send", {"channel": client.channel, "sent": summary.sent, "offered": summary.offered}
                    )
        finally:
            # also when the loop failed: what was sent is recorded, nothing is left pending
            while in_flight:
                ledger.step(collect(block=True), None)
    summary.unresolved = ledger.ambiguous_batches(client.channel)
    summary.elapsed_seconds = time.perf_counter() - started
    if progress:
        progress("done", summary.to_metadata())
    return summary
