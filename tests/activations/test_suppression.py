from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd

from activations.audiences.build import expand_audience
from activations.audiences.prepare import prepare_messages
from activations.audiences.send_times import quiet_hours_not_before
from activations.audiences.suppression import apply_suppression, classify_mobile
from activations.plan.spec import load_plan, parse_plan
from tests.activations.plan_fixture import DAILY_PLAN_PATH
from tests.activations.profiles_fixture import AS_OF, profile, standard_rows, write_profiles

PLAN_PATH = DAILY_PLAN_PATH  # the mechanics after entry; journeys: test_journeys.py
SEND = date(2026, 11, 22)
BKK = ZoneInfo("Asia/Bangkok")
NOON = datetime(2026, 11, 22, 12, 0, tzinfo=BKK)


def _no_holdout_plan():
    text = PLAN_PATH.read_text(encoding="utf-8")
    for share in ("0.10", "0.05"):
        text = text.replace(f"holdout_share: {share}", "holdout_share: 0.0")
    return parse_plan(text, "plan.yml")


def _audience(plan, campaign_id, rows):
    prof = pd.DataFrame(rows)
    return expand_audience(prof, plan.campaign(campaign_id), AS_OF, SEND), prof


def _reasons(result):
    return {(r.customer_id, r.channel): r.reason for r in result.suppressed.itertuples()}


def test_classify_mobile():
    assert classify_mobile("+66812345678") == "mobile"
    assert classify_mobile("081-234-5678") == "mobile"
    assert classify_mobile("02-026-1456") == "landline"
    assert classify_mobile("+6621234567") == "landline"
    assert classify_mobile("+66691234567") == "mobile"  # 069x: a mobile by the business rule
    assert classify_mobile("053-123-456") == "landline"
    assert classify_mobile("+6612345678") == "invalid"
    assert classify_mobile("12345") == "invalid"
    assert classify_mobile("not a number") == "invalid"
    assert classify_mobile(None) == "missing" and classify_mobile(" ") == "missing"


def test_quiet_hours():
    s, e = time(21), time(8)
    assert quiet_hours_not_before(NOON, s, e, "Asia/Bangkok") is None
    late = datetime(2026, 11, 22, 22, 30, tzinfo=BKK)
    assert quiet_hours_not_before(late, s, e, "Asia/Bangkok") == datetime(2026, 11, 23, 8, 0, tzinfo=BKK)
    early = datetime(2026, 11, 22, 6, 0, tzinfo=BKK)
    assert quiet_hours_not_before(early, s, e, "Asia/Bangkok") == datetime(2026, 11, 22, 8, 0, tzinfo=BKK)
    # 14:30 UTC is 21:30 in Bangkok
    utc = datetime(2026, 11, 22, 14, 30, tzinfo=UTC)
    assert quiet_hours_not_before(utc, s, e, "Asia/Bangkok") == datetime(2026, 11, 23, 8, 0, tzinfo=BKK)
    assert quiet_hours_not_before(datetime(2026, 11, 22, 21, 0, tzinfo=BKK), s, e, "Asia/Bangkok") is not None
    assert quiet_hours_not_before(datetime(2026, 11, 22, 8, 0, tzinfo=BKK), s, e, "Asia/Bangkok") is None


def test_each_reason_is_counted_and_counts_add_up():
    plan = _no_holdout_plan()
    rows = [
        profile("C1", "Prospect"),  # eligible everywhere
        profile("C2", "Prospect", consent_email="opt_out", consent_sms="unknown", consent_ads=None),
        profile("C3", "Prospect", email=None, phone="02-026-1456"),  # landline
        profile("C4", "Prospect", email="not-an-email", phone="12345"),
        profile(
            "C5",
            "Prospect",
            has_valid_email=False,
            phone=None,
            email=None,
        ),
        profile("C6", "Prospect"),  # on the suppression list
        profile("C7", "Prospect"),  # STOP by customer id
        profile("C8", "Prospect"),  # unsubscribed via an 'all' entry
    ]
    aud, prof = _audience(plan, "prospect_welcome", rows)
    slist = pd.DataFrame(
        [
            {
                "channel": "email",
                "address": "C6@Example.co.th ",
                "reason": "hard_bounce",
                "customer_id": None,
            },
            {"channel": "email", "address": "c6@example.co.th", "reason": "spam_report", "customer_id": None},
            {"channel": "sms", "address": "+66800000000", "reason": "sms_stop", "customer_id": "C7"},
            {"channel": "all", "address": "c8@example.co.th", "reason": "unsubscribed", "customer_id": None},
        ]
    )
    res = apply_suppression(aud, prof, plan, SEND, NOON, slist, None)
    r = _reasons(res)
    assert ("C1", "email") not in r and ("C1", "sms") not in r and ("C1", "ads") not in r
    assert (
        r[("C2", "email")] == "opted_out"
        and r[("C2", "sms")] == "no_consent"
        and r[("C2", "ads")] == "no_consent"
    )
    assert r[("C3", "email")] == "missing_email" and r[("C3", "sms")] == "landline"
    assert ("C3", "ads") not in r  # ads match on the phone; a landline still matches an ad account
    assert r[("C4", "email")] == "invalid_email" and r[("C4", "sms")] == "invalid_mobile"
    assert r[("C5", "email")] == "missing_email" and r[("C5", "sms")] == "missing_mobile"
    assert r[("C5", "ads")] == "missing_identifiers"
    assert r[("C6", "email")] == "spam_report"  # priority over hard_bounce; address case/space-insensitive
    assert ("C6", "sms") not in r
    assert r[("C7", "sms")] == "sms_stop"
    assert r[("C8", "email")] == "unsubscribed" and r[("C8", "ads")] == "unsubscribed"
    for ch in ("email", "sms", "ads"):
        n_aud = int((aud["channel"] == ch).sum())
        n_sup = sum(res.counts.get(("prospect_welcome", ch), {}).values())
        n_ok = int((res.eligible["channel"] == ch).sum())
        assert n_aud == n_sup + n_ok
    assert res.counts[("prospect_welcome", "email")] == {
        "opted_out": 1, "missing_email": 2, "invalid_email": 1, "spam_report": 1, "unsubscribed": 1,
    }  # fmt: skip


def test_unknown_consent_allowed_per_campaign():
    text = PLAN_PATH.read_text(encoding="utf-8").replace(
        '    email_unsubscribe_group: 1001\n    content:\n      email:\n        subject:\n          th: "ยินดี',
        "    email_unsubscribe_group: 1001\n    unknown_consent_allowed: [sms]\n    content:\n      email:\n"
        '        subject:\n          th: "ยินดี',
    )
    plan = parse_plan(text, "plan.yml")
    assert plan.campaign("prospect_welcome").unknown_consent_allowed == ["sms"]
    aud, prof = _audience(plan, "prospect_welcome", [profile("C2", "Prospect", consent_sms="unknown",
                                                           consent_email="unknown")])  # fmt: skip
    res = apply_suppression(aud, prof, plan, SEND, NOON)
    r = _reasons(res)
    assert r.get(("C2", "email")) == "no_consent" and ("C2", "sms") not in r


def test_holdout_never_suppressed_or_sent():
    plan = load_plan(PLAN_PATH)
    rows = [profile(f"C{i}", "Prospect") for i in range(200)]
    aud, prof = _audience(plan, "prospect_welcome", rows)
    res = apply_suppression(aud, prof, plan, SEND, NOON)
    held = set(aud.loc[aud["holdout"], "customer_id"])
    assert (
        held and not held & set(res.eligible["customer_id"]) and not held & set(res.suppressed["customer_id"])
    )


def test_frequency_cap_counts_ledger_and_today_in_plan_order():
    plan = _no_holdout_plan()  # cap: 3 messages per 7 days over email, sms, phone, direct_mail
    rows = [profile("C1", "Prospect"), profile("C2", "Prospect"), profile("C3", "Prospect")]
    aud, prof = _audience(plan, "prospect_welcome", rows)
    ledger = pd.DataFrame(
        [
            # C1: two sends in the window → only one more (email) today; sms capped
            {"campaign_id": "x", "customer_id": "C1", "channel": "email", "send_date": SEND - timedelta(days=1), "status": "sent"},
            {"campaign_id": "x", "customer_id": "C1", "channel": "sms", "send_date": SEND - timedelta(days=6), "status": "pending"},
            # C2: old sends, failed sends and ads do not count
            {"campaign_id": "x", "customer_id": "C2", "channel": "email", "send_date": SEND - timedelta(days=7), "status": "sent"},
            {"campaign_id": "x", "customer_id": "C2", "channel": "email", "send_date": SEND - timedelta(days=2), "status": "failed"},
            {"campaign_id": "x", "customer_id": "C2", "channel": "ads", "send_date": SEND - timedelta(days=2), "status": "sent"},
            # C3: three sends → capped on both message channels; ads is not a message
            *[{"campaign_id": "x", "customer_id": "C3", "channel": "email", "send_date": SEND - timedelta(days=d),
               "status": "sent"} for d in (1, 2, 3)],
            # today's own sends (a rerun) do not count against today
            {"campaign_id": "prospect_welcome", "customer_id": "C2", "channel": "email", "send_date": SEND, "status": "sent"},
        ]
    )  # fmt: skip
    res = apply_suppression(aud, prof, plan, SEND, NOON, None, ledger)
    r = _reasons(res)
    assert ("C1", "email") not in r and r[("C1", "sms")] == "frequency_cap"
    assert ("C2", "email") not in r and ("C2", "sms") not in r
    assert (
        r[("C3", "email")] == "frequency_cap"
        and r[("C3", "sms")] == "frequency_cap"
        and ("C3", "ads") not in r
    )


def test_quiet_hours_queue_sms_not_drop():
    plan = _no_holdout_plan()
    aud, prof = _audience(plan, "prospect_welcome", [profile("C1", "Prospect")])
    res = apply_suppression(aud, prof, plan, SEND, datetime(2026, 11, 22, 23, 0, tzinfo=BKK))
    nb = dict(zip(res.eligible["channel"], res.eligible["not_before"], strict=True))
    assert (
        nb["sms"] == datetime(2026, 11, 23, 8, 0, tzinfo=BKK)
        and nb["email"] is None
        and len(res.suppressed) == 0
    )


def test_prepare_messages_end_to_end(tmp_path: Path):
    rows = standard_rows(20)
    rows[60]["consent_email"] = "opt_out"  # C00061, a prospect
    wh = write_profiles(tmp_path / "w.duckdb", rows)
    con = duckdb.connect(str(wh))
    con.execute("CREATE SCHEMA activations; CREATE TABLE activations.suppression_list (channel VARCHAR NOT NULL, "
                "address VARCHAR NOT NULL, reason VARCHAR NOT NULL, customer_id VARCHAR, recorded_at TIMESTAMP, "
                "source VARCHAR)")  # fmt: skip
    con.execute(
        "INSERT INTO activations.suppression_list VALUES ('sms', '+66810000062', 'sms_stop', NULL, now(), 'test')"
    )
    con.close()
    late = datetime(2026, 11, 22, 22, 0, tzinfo=BKK)
    prepared = prepare_messages(wh, PLAN_PATH, AS_OF, SEND, late)
    for batch in prepared.batches():
        assert batch.counts_add_up(), batch.metadata()
    sms = prepared.campaigns["prospect_welcome"].channels["sms"]
    email = prepared.campaigns["prospect_welcome"].channels["email"]
    sent_to = {(m.customer_id, m.channel) for m in prepared.messages()}
    assert ("C00061", "email") not in sent_to and ("C00062", "sms") not in sent_to
    con = duckdb.connect(str(wh))
    held = dict(con.execute("SELECT customer_id, holdout FROM activations.campaign_audiences WHERE channel = 'email' "
                            "AND customer_id IN ('C00061', 'C00062')").fetchall())  # fmt: skip
    why = {(c, ch): r for c, ch, r in con.execute(
        "SELECT customer_id, channel, reason FROM activations.campaign_suppressions").fetchall()}  # fmt: skip
    con.close()
    # neither falls in the welcome's 10 % holdout (a stable hash of campaign and id), so each must
    # be suppressed, with its own reason
    assert held == {"C00061": False, "C00062": False}
    assert why[("C00061", "email")] == "opted_out"
    assert why[("C00062", "sms")] == "sms_stop"
    assert email.eligible + email.holdout + email.suppressed_total == email.audience == 20
    assert sms.queued == sms.eligible > 0
    assert all(m.not_before == datetime(2026, 11, 23, 8, 0, tzinfo=BKK) for m in sms.messages)
    assert sms.sms_segments == sum(m.sms_segments for m in sms.messages)
    assert sms.estimated_cost == round(sms.sms_segments * 0.35, 4)
    total_sup = sum(b.suppressed_total for b in prepared.batches())
    con = duckdb.connect(str(wh))
    stored = con.execute(
        "SELECT campaign_id, customer_id, channel, reason FROM activations.campaign_suppressions"
    ).fetchall()
    con.close()
    assert len(stored) == total_sup
    assert all(m.custom_args["send_id"] == m.send_id and m.custom_args["campaign_id"] == m.campaign_id
               for m in prepared.messages())  # fmt: skip
    # a rerun replaces this send date's suppressions and gives the same messages
    again = prepare_messages(wh, PLAN_PATH, AS_OF, SEND, late)
    assert [m.key for m in again.messages()] == [m.key for m in prepared.messages()]
    con = duckdb.connect(str(wh))
    assert con.execute("SELECT count(*) FROM activations.campaign_suppressions").fetchall() == [(total_sup,)]
    con.close()


def test_feedback_events_in_the_lake_become_suppressions(tmp_path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from activations.audiences.suppression import load_event_suppressions

    lake = tmp_path / "lake"
    (lake / "email_events" / "load_date=2026-11-20").mkdir(parents=True)
    (lake / "sms_events" / "load_date=2026-11-21").mkdir(parents=True)
    pq.write_table(pa.table({
        "event_id": ["e1", "e2", "e3", "e4", "e5"],
        "email": ["C1@example.co.th", "c2@example.co.th", "c3@example.co.th", "c4@example.co.th", "c5@example.co.th"],
        "event": ["bounce", "bounce", "spamreport", "open", "dropped"],
        "bounce_type": ["Invalid Address", "blocked", None, None, None],
        "reason": [None, None, None, None, "Bounced Address"],
        "customer_id": ["C1", "C2", "C3", "C4", "C5"],
    }), lake / "email_events" / "load_date=2026-11-20" / "sendgrid-0001.parquet")  # fmt: skip
    pq.write_table(pa.table({
        "event_id": ["s1", "s2", "s3"], "to": ["+66810000001", "+66810000002", "+66810000003"],
        "status": ["failed", "failed", "delivered"], "error_code": ["21610", "21614", None],
        "customer_id": ["C1", "C2", "C3"],
    }), lake / "sms_events" / "load_date=2026-11-21" / "twilio-0001.parquet")  # fmt: skip
    got = load_event_suppressions(lake)
    assert sorted(map(tuple, got[["channel", "address", "reason"]].to_numpy().tolist())) == [
        ("email", "c1@example.co.th", "hard_bounce"),
        ("email", "c3@example.co.th", "spam_report"),
        ("email", "c5@example.co.th", "hard_bounce"),
        ("sms", "+66810000001", "sms_stop"),
        ("sms", "+66810000002", "landline"),
    ]
    assert load_event_suppressions(tmp_path / "nothing").empty and load_event_suppressions(None).empty

    text = PLAN_PATH.read_text(encoding="utf-8")
    for share in ("0.10", "0.05"):
        text = text.replace(f"holdout_share: {share}", "holdout_share: 0.0")
    plan = parse_plan(text, "plan.yml")
    wh = write_profiles(tmp_path / "warehouse.duckdb", [profile(f"C{i}", "Prospect") for i in range(1, 6)])
    prepared = prepare_messages(wh, plan, AS_OF, SEND, NOON)  # lake defaults to <warehouse folder>/lake
    email = prepared.campaigns["prospect_welcome"].channels["email"]
    sms = prepared.campaigns["prospect_welcome"].channels["sms"]
    assert email.suppressed == {"hard_bounce": 2, "spam_report": 1}
    assert sms.suppressed == {"sms_stop": 1, "landline": 1}
    assert {m.customer_id for m in email.messages} == {"C2", "C4"}


def test_shared_addresses_get_one_message_per_campaign_channel():
    plan = _no_holdout_plan()
    rows = [
        profile("C1", "Prospect", email="no@email.com", phone="+66811111111"),
        profile("C2", "Prospect", email="NO@email.com ", phone="+66811111111"),
        profile("C3", "Prospect", email="no@email.com", phone="+66822222222"),
    ]
    aud, prof = _audience(plan, "prospect_welcome", rows)
    res = apply_suppression(aud, prof, plan, SEND, NOON)
    r = _reasons(res)
    assert r == {("C2", "email"): "duplicate_address", ("C3", "email"): "duplicate_address",
                 ("C2", "sms"): "duplicate_address"}  # fmt: skip
    assert int((res.eligible["channel"] == "ads").sum()) == 3  # ad platforms deduplicate themselves


def test_overlapping_campaigns_share_the_cap_and_render_their_own_fields(tmp_path: Path):
    text = PLAN_PATH.read_text(encoding="utf-8").replace("  max_messages: 3", "  max_messages: 2")
    for share in ("0.10", "0.05"):
        text = text.replace(f"holdout_share: {share}", "holdout_share: 0.0")
    text += """
  - id: vip_bangkok_email
    name: "VIP news"
    objective: "Tell Bangkok VIPs about the party by email too"
    kind: recurring
    reentry: {after_days: 1}
    segment:
      rank: [VIP]
      conditions:
        - {field: province, op: "=", value: กรุงเทพมหานคร}
    channels: [email]
    content:
      email:
        subject: {th: "ข่าวสำหรับ {{ province }}", en: "News for {{ province }}"}
        text: {th: "สวัสดี {{ occupation }}", en: "Hello {{ occupation }}"}
        html: {th: "<p>{{ age_band }}</p>", en: "<p>{{ age_band }}</p>"}
    kpi: {metric: open_rate, target: 0.3, window_days: 7}
    start_date: 2024-01-01
    end_date: 2030-12-31
"""
    plan = parse_plan(text, "plan.yml")
    rows = [profile("C1", "VIP"), profile("C2", "VIP", province="เชียงใหม่"), profile("C3", "New")]
    wh = write_profiles(tmp_path / "warehouse.duckdb", rows)
    prepared = prepare_messages(wh, plan, AS_OF, SEND, NOON)
    extra = prepared.campaigns["vip_bangkok_email"].channels["email"]
    # C1 already gets phone + direct mail from vip_party (earlier in the plan): cap 2 reached
    assert extra.audience == 1 and extra.suppressed == {"frequency_cap": 1} and extra.eligible == 0
    plan2 = parse_plan(text.replace("  max_messages: 2", "  max_messages: 3"), "plan.yml")
    prepared = prepare_messages(wh, plan2, AS_OF, SEND, NOON)
    (msg,) = list(prepared.campaigns["vip_bangkok_email"].channels["email"].messages)
    assert (
        msg.subject == "ข่าวสำหรับ กรุงเทพมหานคร" and msg.text == "สวัสดี engineer" and msg.html == "<p>25-34</p>"
    )
