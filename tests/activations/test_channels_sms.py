"""Twilio sender: the real SDK against the fake Twilio on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from activations.audiences.messages import Message
from activations.channels.sms import SmsClient
from activations.delivery.api import send_messages
from activations.delivery.ledger import SendLedger
from activations.delivery.resilience import TokenBucket
from tests.activations.delivery_helpers import (
    MG_SID,
    SEND_DATE,
    TW_SID,
    TW_TOKEN,
    deliver_live,
    live_config,
    sms_messages,
)
from tests.fakes.providers import FakeTwilio


@pytest.fixture
def twilio():
    with FakeTwilio(account_sid=TW_SID, auth_token=TW_TOKEN) as fake:
        yield fake


def test_create_params_status_callback_service_and_schedule(tmp_path, twilio):
    now = datetime(2025, 3, 14, 14, 0, tzinfo=UTC)  # 21:00 Bangkok
    client = SmsClient(live_config(tmp_path, twilio=twilio), now=lambda: now)
    try:
        m = sms_messages(1)[0]
        p = client.create_params(m, "batch-9")
        assert p["messaging_service_sid"] == MG_SID and p["to"] == "+66810000000"
        q = parse_qs(urlsplit(p["status_callback"]).query)
        assert p["status_callback"].startswith("http://127.0.0.1:8787/twilio/status?")
        assert q == {"send_id": [m.send_id], "batch_id": ["batch-9"]}
        assert "send_at" not in p
        later = (
            Message(**{**m.__dict__, "not_before": now + timedelta(hours=11)})
            if hasattr(m, "__dict__")
            else None
        )
        if later is None:
            from dataclasses import replace

            later = replace(m, not_before=now + timedelta(hours=11))
        p2 = client.create_params(later, "batch-9")
        assert p2["send_at"] == now + timedelta(hours=11) and p2["schedule_type"] == "fixed"
    finally:
        client.close()


def test_sends_once_with_thai_body_and_scheduled_quiet_hours(tmp_path, twilio):
    from dataclasses import replace

    cfg = live_config(tmp_path, twilio=twilio)
    msgs = sms_messages(30)
    msgs[0] = replace(msgs[0], not_before=datetime.now(UTC) + timedelta(hours=10))
    s = send_messages("sms", msgs, cfg=cfg, send_date=SEND_DATE)
    assert s.sent == 30 and twilio.snapshot()["duplicates"] == 0
    form = next(f for f in twilio.forms if f["To"] == "+66810000000")
    assert form["Body"] == "รับของขวัญฟรีเมื่อซื้อครั้งแรก รหัส 0"
    assert form["ScheduleType"] == "fixed" and "SendAt" in form
    assert all(f["MessagingServiceSid"] == MG_SID and "StatusCallback" in f for f in twilio.forms)
    assert send_messages("sms", msgs, cfg=cfg, send_date=SEND_DATE).sent == 0


def test_permanent_error_codes_become_failures_and_suppressions(tmp_path, twilio):
    twilio.stopped = {"+66810000001"}
    twilio.landlines = {"+66810000002"}
    msgs = sms_messages(5)
    from dataclasses import replace

    msgs[3] = replace(msgs[3], to="+66 81 bad")  # not E.164: refused before sending
    cfg = live_config(tmp_path, twilio=twilio)
    s = send_messages("sms", msgs, cfg=cfg, send_date=SEND_DATE)
    assert s.sent == 2
    assert dict(s.failed) == {"sms_stop": 1, "landline": 1, "invalid_number": 1}
    ledger = SendLedger(cfg.warehouse_path)
    try:
        rows = dict(
            ledger.con.execute(
                "SELECT address, reason FROM activations.suppression_list WHERE channel='sms'"
            ).fetchall()
        )
    finally:
        ledger.close()
    assert rows == {"+66810000001": "sms_stop", "+66810000002": "landline", "+66 81 bad": "invalid_number"}


def test_invalid_number_21211_from_provider(tmp_path, twilio):
    from dataclasses import replace

    msgs = [replace(sms_messages(1)[0], to="+0000")]  # passes nothing: E.164 check refuses first
    s = send_messages("sms", msgs, cfg=live_config(tmp_path, twilio=twilio), send_date=SEND_DATE)
    assert dict(s.failed) == {"invalid_number": 1} and twilio.stats["requests"] == 0
    # a number that looks E.164 but the fake (like Twilio) rejects with 21211
    twilio_invalid = "+123"
    s2 = send_messages(
        "sms",
        [replace(sms_messages(1, start=1)[0], to=twilio_invalid)],
        cfg=live_config(tmp_path / "b", twilio=twilio),
        send_date=SEND_DATE,
    )
    assert dict(s2.failed) == {"invalid_number": 1}


def test_429_storm_with_retry_after_and_20429(tmp_path, twilio):
    twilio.storm(5, retry_after=0.3)
    cfg = live_config(tmp_path, twilio=twilio, CRM_TWILIO_CONCURRENCY=2)
    waits: list[float] = []  # what the retry policy asked to sleep (no clock in the assertion)
    s = deliver_live(sms_messages(20), SmsClient(cfg, sleep=waits.append), cfg)
    assert s.sent == 20 and s.retries == 5 and twilio.stats["429"] == 5
    assert len(waits) == 5 and all(w >= 0.3 for w in waits)  # Retry-After, not the 10 ms backoff
    assert twilio.snapshot()["duplicates"] == 0


def test_5xx_and_dropped_connections_at_10_percent_reconciled(tmp_path, twilio):
    twilio.error_rate, twilio.drop_rate, twilio.drop_after_processing = 0.10, 0.10, True
    cfg = live_config(tmp_path, twilio=twilio, CRM_RETRY_MAX_ATTEMPTS=12)
    s = send_messages("sms", sms_messages(400), cfg=cfg, send_date=SEND_DATE)
    snap = twilio.snapshot()
    assert snap["stats"].get("dropped_after_processing", 0) > 0
    assert s.sent == 400 and s.ambiguous == 0 and not s.failed
    assert snap["recipients"] == 400 and snap["duplicates"] == 0


def test_settle_time_does_not_slow_twilio(tmp_path, twilio):
    # CRM_LOOKUP_SETTLE_SECONDS is about SendGrid's lagging Activity feed; Twilio's message list
    # shows a created message at once, so a dropped SMS is looked up without waiting
    twilio.drop_rate, twilio.drop_after_processing = 0.3, True
    cfg = live_config(tmp_path, twilio=twilio, CRM_LOOKUP_SETTLE_SECONDS=600, CRM_RETRY_MAX_ATTEMPTS=12)
    waits: list[float] = []
    s = deliver_live(sms_messages(60), SmsClient(cfg, sleep=waits.append), cfg)
    assert twilio.stats["dropped_after_processing"] > 0
    assert s.sent == 60 and twilio.snapshot()["duplicates"] == 0
    assert max(waits, default=0.0) < 1.0  # only the millisecond retry backoff, never the settle time


def test_token_bucket_holds_the_rate():
    # a virtual clock: the schedule the bucket hands out, not how fast this machine is
    # (the measured rate at a provider is bench/sends.py's: `measured_rate_at_provider`)
    now = [0.0]
    bucket = TokenBucket(100.0, burst=4, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    now[0] = 1.0  # idle for a second: a burst is allowed
    starts = []
    for _ in range(500):
        bucket.acquire()
        starts.append(now[0])
    assert starts[:5] == [1.0] * 4 + [pytest.approx(1.01)]  # the burst goes at once
    assert starts[-1] == pytest.approx(1.0 + (500 - 4) / 100.0)  # then exactly 100 per second
    bucket.pause_until(now[0] + 2.0)  # a Retry-After holds every caller
    before = now[0]
    bucket.acquire()
    assert now[0] == pytest.approx(before + 2.0)
