"""`crmloop preview` and `crmloop approve`: look at a send date before it goes out, then approve it.

Preview reads only (the warehouse opened read-only; nothing under the home changes). Approvals
are appended to `<home>/approvals.jsonl`; live mode sends only campaigns whose current content
is approved, sandbox mode needs no approval.
"""

from __future__ import annotations

import json
from datetime import timedelta

from rich.console import Console
from rich.table import Table

from crmloop.settings import Settings


def run_preview(settings: Settings, as_json: bool = False, console: Console | None = None) -> dict:
    from activations.audiences.prepare import send_clock
    from activations.audiences.preview import preview
    from activations.plan.approvals import load_approvals
    from activations.plan.spec import load_plan

    console = console or Console()
    plan = load_plan(settings.plan_path)
    send_date = settings.as_of + timedelta(days=1)
    report = preview(
        settings.warehouse_path,
        plan,
        settings.as_of,
        send_date,
        send_clock(send_date),
        settings.lake_dir,
        load_approvals(settings.approvals_path),
    )
    if as_json:
        console.print_json(json.dumps(report, ensure_ascii=False, default=str))
    else:
        print_preview(report, console)
    return report


def print_preview(report: dict, console: Console) -> None:
    console.print(
        f"[bold]Preview of the send date {report['send_date']}[/bold] (as of {report['as_of']}): nothing is "
        "written or sent"
    )
    for c in report["campaigns"]:
        approved = c["approved"]
        line = (
            f"approved by {approved['approved_by']} on {approved['approved_at']} ({approved['reason']})"
            if approved
            else f"[yellow]{c['live_refusal']}[/yellow]"
        )
        console.print(
            f"\n[bold]{c['campaign_id']}[/bold] ({c['kind']}, {c['status']}): {c['state']}; "
            f"{c['entered']} enter, {c['follow_ups']} follow-up(s) due; content {c['content_sha256'][:12]}…"
        )
        console.print(f"  live: {line}")
        if not c["channels"]:
            continue
        table = Table()
        for col in ("channel", "audience", "holdout", "suppressed", "send", "new", "contacted before",
                    "SMS cost", "previous send"):  # fmt: skip
            table.add_column(col)
        for ch, m in c["channels"].items():
            prev = m["previous_send"]
            supp = ", ".join(f"{r} {n}" for r, n in m["suppressed"].items()) or "0"
            table.add_row(
                ch,
                str(m["audience"]),
                str(m["holdout"]),
                supp,
                str(m["eligible"]),
                str(m["new"]),
                str(m["already_contacted"]),
                ""
                if m["sms_cost"] is None
                else f"{m['sms_cost']:,.2f} {report['currency']} ({m['sms_segments']} parts)",
                "none"
                if prev["send_date"] is None
                else f"{prev['send_date']}: {prev['people']} people, {prev['in_both']} again, "
                f"{prev['only_now']} new, {prev['only_then']} not now",
            )
        console.print(table)
        for ch, m in c["channels"].items():
            for lang, samples in m["samples"].items():
                for s in samples:
                    text = s.get("subject") or s.get("sms") or s.get("audience") or ""
                    body = (s.get("text") or "").replace("\n", " ")
                    console.print(f"  {ch}/{lang} → {s['to']}: [bold]{text}[/bold] {body[:160]}")


def run_approve(settings: Settings, campaign_id: str, reason: str, by: str) -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from activations.plan.approvals import record_approval
    from activations.plan.spec import load_plan
    from crmloop.settings import TIMEZONE

    rec = record_approval(
        settings.approvals_path,
        load_plan(settings.plan_path),
        campaign_id,
        by=by,
        reason=reason,
        now=datetime.now(ZoneInfo(TIMEZONE)),
    )
    return (
        f"approved {rec.campaign_id} (content {rec.content_sha256[:12]}…) by {rec.approved_by} at "
        f"{rec.approved_at}: {rec.reason}"
    )
