"""Results that respect time, on the scenario of scenario.py (regular_winback and prospect_welcome
sent on 2025-06-01, 30-day KPI windows) built as of three dates: the run as of 2025-05-31 (the
run of day D sends on D + 1, so these are its own sends), mid-window (2025-06-10) and after the
window closed (conftest's AS_OF, 2025-07-05)."""

from __future__ import annotations

from datetime import date

import pytest

from activations.delivery.campaign_state import export_campaign_state
from activations.exports.campaign_report import NOT_BUILT, write_report
from activations.plan.spec import load_plan
from orchestration.defs.activation import send_date_for
from tests.campaigns.conftest import PLAN, SELECT, release_dbt_connection
from tests.campaigns.scenario import (
    EMAIL_CAMPAIGN,
    SEND,
    SMS_CAMPAIGN,
    build_feedback_lake,
    build_state_warehouse,
)
from tests.dbt.dbt_helpers import dbt_in_process, query

RUN_OF_SEND = "2025-05-31"  # the daily run whose sends are those of SEND
MID_WINDOW = "2025-06-10"


@pytest.fixture(scope="module")
def build_as_of(tmp_path_factory):
    cache: dict[str, dict] = {}

    def build(as_of: str) -> dict:
        if as_of not in cache:
            root = tmp_path_factory.mktemp(f"as_of_{as_of}")
            lake, wh = root / "lake", root / "wh" / "warehouse.duckdb"
            wh.parent.mkdir()
            build_state_warehouse(wh)
            build_feedback_lake(lake)
            export_campaign_state(
                wh,
                lake,
                load_plan(PLAN),
                SEND,
                state_dir=root / "campaign_state",
                quarantine_dir=root / "quarantine",
            )
            dbt_in_process(
                ["build", *SELECT, "--exclude-resource-type", "unit_test"],
                warehouse=wh,
                lake=lake,
                work=root / "w",
                as_of=as_of,
            )
            release_dbt_connection()
            cache[as_of] = {"root": root, "warehouse": wh}
        return cache[as_of]

    return build


def _cohort(warehouse, campaign):
    return query(
        warehouse,
        "select send_date, sent, kpi_actual, kpi_window_day, kpi_state, kpi_status, kpi_met, diagnosis_code"
        f" from marts.campaign_results where campaign_id = '{campaign}'",
    )


def test_the_run_sees_the_sends_it_made(build_as_of):
    """The run as of 2025-05-31 sent on 2025-06-01: its results show those sends, in progress on
    day 1 of the window, with the interim actual (nothing has come back yet)."""
    assert send_date_for(RUN_OF_SEND) == SEND
    wh = build_as_of(RUN_OF_SEND)["warehouse"]
    assert _cohort(wh, EMAIL_CAMPAIGN) == [
        (SEND, 53, 0.0, 1, "in progress", "in progress (day 1 of 30)", None, None)
    ]
    assert _cohort(wh, SMS_CAMPAIGN) == [
        (SEND, 20, 0.0, 1, "in progress", "in progress (day 1 of 30)", None, None)
    ]


def test_report_of_a_send_day_is_filed_with_its_exports_and_shows_the_sends(build_as_of, tmp_path):
    wh = build_as_of(RUN_OF_SEND)["warehouse"]
    path = write_report(wh, tmp_path / "reports", date.fromisoformat(RUN_OF_SEND), SEND)
    assert (
        path == tmp_path / "reports" / SEND.isoformat() / "campaign_report.html"
    )  # like exports/<send_date>/
    text = path.read_text(encoding="utf-8")
    assert NOT_BUILT not in text
    assert f"sends of {SEND.isoformat()} (run as of {RUN_OF_SEND})" in text
    assert (
        # identifiers wrap after an underscore (<wbr>); numbers and dates never wrap (class n)
        f"<td>{EMAIL_CAMPAIGN.replace('_', '_<wbr>')}</td><td>email</td><td class='n'>{SEND.isoformat()}</td>"
        "<td class='n'>100</td><td class='n'>40</td><td class='n'>5</td><td class='n'>53</td>" in text
    )
    assert "in progress (day 1 of 30)" in text
    assert "No KPI window has closed yet: the first verdict comes with the data of 2025-06-30." in text


def test_kpi_stays_in_progress_until_its_window_closes(build_as_of, built):
    mid = _cohort(build_as_of(MID_WINDOW)["warehouse"], EMAIL_CAMPAIGN)
    # 3 applications of 53 sent so far (responses of 06-05), not judged although below the 15% target
    assert mid == [
        (SEND, 53, pytest.approx(3 / 53), 11, "in progress", "in progress (day 11 of 30)", None, None)
    ]
    closed = _cohort(built["warehouse"], EMAIL_CAMPAIGN)
    assert closed == [(SEND, 53, pytest.approx(3 / 53), 30, "missed", "missed", False, "application_process")]


def test_cli_kpi_table_shows_status_with_interim_actual(build_as_of, built, monkeypatch):
    from rich.console import Console

    from crmloop import summary
    from crmloop.settings import Settings

    def kpi_lines(warehouse) -> list[str]:
        monkeypatch.setenv("CRM_HOME", str(warehouse.parent))
        monkeypatch.setattr(summary, "console", Console(width=250, record=True))
        summary.print_kpis(Settings.from_env())
        text = summary.console.export_text()
        return [
            " ".join(line.replace("│", " ").split()) for line in text.splitlines() if EMAIL_CAMPAIGN in line
        ]

    assert kpi_lines(build_as_of(MID_WINDOW)["warehouse"]) == [
        f"{EMAIL_CAMPAIGN} email 2025-06-01 apply_rate 15.0% 5.7% 53 in progress (day 11 of 30)"
    ]
    assert kpi_lines(built["warehouse"]) == [
        f"{EMAIL_CAMPAIGN} email 2025-06-01 apply_rate 15.0% 5.7% 53 missed the application process was too"
        " complicated: people clicked but few applied"
    ]
