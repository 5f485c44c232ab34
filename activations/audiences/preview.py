"""Preview: who a send date's run would reach and what it would say, without writing anything.

`preview(...)` opens the warehouse read-only, computes the day's audiences exactly as the
audience step would (entries, follow-ups, suppression, quiet hours; draft campaigns too) and
returns, per campaign and channel: counts, people new to the campaign vs already contacted by
it, suppressed by reason, the SMS cost, five rendered samples per language, and the difference
from the campaign's previous send on that channel; per campaign its state and whether its
current content is approved for live sends. Nothing is written: not the ledger, the outbox,
the exports, the lake, the memberships nor any warehouse table.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

from activations.audiences.prepare import assemble, compute_frames
from activations.plan.approvals import Approval, approval_state
from activations.plan.spec import CONTENT_FIELDS, Plan

SAMPLES_PER_LANGUAGE = 5


def _ledger_people(con: duckdb.DuckDBPyConnection, campaign_id: str, channel: str, before: date) -> dict:
    """Earlier sends of a campaign × channel: everyone ever sent, and the previous send date's people."""
    has = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'activations' "
        "AND table_name = 'send_ledger'"
    ).fetchall()[0][0]
    if not has:
        return {"ever": set(), "previous_date": None, "previous": set()}
    ever = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT customer_id FROM activations.send_ledger WHERE campaign_id = ? AND send_date < ? "
            "AND status <> 'failed'",
            [campaign_id, before],
        ).fetchall()
    }
    prev_date = con.execute(
        "SELECT max(send_date) FROM activations.send_ledger WHERE campaign_id = ? AND channel = ? AND send_date < ?",
        [campaign_id, channel, before],
    ).fetchall()[0][0]
    prev = set()
    if prev_date is not None:
        prev = {
            r[0]
            for r in con.execute(
                "SELECT customer_id FROM activations.send_ledger WHERE campaign_id = ? AND channel = ? "
                "AND send_date = ? AND status <> 'failed'",
                [campaign_id, channel, prev_date],
            ).fetchall()
        }
    return {"ever": ever, "previous_date": prev_date, "previous": prev}


def _sample(msg, channel: str) -> dict[str, Any]:
    body: dict[str, Any] = {"customer_id": msg.customer_id, "to": msg.to, "language": msg.language}
    if channel == "email":
        body.update(subject=msg.subject, text=msg.text)
    elif channel == "sms":
        body.update(sms=msg.sms_body, segments=msg.sms_segments)
    elif channel in ("phone", "direct_mail"):
        body["text"] = msg.text
    else:
        body["audience"] = msg.subject
    return body


def preview(
    warehouse_path: str | Path,
    plan: Plan,
    as_of: date,
    send_date: date,
    now: datetime,
    lake_dir: str | Path,
    approvals: list[Approval],
) -> dict[str, Any]:
    """The preview of one send date (read-only; see the module docstring)."""
    path = Path(warehouse_path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no warehouse yet; run `crmloop run` for a day first")
    con = duckdb.connect(str(path), read_only=True)
    try:
        frames = compute_frames(
            con, plan, as_of, send_date, now, Path(lake_dir), statuses=("active", "draft")
        )
        prepared = assemble(
            plan, as_of, send_date, frames.summary.counts, frames.suppressed_counts, frames.eligible
        )
        approved = approval_state(plan, approvals)
        price = plan.sms.price_per_segment
        campaigns = []
        for camp in plan.campaigns:
            pc = prepared.campaigns[camp.id]
            approval, refusal = approved[camp.id]
            entry: dict[str, Any] = {
                "campaign_id": camp.id,
                "name": camp.name,
                "kind": camp.kind,
                "status": camp.status,
                "state": frames.summary.notes.get(
                    camp.id, "draft: preview only" if camp.status == "draft" else "sends"
                ),
                "entered": frames.summary.entered.get(camp.id, 0),
                "follow_ups": frames.summary.follow_ups.get(camp.id, 0),
                "content_sha256": camp.content_hash(),
                "approved": None if approval is None else approval.__dict__,
                "live_refusal": refusal,
                "channels": {},
            }
            for ch, batch in pc.channels.items():
                people = [m.customer_id for m in batch.messages]
                hist = _ledger_people(con, camp.id, ch, send_date)
                contacted = sum(1 for c in people if c in hist["ever"])
                samples: dict[str, list] = {lang: [] for lang in ("th", "en")}
                for m in batch.messages:
                    if len(samples[m.language]) < SAMPLES_PER_LANGUAGE:
                        samples[m.language].append(_sample(m, ch))
                    if all(len(v) >= SAMPLES_PER_LANGUAGE for v in samples.values()):
                        break
                now_set = set(people)
                entry["channels"][ch] = {
                    **batch.metadata(),
                    "new": len(people) - contacted,
                    "already_contacted": contacted,
                    "sms_cost": round(batch.estimated_cost, 2) if ch == "sms" else None,
                    "price_per_segment": price if ch == "sms" else None,
                    "content_fields": list(CONTENT_FIELDS[ch]),
                    "samples": samples,
                    "previous_send": {
                        "send_date": None
                        if hist["previous_date"] is None
                        else hist["previous_date"].isoformat(),
                        "people": len(hist["previous"]),
                        "in_both": len(now_set & hist["previous"]),
                        "only_now": len(now_set - hist["previous"]),
                        "only_then": len(hist["previous"] - now_set),
                    },
                }
            campaigns.append(entry)
    finally:
        con.close()
    return {
        "as_of": as_of.isoformat(),
        "send_date": send_date.isoformat(),
        "currency": plan.currency,
        "campaigns": campaigns,
    }
