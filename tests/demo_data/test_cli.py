from __future__ import annotations

from click.testing import CliRunner

from crmloop.cli import main


def test_cli_demo_data_writes_landing_and_prints_summary(tmp_path):
    out = tmp_path / "landing"
    result = CliRunner().invoke(
        main, ["demo-data", "--customers", "300", "--seed", "9", "--out", str(out), "--as-of", "2026-11-21"]
    )
    assert result.exit_code == 0, result.output
    assert "people by latent rank" in result.output
    assert (out / "orders" / "2026-11-20" / "pos_orders.csv").is_file()
    assert (out / "customers" / "2026-11-21").is_dir()
    assert (tmp_path / "demo_truth" / "people.parquet").is_file()


def test_cli_demo_data_days_writes_one_partition_per_day(tmp_path):
    out = tmp_path / "landing"
    args = ["demo-data", "--customers", "300", "--seed", "9", "--out", str(out), "--as-of", "2026-11-21"]
    result = CliRunner().invoke(main, [*args, "--days", "3"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "orders").iterdir()) == [
        "2026-11-18",
        "2026-11-19",
        "2026-11-20",
        "2026-11-21",
    ]
    assert CliRunner().invoke(main, [*args, "--days", "0"]).exit_code != 0
