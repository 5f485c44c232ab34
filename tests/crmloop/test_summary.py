"""The run summary names every rejected file with its reason and the quarantined rows per source
with their top reasons; when a gate blocks, the log it points to holds the failure in full."""

from __future__ import annotations

import io
from datetime import date

import dagster as dg
import pytest
from rich.console import Console

import crmloop.summary as summary
from crmloop.runner import execute_partition
from crmloop.settings import Settings
from orchestration.defs.automation import INGEST_JOB, jobs
from orchestration.defs.ingestion import ingestion_assets
from orchestration.defs.quality import lake_quality_checks
from orchestration.defs.resources import CrmSettings
from sources import load_declarations

DAY = date(2026, 11, 20)
GOOD = """system,customer_id,email
pos,C1,a@example.com
pos,C2,b@example.com
pos,,c@example.com
,C4,d@example.com
pos,,e@example.com
"""
NO_ID_COLUMN = "system,email\npos,x@example.com\npos,y@example.com\n"


@pytest.fixture(scope="module")
def blocked(tmp_path_factory):
    """One ingestion run of DAY: customers/good.csv has 3 rows without a customer id and 1 without a
    source system; customers/no_id.csv lacks the required id column (rejected whole: ERROR)."""
    root = tmp_path_factory.mktemp("summary")
    part = root / "landing" / "customers" / DAY.isoformat()
    part.mkdir(parents=True)
    (part / "good.csv").write_text(GOOD, encoding="utf-8")
    (part / "no_id.csv").write_text(NO_ID_COLUMN, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRM_HOME", str(root / "home"))
        mp.setenv("CRM_LANDING_DIR", str(root / "landing"))
        mp.setenv("CRM_START_DATE", "2024-01-01")
        mp.setenv("CRM_AS_OF", DAY.isoformat())
        defs = dg.Definitions(
            assets=ingestion_assets(),
            asset_checks=lake_quality_checks(),
            jobs=[jobs()[1]],
            resources={"crm": CrmSettings()},
            executor=dg.in_process_executor,
        )
        with dg.DagsterInstance.ephemeral() as instance:
            outcome = execute_partition(defs, INGEST_JOB, DAY.isoformat(), instance)
        buf = io.StringIO()
        mp.setattr(summary, "console", Console(file=buf, width=100, color_system=None))
        summary.print_summary(Settings.from_env(), [outcome], elapsed=1.0)
    return outcome, buf.getvalue()


def test_summary_names_the_rejected_file_with_its_reason(blocked):
    outcome, text = blocked
    assert not outcome.success
    assert "lake/customers:quality_error (ERROR)" in " ".join(outcome.failed_checks)
    id_aliases = ", ".join(load_declarations()["customers"].columns["source_customer_id"].aliases)
    assert (
        f"    rejected file customers/{DAY}/no_id.csv: missing required column(s): "
        f"source_customer_id (accepted: {id_aliases})"
    ) in text.splitlines()


def test_summary_gives_quarantined_rows_per_source_with_top_reasons(blocked):
    _, text = blocked
    assert (
        f"  lake/customers {DAY}: 7 rows in, 2 loaded, 3 quarantined, 2 in rejected files "
        "(top reasons: missing:source_customer_id 2, missing:source_system 1)"
    ) in text.splitlines()
    others = len(load_declarations()) - 1
    assert f"  {others} source(s) loaded every row (0 rows), no file rejected" in text.splitlines()


def test_the_log_the_summary_points_to_holds_the_failure(blocked):
    outcome, text = blocked
    assert f"  details (every failed step and check in full): {outcome.log}" in text.splitlines()
    log = outcome.log.read_text(encoding="utf-8")
    assert "==== check lake/customers:quality_error failed (ERROR) ====" in log
    assert "files.none_rejected" in log
    assert f"customers/{DAY}/no_id.csv" in log
    assert "ASSET_MATERIALIZATION lake__customers" in log
