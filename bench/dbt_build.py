"""Benchmark: the dbt customer model vs one hand-written DuckDB query (the floor).

    .venv/bin/python -m bench.dbt_build [--customers 1000000] [--orders-per-customer 10] [--workdir DIR] [--keep]

Writes a Parquet lake following sources/README.md directly with numpy/pyarrow (fast): `customers`
records from two systems (10% of people also have a `web` record sharing their email, so identity
resolution has merges to do), `orders` (10 per person by default; 3% cancelled, 2% later refunded
in a second delivery, 1% delivered twice) over 36 monthly partitions, order lines, empty files for
the other entities, and one extra daily partition for the incremental run. Then measures, each in
its own child process (peak RSS is that process tree's own):
- floor: one DuckDB query computing ranks (latest status per order, people by shared email, the
  default rules) from the same Parquet files;
- dbt build of the ranks (`+customer_ranks`: seeds, order facts, identity, ranks, their data tests
  and unit tests) into a fresh warehouse: what the floor computes, the target's comparison;
- dbt build of the whole customer model (also profiles, item facts, history) into a fresh warehouse;
- dbt build after one new day (incremental), as Dagster's daily run does it: data tests, no unit
  tests (they run in CI);
and checks that dbt's rank counts equal the floor's. The as_of goes to dbt as env CRM_AS_OF, as
Dagster passes it (a new day keeps dbt's partial parsing; new --vars would re-parse everything).
Prints one JSON object.
Targets (issue 3): the full build of the ranks within 3x floor + fixed dbt start-up (`dbt parse`);
the incremental daily run of the whole customer model < 30 s at 1M.
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
from datetime import date, timedelta
from pathlib import Path

from crmloop.rank_rules import rank_case_sql, window_months

REPO = Path(__file__).resolve().parent.parent
AS_OF = date(2025, 6, 30)
NEW_DAY = AS_OF + timedelta(days=1)

FLOOR_SQL = """
with c as (
    select source_system, source_customer_id, email, registered_at
    from read_parquet('{lake}/customers/*/*.parquet', hive_partitioning = true, union_by_name = true)
),
person as (  -- people: records sharing an email (the only link in this lake)
    select source_system, source_customer_id,
           first_value(source_system || '|' || source_customer_id) over (
               partition by email order by registered_at, source_system, source_customer_id) as pid
    from c
),
o as (
    select * from (
        select source_system, order_id, source_customer_id, cast(ordered_at as date) as d, status, total_amount,
               row_number() over (partition by source_system, order_id
                                  order by load_date desc, _source_file desc, _row_number desc) as rn
        from read_parquet('{lake}/orders/*/*.parquet', hive_partitioning = true, union_by_name = true)
        where load_date <= date '{as_of}'
    ) where rn = 1 and status = 'completed' and d <= date '{as_of}'
),
agg as (
    select p.pid,
           coalesce(sum(case when o.d > date '{as_of}' - interval {window_months} month then o.total_amount end), 0) as spend,
           count(case when o.d > date '{as_of}' - interval {window_months} month then 1 end) as n,
           count(o.d) as ever
    from (select distinct pid from person) p
    left join person r on r.pid = p.pid
    left join o on o.source_system = r.source_system and o.source_customer_id = r.source_customer_id
    group by p.pid
)
select {rank_case} as rank,
       count(*) as customers, round(sum(spend), 2) as sales
from agg group by 1 order by 1
"""


def _write_lake(lake: str, customers: int, orders_per_customer: int, seed: int) -> dict:
    import numpy as np

    from bench.lake import write_columns, write_empty_entities

    rng = np.random.default_rng(seed)
    lake_p = Path(lake)

    def write(entity: str, day: date, source: str, cols: dict, n: int, file_no: int = 1) -> None:
        write_columns(lake_p, entity, day, source, cols, n, file_no)

    n = customers
    ids = np.char.mod("%d", np.arange(n))
    base = np.datetime64("2015-01-01T00:00:00", "us")
    reg = base + rng.integers(0, 3000 * 86400, n).astype("timedelta64[s]")
    emails = np.char.add(np.char.add("p", ids), "@example.com")
    mobile = np.char.add("+668", np.char.zfill(np.char.mod("%d", rng.permutation(n) + 10_000_000), 8))
    has_mobile = rng.random(n) < 0.6
    first_day = AS_OF.replace(year=AS_OF.year - 3, day=1)
    write(
        "customers",
        first_day,
        "crm",
        {
            "source_system": np.full(n, "crm", dtype=object),
            "source_customer_id": ids.astype(object),
            "first_name": np.full(n, "Somchai", dtype=object),
            "email": emails.astype(object),
            "email_valid": np.ones(n, bool),
            "phone": np.where(has_mobile, mobile, None).astype(object),
            "phone_is_mobile": has_mobile,
            "registered_at": reg,
            "updated_at": reg,
            "province": np.full(n, "Bangkok", dtype=object),
        },
        n,
    )
    w = rng.choice(n, n // 10, replace=False)
    write(
        "customers",
        first_day,
        "web",
        {
            "source_system": np.full(w.size, "web", dtype=object),
            "source_customer_id": np.char.add("w", ids[w]).astype(object),
            "email": emails[w].astype(object),
            "email_valid": np.ones(w.size, bool),
            "phone_is_mobile": np.zeros(w.size, bool),
            "registered_at": reg[w] + np.timedelta64(86400, "s"),
            "updated_at": reg[w] + np.timedelta64(86400, "s"),
        },
        w.size,
    )

    m = n * orders_per_customer
    owner = np.minimum((rng.pareto(1.2, m) * n / 8).astype(np.int64), n - 1)  # skewed: few heavy buyers
    owner = rng.permutation(n)[owner]
    days = 3 * 365 + 300
    start = np.datetime64(AS_OF, "D") - np.timedelta64(days, "D")
    od = start + rng.integers(0, days, m).astype("timedelta64[D]")
    ordered_at = od.astype("datetime64[us]") + rng.integers(8 * 3600, 21 * 3600, m).astype("timedelta64[s]")
    amount = np.round(rng.gamma(1.5, 1200, m), 2)
    cancelled = rng.random(m) < 0.03
    on_web = np.isin(owner, w) & (rng.random(m) < 0.3)

    def order_cols(sel: np.ndarray, status: np.ndarray | None = None) -> dict:
        # strings are built per slice (10M Python strings at once would need gigabytes)
        k = sel.size
        return {
            "source_system": np.where(on_web[sel], "web", "crm").astype(object),
            "order_id": np.char.mod("o%d", sel).astype(object),
            "source_customer_id": np.where(
                on_web[sel], np.char.add("w", ids[owner[sel]]), ids[owner[sel]]
            ).astype(object),
            "ordered_at": ordered_at[sel],
            "channel": np.full(k, "store", dtype=object),
            "store_id": np.full(k, "S01", dtype=object),
            "status": status
            if status is not None
            else np.where(cancelled[sel], "cancelled", "completed").astype(object),
            "total_amount": amount[sel],
            "currency": np.full(k, "THB", dtype=object),
        }

    month = od.astype("datetime64[M]")
    order_by_month = np.argsort(month, kind="stable")
    bounds = np.searchsorted(month[order_by_month], np.unique(month))
    for j, lo in enumerate(bounds):
        hi = bounds[j + 1] if j + 1 < len(bounds) else m
        sel = np.sort(order_by_month[lo:hi])
        day = month[sel[0]].astype("datetime64[D]").astype(date)
        cols = order_cols(sel)
        write("orders", day, "pos", cols, sel.size)
        lines = {
            "source_system": cols["source_system"],
            "order_id": cols["order_id"],
            "line_no": np.ones(sel.size, np.int64),
            "product_id": np.full(sel.size, "P1", dtype=object),
            "quantity": np.ones(sel.size, np.int64),
            "unit_price": amount[sel],
        }
        write("order_lines", day, "pos", lines, sel.size)
        del cols, lines
    # later deliveries (day before as_of): 2% of orders refunded, 1% delivered twice
    redo = np.sort(rng.choice(m, m // 33, replace=False))
    st = np.where(cancelled[redo], "cancelled", "completed").astype(object)
    st[rng.random(redo.size) < 0.66] = "refunded"
    late = AS_OF - timedelta(days=1)
    write("orders", late, "pos_late", order_cols(redo, st), redo.size)
    write_empty_entities(lake, load_date=str(first_day))
    # the new day for the incremental run
    k = max(m // 1000, 10)
    no = rng.integers(0, n, k)
    nt = np.datetime64(NEW_DAY, "us") + rng.integers(8 * 3600, 21 * 3600, k).astype("timedelta64[s]")
    write(
        "orders",
        NEW_DAY,
        "pos",
        {
            "source_system": np.full(k, "crm", dtype=object),
            "order_id": np.char.mod("n%d", np.arange(k)).astype(object),
            "source_customer_id": ids[no].astype(object),
            "ordered_at": nt,
            "status": np.full(k, "completed", dtype=object),
            "total_amount": np.round(rng.gamma(1.5, 1200, k), 2),
            "currency": np.full(k, "THB", dtype=object),
        },
        k,
    )
    return {
        "customer_records": n + w.size,
        "orders": m,
        "late_deliveries": int(redo.size),
        "new_day_orders": k,
    }


def dbt_paths(work: Path) -> list[str]:
    """dbt's project, target and log paths for a run whose files stay under `work`."""
    return ["--project-dir", str(REPO / "dbt_project"), "--target-path", str(work / "target"),
            "--log-path", str(work / "logs")]  # fmt: skip


def _measured(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """Run cmd in a wrapper process; return (seconds, peak RSS MB of the cmd's process tree, stdout).
    The command's CPU seconds (user + sys of its process tree; less noisy than wall time on a shared
    machine) are left in LAST_CPU."""
    wrapper = (
        "import resource, subprocess, sys, json;"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        "u = resource.getrusage(resource.RUSAGE_CHILDREN);"
        "print(json.dumps({'rc': p.returncode, 'out': p.stdout[-20000:], 'err': p.stderr[-4000:],"
        "'rss': u.ru_maxrss, 'cpu': u.ru_utime + u.ru_stime}))"
    )
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, env=env, cwd=REPO
    )
    secs = time.perf_counter() - t0
    res = json.loads(p.stdout.strip().splitlines()[-1])
    if res["rc"] != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res['out'][-6000:]}\n{res['err']}")
    global LAST_CPU
    LAST_CPU = round(res["cpu"], 1)
    return secs, res["rss"] / 1024, res["out"]


LAST_CPU = 0.0  # CPU seconds (user + sys) of the last command run by _measured


def _figures(secs: float, rss: float, **more) -> dict:
    """One measured step's figures: wall seconds, CPU seconds (LAST_CPU), peak RSS MB, then `more`."""
    return {"seconds": round(secs, 2), "cpu_seconds": LAST_CPU, "peak_rss_mb": round(rss), **more}


def _slowest(run_results: Path, n: int = 8) -> dict:
    """The n slowest nodes of a dbt run (name -> seconds), where the time goes."""
    results = json.loads(run_results.read_text())["results"]
    top = sorted(results, key=lambda r: -r["execution_time"])[:n]
    return {r["unique_id"].split(".", 2)[-1]: round(r["execution_time"], 2) for r in top}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--orders-per-customer", type=int, default=10)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench_dbt_", dir=args.workdir))
    lake, wh = work / "lake", work / "wh" / "warehouse.duckdb"
    wh.parent.mkdir(parents=True)
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(REPO / "dbt_project"),
        "CRM_WAREHOUSE": str(wh),
        "CRM_LAKE_DIR": str(lake),
        "CRM_DBT_TARGET": "duckdb",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "PYTHONPATH": str(REPO),
    }
    out: dict = {"customers": args.customers, "orders_per_customer": args.orders_per_customer}
    try:
        say = lambda m: print(f"[bench.dbt_build] {m}", file=sys.stderr, flush=True)  # noqa: E731
        say(f"writing lake: {args.customers:,} people, {args.customers * args.orders_per_customer:,} orders")
        t0 = time.perf_counter()
        gen = subprocess.run(
            [
                sys.executable,
                "-c",
                "import json, sys; from bench.dbt_build import _write_lake;"
                "print(json.dumps(_write_lake(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))))",
                str(lake),
                str(args.customers),
                str(args.orders_per_customer),
                str(args.seed),
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
        )
        if gen.returncode != 0:
            raise RuntimeError(gen.stderr[-4000:])
        out["lake"] = json.loads(gen.stdout.strip().splitlines()[-1])
        out["lake_seconds"] = round(time.perf_counter() - t0, 1)

        say("floor: one DuckDB query")
        floor_code = (
            "import duckdb, json, sys; c = duckdb.connect(); c.execute('set enable_progress_bar = false');"
            "rows = c.execute(sys.argv[1]).fetchall();"
            "print(json.dumps([[r[0], r[1], r[2]] for r in rows]))"
        )
        sql = FLOOR_SQL.format(
            lake=lake,
            as_of=AS_OF,
            rank_case=rank_case_sql("spend", "n", "ever"),  # the seed's rules (crmloop/rank_rules.py)
            window_months=window_months(),
        )
        secs, rss, stdout = _measured([sys.executable, "-c", floor_code, sql], env)
        floor = {r[0]: (r[1], r[2]) for r in json.loads(stdout.strip().splitlines()[-1])}
        out["floor"] = _figures(secs, rss, ranks=floor)

        dbt = str(REPO / ".venv" / "bin" / "dbt")
        common = dbt_paths(work)
        from crmloop.settings import DBT_CUSTOMER_MODEL  # the customer model: its marts and all upstream

        sel = list(DBT_CUSTOMER_MODEL)
        say("dbt parse (fixed start-up)")
        secs, rss, _ = _measured([dbt, "parse", *common], env)
        out["dbt_startup_seconds"] = round(secs, 2)
        out["dbt_startup_cpu_seconds"] = LAST_CPU

        # what the floor computes: the ranks and everything they need (facts, identity), with tests,
        # into a warehouse of its own (own target path, so its start-up is a partial parse as well)
        ranks_wh = work / "wh_ranks" / "warehouse.duckdb"
        ranks_wh.parent.mkdir()
        env_r = {**env, "CRM_WAREHOUSE": str(ranks_wh)}
        common_r = [
            *common[:2],
            "--target-path",
            str(work / "target_ranks"),
            "--log-path",
            str(work / "logs"),
        ]
        _measured([dbt, "parse", *common_r], env_r)
        say("dbt build +customer_ranks (full: what the floor computes)")
        secs, rss, _ = _measured(
            [
                dbt,
                "build",
                "--select",
                "+customer_ranks",
                *common_r,
            ],
            {**env_r, "CRM_AS_OF": str(AS_OF)},
        )
        out["dbt_build_ranks_full"] = _figures(
            secs, rss, slowest_nodes=_slowest(work / "target_ranks" / "run_results.json")
        )
        say(f"ranks build {secs:.1f}s, peak {rss:.0f} MB")

        say("dbt build (full, the whole customer model)")
        secs, rss, _ = _measured([dbt, "build", *sel, *common], {**env, "CRM_AS_OF": str(AS_OF)})
        out["dbt_build_full"] = _figures(
            secs, rss, slowest_nodes=_slowest(work / "target" / "run_results.json")
        )
        say(f"full build {secs:.1f}s, peak {rss:.0f} MB")
        import duckdb

        con = duckdb.connect(str(wh), read_only=True)
        got = {
            r[0]: (r[1], r[2])
            for r in con.execute(
                "select rank, customers, sales from marts.rank_summary where as_of = ?", [AS_OF]
            ).fetchall()
        }
        ((people,),) = con.execute(
            "select count(distinct customer_id) from marts.customer_identity"
        ).fetchall()
        con.close()
        out["dbt_ranks"] = got
        out["people"] = people
        out["ranks_equal_floor"] = {k: v[0] for k, v in got.items()} == {k: v[0] for k, v in floor.items()}

        say("dbt build after one new day (incremental, as the daily run: data tests, no unit tests)")
        secs, rss, _ = _measured(
            [dbt, "build", *sel, "--exclude-resource-type", "unit_test", *common],
            {**env, "CRM_AS_OF": str(NEW_DAY)},
        )
        out["dbt_build_incremental"] = _figures(
            secs, rss, slowest_nodes=_slowest(work / "target" / "run_results.json")
        )
        say("dbt run after one new day (models only, incremental)")
        secs, rss, _ = _measured([dbt, "run", *sel, *common], {**env, "CRM_AS_OF": str(NEW_DAY)})
        out["dbt_run_incremental_rerun"] = _figures(secs, rss)
        allowed = 3 * out["floor"]["seconds"] + out["dbt_startup_seconds"]
        out["allowed_seconds_3x_floor_plus_startup"] = round(allowed, 2)
        ranks_full = out["dbt_build_ranks_full"]["seconds"]
        out["ranks_build_over_allowed"] = round(ranks_full / allowed, 2)
        out["target_full_within_3x_floor_plus_startup"] = ranks_full <= allowed
        out["whole_model_build_over_allowed"] = round(out["dbt_build_full"]["seconds"] / allowed, 2)
        out["target_incremental_under_30s"] = out["dbt_build_incremental"]["seconds"] < 30
    except Exception as exc:  # report what was measured, then fail
        out["error"] = str(exc)[-3000:]
        raise
    finally:
        out["peak_rss_mb_self"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            out["workdir"] = str(work)
        print(json.dumps(out), flush=True)
    return out


if __name__ == "__main__":
    main()
