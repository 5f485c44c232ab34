"""A snapshot of the asset graph: every asset, its group, its upstream assets and its checks.

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
        lines.append(
            f"{key.to_user_string()} [{node.group_name}] <- [{', '.join(parents)}] checks={len(checks)}"
        )
        for c in checks:
            lines.append(f"    check {c}")
    return "\n".join(lines) + "\n"


def test_asset_graph_matches_snapshot(defs, snapshot):
    assert render_graph(defs) == snapshot


def test_every_declared_source_is_a_partitioned_ingestion_asset_with_gates(defs):
    """Delivered sources and those the run produces itself (campaign_sends, campaign_plan)."""
    graph = defs.resolve_asset_graph()
    for name in load_declarations(include_produced=True):
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


def test_dbt_assets_are_grouped_by_the_subject_folder_of_their_model(defs):
    """models/<layer>/<subject>/x.sql is in group <subject>, models/<layer>/x.sql in group <layer>,
    read here from each model's file path in the dbt manifest; every group fits a screen."""
    import json
    from collections import Counter
    from pathlib import PurePosixPath

    from crmloop.settings import Settings

    manifest = json.loads((Settings.from_env().dbt_target_dir / "manifest.json").read_text())
    graph = defs.resolve_asset_graph()
    seen = 0
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model":
            continue
        folder = PurePosixPath(node["original_file_path"]).parent  # models/<layer>[/<subject>]
        assert folder.parts[0] == "models" and len(folder.parts) in (2, 3), node["original_file_path"]
        asset = graph.get(dg.AssetKey(["warehouse", node["name"]]))
        assert asset.group_name == folder.name, (node["original_file_path"], asset.group_name)
        seen += 1
    # every model file on disk was looked at (models are .sql, or .py for dbt Python models)
    models_dir = Settings.from_env().dbt_project_dir / "models"
    assert seen == len([p for p in models_dir.rglob("*") if p.suffix in (".sql", ".py")])
    sizes = Counter(graph.get(k).group_name for k in graph.get_all_asset_keys())
    assert {"staging", "identity", "profiles_and_ranks", "campaigns"} <= set(sizes)
    assert "warehouse" not in sizes  # no catch-all group of every model
    assert max(sizes.values()) <= 25, sizes


def test_every_day_is_its_own_run_and_the_daily_job_resolves_without_a_warning(defs):
    """dbt reads its day as CRM_AS_OF: a backfill that built several days in one dbt run would
    build only one of them. dagster-dbt's default (single_run) did that, and Dagster warned at
    every load that the daily job mixes policies."""
    import warnings

    graph = defs.resolve_asset_graph()
    for key in graph.executable_asset_keys:
        node = graph.get(key)
        if node.is_partitioned:
            assert node.backfill_policy == dg.BackfillPolicy.multi_run(1), key.to_user_string()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        defs.resolve_job_def("daily_run")
