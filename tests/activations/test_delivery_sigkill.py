"""SIGKILL a delivery run at random points, rerun, repeat: everyone eligible gets exactly one
message, nobody opted out gets any (fakes in this process, the sender in a subprocess)."""

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


def _run(home: Path, sg, tw, lookup: int, kill_after: float | None) -> int | None:
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
@pytest.mark.parametrize("lookup", [1, 0])
def test_sigkill_rerun_exactly_once(tmp_path, lookup):
    rng = random.Random(20250314 + lookup)
    with FakeSendGrid(api_key="SG.test-key") as sg, FakeTwilio(account_sid=TW_SID, auth_token=TW_TOKEN) as tw:
        sg.drop_after_processing = True
        opted_email, opted_sms = _opt_out(tmp_path)
        kills = 0
        for _ in range(7):
            if _run(tmp_path, sg, tw, lookup, kill_after=rng.uniform(1.5, 7.0)) is None:
                kills += 1
        _run(tmp_path, sg, tw, lookup, kill_after=None)  # the last rerun finishes
        assert kills >= 3
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
    if lookup:
        assert set(got_email) == eligible_email
        assert "ambiguous" not in status.values()
    else:
        # without the Email Activity API nobody is resent blindly: those not received are
        # exactly reported as ambiguous (and a person reported ambiguous may have received it)
        missing = eligible_email - set(got_email)
        ambiguous = {a for (c, a), s in status.items() if c == "email" and s == "ambiguous"}
        assert missing <= ambiguous
        assert {a for (c, a), s in status.items() if c == "email" and s == "sent"} <= set(got_email)
