"""Issue 5 "Must show": after one daily run on demo data, the sandbox outbox holds email, SMS and
ad requests, every campaign with people that day has its export files, and per campaign × channel
audience = holdout + suppressed + sent + failed.

Issue 10: the audience is who ENTERS a campaign that day (the e2e plan: the default calendar with
the VIP wave on D+1), not the whole segment: the thank-you reaches only recent first purchases,
the VIP wave every VIP, and the memberships say why.

`sent` comes from the send ledger for the providers with a ledger (email, SMS), and from what was
actually delivered otherwise: the Google Customer Match file in the outbox (ads) and the
marketers' call / mailing lists (phone, direct mail).
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta

import duckdb
import pandas as pd
import pytest

from activations.plan.spec import parse_plan
from tests.e2e.conftest import AS_OF, e2e_plan_text, files_under

pytestmark = pytest.mark.slow

SEND_DATE = AS_OF + timedelta(days=1)
CAMPAIGNS = {"vip_party", "regular_winback", "new_thank_you", "prospect_welcome"}
# every campaign has people entering on D+1 in the demo data: the win-back's launch reaches the
# last quarter's lapsed Regulars (the default plan's entry_window_days: 90)
SENDING = CAMPAIGNS
FILE_LISTS = {"phone": "phone_call_list.csv", "direct_mail": "direct_mail_list.csv"}


def _rows(con, sql: str) -> dict:
    return {(r[0], r[1]): r[2:] if len(r) > 3 else r[2] for r in con.execute(sql, [SEND_DATE]).fetchall()}


def _eligible(home, campaign: str) -> int:
    """People of the campaign's audience of the send date neither held out nor suppressed."""
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        ((members,),) = con.execute(
            "SELECT count(*) FROM activations.campaign_audience_snapshots "
            "WHERE send_date = ? AND campaign_id = ? AND NOT holdout",
            [SEND_DATE, campaign],
        ).fetchall()
        ((suppressed,),) = con.execute(
            "SELECT count(*) FROM activations.campaign_suppressions WHERE send_date = ? AND campaign_id = ?",
            [SEND_DATE, campaign],
        ).fetchall()
    finally:
        con.close()
    return members - suppressed


def test_outbox_and_exports_for_every_default_campaign(day1):
    assert day1.run.ok, day1.run.summary
    home = day1.root / "home"
    sd = SEND_DATE.isoformat()
    assert {p.id for p in parse_plan(e2e_plan_text()).campaigns} == CAMPAIGNS
    for channel, name in (("email", "sendgrid.jsonl"), ("sms", "twilio.jsonl")):
        path = home / "outbox" / channel / sd / name
        assert path.is_file() and path.stat().st_size > 0, f"no {channel} outbox entry"
    # ads: the day's welcome entrants matchable on an ad platform (none in this small demo: the one
    # person who registered has no ads consent), and nothing sent to the platforms without them
    welcome = json.loads(
        (home / "exports" / sd / "prospect_welcome" / "manifest.json").read_text(encoding="utf-8")
    )
    ads_out = [
        home / "outbox" / "ads" / sd / n for n in ("meta.jsonl", "google_customer_match_prospect_welcome.csv")
    ]
    if welcome["counts"]["ads"]["eligible"]:
        assert all(p.is_file() for p in ads_out), ads_out
    else:
        assert not ads_out[0].exists(), ads_out[0]  # no Meta request
        matched = len(pd.read_csv(ads_out[1])) if ads_out[1].exists() else 0
        assert matched == 0  # a Customer Match file, if any, lists nobody
    for campaign in sorted(SENDING):
        folder = home / "exports" / sd / campaign
        if _eligible(home, campaign) == 0:  # an empty audience exports no file (nothing to hand over)
            assert not folder.exists(), (campaign, files_under(folder))
            continue
        files = {p.name for p in files_under(folder)}
        assert {f"{campaign}.xlsx", "manifest.json"} <= files, (campaign, files)
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["campaign_id"] == campaign and manifest["send_date"] == sd
        for f in manifest["files"]:  # the manifest describes the files that are there
            assert (folder / f["name"]).stat().st_size == f["bytes"]

    # the plan's file delivery: the VIP desk's email with vip_party's workbook attached (sandbox:
    # the exact SendGrid request lands in the outbox), recorded in the manifest with its checksum
    vip = home / "exports" / sd / "vip_party"
    (delivery,) = json.loads((vip / "manifest.json").read_text(encoding="utf-8"))["deliveries"]
    request = home / "outbox" / "files" / sd / "vip_desk" / "vip_party.sendgrid.json"
    assert (delivery["destination"], delivery["kind"], delivery["status"]) == (
        "vip_desk",
        "email",
        "delivered",
    )
    assert delivery["where"] == f"sandbox: {request}"
    body = json.loads(request.read_text(encoding="utf-8"))
    assert [p["to"] for p in body["personalizations"]] == [[{"email": "vip-desk@crmloop-store.example"}]]
    (attachment,) = body["attachments"]
    assert attachment["filename"] == "vip_party.xlsx"
    assert base64.b64decode(attachment["content"]) == (vip / "vip_party.xlsx").read_bytes()
    assert [f["sha256"] for f in delivery["files"]] == [
        hashlib.sha256((vip / "vip_party.xlsx").read_bytes()).hexdigest()
    ]


def test_audience_equals_holdout_suppressed_sent_failed(day1):
    home = day1.root / "home"
    sd = SEND_DATE.isoformat()
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        audience = _rows(
            con,
            """SELECT campaign_id, channel, count(*), count(*) FILTER (WHERE holdout)
                                 FROM activations.campaign_audience_snapshots WHERE send_date = ? GROUP BY 1, 2""",
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

    plan = parse_plan(e2e_plan_text())
    expected = {(c.id, ch) for c in plan.campaigns if c.id in SENDING for ch in c.first_channels}
    assert set(audience) == expected, set(audience) ^ expected
    checked = {}
    for (campaign, channel), (size, holdout) in sorted(audience.items()):
        supp = suppressed.get((campaign, channel), 0)
        if channel in ("email", "sms"):
            sent, failed, other = ledger.get((campaign, channel), (0, 0, 0))
            assert other == 0, f"{campaign}/{channel}: {other} ledger rows neither sent nor failed"
        elif channel == "ads":
            match = home / "outbox" / "ads" / sd / f"google_customer_match_{campaign}.csv"
            sent, failed = (len(pd.read_csv(match)) if match.exists() else 0), 0
        else:
            listed = home / "exports" / sd / campaign / FILE_LISTS[channel]
            sent, failed = len(pd.read_csv(listed, encoding="utf-8-sig")), 0
        assert size == holdout + supp + sent + failed, (campaign, channel, size, holdout, supp, sent, failed)
        checked[(campaign, channel)] = (size, holdout, supp, sent, failed)
    # a real run, not an empty one: people held out, suppressed and sent in every campaign
    for campaign in SENDING:  # everyone who entered is accounted for: audience in every campaign
        rows = [v for k, v in checked.items() if k[0] == campaign]
        assert sum(v[0] for v in rows) > 0, (campaign, rows)
    for campaign in ("vip_party", "prospect_welcome"):  # and messages actually left
        rows = [v for k, v in checked.items() if k[0] == campaign]
        assert sum(v[3] for v in rows) > 0, (campaign, rows)
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
    for campaign in SENDING:
        if sum(v[0] - v[1] - v[2] for k, v in checked.items() if k[0] == campaign) == 0:
            assert not (home / "exports" / sd / campaign).exists(), campaign  # empty: no files
            continue
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


def test_the_day_reaches_who_enters_and_says_why(day1):
    con = duckdb.connect(str(day1.root / "home" / "warehouse.duckdb"), read_only=True)
    try:
        members = con.execute(
            "SELECT campaign_id, customer_id, event_date, entry_reason FROM activations.campaign_memberships "
            "WHERE entered_on = ?",
            [SEND_DATE],
        ).df()
        profiles = con.execute(
            "SELECT customer_id, rank, CAST(first_order_at AS DATE) AS first_order FROM marts.customer_profiles "
            "WHERE as_of = ?",
            [AS_OF],
        ).df()
        audience = con.execute(
            "SELECT DISTINCT campaign_id, customer_id FROM activations.campaign_audience_snapshots WHERE send_date = ?",
            [SEND_DATE],
        ).df()
    finally:
        con.close()
    assert not members.duplicated(["campaign_id", "customer_id"]).any()
    # the audience is exactly the people who entered today (no follow-ups are due on a first day)
    assert set(map(tuple, audience.to_numpy())) == set(
        map(tuple, members[["campaign_id", "customer_id"]].to_numpy())
    )
    thanks = members[members["campaign_id"] == "new_thank_you"].merge(profiles, on="customer_id")
    first = pd.to_datetime(thanks["first_order"]).dt.date
    assert len(thanks) > 0
    assert first.between(SEND_DATE - timedelta(days=3), SEND_DATE - timedelta(days=1)).all()
    new_people = profiles[profiles["rank"] == "New"]
    assert len(thanks) < len(new_people)  # not the whole segment: old first purchases are not thanked
    vips = set(profiles.loc[profiles["rank"] == "VIP", "customer_id"])
    assert (
        set(members.loc[members["campaign_id"] == "vip_party", "customer_id"]) == vips
    )  # the wave: every VIP
    assert (
        members.loc[members["campaign_id"] == "vip_party", "entry_reason"].str.startswith("broadcast wave of")
    ).all()
    # the win-back's launch: lapsed Regulars whose lapse fell inside the plan's entry window, none older
    (rule,) = [c.trigger for c in parse_plan(e2e_plan_text()).campaigns if c.id == "regular_winback"]
    winback = members[members["campaign_id"] == "regular_winback"].merge(profiles, on="customer_id")
    assert len(winback) > 0
    assert (winback["rank"] == "Regular").all()
    lapsed = pd.to_datetime(winback["event_date"]).dt.date
    window = (SEND_DATE - timedelta(days=rule.entry_window_days), SEND_DATE - timedelta(days=rule.delay_days))
    assert lapsed.between(*window).all(), (lapsed.min(), lapsed.max(), window)
