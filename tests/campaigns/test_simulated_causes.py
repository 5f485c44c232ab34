"""The demo's simulated customers have causes a marketer would recognise, and the judged results
recover each one: DEMO_CAUSES on the default plan's four campaigns (3,000 people each, a 10%
holdout), sent on 2025-06-01; the simulator delivers the whole 30-day window's feedback on its
last day (2025-06-30), which goes through the ingestion room's own code into the lake; the
campaign models are built as of that day, when every window has just closed."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import pytest

from activations.delivery.campaign_state import export_campaign_state
from activations.plan.spec import DEFAULT_PLAN_PATH, load_plan
from bench.lake import write_partition
from crmloop.demo_data.simulated_customers import (
    DEMO_CAUSES,
    SENDS_SQL,
    FeedbackRates,
    simulate_feedback,
)
from sources.declarations import load_declarations
from sources.ingest import ingest_partition
from tests.campaigns.conftest import SELECT, release_dbt_connection
from tests.campaigns.scenario import SEND, cid, email, phone, write_state_warehouse
from tests.dbt.dbt_helpers import dbt_in_process, query
from tests.dbt.lake_fixtures import customer

WINDOW_LAST_DAY = date(2025, 6, 30)  # the default plan's 30-day windows
PEOPLE = 3000
# what the results must say about each campaign × channel, and the cause that makes it so
EXPECTED = {
    ("new_thank_you", "email"): "unclear_subject",  # unclear_subject
    ("regular_winback", "email"): "application_process",  # hard_application_form
    ("prospect_welcome", "email"): "email_too_long",  # long_body
    ("prospect_welcome", "sms"): "target_unrealistic_for_segment",  # target_too_high
    ("prospect_welcome", "ads"): "target_unrealistic_for_segment",  # target_too_high
    ("vip_party", "phone"): "no_lift",  # would_buy_anyway
    ("vip_party", "direct_mail"): "no_lift",  # would_buy_anyway
}


def _state_warehouse(warehouse, plan) -> None:
    """Audiences of SEND for every campaign of the plan (PEOPLE each, every 10th held out) and the
    ledger rows of its email / SMS sends, as activations would write them."""
    aud, led = [], []
    for k, campaign in enumerate(plan.campaigns):
        for n in range(k * PEOPLE + 1, (k + 1) * PEOPLE + 1):
            holdout = n % 10 == 0
            for ch in campaign.channels:
                address = {"sms": phone(n), "phone": phone(n), "direct_mail": f"{n} Sukhumvit Rd"}.get(
                    ch, email(n)
                )
                aud.append((campaign.id, cid(n), ch, holdout, "segment", address, SEND, SEND))
                if not holdout and ch in ("email", "sms"):
                    led.append((campaign.id, cid(n), ch, address, "sent", None))
    write_state_warehouse(warehouse, aud, [], led)


@pytest.fixture(scope="module")
def declarations():
    return load_declarations()


def test_judged_results_recover_each_simulated_cause(tmp_path, declarations):
    plan = load_plan(DEFAULT_PLAN_PATH)
    assert set(DEMO_CAUSES) == {c.id for c in plan.campaigns}
    assert {(c.id, ch) for c in plan.campaigns for ch in c.channels} == set(EXPECTED)
    landing, lake, wh = tmp_path / "landing", tmp_path / "lake", tmp_path / "wh" / "warehouse.duckdb"
    wh.parent.mkdir()
    _state_warehouse(wh, plan)
    people = range(1, len(plan.campaigns) * PEOPLE + 1)
    write_partition(
        lake, "customers", "2025-01-01", [customer("pos", str(n), email=email(n)) for n in people]
    )
    for entity in ("orders", "order_lines", "products", "web_events", "consents", "support_tickets"):
        write_partition(lake, entity, "2025-01-01", [], source="empty")
    export_campaign_state(
        wh,
        lake,
        plan,
        SEND,
        state_dir=lake.parent / "campaign_state",
        quarantine_dir=lake.parent / "quarantine",
    )

    con = duckdb.connect(str(wh), read_only=True)
    try:
        sends = con.execute(SENDS_SQL, {"d": SEND}).df()
    finally:
        con.close()
    keys = pd.DataFrame(
        {
            "customer_id": [cid(n) for n in people],
            "source_system": "pos",
            "source_customer_id": [str(n) for n in people],
        }
    )
    simulate_feedback(
        sends,
        SEND,
        landing,
        day=WINDOW_LAST_DAY,
        seed=42,
        plan_path=DEFAULT_PLAN_PATH,
        rates=FeedbackRates(causes=DEMO_CAUSES),
        customer_keys=keys,
    )
    for name in sorted(p.name for p in landing.iterdir()):
        res = ingest_partition(
            declarations[name],
            landing_dir=landing,
            lake_dir=lake,
            quarantine_dir=tmp_path / "q",
            load_date=WINDOW_LAST_DAY,
        )
        assert res.rows_loaded > 0 and res.rows_quarantined == 0, (name, res.reason_counts)

    dbt_in_process(
        ["build", *SELECT, "--exclude-resource-type", "unit_test"],
        warehouse=wh,
        lake=lake,
        work=tmp_path / "w",
        as_of=WINDOW_LAST_DAY.isoformat(),
    )
    release_dbt_connection()
    got = {
        (c, ch): (state, code)
        for c, ch, state, code in query(
            wh, "select campaign_id, channel, kpi_state, diagnosis_code from marts.campaign_results"
        )
    }
    assert {k: code for k, (_, code) in got.items()} == EXPECTED
    assert {k: state for k, (state, _) in got.items()} == {
        k: ("met" if code == "no_lift" else "missed") for k, code in EXPECTED.items()
    }
    assert len(set(EXPECTED.values())) >= 4
