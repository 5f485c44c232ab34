"""SendGrid sender: the real SDK against the fake SendGrid on 127.0.0.1."""

from __future__ import annotations

import time

import pytest

from activations.audiences.messages import Message
from activations.channels.email import TEXT_TAG, build_mail_body, plan_email_batches
from activations.delivery.api import send_messages
from activations.delivery.ledger import SendLedger
from tests.activations.delivery_helpers import SEND_DATE, SG_KEY, email_messages, live_config
from tests.fakes.providers import FakeSendGrid


@pytest.fixture
def sendgrid():
    with FakeSendGrid(api_key=SG_KEY) as fake:
        yield fake


def test_body_has_personalizations_custom_args_asm(tmp_path):
    cfg = live_config(tmp_path, CRM_SENDGRID_ASM_GROUP_ID=4242)
    msgs = email_messages(3)
    body = build_mail_body(msgs, cfg, "b-1")
    assert body["asm"] == {"group_id": 4242}
    assert body["from"] == {"email": "news@shop.example", "name": "ร้านค้า"}
    p = body["personalizations"][1]
    assert p["to"] == [{"email": "person1@example.com"}]
    assert p["subject"] == "ยินดีต้อนรับ คุณ1"
    assert p["substitutions"][TEXT_TAG] == "สวัสดีค่ะ คุณลูกค้า 1"
    assert p["custom_args"]["campaign_id"] == "welcome"
    assert p["custom_args"]["send_id"] == msgs[1].send_id
    assert p["custom_args"]["batch_id"] == "b-1"
    assert body["content"][0] == {"type": "text/plain", "value": TEXT_TAG}
    tpl = build_mail_body(msgs, live_config(tmp_path, CRM_SENDGRID_TEMPLATE_ID="d-123"), "b-2")
    assert tpl["template_id"] == "d-123" and "content" not in tpl
    assert tpl["personalizations"][0]["dynamic_template_data"]["first_name"] == "ชื่อ0"
    with pytest.raises(ValueError, match="twice in one request"):
        build_mail_body(msgs + [msgs[0]], cfg, "b-3")


def test_batches_respect_1000_and_unique_addresses():
    msgs = email_messages(2500)
    dup = Message(
        campaign_id="welcome",
        customer_id="OTHER",
        channel="email",
        send_date=SEND_DATE,
        to="PERSON5@example.com",
        text="x",
        sender="news@shop.example",
        sender_name="ร้านค้า",
    )
    batches = list(plan_email_batches(msgs + [dup] + email_messages(10, campaign="thanks")))
    assert all(len(b) <= 1000 for b in batches)
    for b in batches:
        addrs = [m.to.lower() for m in b]
        assert len(addrs) == len(set(addrs))
        assert len({m.campaign_id for m in b}) == 1
    assert sum(len(b) for b in batches) == 2511


def test_send_1000_per_request_exactly_once_and_rerun_sends_nothing(tmp_path, sendgrid):
    cfg = live_config(tmp_path, sendgrid=sendgrid)
    msgs = email_messages(2345)
    s = send_messages("email", msgs, cfg=cfg, send_date=SEND_DATE)
    assert s.sent == 2345 and s.requests == 3
    assert sendgrid.personalizations_per_request == [1000, 1000, 345]
    assert sendgrid.snapshot()["duplicates"] == 0
    again = send_messages("email", msgs, cfg=cfg, send_date=SEND_DATE)
    assert again.sent == 0 and again.already_in_ledger["sent"] == 2345
    assert sendgrid.stats["accepted_requests"] == 3


def test_invalid_address_400_is_recorded_suppressed_and_rest_sent(tmp_path, sendgrid):
    sendgrid.invalid_addresses = {"person7@example.com"}
    cfg = live_config(tmp_path, sendgrid=sendgrid)
    s = send_messages("email", email_messages(20), cfg=cfg, send_date=SEND_DATE)
    assert s.sent == 19 and dict(s.failed) == {"invalid_email": 1}
    assert ("person7@example.com", "welcome") not in sendgrid.received
    ledger = SendLedger(cfg.warehouse_path)
    try:
        assert ledger.suppressed_addresses("email", ["person7@example.com"]) == {
            "person7@example.com": "invalid_email"
        }
        row = ledger.con.execute(
            "SELECT status, reason FROM activations.send_ledger WHERE address = 'person7@example.com'"
        ).fetchall()
        assert row == [("failed", "invalid_email")]
        # another campaign later: the suppression list keeps the address out
        s2 = send_messages(
            "email", email_messages(20, campaign="thanks"), cfg=cfg, send_date=SEND_DATE, ledger=ledger
        )
        assert s2.suppressed_at_send == {"invalid_email": 1} and s2.sent == 19
    finally:
        ledger.close()


def test_429_storm_honours_retry_after(tmp_path, sendgrid):
    cfg = live_config(tmp_path, sendgrid=sendgrid, CRM_SENDGRID_CONCURRENCY=1)
    sendgrid.storm(3, retry_after=0.4)
    t0 = time.monotonic()
    s = send_messages("email", email_messages(1500), cfg=cfg, send_date=SEND_DATE)
    elapsed = time.monotonic() - t0
    assert s.sent == 1500 and s.retries == 3
    assert elapsed >= 3 * 0.4  # waited what the provider asked, not the 10 ms base backoff
    assert sendgrid.stats["429"] == 3 and sendgrid.snapshot()["duplicates"] == 0


def test_5xx_and_dropped_connections_at_10_percent(tmp_path, sendgrid):
    # drops happen after processing: only the Email Activity look-up can tell they were sent
    sendgrid.error_rate, sendgrid.drop_rate, sendgrid.drop_after_processing = 0.10, 0.10, True
    cfg = live_config(
        tmp_path,
        sendgrid=sendgrid,
        CRM_SENDGRID_BATCH=50,
        CRM_SENDGRID_ACTIVITY_LOOKUP=1,
        CRM_RETRY_MAX_ATTEMPTS=12,
    )
    msgs = email_messages(3000)
    s = send_messages("email", msgs, cfg=cfg, send_date=SEND_DATE)
    snap = sendgrid.snapshot()
    assert (
        snap["stats"].get("dropped_after_processing", 0) > 0
        and snap["stats"].get("500", 0) + snap["stats"].get("502", 0) + snap["stats"].get("503", 0) > 0
    )
    assert s.sent == 3000 and s.ambiguous == 0 and not s.failed
    assert snap["recipients"] == 3000 and snap["duplicates"] == 0


def test_dropped_connection_without_lookup_is_ambiguous_not_resent(tmp_path, sendgrid):
    # connections dropped before SendGrid processed anything; the client cannot know that
    sendgrid.drop_rate, sendgrid.drop_after_processing = 1.0, False
    cfg = live_config(tmp_path, sendgrid=sendgrid, CRM_SENDGRID_BATCH=10)
    s = send_messages("email", email_messages(30), cfg=cfg, send_date=SEND_DATE)
    assert s.ambiguous == 30 and s.sent == 0 and len(s.ambiguous_batches) == 3
    sendgrid.drop_rate = 0.0
    again = send_messages("email", email_messages(30), cfg=cfg, send_date=SEND_DATE)
    assert again.sent == 0 and again.already_in_ledger == {"ambiguous": 30}
    assert sendgrid.snapshot()["duplicates"] == 0
    # an operator who checked the provider releases one batch: only that batch is sent again
    ledger = SendLedger(cfg.warehouse_path)
    try:
        assert ledger.release_ambiguous(s.ambiguous_batches[0]) == 10
    finally:
        ledger.close()
    third = send_messages("email", email_messages(30), cfg=cfg, send_date=SEND_DATE)
    assert third.sent == 10 and third.already_in_ledger == {"ambiguous": 20}
    snap = sendgrid.snapshot()
    assert snap["recipients"] == 10 and snap["duplicates"] == 0
