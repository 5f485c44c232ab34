import dagster as dg

from orchestration.defs.automation import landing_sensor


def _evaluate(cursor=None):
    ctx = dg.build_sensor_context(cursor=cursor)
    result = landing_sensor(ctx)
    return ctx, result


def test_landing_sensor_requests_a_run_per_new_partition_and_again_when_files_change(crm_env):
    landing = crm_env / "landing"
    (landing / "orders" / "2025-03-01").mkdir(parents=True)
    (landing / "orders" / "2025-03-01" / "a.csv").write_text("order_id\n1\n")
    (landing / "customers" / "2025-03-02").mkdir(parents=True)
    (landing / "customers" / "2025-03-02" / "c.csv").write_text("id\n1\n")

    ctx, result = _evaluate()
    assert sorted(r.partition_key for r in result) == ["2025-03-01", "2025-03-02"]

    # nothing new: skip
    ctx2, result2 = _evaluate(ctx.cursor)
    assert isinstance(result2, dg.SkipReason)

    # a late file for an already-seen date: run that date again
    (landing / "orders" / "2025-03-01" / "b.csv").write_text("order_id\n2\n")
    ctx3, result3 = _evaluate(ctx2.cursor)
    assert [r.partition_key for r in result3] == ["2025-03-01"]
    assert result3[0].run_key != result[0].run_key


def test_landing_sensor_ignores_dates_before_the_first_partition(crm_env, monkeypatch):
    landing = crm_env / "landing-early"
    monkeypatch.setenv("CRM_LANDING_DIR", str(landing))
    for day in ("2019-01-01", "2025-03-01"):
        (landing / "orders" / day).mkdir(parents=True)
        (landing / "orders" / day / "a.csv").write_text("order_id\n1\n")
    ctx, result = _evaluate()
    # a run for the partition that exists, none for the date before the first partition
    assert [r.partition_key for r in result] == ["2025-03-01"]


def test_corrected_files_for_an_older_held_back_partition_are_only_ingested_and_checked(crm_env, monkeypatch):
    from datetime import date

    from sources import partition_status as ps

    landing = crm_env / "landing-held"
    monkeypatch.setenv("CRM_LANDING_DIR", str(landing))
    for day in ("2025-04-01", "2025-04-02"):
        (landing / "orders" / day).mkdir(parents=True)
        (landing / "orders" / day / "a.csv").write_text("order_id\n1\n1\n")
    lake = crm_env / "home" / "lake"
    held = date(2025, 4, 1)
    ps.record_check(
        lake, "orders", "orders", held, passed=False, failures=["key.unique_per_file"],
        landing_fingerprint=ps.landing_fingerprint(landing, "orders", held),
    )  # fmt: skip
    ctx, _ = _evaluate()
    (landing / "orders" / "2025-04-01" / "a.csv").write_text("order_id\n1\n2\n3\n")  # the corrected file
    _, result = _evaluate(ctx.cursor)
    assert [r.partition_key for r in result] == ["2025-04-01"]
    assert result[0].asset_selection == [dg.AssetKey(["lake", "orders"])]


def _labels(condition) -> set[str]:
    out = {condition.get_label() or ""}
    for child in condition.children:
        out |= _labels(child)
    return out


def test_an_automation_condition_waits_for_the_blocking_checks_upstream(defs):
    """Blocking checks stop downstream assets only in their own run: any asset that Dagster's
    declarative automation may start on its own must wait until every upstream gate passed."""
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.automation_condition is not None:
            assert "all_deps_blocking_checks_passed" in _labels(node.automation_condition), key


def test_the_blocking_rule_tells_an_eager_condition_from_a_gated_one():
    """The detector the rule above relies on: eager alone fails it, eager waiting for gates passes."""
    eager = dg.AutomationCondition.eager()
    gated = eager & dg.AutomationCondition.all_deps_blocking_checks_passed()
    assert "all_deps_blocking_checks_passed" not in _labels(eager)
    assert "all_deps_blocking_checks_passed" in _labels(gated)
