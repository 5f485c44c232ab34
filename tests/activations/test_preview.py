"""Preview before sending: counts, samples and differences, and not one byte written; approvals."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from activations.audiences.snapshot import prepare_and_freeze
from activations.plan.approvals import ApprovalError, live_refusals, load_approvals, record_approval
from activations.plan.spec import DEFAULT_PLAN_PATH, parse_plan
from crmloop.cli import main
from tests.activations.profiles_fixture import append_profiles, profile, write_profiles
from tests.activations.test_journeys import _new_buyer, _send_everything
from tests.campaigns.scenario import write_lake_entity

BKK = ZoneInfo("Asia/Bangkok")
D = date(2026, 11, 20)


def _tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _plan_text(draft: str | None = None) -> str:
    text = DEFAULT_PLAN_PATH.read_text(encoding="utf-8")
    if draft:
        text = text.replace(f"  - id: {draft}\n", f"  - id: {draft}\n    status: draft\n", 1)
    return text


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home after two days of runs: warehouse (profiles, memberships, audiences, ledger), lake,
    snapshots, outbox and exports; new_thank_you is a draft."""
    home = tmp_path / "home"
    home.mkdir()
    plan_file = tmp_path / "plan.yml"
    plan_file.write_text(_plan_text(draft="new_thank_you"), encoding="utf-8")
    monkeypatch.setenv("CRM_PLAN", str(plan_file))
    monkeypatch.setenv("CRM_HOME", str(home))
    wh = home / "warehouse.duckdb"
    ids = [f"C{i:05d}" for i in range(1, 13)]

    def rows(d: date) -> list[dict]:
        out = [_new_buyer(c, D, d) for c in ids[:8]]  # first purchases on D
        out += [profile(c, "Prospect", as_of=d, registered_at=pd_ts(D - timedelta(days=2))) for c in ids[8:]]
        return out

    write_profiles(wh, rows(D - timedelta(days=2)))
    active = parse_plan(_plan_text(), "plan.yml")  # yesterday's run, before the draft
    prev = D - timedelta(days=1)
    prepare_and_freeze(
        wh, DEFAULT_PLAN_PATH, prev - timedelta(days=1), prev, datetime(2026, 11, 19, 10, tzinfo=BKK),
        home / "lake", home / "snapshots",
    )  # fmt: skip
    _send_everything(wh, prev)
    append_profiles(wh, rows(D))
    write_lake_entity(
        home / "lake",
        "email_events",
        D.isoformat(),
        [
            {
                "event_id": "e1",
                "event": "open",
                "occurred_at": pd_ts(D),
                "campaign_id": "prospect_welcome",
                "customer_id": "C00009",
                "email": "c9@example.co.th",
            }
        ],  # fmt: skip
    )
    for sub in ("outbox/sendgrid", "exports/2026-11-19/new_thank_you"):
        (home / sub).mkdir(parents=True)
        (home / sub / "x.jsonl").write_text('{"a": 1}\n')
    assert active.campaign("new_thank_you").status == "active"
    return home


def pd_ts(d: date):
    import pandas as pd

    return pd.Timestamp(d) + pd.Timedelta(hours=10)


def test_preview_shows_the_day_and_writes_nothing(home: Path):
    before = _tree_hashes(home)
    assert any(k.startswith("warehouse.duckdb") for k in before) and any(
        k.startswith("lake/") for k in before
    )
    result = CliRunner().invoke(main, ["preview", "--home", str(home), "--as-of", D.isoformat(), "--json"])
    assert result.exit_code == 0, result.output
    assert _tree_hashes(home) == before  # ledger, outbox, exports, lake, snapshots, warehouse: byte-identical
    report = json.loads(result.output)
    by_id = {c["campaign_id"]: c for c in report["campaigns"]}
    thanks = by_id["new_thank_you"]
    assert (thanks["status"], thanks["state"], thanks["entered"]) == ("draft", "draft: preview only", 8)
    email = thanks["channels"]["email"]
    assert email["eligible"] + email["holdout"] + sum(email["suppressed"].values()) == email["audience"] == 8
    assert email["new"] == email["eligible"] and email["already_contacted"] == 0
    assert 0 < len(email["samples"]["th"]) <= 5 and all(s["subject"] for s in email["samples"]["th"])
    assert thanks["live_refusal"].startswith("new_thank_you: never approved for live sends")
    # prospect_welcome: they entered (registration of D - 2) on the send date D - 1; no entry, no SMS yet
    welcome = by_id["prospect_welcome"]
    assert welcome["entered"] == 0 and welcome["channels"]["email"]["eligible"] == 0
    text = CliRunner().invoke(main, ["preview", "--home", str(home), "--as-of", D.isoformat()])
    assert (
        text.exit_code == 0 and "draft: preview only" in text.output and "nothing is written" in text.output
    )
    assert _tree_hashes(home) == before


def test_sms_follow_up_preview_counts_cost_and_the_previous_send(home: Path):
    before = _tree_hashes(home)
    result = CliRunner().invoke(main, ["preview", "--home", str(home), "--as-of", (D + timedelta(days=1)).isoformat(),
                                       "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _tree_hashes(home) == before
    sms = {c["campaign_id"]: c for c in json.loads(result.output)["campaigns"]}["prospect_welcome"][
        "channels"
    ]["sms"]
    # C00009 opened the welcome email: only the three others get the SMS
    assert sms["audience"] == 3 and sms["sms_cost"] > 0 and sms["sms_segments"] >= 3
    assert sms["previous_send"]["send_date"] is None


def test_approvals_are_recorded_and_a_changed_campaign_needs_a_new_one(tmp_path: Path):
    plan = parse_plan(_plan_text(), "plan.yml")
    path = tmp_path / "approvals.jsonl"
    assert set(live_refusals(plan, [])) == {c.id for c in plan.campaigns}
    now = datetime(2026, 11, 20, 9, 30, tzinfo=BKK)
    rec = record_approval(path, plan, "new_thank_you", by="somchai", reason="checked 10 samples", now=now)
    assert rec.content_sha256 == plan.campaign("new_thank_you").content_hash()
    assert "new_thank_you" not in live_refusals(plan, load_approvals(path))
    edited = parse_plan(_plan_text().replace("Thank you for choosing", "Thanks for choosing"), "plan.yml")
    why = live_refusals(edited, load_approvals(path))["new_thank_you"]
    assert why.startswith(
        "new_thank_you: content changed since it was approved by somchai on 2026-11-20T09:30:00+07:00"
    )
    with pytest.raises(ApprovalError, match="needs a reason"):
        record_approval(path, plan, "new_thank_you", by="somchai", reason=" ", now=now)
    with pytest.raises(ApprovalError, match="unknown campaign 'vip_gala'"):
        record_approval(path, plan, "vip_gala", by="somchai", reason="x", now=now)


def test_approve_command_records_who_when_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CRM_PLAN", raising=False)
    home = tmp_path / "home"
    out = CliRunner().invoke(
        main, ["approve", "vip_party", "--home", str(home), "--reason", "RSVP date checked", "--by", "malee"]
    )
    assert out.exit_code == 0, out.output
    (rec,) = load_approvals(home / "approvals.jsonl")
    assert (rec.campaign_id, rec.approved_by, rec.reason) == ("vip_party", "malee", "RSVP date checked")
    bad = CliRunner().invoke(main, ["approve", "nope", "--home", str(home), "--reason", "x", "--by", "malee"])
    assert bad.exit_code != 0 and "unknown campaign 'nope'" in bad.output


def test_preview_job_in_dagster_writes_nothing_under_the_home(home: Path):
    import dagster as dg

    from orchestration.defs.preview import preview_campaigns
    from orchestration.defs.resources import CrmSettings

    before = _tree_hashes(home)
    instance = dg.DagsterInstance.ephemeral()
    result = preview_campaigns.execute_in_process(
        run_config={"ops": {"preview_send_date": {"config": {"as_of": D.isoformat()}}}},
        resources={"crm": CrmSettings()},
        instance=instance,
    )
    assert result.success
    logs = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any("| new_thank_you | draft | draft: preview only | email | 8 |" in m for m in logs)
    assert _tree_hashes(home) == before


def test_live_mode_withholds_campaigns_without_an_approval_of_their_content(home: Path):
    import logging

    from crmloop.settings import Settings
    from orchestration.defs.activation import _withhold_unapproved

    settings = Settings.from_env()
    settings.plan_path.write_text(_plan_text(), encoding="utf-8")  # new_thank_you active: it would send
    wh = settings.warehouse_path
    prepared, _ = prepare_and_freeze(
        wh, settings.plan_path, D, D + timedelta(days=1), datetime(2026, 11, 21, 10, tzinfo=BKK),
        settings.lake_dir, settings.snapshots_dir,
    )  # fmt: skip
    plan = parse_plan(settings.plan_path.read_text(encoding="utf-8"), "plan.yml")
    record_approval(
        settings.approvals_path, plan, "vip_party", by="malee", reason="ok", now=datetime.now(BKK)
    )
    log = logging.getLogger("test")
    assert _withhold_unapproved(prepared, settings, "sandbox", log) == {}  # sandbox needs no approval
    thanks = prepared.campaigns["new_thank_you"].channels["email"]
    assert thanks.eligible > 0
    refused = _withhold_unapproved(prepared, settings, "live", log)
    assert refused == {
        "new_thank_you": "new_thank_you: never approved for live sends; preview it and run "
        "`crmloop approve new_thank_you --reason ...`"
    }
    assert not prepared.campaigns["new_thank_you"].active and not prepared.campaigns["new_thank_you"].channels
    record_approval(
        settings.approvals_path, plan, "new_thank_you", by="malee", reason="ok", now=datetime.now(BKK)
    )
    again, _ = prepare_and_freeze(
        wh, settings.plan_path, D, D + timedelta(days=1), datetime(2026, 11, 21, 10, tzinfo=BKK),
        settings.lake_dir, settings.snapshots_dir,
    )  # fmt: skip
    assert _withhold_unapproved(again, settings, "live", log) == {}
