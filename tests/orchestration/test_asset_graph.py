"""A snapshot of the asset graph: every asset, its upstream assets and its checks.

A change to the graph must be deliberate: regenerate with syrupy,
    .venv/bin/pytest tests/orchestration/test_asset_graph.py --snapshot-update
and review the diff of __snapshots__/test_asset_graph.ambr. A missing snapshot fails (syrupy
never writes one unless asked).
"""

import dagster as dg

from sources import load_declarations


def render_graph(defs: dg.Definitions) -> str:
    graph = defs.resolve_asset_graph()
    lines = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        parents = sorted(p.to_user_string() for p in node.parent_keys)
        checks = sorted(c.name for c in node.check_keys)
        lines.append(f"{key.to_user_string()} <- [{', '.join(parents)}] checks={len(checks)}")
        for c in checks:
            lines.append(f"    check {c}")
    return "\n".join(lines) + "\n"


def test_asset_graph_matches_snapshot(defs, snapshot):
    assert render_graph(defs) == snapshot


def test_every_declared_source_is_a_partitioned_ingestion_asset_with_gates(defs):
    graph = defs.resolve_asset_graph()
    for name in load_declarations():
        key = dg.AssetKey(["lake", name])
        node = graph.get(key)
        assert node.partitions_def is not None, name
        check_names = {c.name for c in node.check_keys}
        assert {"quality_error", "quality_warn"} <= check_names, (name, check_names)


def test_customer_model_depends_on_every_source_of_its_entity(defs):
    graph = defs.resolve_asset_graph()
    stg = graph.get(dg.AssetKey(["warehouse", "stg_customers"]))
    parents = {p.to_user_string() for p in stg.parent_keys}
    assert {"lake/customers", "lake/dealer_customers"} <= parents


def test_dbt_tests_are_asset_checks(defs):
    graph = defs.resolve_asset_graph()
    ranks = graph.get(dg.AssetKey(["warehouse", "customer_ranks"]))
    assert any(c.name.startswith(("not_null", "unique", "accepted")) for c in ranks.check_keys)


def test_schedule_runs_partition_at_0200_bangkok(defs):
    schedule = defs.resolve_schedule_def("daily_0200_bangkok")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "Asia/Bangkok"
