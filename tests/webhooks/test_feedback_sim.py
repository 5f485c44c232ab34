from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest
from starlette.testclient import TestClient

from crmloop.demo_data.simulated_customers import (
    CAUSES,
    FeedbackRates,
    post_feedback,
    simulate,
    simulate_feedback,
    write_feedback,
)
from crmloop.settings import WebhookConfig
from sources.webhooks.app import create_app
from sources.webhooks.events import CONSENT_COLUMNS, EMAIL_EVENT_COLUMNS, SMS_EVENT_COLUMNS
from tests.webhooks.conftest import TWILIO_TOKEN, public_b64, read_rows

SEND_DATE = date(2026, 11, 21)
KPIS = {
    "vip_party": "attend_rate",
    "regular_winback": "apply_rate",
    "new_thank_you": "open_rate",
    "prospect_welcome": "purchase_rate",
}
CHANNELS = {
    "vip_party": ["phone", "direct_mail"],
    "regular_winback": ["email"],
    "new_thank_you": ["email"],
    "prospect_welcome": ["email", "sms", "ads"],
}


def make_sends(n: int = 300) -> pd.DataFrame:
    rows = []
    for campaign, channels in CHANNELS.items():
        for i in range(n):
            cid = f"{campaign[:3]}{i:05d}"
            for ch in channels:
                to = f"{cid}@example.com" if ch in ("email", "ads") else f"+6681{i:07d}"
                rows.append(
                    {
                        "campaign_id": campaign,
                        "customer_id": cid,
                        "channel": ch,
                        "to": to,
                        "holdout": i % 10 == 0,
                    }
                )
    return pd.DataFrame(rows)


def test_feedback_is_deterministic_and_next_day(tmp_path):
    sends = make_sends()
    a = simulate_feedback(sends, SEND_DATE, tmp_path / "a", seed=7, kpi_metrics=KPIS)
    simulate_feedback(
        sends.sample(frac=1, random_state=1), SEND_DATE, tmp_path / "b", seed=7, kpi_metrics=KPIS
    )  # order-independent
    simulate_feedback(sends, SEND_DATE, tmp_path / "c", seed=8)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.*"))
    assert files_a == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.*"))
    assert {p.parts[1] for p in files_a} == {"2026-11-22"}
    assert {p.parts[0] for p in files_a} == {
        "email_events",
        "sms_events",
        "consents",
        "campaign_responses",
        "orders",
        "meta_ad_reports",
        "google_ad_reports",
    }
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert (tmp_path / "a" / "orders/2026-11-22/feedback_sim-orders.csv").read_bytes() != (
        tmp_path / "c" / "orders/2026-11-22/feedback_sim-orders.csv"
    ).read_bytes()
    assert a.day == date(2026, 11, 22)


def test_feedback_content_is_realistic(tmp_path):
    sends = make_sends(400)
    fb = simulate(sends, SEND_DATE, seed=3, kpi_metrics=KPIS)
    email = pd.DataFrame([r.row for r in fb.records if r.source == "email_events"])
    assert list(email.columns) == list(EMAIL_EVENT_COLUMNS)
    held = set(sends.loc[sends["holdout"], "customer_id"])
    assert not set(email["customer_id"]) & held  # the holdout is never contacted
    processed = (email["event"] == "processed").sum()
    assert processed == 3 * 360  # three email campaigns × 360 treated people
    delivered = (email["event"] == "delivered").sum() / processed
    opens = (email["event"] == "open").sum() / (email["event"] == "delivered").sum()
    assert 0.9 < delivered < 0.99 and 0.25 < opens < 0.45
    assert (email["event"] == "click").sum() < (email["event"] == "open").sum()
    assert email["event_id"].is_unique
    sms = pd.DataFrame([r.row for r in fb.records if r.source == "sms_events"])
    assert list(sms.columns) == list(SMS_EVENT_COLUMNS)
    assert set(sms["status"]) >= {"sent", "delivered"}
    # responses follow each campaign's KPI metric, only from the treatment group
    kinds = fb.responses.groupby("campaign_id")["response"].agg(set).to_dict()
    assert kinds["vip_party"] == {"rsvp", "attended"} and kinds["regular_winback"] == {"applied"}
    assert "new_thank_you" not in kinds and kinds["prospect_welcome"] == {"redeemed"}
    assert not set(fb.responses["customer_id"]) & held
    assert fb.orders["total_amount"].gt(0).all() and fb.orders["order_id"].is_unique
    assert len(fb.meta) == 1 and len(fb.google) == 1
    m = fb.meta.iloc[0]
    assert m["Records uploaded"] == 360 and 0 < m["Matched audience size"] < 360 and m["Impressions"] > 0


def test_treatment_buys_more_than_holdout():
    sends = make_sends(1000)
    rates = FeedbackRates(purchase_holdout=0.05, purchase_treatment=0.30, purchase_treatment_by_metric={})
    fb = simulate(sends, SEND_DATE, seed=11, rates=rates)
    for campaign in CHANNELS:
        t_buy, t_n = fb.conversions[(campaign, False)]
        h_buy, h_n = fb.conversions[(campaign, True)]
        assert (t_n, h_n) == (900, 100)
        assert t_buy / t_n > 0.2 and h_buy / h_n < 0.15
    assert len(fb.orders) == sum(b for b, _ in fb.conversions.values())


def test_stops_and_unsubscribes_become_consents(tmp_path):
    sends = make_sends(300)
    rates = FeedbackRates(sms_stop=0.5, email_unsubscribe=0.1)
    fb = simulate(sends, SEND_DATE, seed=5, rates=rates)
    write_feedback(fb, tmp_path)
    sms_c = [
        json.loads(x)
        for x in (tmp_path / "consents/2026-11-22/sms_optouts-feedback_sim.jsonl").read_text().splitlines()
    ]
    assert sms_c and all(c["channel"] == "sms" and c["status"] == "opt_out" for c in sms_c)
    assert all(list(c) == list(CONSENT_COLUMNS) for c in sms_c)
    inbound = [r.row for r in fb.records if r.source == "sms_events" and r.row["status"] == "received"]
    assert len(inbound) == len(sms_c) and {r["body"] for r in inbound} <= {"STOP", "หยุด"}
    email_c = (tmp_path / "consents/2026-11-22/email_optouts-feedback_sim.jsonl").read_text().splitlines()
    assert email_c


def test_posting_signed_feedback_to_the_receiver_stores_the_same_rows(tmp_path, sg_private_key):
    sends = make_sends(60)
    fb = simulate(sends, SEND_DATE, seed=9, rates=FeedbackRates(sms_stop=0.3))
    cfg = WebhookConfig(
        landing_dir=tmp_path / "landing",
        sendgrid_public_key=public_b64(sg_private_key),
        twilio_auth_token=TWILIO_TOKEN,
    )
    with TestClient(create_app(cfg)) as client:
        sent = post_feedback(fb, "http://testserver", sg_private_key, TWILIO_TOKEN, batch=50, client=client)
    assert sent["sendgrid_events"] == len(fb.sendgrid_payloads)
    stored = read_rows(tmp_path / "landing", "email_events")
    direct = [r.row for r in fb.records if r.source == "email_events"]

    def strip(rows):
        return sorted(
            json.dumps({k: v for k, v in r.items() if k != "received_at"}, sort_keys=True) for r in rows
        )

    assert strip(stored) == strip(direct)
    stored_sms = read_rows(tmp_path / "landing", "sms_events")
    assert sorted(r["event_id"] for r in stored_sms) == sorted(
        r.row["event_id"] for r in fb.records if r.source == "sms_events"
    )
    assert len(read_rows(tmp_path / "landing", "consents")) == sum(r.source == "consents" for r in fb.records)


def test_sends_without_their_columns_are_refused():
    with pytest.raises(ValueError, match="missing columns"):
        simulate(pd.DataFrame({"campaign_id": ["x"]}), SEND_DATE)


def test_kpi_metrics_read_from_the_default_plan():
    from activations.plan.spec import DEFAULT_PLAN_PATH
    from crmloop.demo_data.simulated_customers import plan_kpi_metrics

    assert plan_kpi_metrics(DEFAULT_PLAN_PATH) == KPIS


def _email_rates(fb, campaign):
    email = pd.DataFrame([r.row for r in fb.records if r.source == "email_events"])
    e = email[email["campaign_id"] == campaign]
    delivered = (e["event"] == "delivered").sum()
    opens, clicks = (e["event"] == "open").sum(), (e["event"] == "click").sum()
    return opens / delivered, clicks / opens, set(e.loc[e["event"] == "click", "customer_id"])


def test_causes_change_only_their_campaign():
    sends = make_sends(2000)
    causes = {
        "new_thank_you": ("unclear_subject",),
        "regular_winback": ("hard_application_form",),
        "prospect_welcome": ("long_body", "target_too_high"),
    }
    fb = simulate(sends, SEND_DATE, seed=21, rates=FeedbackRates(causes=causes), kpi_metrics=KPIS)
    neutral = simulate(sends, SEND_DATE, seed=21, kpi_metrics=KPIS)
    open_thanks, _, _ = _email_rates(fb, "new_thank_you")
    open_winback, cto_winback, clicked = _email_rates(fb, "regular_winback")
    open_prospect, cto_prospect, _ = _email_rates(fb, "prospect_welcome")
    assert open_thanks < 0.12 and open_winback > 0.28 and open_prospect > 0.28  # only the unclear subject
    assert cto_prospect < 0.08 and cto_winback > 0.15  # only the long body
    # applications come from the email's clickers; the hard form loses most of them
    applied = fb.responses[
        (fb.responses["campaign_id"] == "regular_winback") & (fb.responses["response"] == "applied")
    ]
    applied_neutral = neutral.responses[
        (neutral.responses["campaign_id"] == "regular_winback") & (neutral.responses["response"] == "applied")
    ]
    assert set(applied["customer_id"]) <= clicked
    assert 0.05 < len(applied) / len(clicked) < 0.3 < len(applied_neutral) / len(clicked)
    # the target set too high: a real lift, from a low base (the cause's own rates, CAUSES)
    too_high = CAUSES["target_too_high"]
    t_buy, t_n = fb.conversions[("prospect_welcome", False)]
    h_buy, h_n = fb.conversions[("prospect_welcome", True)]
    assert abs(t_buy / t_n - too_high.purchase_treatment) < 0.02
    assert h_buy / h_n < too_high.purchase_holdout + 0.025 < t_buy / t_n


def test_unknown_cause_is_named():
    with pytest.raises(ValueError, match=r"causes\['vip_party'\]: unknown cause 'typo'"):
        simulate(make_sends(5), SEND_DATE, rates=FeedbackRates(causes={"vip_party": ("typo",)}))


def test_whole_window_is_dated_inside_it():
    """day = the last day of a 30-day window: responses and purchases spread over the window."""
    from datetime import timedelta

    last = SEND_DATE + timedelta(days=29)
    fb = simulate(make_sends(600), SEND_DATE, day=last, seed=2, kpi_metrics=KPIS)
    days = pd.to_datetime(pd.concat([fb.orders["ordered_at"], fb.responses["occurred_at"]])).dt.date
    assert days.min() >= SEND_DATE and days.max() <= last
    assert days.nunique() >= 25


def test_a_windows_feedback_arrives_with_the_first_delivery_on_or_after_each_rows_date(tmp_path):
    """The demo's customers answer over a whole KPI window; each response and purchase lands with
    the first delivery on or after its own date, the providers' events with the first delivery,
    and nothing is lost or doubled across the deliveries."""
    from datetime import timedelta

    from crmloop.demo_data.simulated_customers import split_deliveries

    window_end = SEND_DATE + timedelta(days=29)
    fb = simulate(make_sends(), SEND_DATE, day=SEND_DATE, window_end=window_end, seed=3, kpi_metrics=KPIS)
    dated = pd.to_datetime(fb.orders["ordered_at"]).dt.date
    # the window's purchases spread past the first days (what a one-day simulation cannot show)
    assert dated.max() > SEND_DATE + timedelta(days=2)
    assert dated.max() <= window_end
    days = [SEND_DATE, SEND_DATE + timedelta(days=1), SEND_DATE + timedelta(days=2), window_end]
    parts = split_deliveries(fb, days)
    assert sorted(parts) == days
    assert parts[SEND_DATE].records == fb.records
    assert all(parts[d].records == [] for d in days[1:])
    for frame, column in (("orders", "ordered_at"), ("responses", "occurred_at")):
        whole = getattr(fb, frame)
        got = pd.concat([getattr(parts[d], frame).assign(_due=d) for d in days], ignore_index=True)
        assert sorted(got.drop(columns="_due").itertuples(index=False)) == sorted(
            whole.itertuples(index=False)
        )
        on = pd.to_datetime(got[column]).dt.date
        # delivered on the first of the days on or after the row's own date, never before it
        for row_day, due in zip(on, got["_due"], strict=True):
            assert due == min(d for d in days if d >= row_day), (frame, row_day, due)
    # a delivery day before the feedback's first day is an error, and so is a row after the last
    with pytest.raises(ValueError, match="before the feedback's first day"):
        split_deliveries(fb, [SEND_DATE - timedelta(days=1)])
    with pytest.raises(ValueError, match="falls after the last delivery"):
        split_deliveries(fb, [SEND_DATE + timedelta(days=1)])
    # several cohorts deliver on one day: a tag keeps their files apart
    a = write_feedback(parts[window_end], tmp_path, tag="2026-11-21")
    b = write_feedback(parts[window_end], tmp_path, tag="2026-11-22")
    assert a and not set(a) & set(b)


def test_emails_sent_at_the_persons_best_hour_open_more_often():
    """send_hour / best_send_hour: an email at the person's usual hour opens
    email_open_best_hour_lift times as often, and its events are dated from that hour."""
    n = 6000
    sends = pd.DataFrame(
        {
            "campaign_id": "regular_winback",
            "customer_id": [f"C{i:06d}" for i in range(n)],
            "channel": "email",
            "to": [f"c{i}@example.com" for i in range(n)],
            "holdout": False,
            "send_hour": [19 if i % 2 else 10 for i in range(n)],  # half at 19:00, half at 10:00
            "best_send_hour": 19,
        }
    )
    rates = FeedbackRates(email_open=0.30, email_open_best_hour_lift=1.5)
    fb = simulate(sends, SEND_DATE, seed=5, rates=rates, kpi_metrics=KPIS)
    email = pd.DataFrame([r.row for r in fb.records if r.source == "email_events"])
    hour_of = dict(zip(sends["customer_id"], sends["send_hour"], strict=True))
    email["send_hour"] = email["customer_id"].map(hour_of)
    rate = {}
    for h, e in email.groupby("send_hour"):
        rate[h] = (e["event"] == "open").sum() / (e["event"] == "delivered").sum()
        processed = pd.to_datetime(e.loc[e["event"] == "processed", "occurred_at"])
        assert set(processed.dt.hour) == {h}  # sent within minutes of the hour
    assert 0.27 < rate[10] < 0.33 and 0.41 < rate[19] < 0.49
    # without the columns (sent at once) nothing changes: the same events as before
    plain = simulate(sends.drop(columns=["send_hour", "best_send_hour"]), SEND_DATE, seed=5, rates=rates)
    opened = sum(r.row["event"] == "open" for r in plain.records if r.source == "email_events")
    delivered = sum(r.row["event"] == "delivered" for r in plain.records if r.source == "email_events")
    assert 0.27 < opened / delivered < 0.33
