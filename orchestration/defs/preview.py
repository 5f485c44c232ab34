"""Jobs without assets: preview a send date, and approve a campaign's content for live sends.

`preview_campaigns` does what `crmloop preview --as-of D` does (reads only: the warehouse opened
read-only; only Dagster's own run log records it). `approve_campaign` records an approval like
`crmloop approve CAMPAIGN --reason ...` (who, when, why, content hash) in <home>/approvals.jsonl.
"""

import json
from datetime import date, timedelta

import dagster as dg

from orchestration.defs.resources import CrmSettings


class PreviewConfig(dg.Config):
    as_of: str  # YYYY-MM-DD: the business date D (its run sends on D + 1)


class ApproveConfig(dg.Config):
    campaign: str
    reason: str
    by: str


def _markdown(report: dict) -> str:
    lines = [f"Preview of the send date {report['send_date']} (as of {report['as_of']}); nothing written", ""]
    lines += ["| campaign | status | state | channel | audience | suppressed | send | new | SMS cost | live |",
              "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for c in report["campaigns"]:
        live = "approved" if c["approved"] else (c["live_refusal"] or "")
        for ch, m in c["channels"].items() or [("-", None)]:
            if m is None:
                lines.append(f"| {c['campaign_id']} | {c['status']} | {c['state']} | - | | | | | | {live} |")
                continue
            cost = "" if m["sms_cost"] is None else f"{m['sms_cost']:.2f}"
            lines.append(
                f"| {c['campaign_id']} | {c['status']} | {c['state']} | {ch} | {m['audience']} | "
                f"{m['suppressed_total']} | {m['eligible']} | {m['new']} | {cost} | {live} |"
            )
    return "\n".join(lines)


@dg.op
def preview_send_date(context: dg.OpExecutionContext, config: PreviewConfig, crm: CrmSettings) -> None:
    from activations.audiences.prepare import send_clock
    from activations.audiences.preview import preview
    from activations.plan.approvals import load_approvals
    from activations.plan.spec import load_plan

    settings = crm.get()
    as_of = date.fromisoformat(config.as_of)
    send_date = as_of + timedelta(days=1)
    report = preview(
        settings.warehouse_path,
        load_plan(settings.plan_path),
        as_of,
        send_date,
        send_clock(send_date),
        settings.lake_dir,
        load_approvals(settings.approvals_path),
    )
    context.log.info(_markdown(report))
    context.log.info(json.dumps(report, ensure_ascii=False, default=str))


@dg.op
def approve_campaign_content(context: dg.OpExecutionContext, config: ApproveConfig, crm: CrmSettings) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from activations.plan.approvals import record_approval
    from activations.plan.spec import load_plan
    from crmloop.settings import TIMEZONE

    settings = crm.get()
    rec = record_approval(
        settings.approvals_path,
        load_plan(settings.plan_path),
        config.campaign,
        by=config.by,
        reason=config.reason,
        now=datetime.now(ZoneInfo(TIMEZONE)),
    )
    context.log.info(
        f"approved {rec.campaign_id} (content {rec.content_sha256}) by {rec.approved_by}: {rec.reason}"
    )


@dg.job(description="Preview a send date: who would receive what, per campaign and channel (writes nothing).")
def preview_campaigns():
    preview_send_date()


@dg.job(description="Approve a campaign's current content for live sends (who, why; recorded with its hash).")
def approve_campaign():
    approve_campaign_content()


def defs() -> dg.Definitions:
    """Jobs without assets: preview a send date, approve a campaign's content."""
    return dg.Definitions(jobs=[preview_campaigns, approve_campaign])
