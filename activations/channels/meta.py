"""Meta Custom Audience sync through the Graph API users endpoint (plain HTTP).

`POST /{version}/{audience_id}/users` adds and `DELETE` of the same endpoint removes hashed
rows (`payload={"schema": [...], "data": [[...], ...]}`), at most 10,000 rows per request,
all requests of one sync in one `session` (session_id, batch_seq, last_batch_flag,
estimated_num_total). The members last synced are kept in `activations.ad_audience_members`,
so each run only adds newcomers (and rows whose hashes changed) and removes those who left.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import requests

from activations.channels.hashing import META_SCHEMA, meta_row, sha256_hex
from activations.delivery.ledger import SendLedger
from activations.delivery.resilience import Retry, TokenBucket, attempts_of, parse_retry_after, retrying
from crmloop.settings import DeliveryConfig

MAX_ROWS = 10_000
STATE = "activations.ad_audience_members"
RATE_LIMIT_CODES = {4, 17, 32, 613, 80003, 80004}

STATE_DDL = f"""
CREATE SCHEMA IF NOT EXISTS activations;
CREATE TABLE IF NOT EXISTS {STATE} (
    platform VARCHAR NOT NULL,
    audience_id VARCHAR NOT NULL,
    customer_id VARCHAR NOT NULL,
    row_hash VARCHAR NOT NULL,
    row_json VARCHAR NOT NULL,
    campaign_id VARCHAR,
    synced_at TIMESTAMP NOT NULL,
    PRIMARY KEY (platform, audience_id, customer_id)
);
"""


class MetaApiError(RuntimeError):
    pass


@dataclass
class AudienceDiff:
    add: list[tuple[str, list[str]]]  # (customer_id, hashed row)
    remove: list[tuple[str, list[str]]]
    unchanged: int


def diff_audience(current: dict[str, list[str]], previous: dict[str, list[str]]) -> AudienceDiff:
    """Pure: newcomers and changed rows are added; leavers and the old version of changed rows removed."""
    add, remove, same = [], [], 0
    for cid, row in current.items():
        old = previous.get(cid)
        if old is None:
            add.append((cid, row))
        elif old != row:
            remove.append((cid, old))
            add.append((cid, row))
        else:
            same += 1
    for cid, row in previous.items():
        if cid not in current:
            remove.append((cid, row))
    return AudienceDiff(add, remove, same)


def session_payloads(
    rows: Sequence[list[str]], session_id: int, max_rows: int = MAX_ROWS
) -> list[dict[str, Any]]:
    """JSON bodies (without the token) for each request of one session (pure). The Graph API
    takes the same parameters as a form or as a JSON body; JSON avoids URL-encoding 10,000 rows."""
    out = []
    chunks = [rows[i : i + max_rows] for i in range(0, len(rows), max_rows)] or []
    for seq, chunk in enumerate(chunks, start=1):
        out.append(
            {
                "payload": {"schema": list(META_SCHEMA), "data": [list(r) for r in chunk]},
                "session": {
                    "session_id": session_id,
                    "batch_seq": seq,
                    "last_batch_flag": seq == len(chunks),
                    "estimated_num_total": len(rows),
                },
            }
        )
    return out


@dataclass
class MetaSyncSummary:
    audience_id: str
    audience_size: int = 0
    unmatchable: int = 0
    added: int = 0
    removed: int = 0
    unchanged: int = 0
    requests: int = 0
    retries: int = 0
    sessions: list[int] = field(default_factory=list)
    elapsed_seconds: float = 0.0
    sample: dict | None = None

    def to_metadata(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in (
                "audience_id",
                "audience_size",
                "unmatchable",
                "added",
                "removed",
                "unchanged",
                "requests",
                "retries",
                "sessions",
                "elapsed_seconds",
                "sample",
            )
        }


class MetaAudienceClient:
    def __init__(self, cfg: DeliveryConfig, base_url: str | None = None, *, sleep=time.sleep):
        self.cfg = cfg
        self.base_url = (base_url or cfg.meta_base_url).rstrip("/")
        self.bucket = TokenBucket(cfg.meta_rate, burst=1)
        self._sleep = sleep
        self._token = cfg.secret("META_ACCESS_TOKEN")
        self.session = requests.Session()

    def users_url(self, audience_id: str) -> str:
        return f"{self.base_url}/{self.cfg.meta_api_version}/{audience_id}/users"

    def call(self, method: str, audience_id: str, body: dict[str, Any]) -> tuple[dict, int]:
        """One request with retries; returns (json, retries). Safe to retry: adding or removing
        the same hashed rows twice leaves the audience the same."""
        data = {**body, "access_token": self._token}
        policy = retrying(self.cfg.retry, self._sleep)

        def attempt() -> dict:
            self.bucket.acquire()
            try:
                resp = self.session.request(
                    method, self.users_url(audience_id), json=data, timeout=self.cfg.retry.timeout_seconds
                )
            except requests.exceptions.RequestException as exc:
                raise Retry(f"transport: {type(exc).__name__}") from exc
            if resp.status_code == 200:
                return resp.json()
            try:
                err = resp.json().get("error", {})
            except ValueError:
                err = {}
            code = int(err.get("code") or 0)
            last = f"http_{resp.status_code}: {err.get('message', '')[:200]}"
            transient = (
                resp.status_code == 429
                or resp.status_code >= 500
                or code in RATE_LIMIT_CODES
                or err.get("is_transient")
            )
            if not transient:
                raise MetaApiError(f"Meta {method} {audience_id}/users failed: {last}")
            raise Retry(last, parse_retry_after(resp.headers))

        try:
            out = policy(attempt)
        except Retry as exc:
            raise MetaApiError(
                f"Meta {method} {audience_id}/users gave up after {self.cfg.retry.max_attempts} attempts: "
                f"{exc.reason}"
            ) from exc
        return out, attempts_of(policy) - 1

    def close(self) -> None:
        self.session.close()


def _load_state(ledger: SendLedger, audience_id: str) -> dict[str, list[str]]:
    with ledger._lock:
        ledger.con.execute(STATE_DDL)
        rows = ledger.con.execute(
            f"SELECT customer_id, row_json FROM {STATE} WHERE platform = 'meta' AND audience_id = ?",
            [audience_id],
        ).fetchall()
    return {cid: json.loads(rj) for cid, rj in rows}


def _apply_state(ledger: SendLedger, audience_id: str, campaign_id: str | None, added, removed) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    with ledger._lock:
        con = ledger.con
        con.execute("BEGIN")
        try:
            if removed:
                t = pa.table({"customer_id": pa.array([c for c, _ in removed], pa.string())})
                con.register("_rm", t)
                con.execute(
                    f"DELETE FROM {STATE} WHERE platform = 'meta' AND audience_id = ? "
                    f"AND customer_id IN (SELECT customer_id FROM _rm)",
                    [audience_id],
                )
                con.unregister("_rm")
            if added:
                t = pa.table(
                    {
                        "customer_id": pa.array([c for c, _ in added], pa.string()),
                        "row_hash": pa.array([sha256_hex("|".join(r)) for _, r in added], pa.string()),
                        "row_json": pa.array([json.dumps(r) for _, r in added], pa.string()),
                    }
                )
                con.register("_add", t)
                con.execute(
                    f"DELETE FROM {STATE} WHERE platform = 'meta' AND audience_id = ? "
                    f"AND customer_id IN (SELECT customer_id FROM _add)",
                    [audience_id],
                )
                con.execute(
                    f"INSERT INTO {STATE} SELECT 'meta', ?, customer_id, row_hash, row_json, ?, ? FROM _add",
                    [audience_id, campaign_id, now],
                )
                con.unregister("_add")
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise


def sync_meta_audience(
    messages: Iterable[Any],
    audience_id: str,
    client: MetaAudienceClient,
    ledger: SendLedger,
    *,
    campaign_id: str | None = None,
    progress=None,
) -> MetaSyncSummary:
    """Diff the audience against the last sync and apply it: removals first, then additions.

    The state table is updated after each successful request, so a crash part-way leaves the
    state describing exactly what Meta was told; the rerun's diff sends only the rest."""
    started = time.perf_counter()
    summary = MetaSyncSummary(audience_id=audience_id)
    current: dict[str, list[str]] = {}
    for m in messages:
        row = meta_row(getattr(m, "fields", None) or {"email": m.to})
        if row is None:
            summary.unmatchable += 1
            continue
        current[str(m.customer_id)] = row
    summary.audience_size = len(current)
    diff = diff_audience(current, _load_state(ledger, audience_id))
    summary.unchanged = diff.unchanged
    for method, items in (("DELETE", diff.remove), ("POST", diff.add)):
        if not items:
            continue
        session_id = random.SystemRandom().randrange(1, 2**63)
        summary.sessions.append(session_id)
        bodies = session_payloads([r for _, r in items], session_id)
        for i, body in enumerate(bodies):
            part = items[i * MAX_ROWS : (i + 1) * MAX_ROWS]
            if summary.sample is None:
                summary.sample = {
                    "method": method,
                    "session": body["session"],
                    "schema": list(META_SCHEMA),
                    "first_row": part[0][1],
                }
            _, retries = client.call(method, audience_id, body)
            summary.requests += 1 + retries
            summary.retries += retries
            if method == "POST":
                _apply_state(ledger, audience_id, campaign_id, part, [])
                summary.added += len(part)
            else:
                # a changed row is removed then re-added: state keeps it until the add lands
                leavers = [(c, r) for c, r in part if c not in current]
                _apply_state(ledger, audience_id, campaign_id, [], leavers)
                summary.removed += len(part)
            if progress:
                progress("meta", {"method": method, "batch": i + 1, "of": len(bodies)})
    summary.elapsed_seconds = round(time.perf_counter() - started, 3)
    return summary
