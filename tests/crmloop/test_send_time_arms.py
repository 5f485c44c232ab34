"""The demo's send-time split: the simulated customers get each email's planned hour from the
warehouse (the arm the audience recorded, the person's best hour), and the end summary prints
the open rate per arm from the ledger and the lake's SendGrid opens."""

from __future__ import annotations

import io
from datetime import date

import duckdb
import pandas as pd
import pytest
from rich.console import Console

import crmloop.summary as summary
from activations.audiences.build import write_audiences
from activations.audiences.messages import send_id_for
from activations.audiences.suppression import SUPPRESSION_COLUMNS, write_suppressions
from activations.delivery.ledger import DDL as LEDGER_DDL
from activations.plan.spec import DEFAULT_PLAN_PATH
from crmloop.demo_data.simulated_customers import sends_from_warehouse
from crmloop.settings import Settings

SEND = date(2026, 11, 22)
CAMPAIGN = "new_thank_you"  # send_time personal, half at 10:00 (plan.yml)
# customer -> (arm, best hour, its source, sent, opened)
PEOPLE = {
    "C1": ("personal", 19, "personal", True, True),
    "C2": ("personal", 20, "fallback", True, False),
    "C3": ("personal", 7, "personal", True, True),
    "C4": ("control", 19, "personal", True, True),
    "C5": ("control", 8, "personal", True, False),
    "C6": ("control", 21, "personal", True, False),
    "C7": ("control", 12, "personal", False, False),  # in the audience, not sent (failed)
}


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CRM_AS_OF", "2026-11-21")
    settings = Settings.from_env()
    settings.home.mkdir(parents=True)
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        audience = pd.DataFrame(
            [
                (CAMPAIGN, c, "email", False, "segment", f"{c}@example.com", date(2026, 11, 21), SEND, arm)
                for c, (arm, *_rest) in PEOPLE.items()
            ]
            + [(CAMPAIGN, "C9", "email", True, "segment", "C9@example.com", date(2026, 11, 21), SEND, None)],
            columns=[
                "campaign_id", "customer_id", "channel", "holdout", "reason_included", "address", "as_of",
                "send_date", "send_time_arm",
            ],
        )  # fmt: skip
        write_audiences(con, audience, SEND)
        write_suppressions(con, pd.DataFrame(columns=SUPPRESSION_COLUMNS), SEND)
        con.execute(LEDGER_DDL)
        con.executemany(
            "insert into activations.send_ledger (campaign_id, customer_id, channel, send_date, send_id, batch_id,"
            " address, status, intent_at) values (?, ?, 'email', ?, ?, 'b1', ?, ?, timestamp '2026-11-21 19:00:00')",
            [
                (
                    CAMPAIGN,
                    c,
                    SEND,
                    send_id_for(CAMPAIGN, c, "email", SEND),
                    f"{c}@example.com",
                    "sent" if s else "failed",
                )
                for c, (_a, _h, _src, s, _o) in PEOPLE.items()
            ],
        )
        con.execute("create schema marts")
        con.execute(
            "create table marts.customer_identity (customer_id varchar, source_system varchar, source_customer_id varchar)"
        )
        con.execute(
            "create table marts.customer_profiles (customer_id varchar, best_send_hour integer, best_send_hour_source varchar)"
        )
        con.executemany(
            "insert into marts.customer_profiles values (?, ?, ?)",
            [(c, h, src) for c, (_a, h, src, _s, _o) in PEOPLE.items()] + [("C9", 9, "personal")],
        )
    finally:
        con.close()
    part = settings.lake_dir / "email_events" / "load_date=2026-11-22"
    part.mkdir(parents=True)
    events = [
        {"send_id": send_id_for(CAMPAIGN, c, "email", SEND), "event": ev}
        for c, (_a, _h, _src, sent, opened) in PEOPLE.items()
        if sent
        for ev in (["delivered", "open", "open"] if opened else ["delivered"])
    ]
    pd.DataFrame(events).to_parquet(part / "feedback.parquet")
    return settings


def test_simulated_sends_carry_the_planned_hour_and_the_persons_own_hour(home):
    sends, _keys = sends_from_warehouse(home.warehouse_path, SEND, DEFAULT_PLAN_PATH)
    got = {r.customer_id: (r.send_hour, r.best_send_hour) for r in sends.itertuples() if not r.holdout}
    # personal arm at the best hour, control at 10:00; a fallback hour is not the person's own
    assert got == {
        "C1": (19, 19),
        "C2": (20, None),
        "C3": (7, 7),
        "C4": (10, 19),
        "C5": (10, 8),
        "C6": (10, 21),
    }
    held = sends[sends["holdout"]]
    assert held["customer_id"].tolist() == ["C9"] and held["send_hour"].tolist() == [None]
    plain, _ = sends_from_warehouse(home.warehouse_path, SEND)
    assert "send_hour" not in plain and len(plain) == len(sends)


def test_summary_prints_the_open_rate_per_arm(home, monkeypatch):
    rows = summary.send_time_arm_rows(home, [SEND])
    assert rows == [
        {"campaign_id": CAMPAIGN, "arm": "personal", "sent": 3, "opened": 2},
        {"campaign_id": CAMPAIGN, "arm": "control", "sent": 3, "opened": 1},
    ]
    buf = io.StringIO()
    monkeypatch.setattr(summary, "console", Console(file=buf, width=120, color_system=None))
    summary.print_send_time_arms(home, [SEND])
    out = buf.getvalue()
    assert "personal vs control" in out
    assert "66.7%" in out and "33.3%" in out
    assert summary.send_time_arm_rows(home, [date(2026, 12, 1)]) == []  # no split sent then
