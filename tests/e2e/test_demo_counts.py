"""Issue 5 "Must show": after one daily run on demo data, the sandbox outbox holds email, SMS and
ad requests, every campaign of the default plan has its export files, and per campaign × channel
audience = holdout + suppressed + sent + failed.

`sent` comes from the send ledger for the providers with a ledger (email, SMS), and from what was
actually delivered otherwise: the Google Customer Match file in the outbox (ads) and the
marketers' call / mailing lists (phone, direct mail).
"""

from __future__ import annotations

import json
from datetime import timedelta

import duckdb
import pandas as pd
import pytest

from activations.plan.spec import DEFAULT_PLAN_PATH, load_plan
from tests.e2e.conftest import AS_OF, files_under

pytestmark = pytest.mark.slow

SEND_DATE = AS_OF + timedelta(days=1)
CAMPAIGNS = {"vip_party", "regular_winback", "new_thank_you", "prospect_welcome"}
FILE_LISTS = {"phone": "phone_call_list.csv", "direct_mail": "direct_mail_list.csv"}


def _rows(con, sql: str) -> dict:
    return {(r[0], r[1]): r[2:] if len(r) > 3 else r[2] for r in con.execute(sql, [SEND_DATE]).fetchall()}


def test_outbox_and_exports_for_every_default_campaign(day1):
    assert day1.run.ok, day1.run.summary
    home = day1.root / "home"
    sd = SEND_DATE.isoformat()
    assert {p.id for p in load_plan(DEFAULT_PLAN_PATH).campaigns} == CAMPAIGNS
    for channel, name in (("email", "sendgrid.jsonl"), ("sms", "twilio.jsonl"), ("ads", "meta.jsonl")):
        path = home / "outbox" / channel / sd / name
        assert path.is_file() and path.stat().st_size > 0, f"no {channel} outbox entry"
    assert (home / "outbox" / "ads" / sd / "google_customer_match_prospect_welcome.csv").is_file()
    for campaign in sorted(CAMPAIGNS):
        folder = home / "exports" / sd / campaign
        files = {p.name for p in files_under(folder)}
        assert {f"{campaign}.xlsx", "manifest.json"} <= files, (campaign, files)
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["campaign_id"] == campaign and manifest["send_date"] == sd
        for f in manifest["files"]:  # the manifest describes the files that are there
            assert (folder / f["name"]).stat().st_size == f["bytes"]


def test_audience_equals_holdout_suppressed_sent_failed(day1):
    home = day1.root / "home"
    sd = SEND_DATE.isoformat()
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        audience = _rows(
            con,
            """SELECT campaign_id, channel, count(*), count(*) FILTER (WHERE holdout)
                                 FROM marts.campaign_audience_snapshots WHERE send_date = ? GROUP BY 1, 2""",
        )
        suppressed = _rows(
            con,
            """SELECT campaign_id, channel, count(*) FROM activations.campaign_suppressions
                                   WHERE send_date = ? GROUP BY 1, 2""",
        )
        ledger = _rows(
            con,
            """SELECT campaign_id, channel, count(*) FILTER (WHERE status = 'sent'),
                                      count(*) FILTER (WHERE status = 'failed'),
                                      count(*) FILTER (WHERE status NOT IN ('sent', 'failed'))
                               FROM activations.send_ledger WHERE send_date = ? GROUP BY 1, 2""",
        )
        sms_sent = {
            r[0]
            for r in con.execute(
                "SELECT address FROM activations.send_ledger WHERE send_date = ? AND channel = 'sms' AND status = 'sent'",
                [SEND_DATE],
            ).fetchall()
        }
    finally:
        con.close()

    plan = load_plan(DEFAULT_PLAN_PATH)
    expected = {(c.id, ch) for c in plan.campaigns for ch in c.channels}
    assert set(audience) == expected, set(audience) ^ expected
    checked = {}
    for (campaign, channel), (size, holdout) in sorted(audience.items()):
        supp = suppressed.get((campaign, channel), 0)
        if channel in ("email", "sms"):
            sent, failed, other = ledger.get((campaign, channel), (0, 0, 0))
            assert other == 0, f"{campaign}/{channel}: {other} ledger rows neither sent nor failed"
        elif channel == "ads":
            match = home / "outbox" / "ads" / sd / f"google_customer_match_{campaign}.csv"
            sent, failed = len(pd.read_csv(match)), 0
        else:
            listed = home / "exports" / sd / campaign / FILE_LISTS[channel]
            sent, failed = len(pd.read_csv(listed, encoding="utf-8-sig")), 0
        assert size == holdout + supp + sent + failed, (campaign, channel, size, holdout, supp, sent, failed)
        checked[(campaign, channel)] = (size, holdout, supp, sent, failed)
    # a real run, not an empty one: people held out, suppressed and sent in every campaign
    for campaign in CAMPAIGNS:
        rows = [v for k, v in checked.items() if k[0] == campaign]
        assert sum(v[0] for v in rows) > 0 and sum(v[3] for v in rows) > 0, (campaign, rows)
    assert sum(v[1] for v in checked.values()) > 0 and sum(v[2] for v in checked.values()) > 0

    # the outbox holds exactly the sends the ledger records
    twilio = [
        json.loads(line) for line in (home / "outbox" / "sms" / sd / "twilio.jsonl").read_text().splitlines()
    ]
    assert {r["form"]["To"] for r in twilio} == sms_sent and len(twilio) == len(sms_sent)
    sendgrid = [
        json.loads(line)
        for line in (home / "outbox" / "email" / sd / "sendgrid.jsonl").read_text().splitlines()
    ]
    emailed = sum(len(r["body"]["personalizations"]) for r in sendgrid)
    assert emailed == sum(v[3] for k, v in checked.items() if k[1] == "email")
    # the manifests report the same numbers
    for campaign in CAMPAIGNS:
        manifest = json.loads(
            (home / "exports" / sd / campaign / "manifest.json").read_text(encoding="utf-8")
        )
        for channel, counts in manifest["counts"].items():
            size, holdout, supp, _, _ = checked[(campaign, channel)]
            assert (counts["audience"], counts["holdout"], counts["suppressed_total"]) == (
                size,
                holdout,
                supp,
            )
