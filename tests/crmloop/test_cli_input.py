"""Mistakes in `crmloop run`'s arguments get one sentence and exit 2: no traceback, no run started."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner

from crmloop.cli import main
from crmloop.settings import default_as_of

YESTERDAY = default_as_of()


def _run(tmp_path, *args: str, env: dict | None = None):
    (tmp_path / "landing").mkdir(exist_ok=True)
    return CliRunner().invoke(
        main,
        ["run", "--landing", str(tmp_path / "landing"), "--home", str(tmp_path / "home"), *args],
        env=env,
    )


def _one_line(result) -> str:
    assert type(result.exception) in (type(None), SystemExit), repr(result.exception)  # exit, no crash
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize(
    ("as_of", "named"),
    [
        ("30/11/2026", "'30/11/2026' is not a date in the form YYYY-MM-DD"),
        ("2026-13-01", "'2026-13-01' is not a calendar day (month must be in 1..12)"),
        ("yesterday", "'yesterday' is not a date in the form YYYY-MM-DD"),
        ("20261130", "'20261130' is not a date in the form YYYY-MM-DD"),
    ],
)
def test_malformed_as_of_is_one_line_naming_the_accepted_form(cli_env, as_of, named):
    result = _run(cli_env, "--as-of", as_of)
    assert result.exit_code == 2, result.output
    line = _one_line(result)
    assert named in line
    assert "YYYY-MM-DD, e.g. 2026-11-30" in line
    assert not (cli_env / "home" / "dagster").exists()  # no Dagster run was started


def test_future_as_of_is_refused_with_the_accepted_range(cli_env):
    today = YESTERDAY + timedelta(days=1)
    result = _run(cli_env, "--as-of", today.isoformat())
    assert result.exit_code == 2, result.output
    line = _one_line(result)
    assert f"--as-of {today} is not a finished business day yet" in line
    assert f"accepted: 2024-01-01 (CRM_START_DATE) to {YESTERDAY} (yesterday, Asia/Bangkok)" in line
    assert not (cli_env / "home" / "dagster").exists()


def test_as_of_before_start_date_is_refused(cli_env):
    result = _run(cli_env, "--as-of", "2023-12-31")
    assert result.exit_code == 2, result.output
    line = _one_line(result)
    assert "--as-of 2023-12-31 is before CRM_START_DATE" in line
    assert "accepted: 2024-01-01 (CRM_START_DATE)" in line
    assert not (cli_env / "home" / "dagster").exists()


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("CRM_START_DATE", "01/01/2024", "CRM_START_DATE '01/01/2024' is not a date in the form YYYY-MM-DD"),
        ("CRM_DQ_VOLUME_BAND", "half", "CRM_DQ_VOLUME_BAND='half' is not a number (default 0.5)"),
        ("CRM_ACTIVATION_MODE", "prod", "CRM_ACTIVATION_MODE must be 'sandbox' or 'live', not 'prod'"),
    ],
)
def test_a_bad_setting_in_the_environment_is_one_line(cli_env, name, value, named):
    result = _run(cli_env, "--as-of", (YESTERDAY - timedelta(days=3)).isoformat(), env={name: value})
    assert result.exit_code == 2, result.output
    assert named in _one_line(result)
    assert not (cli_env / "home" / "dagster").exists()


def test_demo_data_as_of_is_checked_the_same_way(cli_env):
    result = CliRunner().invoke(main, ["demo-data", "--out", str(cli_env / "l"), "--as-of", "21.11.2026"])
    assert result.exit_code == 2, result.output
    assert "'21.11.2026' is not a date in the form YYYY-MM-DD" in _one_line(result)
    assert not (cli_env / "l").exists()


def test_demo_runs_finished_days_from_its_first_consecutive_day_to_the_judged_day(cli_env):
    today = YESTERDAY + timedelta(days=1)
    result = CliRunner().invoke(main, ["demo", "--landing", str(cli_env / "l"), "--as-of", today.isoformat()])
    assert result.exit_code == 2, result.output
    assert f"--as-of {today} is not a finished business day yet" in _one_line(result)
    result = CliRunner().invoke(main, ["demo", "--landing", str(cli_env / "l"), "--as-of", "2024-01-02"])
    assert result.exit_code == 2, result.output
    # the judged day 2024-01-02 closes the 30-day KPI windows of the sends of 2023-12-04 (the run
    # of 2023-12-03), the last of three consecutive days from 2023-12-01
    assert "--as-of minus 32 day(s), the first day, 2023-12-01 is before CRM_START_DATE" in _one_line(result)
    assert not (cli_env / "l").exists()


def _backfill(tmp_path, *args: str):
    (tmp_path / "landing").mkdir(exist_ok=True)
    return CliRunner().invoke(
        main, ["backfill", "--landing", str(tmp_path / "landing"), "--home", str(tmp_path / "home"), *args]
    )


@pytest.mark.parametrize(
    ("first", "last", "named"),
    [
        (
            "2026-11-20",
            "2026-11-18",
            "--to 2026-11-18 is before --from 2026-11-20; give the range oldest day first",
        ),
        ("2023-12-30", "2024-01-02", "--from 2023-12-30 is before CRM_START_DATE"),
        ("2026-11-20", "30/11/2026", "--to '30/11/2026' is not a date in the form YYYY-MM-DD"),
        ("2026-11-20", (YESTERDAY + timedelta(days=1)).isoformat(), "is not a finished business day yet"),
    ],
)
def test_a_backfill_range_that_cannot_run_is_one_line_and_exit_2(cli_env, first, last, named):
    result = _backfill(cli_env, "--from", first, "--to", last)
    assert result.exit_code == 2, result.output
    assert named in _one_line(result)
    assert not (cli_env / "home" / "dagster").exists()  # no Dagster run was started


def test_docs_without_a_warehouse_says_to_run_first(cli_env):
    result = CliRunner().invoke(main, ["docs", "--home", str(cli_env / "home")])
    assert result.exit_code == 1, result.output
    assert (
        f"no warehouse at {cli_env / 'home' / 'warehouse.duckdb'} yet: run `crmloop run` first"
        in result.output
    )
    assert not (cli_env / "home" / "dbt_target").exists()  # no dbt command ran
