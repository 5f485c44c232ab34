"""Issue 6: a STOP received today removes the number from tomorrow's SMS audience.

Day 1 (`day1` fixture, as of D) sent the Prospect campaign's SMS on D+1. On D+1 one of those
numbers replies STOP: Twilio posts the inbound message to the real webhook app, signed with the
official `RequestValidator`, and the app lands it in `<landing>/consents/<D+1>/`. The next run
(as of D+1, sending on D+2) must suppress that number with reason opted_out / sms_stop and send
it nothing, while everybody else is sent to as before.

Under the default calendar a prospect gets the welcome SMS once, so this test runs its own two
days (from `history`) with the e2e plan's welcome turned into a daily recurring campaign
(`reentry: {after_days: 1}`: the whole Prospect segment every day, email and SMS) and, on day 2,
a looser frequency cap (10 messages a week instead of 3): the people texted on D+1 are due again
on D+2, and only the STOP can keep one of them out.
"""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import duckdb
import pytest
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from crmloop.settings import TIMEZONE, WebhookConfig
from sources.webhooks.app import create_app
from tests.e2e.conftest import AS_OF, copy_state, e2e_plan_text, run_day

pytestmark = pytest.mark.slow

TOKEN = "e2e-twilio-auth-token-0123456789ab"
DAY2 = AS_OF + timedelta(days=1)  # the day the STOP arrives, and the as-of of the next run
SEND1, SEND2 = AS_OF + timedelta(days=1), AS_OF + timedelta(days=2)


def sms_sent(root, send_date) -> dict[str, str]:
    """customer_id -> number of the Prospect SMS the ledger records as sent on `send_date`."""
    con = duckdb.connect(str(root / "home" / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute(
            """SELECT customer_id, address FROM activations.send_ledger
               WHERE send_date = ? AND channel = 'sms' AND campaign_id = 'prospect_welcome' AND status = 'sent'""",
            [send_date],
        ).fetchall()
    finally:
        con.close()
    return dict(rows)


def outbox_numbers(root, send_date) -> list[str]:
    path = root / "home" / "outbox" / "sms" / send_date.isoformat() / "twilio.jsonl"
    return [json.loads(line)["form"]["To"] for line in path.read_text(encoding="utf-8").splitlines()]


def _daily_welcome_plan(path, cap: int):
    text = e2e_plan_text()
    trigger = "    kind: trigger\n    trigger: {event: registration, delay_days: 1, entry_window_days: 7}\n    reentry: never\n"
    assert "  max_messages: 3\n" in text and trigger in text
    text = text.replace("  max_messages: 3\n", f"  max_messages: {cap}\n")
    path.write_text(
        text.replace(trigger, "    kind: recurring\n    reentry: {after_days: 1}\n"), encoding="utf-8"
    )
    return path


def test_stop_today_removes_the_number_from_tomorrows_sms(history, tmp_path):
    root = copy_state(history, tmp_path)
    first = run_day(root, AS_OF, plan=_daily_welcome_plan(tmp_path / "plan1.yml", 3))
    assert first.ok, first.summary
    day1_sent = sms_sent(root, SEND1)
    assert len(day1_sent) >= 3, day1_sent
    stopper, number = sorted(day1_sent.items())[0]
    assert number in outbox_numbers(root, SEND1)

    # D+1, 10:15 in Bangkok: the reply arrives at the webhook receiver
    moment = datetime.combine(DAY2, time(10, 15), tzinfo=ZoneInfo(TIMEZONE)).timestamp()
    cfg = WebhookConfig(landing_dir=root / "landing", twilio_auth_token=TOKEN)
    url = "http://testserver/twilio/inbound"
    params = {
        "MessageSid": "SM" + "5" * 32,
        "AccountSid": "AC" + "0" * 32,
        "From": number,
        "To": "+6625550100",
        "Body": "STOP",
    }
    signature = RequestValidator(TOKEN).compute_signature(url, params)
    with TestClient(create_app(cfg, clock=lambda: moment)) as client:
        forged = client.post(
            url,
            content=urlencode(params),
            headers={
                "X-Twilio-Signature": RequestValidator("not-the-token").compute_signature(url, params),
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        assert forged.status_code == 403
        resp = client.post(
            url,
            content=urlencode(params),
            headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert resp.status_code == 200, resp.text
    landed = sorted((root / "landing" / "consents" / DAY2.isoformat()).glob("sms_optouts-*.jsonl"))
    assert len(landed) == 1
    optouts = [json.loads(line) for line in landed[0].read_text(encoding="utf-8").splitlines()]
    assert [(o["phone"], o["channel"], o["status"]) for o in optouts] == [(number, "sms", "opt_out")]

    plan = tmp_path / "plan.yml"
    text = e2e_plan_text()
    trigger = "    kind: trigger\n    trigger: {event: registration, delay_days: 1, entry_window_days: 7}\n    reentry: never\n"
    assert "  max_messages: 3\n" in text and trigger in text
    text = text.replace("  max_messages: 3\n", "  max_messages: 10\n")
    plan.write_text(
        text.replace(trigger, "    kind: recurring\n    reentry: {after_days: 1}\n"), encoding="utf-8"
    )

    run = run_day(root, DAY2, plan=plan)
    assert run.ok, run.summary
    assert [o.partition for o in run.outcomes] == [DAY2.isoformat()]

    con = duckdb.connect(str(root / "home" / "warehouse.duckdb"), read_only=True)
    try:
        reasons = dict(
            con.execute(
                """SELECT customer_id, reason FROM activations.campaign_suppressions
               WHERE send_date = ? AND campaign_id = 'prospect_welcome' AND channel = 'sms'""",
                [SEND2],
            ).fetchall()
        )
        in_audience = {
            r[0]
            for r in con.execute(
                """SELECT customer_id FROM activations.campaign_audience_snapshots
               WHERE send_date = ? AND campaign_id = 'prospect_welcome' AND channel = 'sms' AND NOT holdout""",
                [SEND2],
            ).fetchall()
        }
    finally:
        con.close()
    # the stopped person is still a Prospect in the audience, suppressed for the STOP
    assert stopper in in_audience
    assert reasons.get(stopper) in ("opted_out", "sms_stop"), reasons.get(stopper)
    day2_sent = sms_sent(root, SEND2)
    assert stopper not in day2_sent
    day2_numbers = outbox_numbers(root, SEND2)
    assert number not in day2_numbers
    # everybody else is unaffected: still in the audience, sent again, nobody else opted out
    others = {c: n for c, n in day1_sent.items() if c != stopper}
    assert set(others) <= in_audience
    assert not {c for c in others if reasons.get(c) in ("opted_out", "sms_stop")}
    assert set(others) == set(day2_sent), set(others) ^ set(day2_sent)
    assert sorted(day2_numbers) == sorted(others.values())
