"""The campaign state is checked like every lake source: its step (the real Dagster asset) ingests
the run's files, the quality checks of lake/campaign_sends validate the send date's partition
(partition D sends on D + 1), and a failed ERROR check blocks what reads it."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pytest

from orchestration.defs.activation import CAMPAIGN_SENDS, build_campaign_state
from orchestration.defs.partitions import ONE_DAY_PER_RUN
from orchestration.defs.quality import ERROR_CHECK, WARN_CHECK, lake_quality_checks
from orchestration.defs.resources import CrmSettings
from tests.campaigns.scenario import EMAIL_CAMPAIGN, SEND, email, write_state_warehouse

PARTITION = (SEND - timedelta(days=1)).isoformat()


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "crm"
    home.mkdir()
    monkeypatch.setenv("CRM_HOME", str(home))
    monkeypatch.setenv("CRM_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("CRM_START_DATE", "2025-05-01")
    monkeypatch.setenv("CRM_AS_OF", PARTITION)
    return home


def _state(home, blank_ids: int) -> None:
    """20 audience members of the email campaign on SEND, the first `blank_ids` without an id
    (n spaces each: distinct members, blank after trimming)."""
    (home / "warehouse.duckdb").unlink(missing_ok=True)
    audience = [
        (
            EMAIL_CAMPAIGN,
            " " * n if n <= blank_ids else f"C{n}",
            "email",
            False,
            "segment",
            email(n),
            SEND,
            SEND,
        )
        for n in range(1, 21)
    ]
    write_state_warehouse(
        home / "warehouse.duckdb", audience, [], [(EMAIL_CAMPAIGN, "C20", "email", email(20), "sent", None)]
    )


def _defs(home):
    parts = dg.DailyPartitionsDefinition(start_date="2025-05-01", timezone="Asia/Bangkok")

    @dg.asset(deps=[CAMPAIGN_SENDS], partitions_def=parts, backfill_policy=ONE_DAY_PER_RUN)
    def campaign_results(context) -> None:
        (home / f"results-{context.partition_key}.done").write_text("built")

    checks = [
        c
        for c in lake_quality_checks(partitions_def=parts)
        if CAMPAIGN_SENDS in {k.asset_key for k in c.check_keys}
    ]
    return [build_campaign_state(parts), campaign_results, *checks]


def test_a_campaign_state_with_quarantined_rows_fails_its_error_check_and_blocks_the_results(home):
    instance = dg.DagsterInstance.ephemeral()
    resources = {"crm": CrmSettings()}
    _state(home, blank_ids=10)
    result = dg.materialize(
        _defs(home), partition_key=PARTITION, resources=resources, instance=instance, raise_on_error=False
    )
    assert not result.success
    sends = next(m for m in result.get_asset_materialization_events() if m.asset_key == CAMPAIGN_SENDS)
    meta = sends.materialization.metadata
    assert (meta["rows_in"].value, meta["rows_loaded"].value, meta["rows_quarantined"].value) == (20, 10, 10)
    evals = {e.check_name: e for e in result.get_asset_check_evaluations() if e.asset_key == CAMPAIGN_SENDS}
    err = evals[ERROR_CHECK]
    assert not err.passed
    assert err.metadata["target"].value == f"campaign_sends@{SEND.isoformat()}"
    assert "rows.quarantined_share" in err.metadata["failures"].value
    assert not (home / f"results-{PARTITION}.done").exists()

    _state(home, blank_ids=0)  # the corrected state: the rerun replaces the partition and passes
    rerun = dg.materialize(
        _defs(home), partition_key=PARTITION, resources=resources, instance=instance, raise_on_error=False
    )
    assert rerun.success
    evals = {e.check_name: e for e in rerun.get_asset_check_evaluations() if e.asset_key == CAMPAIGN_SENDS}
    assert evals[ERROR_CHECK].passed and evals[WARN_CHECK].passed
    assert (home / f"results-{PARTITION}.done").read_text() == "built"
