"""Partitions held back from the warehouse (macros/lake.sql, sources/partition_status.py).

`CRM_LAKE_BLOCKED` names `<entity>:<source>@<date>` partitions that failed an ERROR check: every
model reading the lake leaves exactly those rows out (other sources of the same entity and date,
other dates of the same source stay in). When the set changes (a release or a clean re-delivery,
`CRM_LAKE_ADMISSION_CHANGED=1`), the incremental models bring the partition's rows in on the next
build, although their load date is older than the previous as_of."""

from __future__ import annotations

import pytest

from bench.lake import write_empty_entities, write_partition
from sources.partition_status import ADMISSION_CHANGED_ENV, BLOCKED_ENV
from tests.dbt.dbt_helpers import dbt_in_process, query
from tests.dbt.lake_fixtures import order

D1, D2, D3 = "2025-06-30", "2025-07-01", "2025-07-02"
MODELS = [
    "build",
    "--exclude-resource-type",
    "unit_test",
    "--indirect-selection",
    "cautious",
    "--select",
    "+int_record_order_facts",
    "+stg_web_events",
    "+stg_customers",
]
HELD = f"orders:pos@{D1},web_events:site@{D1},customers:crm@{D1}"


def event(eid: str, cid: str, at: str) -> dict:
    return {
        "event_id": eid,
        "source_system": "site",
        "source_customer_id": cid,
        "event_type": "login",
        "occurred_at": at,
    }


def customer(cid: str) -> dict:
    return {"source_system": "crm", "source_customer_id": cid, "first_name": f"P{cid}"}


@pytest.fixture
def lake(tmp_path):
    lake = tmp_path / "lake"
    write_partition(lake, "orders", D1, [order("pos", "x1", "1", f"{D1} 10:00:00", 500)], source="pos")
    write_partition(lake, "orders", D1, [order("web", "w1", "2", f"{D1} 11:00:00", 700)], source="web")
    write_partition(lake, "orders", D2, [order("pos", "x2", "3", f"{D2} 10:00:00", 900)], source="pos")
    write_partition(lake, "web_events", D1, [event("e1", "1", f"{D1} 09:00:00")], source="site")
    write_partition(lake, "web_events", D2, [event("e2", "3", f"{D2} 09:00:00")], source="site")
    write_partition(lake, "customers", D1, [customer("1")], source="crm")
    write_partition(lake, "customers", D2, [customer("3")], source="crm")
    write_empty_entities(lake, load_date=D1)
    return lake


def build(tmp_path, lake, as_of: str, env: dict) -> None:
    (tmp_path / "wh").mkdir(exist_ok=True)
    dbt_in_process(
        MODELS,
        warehouse=tmp_path / "wh" / "warehouse.duckdb",
        lake=lake,
        work=tmp_path / "work",
        as_of=as_of,
        extra_env={BLOCKED_ENV: "", ADMISSION_CHANGED_ENV: "", **env},
    )


def rows(tmp_path, sql: str) -> list[tuple]:
    return query(tmp_path / "wh" / "warehouse.duckdb", sql)


def test_blocked_partitions_stay_out_then_come_in_once_released(tmp_path, lake):
    build(tmp_path, lake, D2, {BLOCKED_ENV: HELD, ADMISSION_CHANGED_ENV: "1"})
    orders = "select source_system, order_id, cast(load_date as varchar) from staging.stg_orders order by all"
    assert rows(tmp_path, orders) == [("pos", "x2", D2), ("web", "w1", D1)]
    facts = "select distinct source_system, source_customer_id from intermediate.int_record_order_facts order by all"
    assert rows(tmp_path, facts) == [("pos", "3"), ("web", "2")]
    assert rows(tmp_path, "select event_id from staging.stg_web_events order by all") == [("e2",)]
    customers = "select source_customer_id from staging.stg_customers order by all"
    assert rows(tmp_path, customers) == [("3",)]

    # the next day, still held back: still out (incremental runs)
    build(tmp_path, lake, D3, {BLOCKED_ENV: HELD})
    assert rows(tmp_path, facts) == [("pos", "3"), ("web", "2")]
    assert rows(tmp_path, customers) == [("3",)]

    # released (the blocked set changed): D1's rows come in, although D1 is older than the last as_of
    build(tmp_path, lake, D3, {ADMISSION_CHANGED_ENV: "1"})
    assert rows(tmp_path, orders) == [("pos", "x1", D1), ("pos", "x2", D2), ("web", "w1", D1)]
    assert rows(tmp_path, facts) == [("pos", "1"), ("pos", "3"), ("web", "2")]
    assert rows(tmp_path, "select event_id from staging.stg_web_events order by all") == [("e1",), ("e2",)]
    assert rows(tmp_path, customers) == [("1",), ("3",)]

    # blocked again (a bad re-delivery): its rows leave the incremental tables too
    build(tmp_path, lake, D3, {BLOCKED_ENV: HELD, ADMISSION_CHANGED_ENV: "1"})
    assert rows(tmp_path, facts) == [("pos", "3"), ("web", "2")]
    assert rows(tmp_path, "select event_id from staging.stg_web_events order by all") == [("e2",)]
    assert rows(tmp_path, customers) == [("3",)]


def test_malformed_blocked_list_fails_the_build(tmp_path, lake):
    with pytest.raises(AssertionError, match="CRM_LAKE_BLOCKED"):
        build(tmp_path, lake, D2, {BLOCKED_ENV: "orders:pos@30/06/2025"})
