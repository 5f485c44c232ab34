"""Benchmark: how good the next-best category is (issue 15), on held-back history.

The demo generator's data (`crmloop.demo_data.generate.generate`, `--customers` people, seed 42)
goes through ingestion into a Parquet lake, and dbt builds `int_next_best_category` (and
`int_customer_purchase_days`) from it. Then each person's last purchase day is held back: every
order of theirs dated that day leaves the lake's order files (people with at least two purchase
days; the others have nothing to learn from), dbt builds `int_next_best_category` again from the
rest, and the recommendation is checked against the categories of the held-back day's lines.
A recommended category is never one already bought, so it is a hit when the person's full history
has it. The baseline is the same model's `popular_category` (the most popular category not yet
bought: what everybody would get without co-purchase rules). Prints one JSON object: hit rates of
the recommendation and of the baseline, by source (association / popularity), the share of
held-back days that bring a category new to the person (the ceiling of any not-yet-bought pick),
and the seconds of each step (the two int_next_best_category builds among them).

    .venv/bin/python -m bench.next_best [--customers 10000] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.dbt_build import dbt_paths

REPO = Path(__file__).resolve().parent.parent
AS_OF = date(2025, 6, 30)
MODEL = "int_next_best_category"

# orders held back: those of a person with two or more purchase days, dated their last one
HELD_SQL = """
with last_day as (
    select customer_id, max(purchase_date) as d from full_wh.intermediate.int_customer_purchase_days
    group by customer_id having count(*) >= 2
)
select distinct o.source_system, o.order_id
from full_wh.staging.stg_orders o
join full_wh.marts.customer_identity i
  on i.source_system = o.source_system and i.source_customer_id = o.source_customer_id
join last_day l on l.customer_id = i.customer_id and cast(o.ordered_at as date) = l.d
"""

# person x category bought (counted orders with a categorised line), in warehouse {wh}
CATS_SQL = """
select distinct i.customer_id, f.fact_key as category
from {wh}.intermediate.int_record_profile_facts f
join {wh}.marts.customer_identity i
  on i.source_system = f.source_system and i.source_customer_id = f.source_customer_id
where f.fact = 'category'
"""

# per evaluated person: the pick from the rest of their history, the baseline, and the categories
# of the full history (hit: the pick is in it - it was not in the rest)
EVAL_SQL = """
with people as (
    select customer_id from full_wh.intermediate.int_customer_purchase_days
    group by customer_id having count(*) >= 2
),
new_cats as (  -- categories of the held-back day the person had not bought before
    select distinct f.customer_id from cats_full f
    left join cats_hold h on h.customer_id = f.customer_id and h.category = f.category
    where h.customer_id is null
)
select n.next_best_category_source as source,
       count(*) as people,
       count(nc.customer_id) as with_new_category,
       count(hit.customer_id) as hits,
       count(base.customer_id) as baseline_hits
from people p
join hold_wh.intermediate.int_next_best_category n on n.customer_id = p.customer_id
left join new_cats nc on nc.customer_id = p.customer_id
left join cats_full hit on hit.customer_id = p.customer_id and hit.category = n.next_best_category
left join cats_full base on base.customer_id = p.customer_id and base.category = n.popular_category
group by 1 order by 1
"""


def _dbt(args: list[str], warehouse: Path, lake: Path, work: Path) -> tuple[float, dict]:
    """`dbt <args>` as a child process (DuckDB target, as_of AS_OF); seconds and model timings."""
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(REPO / "dbt_project"),
        "CRM_WAREHOUSE": str(warehouse),
        "CRM_LAKE_DIR": str(lake),
        "CRM_DBT_TARGET": "duckdb",
        "CRM_AS_OF": AS_OF.isoformat(),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    cmd = [str(REPO / ".venv" / "bin" / "dbt"), *args, *dbt_paths(work)]
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
    secs = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{p.stdout[-4000:]}")
    results = json.loads((work / "target" / "run_results.json").read_text())
    timings = {r["unique_id"].split(".")[-1]: round(r["execution_time"], 2) for r in results["results"]}
    return secs, timings


def _hold_back(lake: Path, held_lake: Path, held: pa.Table) -> int:
    """A copy of the lake without the held-back orders (every delivery of them); returns rows dropped."""
    shutil.copytree(lake, held_lake)
    keys = pc.binary_join_element_wise(held["source_system"], held["order_id"], "\x1f")
    dropped = 0
    for f in sorted((held_lake / "orders").glob("*/*.parquet")):
        t = pq.read_table(f)
        k = pc.binary_join_element_wise(t["source_system"], t["order_id"], "\x1f")
        keep = pc.invert(pc.fill_null(pc.is_in(k, value_set=keys), False))
        dropped += t.num_rows - pc.sum(keep.cast("int64")).as_py()
        pq.write_table(t.filter(keep), f)
    return dropped


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=10_000)
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    args = ap.parse_args(argv)
    from crmloop.demo_data.generate import generate
    from sources import ingest_partition, landing_partitions, load_declarations

    work = Path(tempfile.mkdtemp(prefix="bench_next_best_"))
    say = lambda m: print(f"[bench.next_best] {m}", file=sys.stderr, flush=True)  # noqa: E731
    out: dict = {"customers": args.customers, "as_of": AS_OF.isoformat()}
    steps: dict[str, float] = {}
    try:
        t = time.perf_counter()
        landing, lake = work / "landing", work / "lake"
        generate(customers=args.customers, seed=42, out=landing, as_of=AS_OF, truth_dir=work / "truth")
        decls = load_declarations()
        for source, dates in landing_partitions(landing).items():
            for d in dates:
                ingest_partition(
                    decls[source], landing_dir=landing, lake_dir=lake, quarantine_dir=work / "q", load_date=d
                )
        steps["demo_data_and_ingest"] = time.perf_counter() - t

        full_wh, hold_wh = work / "full" / "warehouse.duckdb", work / "hold" / "warehouse.duckdb"
        full_wh.parent.mkdir()
        hold_wh.parent.mkdir()
        say("dbt: the full history")
        models_only = ["--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]
        sel = ["--select", f"+{MODEL}", "+int_customer_purchase_days"]
        steps["dbt_full"], timings = _dbt(["build", *sel, *models_only], full_wh, lake, work / "dbt_full")
        out["model_seconds_full_history"] = timings[MODEL]

        t = time.perf_counter()
        con = duckdb.connect()
        con.execute(f"attach '{full_wh}' as full_wh (read_only)")
        held = con.sql(HELD_SQL).to_arrow_table()
        con.close()
        out["held_back_orders"] = held.num_rows
        out["held_back_order_rows"] = _hold_back(lake, work / "lake_held", held)
        steps["hold_back"] = time.perf_counter() - t

        say("dbt: the history without each person's last purchase day")
        steps["dbt_held_back"], timings = _dbt(
            ["build", "--select", f"+{MODEL}", *models_only], hold_wh, work / "lake_held", work / "dbt_hold"
        )
        out["model_seconds_held_back"] = timings[MODEL]

        t = time.perf_counter()
        con = duckdb.connect()
        con.execute(f"attach '{full_wh}' as full_wh (read_only)")
        con.execute(f"attach '{hold_wh}' as hold_wh (read_only)")
        ident = "select source_system, source_customer_id, customer_id from {}.marts.customer_identity"
        differ = con.execute(
            f"select count(*) from (({ident.format('full_wh')}) except ({ident.format('hold_wh')}))"
        ).fetchall()[0][0]
        if differ:  # hits are checked per customer_id across the two builds
            raise RuntimeError(f"{differ} identity rows differ between the full and the held-back build")
        for name, wh in (("cats_full", "full_wh"), ("cats_hold", "hold_wh")):
            con.execute(f"create temp table {name} as {CATS_SQL.format(wh=wh)}")
        rows = con.execute(EVAL_SQL).fetchall()
        con.close()
        steps["evaluate"] = time.perf_counter() - t

        by_source = {
            r[0] or "none": {"people": r[1], "with_new_category": r[2], "hits": r[3], "baseline_hits": r[4]}
            for r in rows
        }
        people = sum(r[1] for r in rows)
        hits, base, new = sum(r[3] for r in rows), sum(r[4] for r in rows), sum(r[2] for r in rows)
        out.update(
            {
                "people_evaluated": people,
                "hit_rate": round(hits / people, 4) if people else None,
                "popularity_hit_rate": round(base / people, 4) if people else None,
                "lift_over_popularity": round(hits / base, 3) if base else None,
                "share_with_a_new_category": round(new / people, 4) if people else None,
                "by_source": by_source,
            }
        )
        out["steps_seconds"] = {k: round(v, 1) for k, v in steps.items()}
        out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
