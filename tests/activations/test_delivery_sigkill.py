"""SIGKILL a delivery run at random points, rerun, repeat: everyone eligible gets exactly one
message, nobody opted out gets any (fakes in this process, the sender in a subprocess).

Email cases: with the Email Activity look-up; without it but with scheduled SendGrid batches
(the default: unconfirmed batches are cancelled and sent again), also under 10 % provider
faults; and without either, where unconfirmed batches are held for an operator."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from activations.delivery.ledger import SendLedger
from tests.activations.delivery_helpers import TW_SID, TW_TOKEN, email_messages, sms_messages
from tests.fakes.providers import FakeSendGrid, FakeTwilio

REPO = Path(__file__).resolve().parents[2]
N_EMAIL, N_SMS = 3000, 600


def _opt_out(home: Path) -> tuple[set[str], set[str]]:
    """Seed the suppression list the way webhooks would: unsubscribes and STOPs."""
    emails = {f"person{i}@example.com" for i in range(0, N_EMAIL, 37)}
    phones = {f"+6681{i:07d}" for i in range(0, N_SMS, 29)}
    ledger = SendLedger(home / "warehouse.duckdb")
    try:
        ledger.record_suppressions(
            [("email", a, "unsubscribed", None, "webhook") for a in emails]
            + [("sms", p, "sms_stop", None, "webhook") for p in phones]
        )
    finally:
        ledger.close()
    return emails, phones


def _run(home: Path, sg, tw, lookup: int, lead: int, kill_after: float | None) -> int | None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.activations.delivery_crash_worker",
            str(home),
            sg.url,
            tw.url,
            str(N_EMAIL),
            str(N_SMS),
            str(lookup),
            str(lead),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    if kill_after is None:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-2000:]
        return 0
    try:
        proc.wait(timeout=kill_after)
        return proc.returncode
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return None


@pytest.mark.slow
@pytest.mark.parametrize(
    ("lookup", "lead", "faults"),
    [(1, 1200, 0.0), (0, 1200, 0.10), (0, 0, 0.0)],
    ids=["activity-lookup", "scheduled-batches-with-faults", "neither"],
)
def test_sigkill_rerun_exactly_once(tmp_path, lookup, lead, faults):
    rng = random.Random(20250314 + lookup + lead)
    fault_knobs = {"error_rate": faults / 2, "drop_rate": faults / 2, "drop_after_processing": True}
    with (
        FakeSendGrid(api_key="SG.test-key", **fault_knobs) as sg,
        FakeTwilio(account_sid=TW_SID, auth_token=TW_TOKEN, **fault_knobs) as tw,
    ):
        opted_email, opted_sms = _opt_out(tmp_path)
        kills = 0
        for _ in range(7):
            if _run(tmp_path, sg, tw, lookup, lead, kill_after=rng.uniform(1.5, 7.0)) is None:
                kills += 1
        _run(tmp_path, sg, tw, lookup, lead, kill_after=None)  # the last rerun finishes
        assert kills >= 3
        if faults:
            assert sg.stats["dropped_after_processing"] > 0 and sg.stats["500"] + sg.stats["502"] > 0
        if lead and not lookup:
            assert sg.stats["cancelled_batches"] > 0  # unconfirmed batches were cancelled, then resent
        ledger = SendLedger(tmp_path / "warehouse.duckdb")
        try:
            rows = ledger.con.execute(
                "SELECT channel, address, status FROM activations.send_ledger"
            ).fetchall()
        finally:
            ledger.close()
    status = {(c, a): s for c, a, s in rows}
    assert "pending" not in status.values()
    got_email = {a: n for (a, _), n in sg.received.items()}
    got_sms = {to: n for (to, _), n in tw.received.items()}
    assert max(got_email.values()) == 1 and max(got_sms.values()) == 1, "somebody got two messages"
    assert not (set(got_email) & opted_email) and not (set(got_sms) & opted_sms), (
        "an opted-out person got a message"
    )
    eligible_email = {m.to for m in email_messages(N_EMAIL)} - opted_email
    eligible_sms = {m.to for m in sms_messages(N_SMS)} - opted_sms
    assert set(got_sms) == eligible_sms  # Twilio lookups reconcile every crash exactly
    if lookup or lead:
        assert set(got_email) == eligible_email  # 0 lost
        assert "ambiguous" not in status.values()  # 0 ambiguous left
        assert {a for (c, a), s in status.items() if c == "email" and s == "sent"} == eligible_email
    else:
        # without the Email Activity API nobody is resent blindly: those not received are
        # exactly reported as ambiguous (and a person reported ambiguous may have received it)
        missing = eligible_email - set(got_email)
        ambiguous = {a for (c, a), s in status.items() if c == "email" and s == "ambiguous"}
        assert missing <= ambiguous
        assert {a for (c, a), s in status.items() if c == "email" and s == "sent"} <= set(got_email)
