"""SendGrid sender: the real SDK against the fake SendGrid on 127.0.0.1."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from activations.audiences.messages import Message
from activations.channels.email import TEXT_TAG, EmailClient, build_mail_body, plan_email_batches
from activations.delivery.api import send_messages
from activations.delivery.ledger import SendLedger
from crmloop.settings import DeliveryConfigError
from tests.activations.delivery_helpers import (
    ASM_GROUP,
    SEND_DATE,
    SG_KEY,
    deliver_live,
    email_messages,
    live_config,
)
from tests.fakes.providers import FakeSendGrid


@pytest.fixture
def sendgrid():
    with FakeSendGrid(api_key=SG_KEY) as fake:
        yield fake


def test_body_has_personalizations_custom_args_asm(tmp_path):
    cfg = live_config(tmp_path, CRM_SENDGRID_ASM_GROUP_ID=4242)
    msgs = email_messages(3, unsubscribe_group=None)
    body = build_mail_body(msgs, cfg, "b-1")
    assert body["asm"] == {"group_id": 4242}  # no group in the plan: the environment's
    assert "send_at" not in body and "batch_id" not in body
    # the campaign's group from the plan wins; a scheduled body carries batch id and send_at
    at = datetime(2025, 3, 14, 3, 0, tzinfo=UTC)
    planned = build_mail_body(email_messages(3, unsubscribe_group=77), cfg, "sg-batch", send_at=at)
    assert planned["asm"] == {"group_id": 77}
    assert planned["batch_id"] == "sg-batch" and planned["send_at"] == int(at.timestamp())
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
    before = time.time()
    s = send_messages("email", msgs, cfg=cfg, send_date=SEND_DATE)
    assert s.sent == 2345 and s.requests == 6  # 3 batch ids (POST /v3/mail/batch) + 3 mail sends
    # the batches go out CRM_SENDGRID_CONCURRENCY at a time: they arrive in any order
    assert sorted(sendgrid.personalizations_per_request) == [345, 1000, 1000]
    # each request is a SendGrid batch scheduled CRM_SENDGRID_SEND_AT_LEAD_SECONDS (1200) ahead
    assert {b["batch_id"] for b in sendgrid.requests_bodies} <= sendgrid.batch_ids
    assert len({b["batch_id"] for b in sendgrid.requests_bodies}) == 3
    assert all(before + 1199 <= b["send_at"] <= time.time() + 1200 for b in sendgrid.requests_bodies)
    assert all(b["asm"] == {"group_id": ASM_GROUP} for b in sendgrid.requests_bodies)
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
    waits: list[float] = []  # what the retry policy asked to sleep (no clock in the assertion)
    s = deliver_live(email_messages(1500), EmailClient(cfg, sleep=waits.append), cfg)
    assert s.sent == 1500 and s.retries == 3
    # each wait is what the provider asked (Retry-After 0.4 s), not the 10 ms base backoff
    assert len(waits) == 3 and all(0.4 <= w <= 0.4 + 0.25 for w in waits)
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
    # connections dropped before SendGrid processed anything; the client cannot know that.
    # Without scheduling (lead 0) such a batch cannot be cancelled: it is held for an operator
    sendgrid.drop_rate, sendgrid.drop_after_processing = 1.0, False
    cfg = live_config(tmp_path, sendgrid=sendgrid, CRM_SENDGRID_BATCH=10, CRM_SENDGRID_SEND_AT_LEAD_SECONDS=0)
    s = send_messages("email", email_messages(30), cfg=cfg, send_date=SEND_DATE)
    assert s.ambiguous == 30 and s.sent == 0 and len(s.ambiguous_batches) == 3
    md = s.to_metadata()
    assert md["unresolved_batches"] == {b: 10 for b in s.ambiguous_batches}
    assert f"crmloop ledger release {s.ambiguous_batches[0]}" in md["operator_action"]
    assert f"crmloop ledger confirm-sent {s.ambiguous_batches[0]}" in md["operator_action"]
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
    assert len(third.to_metadata()["unresolved_batches"]) == 2


def test_dropped_connections_are_cancelled_and_resent_without_activity_api(tmp_path, sendgrid):
    # 5xx and dropped connections after SendGrid processed the request; no Email Activity API:
    # the unconfirmed (scheduled) batch is cancelled and its recipients sent again in a new batch
    sendgrid.error_rate, sendgrid.drop_rate, sendgrid.drop_after_processing = 0.10, 0.15, True
    cfg = live_config(tmp_path, sendgrid=sendgrid, CRM_SENDGRID_BATCH=50, CRM_RETRY_MAX_ATTEMPTS=12)
    s = send_messages("email", email_messages(3000), cfg=cfg, send_date=SEND_DATE)
    snap = sendgrid.snapshot()
    assert snap["stats"]["dropped_after_processing"] > 0 and snap["stats"]["cancelled_batches"] > 0
    assert s.cancelled_and_resent > 0 and s.to_metadata()["operator_action"] is None
    assert s.sent == 3000 and s.ambiguous == 0 and not s.failed and s.accounted() == 3000
    assert snap["recipients"] == 3000 and snap["duplicates"] == 0  # 0 lost, 0 twice
    ledger = SendLedger(cfg.warehouse_path)
    try:
        assert ledger.counts("email") == {"sent": 3000}
    finally:
        ledger.close()


def test_activity_not_found_is_not_not_sent_before_settle(tmp_path, sendgrid):
    # the Activity feed lags (minutes at SendGrid): a batch accepted just before its connection
    # dropped is not in it yet. Before the settle time that proves nothing: held, not resent
    sendgrid.activity_lag = 3600.0
    sendgrid.drop_rate, sendgrid.drop_after_processing = 0.3, True
    cfg = live_config(
        tmp_path,
        sendgrid=sendgrid,
        CRM_SENDGRID_BATCH=10,
        CRM_SENDGRID_ACTIVITY_LOOKUP=1,
        CRM_SENDGRID_SEND_AT_LEAD_SECONDS=0,  # the look-up alone decides here
        CRM_RETRY_MAX_ATTEMPTS=12,
    )
    assert cfg.lookup_settle_seconds == 600  # the documented default
    msgs = email_messages(100)
    s = send_messages("email", msgs, cfg=cfg, send_date=SEND_DATE)
    assert sendgrid.snapshot()["duplicates"] == 0
    assert sendgrid.stats["dropped_after_processing"] > 0 and s.ambiguous > 0
    # later, the feed has caught up: the next run looks the held batches up again and settles them
    sendgrid.activity_lag, sendgrid.drop_rate = 0.0, 0.0
    again = send_messages("email", msgs, cfg=cfg, send_date=SEND_DATE)
    assert again.reconciled["sent"] == s.ambiguous and again.to_metadata()["operator_action"] is None
    snap = sendgrid.snapshot()
    assert snap["recipients"] == 100 and snap["duplicates"] == 0


def test_live_marketing_email_without_unsubscribe_group_is_refused(tmp_path, sendgrid):
    cfg = live_config(tmp_path, sendgrid=sendgrid)  # CRM_SENDGRID_ASM_GROUP_ID unset
    with pytest.raises(DeliveryConfigError, match="'welcome'.*unsubscribe group.*email_unsubscribe_group"):
        send_messages("email", email_messages(5, unsubscribe_group=None), cfg=cfg, send_date=SEND_DATE)
    assert sendgrid.stats["accepted_requests"] == 0
    # each campaign's own group reaches SendGrid
    msgs = email_messages(5, campaign="a", unsubscribe_group=11) + email_messages(
        5, campaign="b", unsubscribe_group=22
    )
    assert send_messages("email", msgs, cfg=cfg, send_date=SEND_DATE).sent == 10
    groups = {b["categories"][0]: b["asm"]["group_id"] for b in sendgrid.requests_bodies}
    assert groups == {"a": 11, "b": 22}


def test_plan_unsubscribe_group_reaches_sendgrid_per_campaign(tmp_path):
    from zoneinfo import ZoneInfo

    from activations.audiences.prepare import prepare_messages
    from activations.plan.spec import load_plan
    from tests.activations.plan_fixture import DAILY_PLAN_PATH  # whole segments: every email campaign sends
    from tests.activations.profiles_fixture import AS_OF, standard_rows, write_profiles

    wh = write_profiles(tmp_path / "w.duckdb", standard_rows(20))
    send = AS_OF.replace(day=AS_OF.day + 1)
    prepared = prepare_messages(
        wh, DAILY_PLAN_PATH, AS_OF, send, datetime(2026, 11, 22, 10, 0, tzinfo=ZoneInfo("Asia/Bangkok"))
    )
    groups = {c.id: c.email_unsubscribe_group for c in load_plan(DAILY_PLAN_PATH).campaigns}
    cfg = live_config(tmp_path)  # no CRM_SENDGRID_ASM_GROUP_ID: only the plan can give the group
    batches = list(prepared.batches("email"))
    assert batches and all(len(b.messages) for b in batches)
    for b in batches:
        body = build_mail_body(b.messages[:3], cfg, "b")
        assert body["asm"] == {"group_id": groups[b.campaign_id]} and groups[b.campaign_id]


def test_reconcile_cancels_only_before_sendgrids_deadline(tmp_path, sendgrid):
    from datetime import timedelta

    from activations.delivery.ledger import PendingRow

    cfg = live_config(tmp_path, sendgrid=sendgrid)  # no Activity look-up; deadline 600 s
    client = EmailClient(cfg)
    try:
        early, late = client.open_batch(), client.open_batch()
        now = datetime.now(UTC).replace(tzinfo=None)

        def rows(batch_id: str, scheduled_in: float) -> list[PendingRow]:
            return [
                PendingRow("welcome", f"C{i}", "email", SEND_DATE, f"s-{batch_id}-{i}", batch_id,
                           f"p{i}@example.com", None, now, "pending", now + timedelta(seconds=scheduled_in))
                for i in range(2)
            ]  # fmt: skip

        outcomes = client.reconcile(rows(early.batch_id, 900) + rows(late.batch_id, 300))
    finally:
        client.close()
    by_batch = {o.send_id.split("-")[1]: o for o in outcomes}
    cancelled, held = by_batch[early.batch_id], by_batch[late.batch_id]
    assert (cancelled.status, cancelled.retryable, cancelled.reason) == (
        "failed",
        True,
        "cancelled_unconfirmed",
    )
    assert held.status == "ambiguous" and "past SendGrid's cancel deadline" in held.reason
    assert sendgrid.batch_status == {early.batch_id: "cancel"}  # the late one was not even asked


def _at(messages, when):
    from dataclasses import replace

    return [replace(m, not_before=when) for m in messages]


def test_personal_send_times_are_per_personalization_send_at(tmp_path):
    """A message with its own send time (the plan's send_time: personal) carries it as its
    personalization's send_at, never before the batch's send_at; one without goes with the batch."""
    from zoneinfo import ZoneInfo

    bkk = ZoneInfo("Asia/Bangkok")
    cfg = live_config(tmp_path)
    batch_at = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)  # 10:00 Bangkok
    evening = datetime(2026, 11, 22, 19, 0, tzinfo=bkk)
    early = datetime(2026, 11, 22, 8, 0, tzinfo=bkk)  # before the batch's send_at
    msgs = (
        _at(email_messages(2), evening) + _at(email_messages(1, start=2), early) + email_messages(1, start=3)
    )
    body = build_mail_body(msgs, cfg, "sg-batch", send_at=batch_at)
    assert body["send_at"] == 1795316400  # 2026-11-22 03:00 UTC
    ps = body["personalizations"]
    assert [p.get("send_at") for p in ps] == [
        1795348800,
        1795348800,
        1795316400,
        None,
    ]  # 19:00 Bangkok = 12:00 UTC
    # no SendGrid batch (lead 0): a future time is kept, one already passed goes at once
    now = datetime(2026, 11, 22, 12, 30, tzinfo=bkk)
    unbatched = build_mail_body(msgs, cfg, "local", now=now)
    assert "send_at" not in unbatched
    assert [p.get("send_at") for p in unbatched["personalizations"]] == [1795348800, 1795348800, None, None]


def test_batches_keep_one_send_time_each_and_open_at_it(tmp_path, sendgrid):
    from datetime import timedelta

    now = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    seven, nine = now + timedelta(hours=5), now + timedelta(hours=7)
    msgs = _at(email_messages(3), seven) + _at(email_messages(2, start=3), nine) + email_messages(2, start=5)
    batches = list(plan_email_batches(msgs))
    assert sorted(len(b) for b in batches) == [2, 2, 3]
    assert all(len({m.not_before for m in b}) == 1 for b in batches)
    client = EmailClient(live_config(tmp_path, sendgrid=sendgrid), now=lambda: now)
    try:
        by_time = {b[0].not_before: client.open_batch(b).scheduled_at for b in batches}
        # the batch's send_at is the messages' time, or now + the lead (1,200 s) for those without
        assert by_time == {seven: seven, nine: nine, None: now + timedelta(seconds=1200)}
        assert client.open_batch(
            _at(email_messages(1), now + timedelta(seconds=60))
        ).scheduled_at == now + timedelta(
            seconds=1200
        )  # a time sooner than the lead: the lead (the batch stays cancellable)
        with pytest.raises(DeliveryConfigError, match="72"):
            client.open_batch(_at(email_messages(1), now + timedelta(hours=73)))
    finally:
        client.close()
