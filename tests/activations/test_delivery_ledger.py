"""The send ledger and the sandbox outbox: idempotent reruns, crash recovery, exact bodies."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import pytest

from activations.delivery.api import send_messages
from activations.delivery.engine import ChannelSummary
from activations.delivery.ledger import SendLedger
from crmloop.settings import DeliveryConfig, DeliveryConfigError
from tests.activations.delivery_helpers import (
    SEND_DATE,
    TW_SID,
    TW_TOKEN,
    email_messages,
    live_config,
    sms_messages,
)
from tests.fakes.providers import FakeTwilio


def test_sandbox_writes_exact_bodies_to_outbox_and_is_idempotent(tmp_path):
    cfg = DeliveryConfig.from_env(home=tmp_path, env={})  # no credentials at all
    assert cfg.mode == "sandbox"
    s = send_messages("email", email_messages(1200), cfg=cfg, send_date=SEND_DATE)
    t = send_messages("sms", sms_messages(5), cfg=cfg, send_date=SEND_DATE)
    assert (s.sent, s.requests, t.sent) == (1200, 4, 5)  # 2 SendGrid batch ids + 2 mail sends
    email_lines = (
        (tmp_path / "outbox/email/2025-03-14/sendgrid.jsonl").read_text(encoding="utf-8").splitlines()
    )
    recs = [json.loads(x) for x in email_lines]
    assert sorted(len(r["body"]["personalizations"]) for r in recs) == [200, 1000]
    first = recs[0]
    assert first["path"] == "/v3/mail/send" and first["method"] == "POST"
    # the recorded body is the SDK's exact bytes: json.dumps as python_http_client serialises it
    assert hashlib.sha256(json.dumps(first["body"]).encode()).hexdigest() == first["sha256"]
    assert first["body"]["personalizations"][0]["custom_args"]["campaign_id"] == "welcome"
    # the sandbox shows what live sends: a SendGrid batch scheduled send_at ahead
    assert first["body"]["batch_id"] == first["body"]["personalizations"][0]["custom_args"]["batch_id"]
    assert first["body"]["send_at"] > 0
    sms = [
        json.loads(x)
        for x in (tmp_path / "outbox/sms/2025-03-14/twilio.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert sms[0]["form"]["Body"].startswith("รับของขวัญ") and "StatusCallback" in sms[0]["form"]
    assert hashlib.sha256(sms[0]["form_raw"].encode()).hexdigest() == sms[0]["sha256"]
    # rerun: nothing new in the outbox
    again = send_messages("email", email_messages(1200), cfg=cfg, send_date=SEND_DATE)
    assert again.sent == 0 and again.already_in_ledger == {"sent": 1200}
    assert len((tmp_path / "outbox/email/2025-03-14/sendgrid.jsonl").read_text().splitlines()) == 2


def test_live_without_credentials_names_the_variable(tmp_path):
    cfg = DeliveryConfig.from_env(home=tmp_path, env={"CRM_ACTIVATION_MODE": "live"})
    with pytest.raises(DeliveryConfigError, match="SENDGRID_API_KEY"):
        send_messages("email", email_messages(1), cfg=cfg, send_date=SEND_DATE)
    with pytest.raises(DeliveryConfigError, match="CRM_SENDGRID_BATCH"):
        DeliveryConfig.from_env(home=tmp_path, env={"CRM_SENDGRID_BATCH": "1001"})
    assert "tw-secret" not in repr(
        DeliveryConfig.from_env(home=tmp_path, env={"TWILIO_AUTH_TOKEN": "tw-secret"})
    )


def test_crash_leftovers_are_reconciled_never_resent_blindly(tmp_path):
    with FakeTwilio(account_sid=TW_SID, auth_token=TW_TOKEN) as twilio:
        cfg = live_config(tmp_path, twilio=twilio)
        msgs = sms_messages(6)
        ledger = SendLedger(cfg.warehouse_path)
        try:
            # a run died after recording intent for two batches; only the first reached Twilio
            ledger.mark_pending("sms-dead-1", "sms", msgs[:3])
            ledger.mark_pending("sms-dead-2", "sms", msgs[3:])
        finally:
            ledger.close()
        send_messages(
            "sms",
            msgs[:3],
            cfg=cfg,
            send_date=SEND_DATE,
            ledger=_FreshLedgerIgnoringPending(cfg.warehouse_path),
        )
        assert twilio.snapshot()["deliveries"] == 3
        s = send_messages("sms", msgs, cfg=cfg, send_date=SEND_DATE)
        assert dict(s.reconciled) == {"sent": 3, "released": 3}
        assert s.sent == 3 and s.already_in_ledger == {"sent": 3}
        snap = twilio.snapshot()
        assert snap["recipients"] == 6 and snap["duplicates"] == 0


class _FreshLedgerIgnoringPending(SendLedger):
    """Plays the part of the dead run's request: sends regardless of its own pending rows."""

    def existing(self, send_ids):
        return {}

    def unresolved(self, channel):
        return []

    def step(self, finished, pending):
        return None


def test_email_crash_without_lookup_is_reported_ambiguous(tmp_path):
    cfg = live_config(tmp_path, CRM_SENDGRID_BASE_URL="http://127.0.0.1:9")  # never contacted
    msgs = email_messages(4)
    ledger = SendLedger(cfg.warehouse_path)
    try:
        ledger.mark_pending("email-dead", "email", msgs)
    finally:
        ledger.close()
    s = send_messages("email", msgs, cfg=cfg, send_date=SEND_DATE)
    assert dict(s.reconciled) == {"ambiguous": 4} and s.ambiguous_batches == ["email-dead"]
    assert s.sent == 0 and s.already_in_ledger == {"ambiguous": 4} and s.requests == 0


def test_summary_accounts_for_every_message(tmp_path):
    cfg = DeliveryConfig.from_env(home=tmp_path, env={})
    ledger = SendLedger(cfg.warehouse_path)
    try:
        ledger.record_suppressions([("email", "person3@example.com", "unsubscribed", "C0000003", "webhook")])
        summary = ChannelSummary(channel="email", mode="sandbox")
        summary.add_plan({"audience": 12, "holdout": 1, "suppressed": {"no_consent": 1}, "eligible": 10})
        msgs = email_messages(10)
        msgs.append(replace(msgs[0], campaign_id="other"))
        s = send_messages("email", msgs[:5], cfg=cfg, send_date=SEND_DATE, ledger=ledger)
        s = send_messages("email", msgs, cfg=cfg, send_date=SEND_DATE, ledger=ledger, summary=summary)
    finally:
        ledger.close()
    md = s.to_metadata()
    assert md["audience"] == 12 and md["suppressed_by_reason"] == {"no_consent": 1}
    assert s.offered == 11 == s.accounted()
    assert md["suppressed_at_send"] == {"unsubscribed": 1} and md["already_in_ledger"] == {"sent": 4}
    assert md["sent"] == 6 and md["sample"]["personalization"]["to"][0]["email"].endswith("@example.com")


def test_same_key_twice_in_one_run_is_sent_once(tmp_path):
    cfg = DeliveryConfig.from_env(home=tmp_path, env={})
    msgs = email_messages(5)
    s = send_messages("email", msgs + [msgs[2]], cfg=cfg, send_date=SEND_DATE)
    assert s.sent == 5 and s.duplicate_in_input == 1 and s.accounted() == 6
    rec = json.loads((tmp_path / "outbox/email/2025-03-14/sendgrid.jsonl").read_text(encoding="utf-8"))
    assert len(rec["body"]["personalizations"]) == 5


def test_operator_commands_named_in_the_summary_work(tmp_path):
    from click.testing import CliRunner

    from crmloop.cli import main

    cfg = live_config(tmp_path, CRM_SENDGRID_BASE_URL="http://127.0.0.1:9")  # never contacted
    msgs = email_messages(6)
    ledger = SendLedger(cfg.warehouse_path)
    try:
        ledger.mark_pending("email-dead-1", "email", msgs[:3])
        ledger.mark_pending("email-dead-2", "email", msgs[3:])
    finally:
        ledger.close()
    s = send_messages("email", msgs, cfg=cfg, send_date=SEND_DATE)
    action = s.to_metadata()["operator_action"]
    assert "6 email recipient(s) in 2 batch(es)" in action
    cli = CliRunner()
    listed = cli.invoke(main, ["ledger", "ambiguous", "--home", str(tmp_path)])
    assert listed.exit_code == 0 and "email-dead-1" in listed.output and "email-dead-2" in listed.output
    assert "crmloop ledger release email-dead-1" in action
    out = cli.invoke(main, ["ledger", "release", "email-dead-1", "--home", str(tmp_path)])
    assert out.exit_code == 0 and "released 3" in out.output
    out = cli.invoke(main, ["ledger", "confirm-sent", "email-dead-2", "--home", str(tmp_path)])
    assert out.exit_code == 0 and "marked 3" in out.output
    again = cli.invoke(main, ["ledger", "release", "email-dead-1", "--home", str(tmp_path)])
    assert again.exit_code != 0 and "no ambiguous rows" in again.output
    ledger = SendLedger(cfg.warehouse_path)
    try:
        rows = dict(
            ledger.con.execute(
                "SELECT batch_id, string_agg(DISTINCT status || ':' || retryable, ',') "
                "FROM activations.send_ledger GROUP BY batch_id"
            ).fetchall()
        )
    finally:
        ledger.close()
    assert rows == {"email-dead-1": "failed:true", "email-dead-2": "sent:false"}


def test_ledger_written_before_scheduled_at_is_migrated_and_reexamined(tmp_path):
    import duckdb

    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE SCHEMA activations; CREATE TABLE activations.send_ledger (campaign_id VARCHAR NOT NULL, "
        "customer_id VARCHAR NOT NULL, channel VARCHAR NOT NULL, send_date DATE NOT NULL, send_id VARCHAR "
        "NOT NULL, batch_id VARCHAR NOT NULL, address VARCHAR, content_hash VARCHAR, status VARCHAR NOT NULL, "
        "reason VARCHAR, retryable BOOLEAN NOT NULL DEFAULT FALSE, provider_id VARCHAR, intent_at TIMESTAMP "
        "NOT NULL, outcome_at TIMESTAMP, PRIMARY KEY (campaign_id, customer_id, channel, send_date))"
    )
    con.execute(
        "INSERT INTO activations.send_ledger VALUES ('welcome', 'C1', 'email', DATE '2025-03-14', 's1', "
        "'email-old', 'a@example.com', NULL, 'ambiguous', 'dropped', FALSE, NULL, TIMESTAMP '2025-03-14 01:00', NULL)"
    )
    con.close()
    ledger = SendLedger(path)
    try:
        (row,) = ledger.unresolved("email")  # ambiguous rows are looked at again every run
        assert (row.batch_id, row.status, row.scheduled_at) == ("email-old", "ambiguous", None)
        assert ledger.ambiguous_batches("email") == {"email-old": 1}
    finally:
        ledger.close()
