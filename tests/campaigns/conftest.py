"""The campaign scenario built once per test session: state warehouse → export → dbt build (in process)."""

from __future__ import annotations

import pytest

from activations.delivery.campaign_state import export_campaign_state
from activations.plan.spec import DEFAULT_PLAN_PATH, load_plan
from tests.campaigns.scenario import AS_OF, SEND, build_feedback_lake, build_state_warehouse
from tests.dbt.dbt_helpers import dbt_in_process

PLAN = DEFAULT_PLAN_PATH
PREVIOUS = "2025-06-20"  # an earlier business date (ranks only)
SELECT = [
    "--select",
    "+campaign_results+",
    "+campaign_lift",
    "+campaign_suppression_reasons",
    "+ad_match_rates",
    "+rank_summary",
    "+rank_migration",
]


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("campaigns")
    lake, warehouse = root / "lake", root / "wh" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    build_state_warehouse(warehouse)
    build_feedback_lake(lake)
    exported = export_campaign_state(
        warehouse,
        lake,
        load_plan(PLAN),
        SEND,
        state_dir=root / "campaign_state",
        quarantine_dir=root / "quarantine",
    )
    # an earlier run of the ranks, so rank_migration has a previous run to compare with
    dbt_in_process(
        [
            "build",
            "--select",
            "+customer_rank_history",
            "--exclude-resource-type",
            "test",
            "--exclude-resource-type",
            "unit_test",
        ],
        warehouse=warehouse,
        lake=lake,
        work=root / "w0",
        as_of=PREVIOUS,
    )
    results = dbt_in_process(["build", *SELECT], warehouse=warehouse, lake=lake, work=root / "w", as_of=AS_OF)
    release_dbt_connection()
    return {"root": root, "lake": lake, "warehouse": warehouse, "exported": exported, "results": results}


def release_dbt_connection() -> None:
    """dbt-duckdb keeps its (read-write) connection to the warehouse open in this process; close it so
    the code under test can open the file read-only, as it does in production (dbt in a subprocess)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    env = DuckDBConnectionManager._ENV
    if env is not None:
        env.close()
    DuckDBConnectionManager.close_all_connections()
