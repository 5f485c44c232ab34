"""Approvals: a person looked at a campaign's content (a preview) and approved it for live sends.

An approval is one JSON line in `<home>/approvals.jsonl` (append-only: who, when, why, and the
campaign's content hash, `Campaign.content_hash()`). Live mode sends a campaign only when its
current content hash has an approval; after any change to its templates, segment or journey
rules the first live send needs a new one. Sandbox mode sends to the local outbox and needs none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from activations.plan.spec import Plan


class ApprovalError(ValueError):
    """An approval that cannot be recorded (unknown campaign, no reason, no name)."""


@dataclass(frozen=True)
class Approval:
    campaign_id: str
    content_sha256: str
    approved_by: str
    approved_at: str  # ISO 8601 with time zone
    reason: str


def load_approvals(path: str | Path) -> list[Approval]:
    p = Path(path)
    if not p.exists():
        return []
    out = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(Approval(**json.loads(line)))
        except (ValueError, TypeError) as exc:
            raise ApprovalError(f"{p}:{n}: not an approval record: {exc}") from None
    return out


def record_approval(
    path: str | Path, plan: Plan, campaign_id: str, *, by: str, reason: str, now: datetime
) -> Approval:
    """Append an approval of the campaign's current content. `now` must be timezone-aware."""
    try:
        camp = plan.campaign(campaign_id)
    except KeyError:
        known = ", ".join(c.id for c in plan.campaigns)
        raise ApprovalError(f"unknown campaign {campaign_id!r}; the plan has {known}") from None
    if not reason or not reason.strip():
        raise ApprovalError("an approval needs a reason (--reason)")
    if not by or not by.strip():
        raise ApprovalError("an approval needs the name of the person approving (--by)")
    if now.tzinfo is None:
        raise ValueError("record_approval: `now` must be timezone-aware")
    rec = Approval(
        camp.id, camp.content_hash(), by.strip(), now.isoformat(timespec="seconds"), reason.strip()
    )
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(rec.__dict__, ensure_ascii=False) + "\n")
    return rec


def approval_state(plan: Plan, approvals: list[Approval]) -> dict[str, tuple[Approval | None, str | None]]:
    """Per campaign: (the approval of its current content or None, why live mode refuses it or None)."""
    out: dict[str, tuple[Approval | None, str | None]] = {}
    for camp in plan.campaigns:
        sha = camp.content_hash()
        mine = [a for a in approvals if a.campaign_id == camp.id]
        current = next((a for a in reversed(mine) if a.content_sha256 == sha), None)
        if current is not None:
            out[camp.id] = (current, None)
        elif mine:
            last = mine[-1]
            out[camp.id] = (
                None,
                f"{camp.id}: content changed since it was approved by {last.approved_by} on {last.approved_at}; "
                f"preview it and run `crmloop approve {camp.id} --reason ...`",
            )
        else:
            out[camp.id] = (
                None,
                f"{camp.id}: never approved for live sends; preview it and run `crmloop approve {camp.id} --reason ...`",
            )
    return out


def live_refusals(plan: Plan, approvals: list[Approval]) -> dict[str, str]:
    """Campaigns live mode must not send, with a one-line reason each."""
    return {cid: why for cid, (_, why) in approval_state(plan, approvals).items() if why is not None}
