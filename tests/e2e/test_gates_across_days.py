"""Issue 11 "Gates that hold across days": a partition that failed an ERROR check stays out of the
warehouse in later runs until its file is re-delivered and passes, or a person releases it.

Day 1 (D): the orders extract, which carries the first purchase of a few people, delivers every
order twice (duplicated order keys): lake/orders fails its ERROR check, nothing is sent. Day 2
(D+1) runs and succeeds: D's orders are in no mart and no audience (those people are still
Prospects and nobody thanks them for a purchase the warehouse does not admit), and the
summary says what is held back and how to release it. Then either a person releases the partition
or the corrected file is delivered again (re-ingested, checked, admitted), and the next run (day 2
again: the demo lands nothing after D+1) brings D's orders in: those people are New and in the
"Thank you" audience."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from tests.e2e.conftest import AS_OF, copy_state, run_day
from tests.e2e.landing_edit import edit_rows

pytestmark = pytest.mark.slow

D, D2 = AS_OF, AS_OF + timedelta(days=1)


def warehouse(root: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(root / "home" / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def prospects_with_email(root: Path, n: int = 8) -> list[str]:
    """POS customer records (in the lake of D-1) with a valid email and no order yet."""
    lake = root / "home" / "lake"
    rows = duckdb.sql(
        f"""
        select distinct source_customer_id from read_parquet('{lake}/customers/*/*.parquet', hive_partitioning = true)
        where source_system = 'pos' and email_valid
          and (source_system, source_customer_id) not in (
              select source_system, source_customer_id from read_parquet('{lake}/orders/*/*.parquet'))
        order by 1 limit {n}
        """
    ).fetchall()
    return [r[0] for r in rows]


def people_of(root: Path, records: list[str]) -> set[str]:
    rows = warehouse(
        root,
        "select customer_id, source_customer_id from marts.customer_identity where source_system = 'pos'",
    )
    return {c for c, r in rows if r in set(records)}


def audience(root: Path, send_date, campaign: str | None = None, channel: str | None = None) -> set[str]:
    sql = "select distinct customer_id from activations.campaign_audience_snapshots where send_date = ?"
    params = [send_date]
    for col, value in (("campaign_id", campaign), ("channel", channel)):
        if value:
            sql += f" and {col} = ?"
            params.append(value)
    return {r[0] for r in warehouse(root, sql, params)}


def ranks(root: Path, people: set[str]) -> dict[str, tuple[str, int]]:
    rows = warehouse(root, "select customer_id, rank, orders_3y from marts.customer_ranks")
    return {c: (r, n) for c, r, n in rows if c in people}


def orders_loaded_on_d(root: Path) -> int:
    return warehouse(root, "select count(*) from staging.stg_orders where load_date = ?", [D])[0][0]


@dataclass
class Blocked:
    root: Path  # landing + home after the blocked day 1
    first_buyers: list[str]  # POS customer records whose first purchase is in D's extract
    corrected: bytes  # D's extract without the duplicates


@pytest.fixture(scope="module")
def blocked(history, tmp_path_factory) -> Blocked:
    """`history` after day 1 (D) ran on an orders extract that carries first purchases of people
    who never bought (500 THB each: they become New) and delivers every order twice."""
    root = copy_state(history, tmp_path_factory.mktemp("gates_day1"))
    records = prospects_with_email(root)
    assert records, "the demo has no POS customer without an order"
    path = root / "landing" / "orders" / D.isoformat() / "pos_orders.csv"

    def first_purchases(header, rows):
        template = rows[0]
        ordered_at = f"{D.day:02d}/{D.month:02d}/{D.year + 543} 10:00"  # the extract's BE dates
        new = [
            {**template, "order_id": f"PO9{i:09d}", "source_customer_id": r, "ordered_at": ordered_at,
             "status": "completed", "total_amount": "500.00"}
            for i, r in enumerate(records)
        ]  # fmt: skip
        return header, rows + new

    edit_rows(path, first_purchases)
    corrected = path.read_bytes()
    assert edit_rows(path, lambda header, rows: (header, rows + rows)) >= 2 * len(records)
    day1 = run_day(root, D)
    assert day1.ok is False
    assert any(c.startswith("lake/orders:quality_error (ERROR)") for c in day1.failed_checks), (
        day1.failed_checks
    )
    # what lands for D+1 (a run needs files for its day): the consent extract, with no change that day
    consents = root / "landing" / "consents"
    (consents / D2.isoformat()).mkdir(parents=True)
    (consents / D2.isoformat() / "consents.csv").write_bytes(
        (consents / D.isoformat() / "consents.csv").read_bytes()
    )
    return Blocked(root=root, first_buyers=records, corrected=corrected)


def day2_holds_back(root: Path, first_buyers: list[str]) -> set[str]:
    """Day 2 runs; returns the first buyers of D as people of the warehouse: still Prospects with no
    order (D's orders are not admitted), and in no audience that D's orders would open."""
    run = run_day(root, D2)
    assert run.ok, run.summary
    assert run.error_checks() == []
    assert orders_loaded_on_d(root) == 0
    buyers = people_of(root, first_buyers)
    send = D2 + timedelta(days=1)
    # the people whose only purchases are D's: none of their source records (another system's
    # included, once identity links them) has an order delivered before D
    earlier = {
        c
        for (c,) in warehouse(
            root,
            "select distinct i.customer_id from marts.customer_identity i join staging.stg_orders o "
            "on o.source_system = i.source_system and o.source_customer_id = i.source_customer_id "
            "where o.load_date < ?",
            [D],
        )
    }
    people = buyers - earlier
    assert people, "no first buyer of D is a person without earlier orders"
    assert all(rank == "Prospect" and n == 0 for rank, n in ranks(root, people).values())
    # D's orders reach no audience: nobody is thanked for a purchase the warehouse does not admit
    assert not people & audience(root, send, "new_thank_you")
    # the summary names the held-back partition and the way out
    assert "held back from the warehouse" in run.summary
    assert f'crmloop release orders {D} --reason "..."' in run.summary
    return people


def comes_in(root: Path, people: set[str], send_date) -> None:
    assert orders_loaded_on_d(root) > 0
    now = ranks(root, people)
    assert now and all(rank == "New" and n == 1 for rank, n in now.values()), now
    assert people <= audience(root, send_date, "new_thank_you", "email")
    assert not people & audience(root, send_date, "prospect_welcome")


def test_held_back_until_released_then_in(blocked, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from crmloop.cli import main

    root = copy_state(blocked.root, tmp_path)
    people = day2_holds_back(root, blocked.first_buyers)

    home = root / "home"
    monkeypatch.setenv("CRM_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    res = CliRunner().invoke(
        main,
        [
            "release",
            "orders",
            D.isoformat(),
            "--reason",
            "duplicates are a re-send",
            "--by",
            "e2e",
            "--home",
            str(home),
        ],
    )
    assert res.exit_code == 0, res.output

    # the next run (day 2 again: the demo lands nothing after D+1) reads the released partition
    rerun = run_day(root, D2)
    assert rerun.ok, rerun.summary
    assert [o.job for o in rerun.outcomes] == ["daily_run"]
    assert "held back" not in rerun.summary
    comes_in(root, people, D2 + timedelta(days=1))

    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        records = instance.fetch_observations(dg.AssetKey(["lake", "orders"]), limit=20).records
    states = [
        (r.asset_observation.partition, r.asset_observation.metadata["partition_status"].value)
        for r in records
    ]
    # day 2's build recorded the partition as held back, the release as released
    assert (D.isoformat(), "blocked") in states and (D.isoformat(), "released") in states


def test_held_back_until_redelivered_then_in(blocked, tmp_path):
    root = copy_state(blocked.root, tmp_path)
    people = day2_holds_back(root, blocked.first_buyers)
    # the corrected extract arrives for D: the next run ingests it again, checks it, admits it
    (root / "landing" / "orders" / D.isoformat() / "pos_orders.csv").write_bytes(blocked.corrected)
    rerun = run_day(root, D2)
    assert rerun.ok, rerun.summary
    assert [o.job for o in rerun.outcomes] == ["ingest_only", "daily_run"]
    assert rerun.outcomes[0].partition == D.isoformat()
    assert "held back" not in rerun.summary
    comes_in(root, people, D2 + timedelta(days=1))
