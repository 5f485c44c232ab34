"""int_record_order_facts is incremental by touched record (macros/record_facts.sql). Over a run of
days with every kind of change, each incremental run must give the rows a full refresh gives, while
recomputing only the records that changed:
- an order leaving the 3-year window the next day (a VIP becomes Dormant without new data);
- an order moved to another record by a later delivery;
- a product changing category (top category of the buyer);
- a partition re-delivered with a cancellation (same load_date, within the re-read window);
- an older as_of re-run after a newer one, then forward again."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.lake import write_empty_entities, write_partition
from tests.dbt.dbt_helpers import dbt_in_process, query
from tests.dbt.lake_fixtures import order

D1, D2, D3 = "2025-06-30", "2025-07-01", "2025-07-02"
MODELS = ["--select", "+int_record_order_facts", "+int_record_profile_facts", "+customer_ranks"]
FACTS = "select * exclude (computed_as_of) from intermediate.int_record_order_facts order by all"
ITEMS = "select * exclude (computed_as_of) from intermediate.int_record_profile_facts order by all"
RANKS = "select customer_id, rank, spend_3y, orders_3y from marts.customer_ranks order by all"


def line(system: str, oid: str, product: str, qty: int = 1) -> dict:
    return {
        "source_system": system,
        "order_id": oid,
        "line_no": 1,
        "product_id": product,
        "quantity": qty,
        "unit_price": 100.0,
    }


def lake_until(lake: Path, day: str) -> None:
    """The lake as it stands on `day` (each call adds that day's partitions)."""
    if day == D1:
        write_partition(
            lake, "products", D1, [{"product_id": "P1", "name": "Boot", "category": "shoes"}], source="erp"
        )
        write_partition(
            lake,
            "orders",
            D1,
            [
                order("pos", "x1", "1", "2022-07-01 10:00:00", 40000),  # leaves the window on D2
                order("pos", "x2", "2", "2025-01-01 10:00:00", 500),  # moved to record 3 on D2
                order("pos", "x3", "4", "2025-02-01 10:00:00", 300),  # its product changes category on D2
                order("pos", "x4", "5", "2025-03-01 10:00:00", 35000),  # cancelled by the re-delivery of D1
                order("pos", "x5", "6", "2024-01-01 10:00:00", 700),  # never touched
            ],
            source="pos",
        )
        write_partition(
            lake, "order_lines", D1, [line("pos", "x3", "P1", 2), line("pos", "x5", "P1")], source="pos"
        )
        write_empty_entities(lake, load_date=D1)
    elif day == D2:
        write_partition(
            lake,
            "orders",
            D1,
            [  # the D1 file is delivered again, corrected
                order("pos", "x1", "1", "2022-07-01 10:00:00", 40000),
                order("pos", "x2", "2", "2025-01-01 10:00:00", 500),
                order("pos", "x3", "4", "2025-02-01 10:00:00", 300),
                order("pos", "x4", "5", "2025-03-01 10:00:00", 35000, status="cancelled"),
                order("pos", "x5", "6", "2024-01-01 10:00:00", 700),
            ],
            source="pos",
        )
        write_partition(
            lake, "orders", D2, [order("pos", "x2", "3", "2025-01-01 10:00:00", 500)], source="pos"
        )
        write_partition(
            lake, "products", D2, [{"product_id": "P1", "name": "Boot", "category": "bags"}], source="erp"
        )
    elif day == D3:
        write_partition(
            lake, "orders", D3, [order("pos", "x6", "6", "2025-07-02 09:00:00", 50)], source="pos"
        )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("record_facts")
    lake, inc = root / "lake", root / "inc" / "warehouse.duckdb"
    inc.parent.mkdir()
    out = {}
    for i, day in enumerate([D1, D2, D3]):
        lake_until(lake, day)
        dbt_in_process(["build", *MODELS], warehouse=inc, lake=lake, work=root / f"w{i}", as_of=day)
        full = root / f"full{i}" / "warehouse.duckdb"
        full.parent.mkdir()
        dbt_in_process(
            ["build", *MODELS, "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"],
            warehouse=full,
            lake=lake,
            work=root / f"f{i}",
            as_of=day,
        )
        out[day] = {
            "facts": query(inc, FACTS),
            "ranks": query(inc, RANKS),
            "items": query(inc, ITEMS),
            "full_facts": query(full, FACTS),
            "full_ranks": query(full, RANKS),
            "full_items": query(full, ITEMS),
            "computed": dict(
                query(
                    inc,
                    "select source_customer_id, max(computed_as_of)::varchar "
                    "from intermediate.int_record_order_facts group by 1",
                )
            ),
            "computed_items": dict(
                query(
                    inc,
                    "select source_customer_id, max(computed_as_of)::varchar "
                    "from intermediate.int_record_profile_facts group by 1",
                )
            ),
            "full": full,
        }
    out["lake"], out["inc"], out["root"] = lake, inc, root
    return out


@pytest.mark.parametrize("day", [D1, D2, D3])
def test_each_incremental_run_equals_a_full_refresh(runs, day):
    assert runs[day]["facts"] and runs[day]["facts"] == runs[day]["full_facts"]
    assert runs[day]["ranks"] == runs[day]["full_ranks"]
    assert runs[day]["items"] and runs[day]["items"] == runs[day]["full_items"]


def test_only_changed_records_are_recomputed(runs):
    # D2: 1 (window exit), 2 and 3 (moved order: 2 has no order left, so no row), 4 (category),
    # 5 (re-delivered D1 partition; every record of that partition is re-read, so 6 is too).
    # D3 re-reads the partitions from the previous as_of on (incremental_lookback_days = 0): 3 (x2
    # moved on D2) and 6 (new order); 1, 4 and 5 are untouched. A product change touches only the
    # profile facts (categories): 4 and 6 bought P1, which changed on D2.
    assert runs[D1]["computed"] == {"1": D1, "2": D1, "4": D1, "5": D1, "6": D1}
    assert runs[D2]["computed"] == {"1": D2, "3": D2, "4": D2, "5": D2, "6": D2}
    assert runs[D3]["computed"] == {"1": D2, "3": D3, "4": D2, "5": D2, "6": D3}
    assert runs[D2]["computed_items"] == {"1": D2, "3": D2, "4": D2, "5": D2, "6": D2}
    assert runs[D3]["computed_items"] == {"1": D2, "3": D3, "4": D3, "5": D2, "6": D3}


def test_the_changes_land(runs):
    ranks = {r[0]: r[1] for r in runs[D1]["ranks"]}, {r[0]: r[1] for r in runs[D2]["ranks"]}
    facts = runs[D2]["facts"]
    assert sorted(set(ranks[0].values())) == ["New", "VIP"]
    assert "VIP" not in ranks[1].values()  # x1 left the window, x4 was cancelled
    assert sorted(ranks[1].values()).count("Dormant") == 1
    cats = {(r[1], r[3]) for r in runs[D2]["items"] if r[2] == "category"}
    assert cats == {("4", "bags"), ("6", "bags")}
    owners = {r[1] for r in facts if r[2] == "orders" and r[4] > 0}
    assert "2" not in owners and "3" in owners


def test_older_as_of_rerun_then_forward_again(runs, tmp_path):
    """Re-running D1 after D3 recomputes every record for D1 (the as_of moved back); D3 again gives
    the incremental D3 rows."""
    import shutil

    wh = tmp_path / "wh" / "warehouse.duckdb"
    wh.parent.mkdir()
    shutil.copy(runs["inc"], wh)
    d1 = tmp_path / "d1" / "warehouse.duckdb"
    d1.parent.mkdir()
    dbt_in_process(
        ["build", *MODELS, "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"],
        warehouse=d1,
        lake=runs["lake"],
        work=tmp_path / "a",
        as_of=D1,
    )
    dbt_in_process(["run", *MODELS], warehouse=wh, lake=runs["lake"], work=tmp_path / "b", as_of=D1)
    assert query(wh, FACTS) == query(d1, FACTS)
    assert query(wh, ITEMS) == query(d1, ITEMS)
    assert query(wh, RANKS) == query(d1, RANKS)
    dbt_in_process(["run", *MODELS], warehouse=wh, lake=runs["lake"], work=tmp_path / "c", as_of=D3)
    assert query(wh, FACTS) == runs[D3]["full_facts"]
    assert query(wh, ITEMS) == runs[D3]["full_items"]
