"""`crmloop release SOURCE DATE --reason ...`: a held-back partition goes in, recorded and visible."""

from __future__ import annotations

from datetime import date

from click.testing import CliRunner

from crmloop.cli import main
from sources import partition_status as ps

D1 = date(2026, 11, 19)


def test_release_records_who_why_and_shows_on_the_lake_asset(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("CRM_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    lake = home / "lake"
    ps.record_check(
        lake,
        "pos_orders",
        "orders",
        D1,
        passed=False,
        failures=["key.unique_per_file"],
        landing_fingerprint="f",
    )
    runner = CliRunner()
    refused = runner.invoke(
        main, ["release", "pos_orders", "2026-11-20", "--reason", "x", "--home", str(home)]
    )
    assert refused.exit_code == 1 and "not blocked (never blocked)" in refused.output
    assert "pos_orders@2026-11-19" in refused.output
    bad_date = runner.invoke(
        main, ["release", "pos_orders", "19/11/2026", "--reason", "x", "--home", str(home)]
    )
    assert bad_date.exit_code == 2 and "expected YYYY-MM-DD" in bad_date.output

    ok = runner.invoke(
        main,
        [
            "release",
            "pos_orders",
            "2026-11-19",
            "--reason",
            "re-sent rows, harmless",
            "--by",
            "anna",
            "--home",
            str(home),
        ],
    )
    assert ok.exit_code == 0, ok.output
    status = ps.read_status(lake, "pos_orders", D1)
    assert (status.state, status.released_by, status.release_reason) == (
        "released",
        "anna",
        "re-sent rows, harmless",
    )
    assert ps.held_back(lake) == []

    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        records = instance.fetch_observations(dg.AssetKey(["lake", "pos_orders"]), limit=5).records
    assert len(records) == 1
    obs = records[0].asset_observation
    assert obs.partition == "2026-11-19"
    meta = {k: v.value for k, v in obs.metadata.items()}
    assert meta["released_by"] == "anna" and meta["release_reason"] == "re-sent rows, harmless"
    assert meta["partition_status"] == "released" and meta["failed"] == "key.unique_per_file"


def test_run_summary_lists_held_back_partitions_with_the_way_out(tmp_path, monkeypatch):
    from crmloop.settings import Settings
    from crmloop.summary import held_back_lines

    monkeypatch.setenv("CRM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CRM_AS_OF", "2026-11-20")
    settings = Settings.from_env()
    assert held_back_lines(settings) == []
    ps.record_check(
        settings.lake_dir, "pos_orders", "orders", D1, passed=False,
        failures=["orders:key.unique_per_file (12 unexpected)"], landing_fingerprint="f",
    )  # fmt: skip
    text = "\n".join(held_back_lines(settings))
    assert "1 lake partition(s) held back from the warehouse" in text
    assert "pos_orders 2026-11-19: orders:key.unique_per_file (12 unexpected)" in text
    assert 'crmloop release pos_orders 2026-11-19 --reason "..."' in text
    ps.release(settings.lake_dir, "pos_orders", D1, reason="ok", by="anna")
    assert held_back_lines(settings) == []
