"""Freshness policies follow crmloop's one freshness setting (`CRM_DQ_FRESHNESS_DAYS`, per source
`CRM_DQ_<SOURCE>_FRESHNESS_DAYS`), read through Settings: every lake source and every daily mart."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dagster as dg

from crmloop.settings import Settings
from orchestration.defs.activation import build_campaign_state
from orchestration.defs.ingestion import ingestion_assets
from orchestration.defs.partitions import daily_partitions
from sources import load_declarations

MARTS = Path(__file__).resolve().parents[2] / "dbt_project" / "models" / "marts"


def _policy(days: int) -> dg.FreshnessPolicy:
    return dg.FreshnessPolicy.time_window(fail_window=timedelta(days=days))


def test_every_lake_source_has_the_freshness_policy_of_its_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CRM_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("CRM_START_DATE", "2024-01-01")
    monkeypatch.setenv("CRM_DQ_FRESHNESS_DAYS", "5")
    monkeypatch.setenv("CRM_DQ_ORDERS_FRESHNESS_DAYS", "9")  # one source's own threshold
    settings = Settings.from_env()
    parts = daily_partitions(settings)
    specs = {
        key.path[-1]: spec
        for a in [*ingestion_assets(parts, settings), build_campaign_state(parts, settings)]
        for key, spec in a.specs_by_key.items()
    }
    assert set(specs) == set(load_declarations(include_produced=True))
    policies = {name: spec.freshness_policy for name, spec in specs.items()}
    assert policies.pop("orders") == _policy(9)
    assert policies == dict.fromkeys(policies, _policy(5))


def test_every_daily_mart_has_the_freshness_policy_of_the_setting(defs):
    """The session's definitions (tests/orchestration/conftest.py) run with the default setting."""
    marts = {p.stem for p in MARTS.rglob("*.sql")}
    assert marts, "no mart models found"
    graph = defs.resolve_asset_graph()
    policies = {
        key.path[-1]: graph.get(key).freshness_policy
        for key in graph.get_all_asset_keys()
        if key.path[0] == "warehouse"
    }
    assert {m: policies[m] for m in marts} == dict.fromkeys(
        marts, _policy(2)
    )  # default CRM_DQ_FRESHNESS_DAYS
    staging = [n for n in policies if n.startswith("stg_")]
    assert staging and all(policies[n] is None for n in staging)
