"""The send ledger: exactly-once sends, kept in the DuckDB warehouse.

`activations.send_ledger` has one row per (campaign_id, customer_id, channel, send_date).

The rule (documented in activations/delivery/README.md):
1. Before a request leaves, its recipients are written as `pending` with a fresh batch id
   (committed). A key that already has a row is never sent again, except a row whose earlier
   attempt provably never reached the provider (`failed` with `retryable`).
2. After the response, each row becomes `sent` (with the provider id), `failed` (with the
   reason; `retryable` only when the provider certainly did not accept it) or `ambiguous`.
3. On start, rows still `pending` (a run that died mid-send) and rows `ambiguous` are
   reconciled with the provider (Twilio: message list by recipient; SendGrid: cancel the
   still-scheduled batch, or the Email Activity API when enabled): found → `sent`; provably
   not delivered (cancelled in time, or not found once settled) → released (`failed`,
   retryable, resent in this run); otherwise `ambiguous`: reported every run with the operator's
   command, never resent until the provider can tell or an operator calls `release_ambiguous`
   (or `mark_ambiguous_sent`).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

LEDGER = "activations.send_ledger"
SUPPRESSION_LIST = "activations.suppression_list"

STATUSES = ("pending", "sent", "failed", "ambiguous")

DDL = f"""
CREATE SCHEMA IF NOT EXISTS activations;
CREATE TABLE IF NOT EXISTS {LEDGER} (
    campaign_id VARCHAR NOT NULL,
    customer_id VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    send_date DATE NOT NULL,
    send_id VARCHAR NOT NULL,
    batch_id VARCHAR NOT NULL,
    address VARCHAR,
    content_hash VARCHAR,
    status VARCHAR NOT NULL,
    reason VARCHAR,
    retryable BOOLEAN NOT NULL DEFAULT FALSE,
    provider_id VARCHAR,
    intent_at TIMESTAMP NOT NULL,
    outcome_at TIMESTAMP,
    scheduled_at TIMESTAMP,
    PRIMARY KEY (campaign_id, customer_id, channel, send_date)
);
ALTER TABLE {LEDGER} ADD COLUMN IF NOT EXISTS scheduled_at TIMESTAMP;
CREATE TABLE IF NOT EXISTS {SUPPRESSION_LIST} (
    channel VARCHAR NOT NULL,
    address VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    customer_id VARCHAR,
    recorded_at TIMESTAMP NOT NULL,
    source VARCHAR
);
"""


class DuplicateSendError(ValueError):
    """A batch's intent collided with an existing ledger row: nothing of that batch was sent."""


@dataclass(frozen=True)
class Outcome:
    """The result for one message of a batch."""

    send_id: str
    status: str  # sent | failed | ambiguous
    reason: str | None = None
    provider_id: str | None = None
    retryable: bool = False
    suppress_reason: str | None = None  # permanent per-recipient error → suppression list

    def __post_init__(self):
        if self.status not in ("sent", "failed", "ambiguous"):
            raise ValueError(f"bad outcome status {self.status!r}")


@dataclass(frozen=True)
class PendingRow:
    campaign_id: str
    customer_id: str
    channel: str
    send_date: date
    send_id: str
    batch_id: str
    address: str
    content_hash: str | None
    intent_at: datetime
    status: str = "pending"  # pending (a run died mid-send) | ambiguous (re-examined every run)
    scheduled_at: datetime | None = None  # the provider's send time (SendGrid send_at, UTC)


def content_hash(text: str | None) -> str:
    """SHA-256 of a message body (kept in the ledger so a crashed send can be looked up)."""
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _naive_utc(t: datetime | None) -> datetime | None:
    """The ledger keeps timestamps as naive UTC."""
    if t is None or t.tzinfo is None:
        return t
    return t.astimezone(UTC).replace(tzinfo=None)


def _outcomes_table(outcomes: Sequence) -> pa.Table:
    """Provider outcomes (send_id, status, reason, provider_id, retryable) as Arrow, to join in SQL."""
    return pa.table(
        {
            "send_id": pa.array([o.send_id for o in outcomes], pa.string()),
            "status": pa.array([o.status for o in outcomes], pa.string()),
            "reason": pa.array([o.reason for o in outcomes], pa.string()),
            "provider_id": pa.array([o.provider_id for o in outcomes], pa.string()),
            "retryable": pa.array([o.retryable for o in outcomes], pa.bool_()),
        }
    )


class SendLedger:
    """One DuckDB connection, used from one thread at a time (a lock guards it)."""

    def __init__(self, warehouse_path: Path | str, *, connection: duckdb.DuckDBPyConnection | None = None):
        self.path = Path(warehouse_path)
        if connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = connection or duckdb.connect(str(self.path))
        self._lock = threading.RLock()
        with self._lock:
            self.con.execute(DDL)
            # skip the retryable-row clean-up in mark_pending while there are none (the common case)
            self._has_retryable = bool(
                self.con.execute(
                    f"SELECT count(*) FROM {LEDGER} WHERE status = 'failed' AND retryable"
                ).fetchall()[0][0]
            )

    def close(self) -> None:
        self.con.close()

    # ------------------------------------------------------------------ reading
    def existing(self, send_ids: Sequence[str]) -> dict[str, tuple[str, bool]]:
        """send_id -> (status, retryable) for the ids that already have a row."""
        if not send_ids:
            return {}
        ids = pa.table({"send_id": pa.array(list(send_ids), pa.string())})
        with self._lock:
            self.con.register("_ids", ids)
            try:
                rows = self.con.execute(
                    f"SELECT l.send_id, l.status, l.retryable FROM {LEDGER} l SEMI JOIN _ids USING (send_id)"
                ).fetchall()
            finally:
                self.con.unregister("_ids")
        return {r[0]: (r[1], bool(r[2])) for r in rows}

    def unresolved(self, channel: str) -> list[PendingRow]:
        """Rows whose fate is not known yet: `pending` (a run died mid-send) and `ambiguous`."""
        with self._lock:
            rows = self.con.execute(
                f"SELECT campaign_id, customer_id, channel, send_date, send_id, batch_id, address, content_hash, "
                f"intent_at, status, scheduled_at FROM {LEDGER} "
                f"WHERE channel = ? AND status IN ('pending', 'ambiguous') ORDER BY batch_id, send_id",
                [channel],
            ).fetchall()
        return [PendingRow(*r) for r in rows]

    def ambiguous_batches(self, channel: str) -> dict[str, int]:
        """batch_id -> recipients still `ambiguous` on this channel (any send date)."""
        with self._lock:
            return dict(
                self.con.execute(
                    f"SELECT batch_id, count(*) FROM {LEDGER} WHERE channel = ? AND status = 'ambiguous' "
                    f"GROUP BY batch_id ORDER BY batch_id",
                    [channel],
                ).fetchall()
            )

    def ambiguous(self, channel: str | None = None) -> list[tuple]:
        sql = f"SELECT batch_id, campaign_id, customer_id, channel, send_date, address, reason FROM {LEDGER} WHERE status = 'ambiguous'"
        params: list = []
        if channel:
            sql += " AND channel = ?"
            params.append(channel)
        with self._lock:
            return self.con.execute(sql + " ORDER BY batch_id, customer_id", params).fetchall()

    def counts(self, channel: str | None = None, send_date: date | None = None) -> dict[str, int]:
        sql = f"SELECT status, count(*) FROM {LEDGER} WHERE 1=1"
        params: list = []
        if channel:
            sql += " AND channel = ?"
            params.append(channel)
        if send_date:
            sql += " AND send_date = ?"
            params.append(send_date)
        with self._lock:
            return dict(self.con.execute(sql + " GROUP BY status", params).fetchall())

    def suppressed_addresses(self, channel: str, addresses: Iterable[str]) -> dict[str, str]:
        """address -> reason for addresses on the suppression list of this channel."""
        addrs = list({a for a in addresses if a})
        if not addrs:
            return {}
        tbl = pa.table({"address": pa.array(addrs, pa.string())})
        with self._lock:
            self.con.register("_addrs", tbl)
            try:
                rows = self.con.execute(
                    f"SELECT address, min(reason) FROM {SUPPRESSION_LIST} s SEMI JOIN _addrs USING (address) "
                    f"WHERE channel = ? GROUP BY address",
                    [channel],
                ).fetchall()
            finally:
                self.con.unregister("_addrs")
        return dict(rows)

    # ------------------------------------------------------------------ writing
    def mark_pending(
        self, batch_id: str, channel: str, messages: Sequence, scheduled_at: datetime | None = None
    ) -> None:
        """Record intent for a batch before its request leaves (one transaction).

        `messages`: objects with campaign_id, customer_id, send_date, send_id, to."""
        self.step([], (batch_id, channel, messages, scheduled_at))

    def record_outcomes(
        self, batch_id: str, outcomes: Sequence[Outcome], suppress: Sequence[tuple] = ()
    ) -> None:
        """Write the outcome of a batch (and any suppressions) in one transaction.

        `suppress`: (channel, address, reason, customer_id, source) rows for the suppression list."""
        self.step([(batch_id, outcomes, suppress)], None)

    def step(self, finished: Sequence[tuple], pending: tuple | None) -> None:
        """One transaction: outcomes of finished batches [(batch_id, outcomes, suppress)], then
        the intent of the next batch (batch_id, channel, messages[, scheduled_at]). Committed before returning,
        so the next request may leave."""
        now = _now()
        with self._lock:
            self.con.execute("BEGIN")
            try:
                for batch_id, outcomes, suppress in finished:
                    self._record_tx(batch_id, outcomes, suppress, now)
                if pending is not None:
                    self._pending_tx(*pending, now=now)
                self.con.execute("COMMIT")
            except duckdb.ConstraintException as exc:
                self.con.execute("ROLLBACK")
                if pending is not None and finished:
                    self.step(finished, None)  # keep what the finished batches did
                raise DuplicateSendError(
                    f"batch {pending[0] if pending else '?'}: a message key is already in {LEDGER} "
                    f"(the same campaign/customer/channel/send date offered twice in one run?): {exc}"
                ) from exc
            except Exception:
                self.con.execute("ROLLBACK")
                raise

    def _pending_tx(
        self,
        batch_id: str,
        channel: str,
        messages: Sequence,
        scheduled_at: datetime | None = None,
        now: datetime | None = None,
    ) -> None:
        tbl = pa.table(
            {
                "campaign_id": pa.array([m.campaign_id for m in messages], pa.string()),
                "customer_id": pa.array([m.customer_id for m in messages], pa.string()),
                "send_date": pa.array([m.send_date for m in messages], pa.date32()),
                "send_id": pa.array([m.send_id for m in messages], pa.string()),
                "address": pa.array([m.to for m in messages], pa.string()),
                "content_hash": pa.array(
                    [content_hash(m.sms_body) for m in messages]
                    if channel == "sms"
                    else [None] * len(messages),
                    pa.string(),
                ),
            }
        )
        self.con.register("_batch", tbl)
        try:
            # a retryable failure never reached the provider: its row makes way for the new intent
            if self._has_retryable:
                self.con.execute(
                    f"DELETE FROM {LEDGER} WHERE status = 'failed' AND retryable "
                    f"AND send_id IN (SELECT send_id FROM _batch)"
                )
            self.con.execute(
                f"INSERT INTO {LEDGER} (campaign_id, customer_id, channel, send_date, send_id, batch_id, "
                f"address, content_hash, status, intent_at, scheduled_at) SELECT campaign_id, customer_id, ?, "
                f"send_date, send_id, ?, address, content_hash, 'pending', ?, ? FROM _batch",
                [channel, batch_id, now or _now(), _naive_utc(scheduled_at)],
            )
        finally:
            self.con.unregister("_batch")

    def _record_tx(
        self, batch_id: str, outcomes: Sequence[Outcome], suppress: Sequence[tuple], now: datetime
    ) -> None:
        if any(o.retryable for o in outcomes):
            self._has_retryable = True
        first = outcomes[0] if outcomes else None
        uniform = first is not None and all(
            o.status == first.status
            and o.reason == first.reason
            and o.provider_id == first.provider_id
            and o.retryable == first.retryable
            for o in outcomes
        )
        if uniform:
            self.con.execute(
                f"UPDATE {LEDGER} SET status = ?, reason = ?, provider_id = ?, retryable = ?, outcome_at = ? "
                f"WHERE batch_id = ? AND status = 'pending'",
                [first.status, first.reason, first.provider_id, first.retryable, now, batch_id],
            )
        elif outcomes:
            self._set_outcomes(outcomes, now, "l.batch_id = ? AND l.status = 'pending'", [batch_id])
        if suppress:
            self._insert_suppressions(suppress, now)

    def _insert_suppressions(self, rows: Sequence[tuple], now: datetime) -> None:
        tbl = pa.table(
            {
                "channel": pa.array([r[0] for r in rows], pa.string()),
                "address": pa.array([r[1] for r in rows], pa.string()),
                "reason": pa.array([r[2] for r in rows], pa.string()),
                "customer_id": pa.array([r[3] for r in rows], pa.string()),
                "source": pa.array([r[4] for r in rows], pa.string()),
            }
        )
        self.con.register("_sup", tbl)
        try:
            self.con.execute(
                f"INSERT INTO {SUPPRESSION_LIST} (channel, address, reason, customer_id, recorded_at, source) "
                f"SELECT s.channel, s.address, s.reason, s.customer_id, ?, s.source FROM _sup s "
                f"WHERE NOT EXISTS (SELECT 1 FROM {SUPPRESSION_LIST} x WHERE x.channel = s.channel "
                f"AND x.address = s.address AND x.reason = s.reason)",
                [now],
            )
        finally:
            self.con.unregister("_sup")

    def record_suppressions(self, rows: Sequence[tuple]) -> None:
        with self._lock:
            self._insert_suppressions(rows, _now())

    def resolve(self, outcomes: Sequence[Outcome]) -> None:
        """Reconciliation result for `pending` / `ambiguous` rows of several batches (by send_id)."""
        if not outcomes:
            return
        now = _now()
        if any(o.retryable for o in outcomes):
            self._has_retryable = True
        with self._lock:
            self._set_outcomes(outcomes, now, "l.status IN ('pending', 'ambiguous')", [])

    def _set_outcomes(self, outcomes: Sequence[Outcome], now: datetime, where: str, params: list) -> None:
        """Each ledger row's outcome from `outcomes` (matched by send_id), where `where` holds of row `l`."""
        self.con.register("_outcomes", _outcomes_table(outcomes))
        try:
            self.con.execute(
                f"UPDATE {LEDGER} AS l SET status = o.status, reason = o.reason, provider_id = o.provider_id, "
                f"retryable = o.retryable, outcome_at = ? FROM _outcomes o WHERE l.send_id = o.send_id AND {where}",
                [now, *params],
            )
        finally:
            self.con.unregister("_outcomes")

    def release_ambiguous(self, batch_id: str) -> int:
        """Operator decision: the provider did NOT accept this ambiguous batch; resend on next run."""
        self._has_retryable = True
        return self._resolve_ambiguous(
            batch_id, "status = 'failed', retryable = TRUE, reason = 'released_by_operator'"
        )

    def mark_ambiguous_sent(self, batch_id: str) -> int:
        """Operator decision: this ambiguous batch was delivered (e.g. seen in the provider's UI)."""
        return self._resolve_ambiguous(batch_id, "status = 'sent', reason = 'confirmed_by_operator'")

    def _resolve_ambiguous(self, batch_id: str, assignments: str) -> int:
        """Apply an operator's decision to the ambiguous rows of one batch; returns how many."""
        with self._lock:
            n = self.con.execute(
                f"SELECT count(*) FROM {LEDGER} WHERE batch_id = ? AND status = 'ambiguous'", [batch_id]
            ).fetchall()[0][0]
            self.con.execute(
                f"UPDATE {LEDGER} SET {assignments}, outcome_at = ? WHERE batch_id = ? AND status = 'ambiguous'",
                [_now(), batch_id],
            )
        return int(n)
