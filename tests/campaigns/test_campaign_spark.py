"""The campaign models are portable: the same scenario built on Spark (dbt-spark session mode,
local pyspark) gives the same campaign_results, campaign_lift and ad_match_rates as DuckDB."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from activations.delivery.campaign_state import export_campaign_state
from activations.plan.spec import load_plan
from tests.campaigns.conftest import PLAN, SELECT
from tests.campaigns.scenario import AS_OF, SEND, build_feedback_lake, build_state_warehouse
from tests.dbt.dbt_helpers import query, run_dbt

pytestmark = [pytest.mark.slow, pytest.mark.spark]

MARTS = {
    "campaign_results": "select campaign_id, channel, send_date, audience, holdout, suppressed, sent, delivered,"
    " bounced, unique_opens, unique_clicks, unsubscribed, responded_applied, converted_sent,"
    " round(kpi_actual, 9), kpi_actual_ci_high, kpi_window_last_day, kpi_window_day, kpi_status, diagnosis_code,"
    " diagnosis from {t} order by 1, 2, 3",
    "campaign_results_by_period": "select grain, period_start, campaign_id, channel, send_days, sent,"
    " round(kpi_actual, 9), kpi_status from {t} order by 1, 2, 3, 4",
    "campaign_lift": "select campaign_id, send_date, n_treatment, converted_treatment, n_holdout,"
    " converted_holdout, lift, lift_ci_low, lift_ci_high, significance from {t} order by 1, 2",
    "ad_match_rates": "select platform, campaign_id, audience_id, report_date, match_rate from {t} order by 1, 2, 3",
}


def test_campaign_marts_equal_on_spark(tmp_path):
    assert shutil.which("java"), "the Spark target needs Java 17 on PATH (local pyspark)"
    lake, wh = tmp_path / "lake", tmp_path / "duck" / "warehouse.duckdb"
    wh.parent.mkdir()
    spark_home = tmp_path / "spark"
    spark_home.mkdir()
    build_state_warehouse(wh)
    build_feedback_lake(lake)
    export_campaign_state(
        wh,
        lake,
        load_plan(PLAN),
        SEND,
        state_dir=tmp_path / "campaign_state",
        quarantine_dir=tmp_path / "quarantine",
    )
    run_dbt(["build", *SELECT], warehouse=wh, lake=lake, work=tmp_path / "d", as_of=AS_OF)
    run_dbt(
        ["build", *SELECT],
        warehouse=wh,
        lake=lake,
        work=tmp_path / "s",
        as_of=AS_OF,
        target="spark",
        extra_env={"CRM_SPARK_WAREHOUSE": str(spark_home)},
    )
    con = duckdb.connect()
    try:
        for mart, sql in MARTS.items():
            spark_rows = con.execute(
                sql.format(t=f"read_parquet('{spark_home}/marts.db/{mart}/**/*.parquet')")
            ).fetchall()
            duck_rows = query(wh, sql.format(t=f"marts.{mart}"))
            assert duck_rows, mart
            assert spark_rows == duck_rows, mart
    finally:
        con.close()
