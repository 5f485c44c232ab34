"""The Dagster factory: a broken partition fails the ERROR check, which blocks everything downstream."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from orchestration.defs.ingestion import ingestion_key as lake_key
from orchestration.defs.quality import ERROR_CHECK, WARN_CHECK, build_lake_check
from orchestration.defs.resources import CrmSettings
from tests.quality.conftest import AS_OF
from tests.quality.lakegen import build_clean_lake, orders_table, write_partition


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "crm"
    monkeypatch.delenv("CRM_SERVE_PORT", raising=False)
    monkeypatch.setenv("CRM_HOME", str(home))
    monkeypatch.setenv("CRM_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("CRM_START_DATE", "2025-03-01")
    monkeypatch.setenv("CRM_AS_OF", AS_OF.isoformat())
    build_clean_lake(home / "lake", AS_OF)
    return home


def _defs(home, volume: dict):
    parts = dg.DailyPartitionsDefinition(start_date="2025-03-01", timezone="Asia/Bangkok")

    @dg.asset(key=lake_key("pos_orders"), partitions_def=parts)
    def pos_orders(context) -> None:
        d = date.fromisoformat(context.partition_key)
        ids = [f"C{i:07d}" for i in range(200)]
        write_partition(home / "lake", "orders", "pos_orders", d, orders_table(volume["n"], ids, d, seed=7))

    @dg.asset(deps=[pos_orders], partitions_def=parts)
    def customer_model(context) -> None:
        (home / f"model-{context.partition_key}.done").write_text("built")

    return [pos_orders, customer_model, build_lake_check("pos_orders", "orders", partitions_def=parts)]


def _evaluations(result):
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_broken_partition_blocks_downstream_and_fixed_rerun_proceeds(home):
    volume = {"n": 10}  # 10% of the trailing average of 100 rows
    defs = _defs(home, volume)
    instance = dg.DagsterInstance.ephemeral()
    resources = {"crm": CrmSettings()}
    result = dg.materialize(
        defs, partition_key=AS_OF.isoformat(), resources=resources, instance=instance, raise_on_error=False
    )
    assert not result.success
    evals = _evaluations(result)
    err = evals[ERROR_CHECK]
    assert not err.passed and err.severity == dg.AssetCheckSeverity.ERROR
    assert err.asset_key == lake_key("pos_orders")
    md = err.metadata
    assert md["failed_expectations"].value == 1
    assert "volume.within_band" in md["failures"].value and "allowed 50..150" in md["failures"].value
    assert md["failures_json"].value[0]["name"] == "volume.within_band"
    docs = md["data_docs"].value
    assert docs.startswith(str(home / "data_docs")) and (home / "data_docs" / "index.html").is_file()
    # the link the UI shows opens the same page through `crmloop serve` (CRM_SERVE_PORT unset: 8788)
    page = Path(docs).relative_to(home / "data_docs").as_posix()
    assert md["data_docs_url"].value == f"http://127.0.0.1:8788/data_docs/{page}"
    assert evals[WARN_CHECK].passed and evals[WARN_CHECK].severity == dg.AssetCheckSeverity.WARN
    # blocking: the downstream asset did not run
    assert not (home / f"model-{AS_OF}.done").exists()
    assert [m.asset_key for m in result.get_asset_materialization_events()] == [lake_key("pos_orders")]
    failure = [e for e in result.all_events if e.is_step_failure]
    assert failure and "blocking asset check failed" in str(failure[0].event_specific_data.error.message)

    volume["n"] = 95  # the corrected extract
    rerun = dg.materialize(
        defs, partition_key=AS_OF.isoformat(), resources=resources, instance=instance, raise_on_error=False
    )
    assert rerun.success
    assert all(e.passed for e in rerun.get_asset_check_evaluations())
    assert (home / f"model-{AS_OF}.done").read_text() == "built"


def test_factory_builds_one_check_pair_per_source():
    from orchestration.defs.quality import lake_quality_checks

    parts = dg.DailyPartitionsDefinition(start_date="2025-03-01", timezone="Asia/Bangkok")
    defs = lake_quality_checks({"pos_orders": "orders", "crm_customers": "customers"}, partitions_def=parts)
    keys = {k for d in defs for k in d.check_keys}
    assert keys == {
        dg.AssetCheckKey(lake_key(s), name)
        for s in ("pos_orders", "crm_customers")
        for name in (ERROR_CHECK, WARN_CHECK)
    }
    specs = {s.key.name: s for d in defs for s in d.check_specs}
    assert specs[ERROR_CHECK].blocking and not specs[WARN_CHECK].blocking


def test_audience_check_blocks_export_when_an_opted_out_person_is_in_the_audience(home):
    import duckdb

    from orchestration.defs.quality import AUDIENCE_KEY, audience_quality_checks

    wh = home / "warehouse.duckdb"
    con = duckdb.connect(str(wh))
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE SCHEMA activations")
    con.execute(
        "CREATE TABLE marts.customer_profiles AS SELECT 'c' || i AS customer_id, 'opt_in' AS consent_email, "
        "'opt_in' AS consent_sms, 'opt_in' AS consent_phone, 'opt_in' AS consent_dm, 'opt_in' AS consent_ads "
        "FROM range(20) t(i)"
    )
    con.execute("UPDATE marts.customer_profiles SET consent_email = 'opt_out' WHERE customer_id = 'c7'")
    con.execute(
        "CREATE TABLE activations.campaign_audiences AS SELECT 'new_thanks' AS campaign_id, 'c' || i AS customer_id, "
        "'email' AS channel, false AS holdout, 'seg' AS reason_included, 'u' || i || '@example.com' AS address, "
        "DATE '2025-03-10' AS as_of, DATE '2025-03-11' AS send_date FROM range(20) t(i)"
    )
    con.close()

    @dg.asset(key=AUDIENCE_KEY)
    def campaign_audiences() -> None:
        return None

    @dg.asset(deps=[campaign_audiences])
    def email_export() -> None:
        (home / "exported").write_text("sent")

    result = dg.materialize(
        [campaign_audiences, email_export, *audience_quality_checks()],
        resources={"crm": CrmSettings()},
        raise_on_error=False,
    )
    assert not result.success
    err = _evaluations(result)[ERROR_CHECK]
    assert not err.passed and err.severity == dg.AssetCheckSeverity.ERROR
    assert "consent.no_opt_out" in err.metadata["failures"].value and "c7" in err.metadata["failures"].value
    assert not (home / "exported").exists()
