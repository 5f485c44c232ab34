"""`crmloop run` with nothing to work on, or a plan it cannot use, refuses before Dagster starts:
exit 1, one sentence naming what is missing, nothing ingested, sent or exported, marts untouched."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from activations.plan.spec import DEFAULT_PLAN_PATH
from crmloop.cli import main
from crmloop.preflight import landing_work, nothing_landed
from crmloop.settings import Settings, default_as_of

AS_OF = default_as_of() - timedelta(days=3)
RANK_ROWS = 7


@pytest.fixture
def home(cli_env: Path) -> Path:
    """A home whose warehouse already holds a built mart (what an earlier good day left)."""
    home = cli_env / "home"
    home.mkdir()
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    con.execute("create schema marts")
    con.execute(f"create table marts.customer_ranks as select range as customer_key from range({RANK_ROWS})")
    con.close()
    return home


def deliver(landing: Path, source: str, day: date, name: str = "extract.csv") -> Path:
    path = landing / source / day.isoformat() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("customer_id,email\nC1,a@example.com\n", encoding="utf-8")
    return path


def run(landing: Path, home: Path, as_of: date = AS_OF, env: dict | None = None):
    return CliRunner().invoke(
        main, ["run", "--landing", str(landing), "--home", str(home), "--as-of", as_of.isoformat()], env=env
    )


def assert_untouched(home: Path) -> None:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from marts.customer_ranks").fetchall() == [(RANK_ROWS,)]
    finally:
        con.close()
    for part in ("lake", "exports", "outbox", "reports", "dagster"):
        assert not (home / part).exists(), f"{part} written by a refused run"


def refusal(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    refused = [line for line in lines if " refused: " in line]
    assert len(refused) == 1, result.output
    return refused[0]


def test_missing_landing_dir_is_refused_naming_it(home, cli_env):
    missing = cli_env / "no" / "such" / "dir"
    result = run(missing, home)
    line = refusal(result)
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert f"landing zone {missing} does not exist (--landing / CRM_LANDING_DIR): nothing to ingest" in line
    assert_untouched(home)


def test_empty_landing_zone_is_refused(home, cli_env):
    landing = cli_env / "landing"
    (landing / "customers" / AS_OF.isoformat()).mkdir(parents=True)  # a folder, but no file in it
    line = refusal(run(landing, home))
    assert f"landing zone {landing} is empty: no <source>/<YYYY-MM-DD>/ folder with files" in line
    assert_untouched(home)


def test_a_day_before_any_data_is_refused_and_marts_keep_their_rows(home, cli_env):
    landing = cli_env / "landing"
    deliver(landing, "customers", AS_OF)
    earlier = AS_OF - timedelta(days=30)
    line = refusal(run(landing, home, earlier))
    assert f"nothing to work on for {earlier}: no landing partition on or before it" in line
    assert f"(the earliest is {AS_OF})" in line
    assert_untouched(home)


def test_a_past_day_without_files_is_refused(home, cli_env):
    landing = cli_env / "landing"
    deliver(landing, "customers", AS_OF - timedelta(days=2))
    line = refusal(run(landing, home))
    assert f"nothing landed for {AS_OF}: no declared source has files in {landing}/<source>/{AS_OF}/" in line
    assert f"(the latest landing partition before it is {AS_OF - timedelta(days=2)})" in line
    assert_untouched(home)


def test_only_partitions_before_start_date_is_an_error_naming_them(home, cli_env):
    landing = cli_env / "landing"
    for day in (date(2023, 6, 1), date(2023, 6, 2)):
        deliver(landing, "customers", day)
    deliver(landing, "orders", date(2023, 12, 31))
    line = refusal(run(landing, home))
    assert "every landing partition in" in line
    assert "before CRM_START_DATE 2024-01-01 (customers 2023-06-01, 2023-06-02; orders 2023-12-31)" in line
    assert "set CRM_START_DATE to 2023-06-01 or earlier" in line
    assert_untouched(home)


def test_partitions_before_start_date_are_named_in_a_warning(cli_env, monkeypatch):
    landing = cli_env / "landing"
    for k in range(5):
        deliver(landing, "orders", date(2023, 12, 27) + timedelta(days=k))  # 2023-12-27 … 2023-12-31
    deliver(landing, "customers", AS_OF)
    deliver(landing, "not_a_source", AS_OF)
    monkeypatch.setenv("CRM_LANDING_DIR", str(landing))
    monkeypatch.setenv("CRM_AS_OF", AS_OF.isoformat())
    work = landing_work(Settings.from_env())
    assert work.dates == {"customers": [AS_OF]}
    assert work.before_start == {"orders": [date(2023, 12, 27) + timedelta(days=k) for k in range(5)]}
    assert work.warnings == [
        f"landing folder(s) not_a_source in {landing} match no declared source, not ingested",
        "landing partitions before CRM_START_DATE 2024-01-01 are not ingested: "
        "orders 2023-12-27 … 2023-12-31 (5 days)",
    ]


BROKEN_PLAN_LINE = 12


def test_a_broken_plan_fails_before_ingestion_with_its_line_numbered_message(home, cli_env):
    landing = cli_env / "landing"
    deliver(landing, "customers", AS_OF)
    deliver(landing, "orders", date(2023, 12, 1))  # the warning still reaches the user
    lines = DEFAULT_PLAN_PATH.read_text(encoding="utf-8").splitlines()
    plan = cli_env / "plan.yml"
    lines[BROKEN_PLAN_LINE - 1] = "  : : this is not yaml ["
    plan.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run(landing, home, env={"CRM_PLAN": str(plan)})
    line = refusal(result)
    assert f"refused: {plan}:{BROKEN_PLAN_LINE}: not valid YAML" in line
    assert "dagster" not in result.output.lower()
    assert (
        "warning: landing partitions before CRM_START_DATE 2024-01-01 are not ingested: orders 2023-12-01"
        in (result.output)
    )
    assert_untouched(home)


def test_a_plan_that_does_not_validate_shows_every_line_at_fault(home, cli_env):
    landing = cli_env / "landing"
    deliver(landing, "customers", AS_OF)
    plan = cli_env / "plan.yml"
    text = DEFAULT_PLAN_PATH.read_text(encoding="utf-8")
    assert "version: 1" in text
    plan.write_text(text.replace("version: 1", "version: 1\nno_such_field: 3", 1), encoding="utf-8")
    result = run(landing, home, env={"CRM_PLAN": str(plan)})
    assert result.exit_code == 1, result.output
    assert "refused: invalid plan:" in result.output
    line = plan.read_text(encoding="utf-8").splitlines().index("no_such_field: 3") + 1
    assert f"{plan}:{line}: no_such_field: Extra inputs are not permitted" in result.output
    assert_untouched(home)


def test_dagster_ingestion_sees_the_same_missing_input(tmp_path):
    assert nothing_landed(tmp_path / "nope", AS_OF, ["customers"]) == (
        f"landing zone {tmp_path / 'nope'} does not exist (--landing / CRM_LANDING_DIR): nothing to ingest"
    )
    deliver(tmp_path, "orders", AS_OF)
    assert nothing_landed(tmp_path, AS_OF, ["customers", "orders"]) is None
    assert nothing_landed(tmp_path, AS_OF, ["customers"]) == (
        f"nothing landed for {AS_OF}: no declared source has files in {tmp_path}/<source>/{AS_OF}/"
    )


def test_an_empty_earlier_landing_folder_is_no_date_to_catch_up(cli_env, monkeypatch):
    from crmloop.runner import pending_landing_dates

    landing = cli_env / "landing"
    deliver(landing, "customers", AS_OF - timedelta(days=2))
    (landing / "orders" / (AS_OF - timedelta(days=1)).isoformat()).mkdir(parents=True)
    deliver(landing, "customers", AS_OF)
    monkeypatch.setenv("CRM_LANDING_DIR", str(landing))
    monkeypatch.setenv("CRM_HOME", str(cli_env / "home"))
    assert pending_landing_dates(Settings.from_env(), AS_OF) == [AS_OF - timedelta(days=2)]
