"""Benchmark: the whole daily run (`crmloop run`) against a hand-written floor (issue 12).

    .venv/bin/python -m bench.whole_run [--customers 1000000] [--workdir DIR] [--keep] [--skip-pandas]

Scale data (issue 12's shape), written as plain CSV by DuckDB (fast, deterministic, hash-based):
`customers` from two systems, `pos` and `web` (50 % of people only in pos, 20 % only in web, 30 % in
both, linked only through a shared email or mobile, never an id; 2 % of the latter also have a second
pos record reached only transitively: pos ~email~ web ~mobile~ pos2), about 1.3 records per person;
`orders` (7.68 per person, skewed, over four years; 3 % cancelled, 2 % refunded by a later row);
`consents` (85 % of records opted in to every channel); all of it in ONE landing day D. Then the next day D+1: 10,000 new orders and 2,000 new customers.

Measured, each in its own child process (peak RSS is that process tree's):
- floor: one hand-written DuckDB query plus scipy connected components (identity and ranks from the
  same CSVs, in one process), as of D and again as of D+1 (the floor's full recomputation);
- pandas: the analyst's alternative, the same in pandas + scipy (as of D);
- `crmloop run` as of D (everything: ingestion, quality, dbt, audiences, sandbox sends, exports,
  report), then as of D+1: wall, CPU, peak RSS, ratio to the floor, the fixed start-up on its own
  line (imports and Dagster set-up up to the first step, plus dbt's parse inside the dbt steps),
  per-step times (Dagster's event log), per-model dbt times (run_results.json), the quality share
  (the steps that run checks), and the rank agreement with the floor per source record.
Prints one JSON object as its last line. No assertion on time: `make bench` reports ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DAY = date(2026, 11, 20)  # the one landing day of the full history
NEXT_DAY = DAY + timedelta(days=1)
ORDERS_PER_PERSON = 7.68
NEW_ORDERS, NEW_CUSTOMERS = 10_000, 2_000
ORDER_FILE_ROWS = 2_000_000

# ---------------------------------------------------------------------------------------------
# scale data


def _u(expr: str, salt: str) -> str:
    """A uniform [0, 1) number from a hash of expr and a salt (deterministic, no RNG state)."""
    return f"((hash({expr}, '{salt}') % 1000000) / 1000000.0)"


PEOPLE_SQL = """
create or replace table people as
select i,
       case when {u_kind} < 0.5 then 'pos' when {u_kind} < 0.7 then 'web' else 'both' end as kind,
       case when {u_link} < 0.4 then 'email' when {u_link} < 0.8 then 'mobile' else 'both' end as link,
       {u_t} < 0.02 as chain,
       {u_e} < 0.6 as has_email, {u_p} < 0.9 as has_mobile,
       timestamp '{start}' + to_seconds(cast(floor({u_r} * {span_s}) as bigint)) as registered_at
from range({lo}, {hi}) t(i)
"""

RECORDS_SQL = """
create or replace table records as
select 'pos' as source_system, 'P' || lpad(cast(i as varchar), 9, '0') as customer_id, i,
       case when kind = 'both' then (link in ('email', 'both')) else has_email end as e,
       case when kind = 'both' then (link in ('mobile', 'both')) else has_mobile end as m,
       'c' as mail, registered_at
from people where kind in ('pos', 'both')
union all
select 'web', 'W' || lpad(cast(i as varchar), 9, '0'), i,
       true,
       case when kind = 'both' then (link in ('mobile', 'both') or chain) else has_mobile end,
       case when kind = 'both' and link = 'mobile' then 'w' else 'c' end,
       registered_at + interval 1 day
from people where kind in ('web', 'both')
union all  -- the transitive chain: a second pos record sharing only the mobile of the web record
select 'pos', 'Q' || lpad(cast(i as varchar), 9, '0'), i, false, true, 'c', registered_at + interval 2 day
from people where kind = 'both' and link = 'email' and chain
"""

CUSTOMERS_CSV_SQL = """
copy (
    select source_system, customer_id, {first} as first_name, 'Jaidee' as last_name,
           case when e then mail || cast(i as varchar) || '@example.co.th' end as email,
           case when m then '08' || lpad(cast(i % 100000000 as varchar), 8, '0') end as phone,
           'Bangkok' as province,
           strftime(registered_at, '%Y-%m-%d %H:%M:%S') as registered_at,
           strftime(registered_at, '%Y-%m-%d %H:%M:%S') as updated_at
    from {records} where source_system = '{system}' order by customer_id
) to '{path}' (header, delimiter ',')
"""

# consents: 85 % of records opted in to every channel when they registered, the rest gave none
CONSENTS_CSV_SQL = """
copy (
    select source_system, customer_id, 'all' as channel, 'opt_in' as status,
           strftime(registered_at, '%Y-%m-%d %H:%M:%S') as recorded_at
    from {records} where hash(customer_id, 'consent') % 100 < 85 order by customer_id
) to '{path}' (header, delimiter ',')
"""

# orders: owner person skewed (Pareto 1.2 over a hashed order of people), one of their records by hash
ORDERS_SQL = """
create or replace table orders as
with o as (
    select j, cast(floor((pow(1 - {u_owner}, -1 / 1.2) - 1) * {n} / 8) as bigint) as rank_pos,
           {u_day} as ud, {u_amt} as ua, {u_st} as us, {u_rec} as ur
    from range({lo}, {hi}) t(j)
),
owners as (
    select o.*, cast((hash(rank_pos, 'perm') % {n}) as bigint) + {base} as i from o
),
rec as (
    select i, list(customer_id order by customer_id) as ids, list(source_system order by customer_id) as systems
    from {records} group by i
)
select {order_id} as order_id,
       r.systems[1 + cast(floor(ur * len(r.ids)) as int)] as source_system,
       r.ids[1 + cast(floor(ur * len(r.ids)) as int)] as customer_id,
       timestamp '{start}' + to_seconds(cast(floor(ud * {span_s}) as bigint)) as ordered_at,
       case when us < 0.03 then 'cancelled' else 'completed' end as status,
       round(50 + (-ln(1 - ua)) * 2000, 2) as total_amount,
       us >= 0.03 and us < 0.05 as refunded
from owners join rec r using (i)
"""

ORDERS_CSV_SQL = """
copy (
    select source_system, order_id, customer_id,
           strftime(ordered_at, '%Y-%m-%d %H:%M:%S') as ordered_at,
           case when source_system = 'pos' then 'store' else 'web' end as channel,
           case when source_system = 'pos' then 'S' || lpad(cast(hash(order_id) % 45 as varchar), 3, '0')
                else 'ONLINE' end as store_id,
           status, total_amount, 'THB' as currency
    from ({rows}) x order by ordered_at, order_id
) to '{path}' (header, delimiter ',')
"""


def write_landing(landing: Path, customers: int) -> dict:
    """The CSV landing zone: full history on DAY, and NEXT_DAY's delta. Returns counts."""
    import duckdb

    con = duckdb.connect()
    con.execute("set preserve_insertion_order = true")
    start_hist = DAY - timedelta(days=4 * 365)
    counts: dict = {}

    def day_dir(source: str, day: date) -> Path:
        d = landing / source / day.isoformat()
        d.mkdir(parents=True, exist_ok=True)
        return d

    def people(lo: int, hi: int, start: date, end_day: date, records: str) -> None:
        span = (end_day - start).days * 86400
        con.execute(
            PEOPLE_SQL.format(
                lo=lo,
                hi=hi,
                start=f"{start} 00:00:00",
                span_s=span,
                u_kind=_u("i", "kind"),
                u_link=_u("i", "link"),
                u_t=_u("i", "chain"),
                u_e=_u("i", "email"),
                u_p=_u("i", "mobile"),
                u_r=_u("i", "reg"),
            )
        )
        con.execute(
            RECORDS_SQL.replace("create or replace table records", f"create or replace table {records}")
        )

    def customers_csv(day: date, records: str) -> int:
        n = 0
        first = "case when i % 3 = 0 then 'Anna' else 'สมชาย' end"
        for system in ("pos", "web"):
            ((k,),) = con.execute(
                f"select count(*) from {records} where source_system = '{system}'"
            ).fetchall()
            if k:
                path = day_dir("customers", day) / f"{system}_customers.csv"
                con.execute(CUSTOMERS_CSV_SQL.format(first=first, system=system, path=path, records=records))
            n += k
        path = day_dir("consents", day) / "consents.csv"
        con.execute(CONSENTS_CSV_SQL.format(records=records, path=path))
        return n

    def orders(lo: int, hi: int, n_people: int, base: int, start: date, days: int, prefix: str, records: str):
        con.execute(
            ORDERS_SQL.format(
                lo=lo,
                hi=hi,
                n=n_people,
                base=base,
                records=records,
                start=f"{start} 08:00:00",
                span_s=days * 86400 - 14 * 3600,
                order_id=f"'{prefix}' || lpad(cast(j as varchar), 10, '0')",
                u_owner=_u("j", "owner"),
                u_day=_u("j", "day"),
                u_amt=_u("j", "amt"),
                u_st=_u("j", "status"),
                u_rec=_u("j", "rec"),
            )
        )

    # day D: the whole history (people registered in the year before the four years of orders)
    people(0, customers, start_hist - timedelta(days=365), start_hist, "records")
    counts["customer_records"] = customers_csv(DAY, "records")
    m = round(customers * ORDERS_PER_PERSON)
    con.execute(
        "create table all_refunds (order_id varchar, source_system varchar, customer_id varchar, "
        "ordered_at timestamp, status varchar, total_amount double, refunded boolean)"
    )
    files = 0
    for lo in range(0, m, ORDER_FILE_ROWS):
        orders(
            lo,
            min(m, lo + ORDER_FILE_ROWS),
            customers,
            0,
            start_hist,
            (DAY - start_hist).days + 1,
            "O",
            "records",
        )
        files += 1
        path = day_dir("orders", DAY) / f"orders-{files:04d}.csv"
        con.execute(ORDERS_CSV_SQL.format(rows="select * from orders", path=path))
        con.execute("insert into all_refunds select * from orders where refunded")
    # refunds: a later row of the same order, in the day's last file (after every original)
    path = day_dir("orders", DAY) / f"orders-{files + 1:04d}.csv"
    con.execute(
        ORDERS_CSV_SQL.format(rows="select * replace ('refunded' as status) from all_refunds", path=path)
    )
    ((refunds,),) = con.execute("select count(*) from all_refunds").fetchall()
    counts.update(orders=m, refund_rows=refunds)

    # day D+1: 2,000 new (pos) customers; 10,000 orders of that day, a fifth by the new customers
    people(customers, customers + NEW_CUSTOMERS, DAY, NEXT_DAY, "new_records")
    con.execute("update people set kind = 'pos'")
    people_sql = RECORDS_SQL.replace("create or replace table records", "create or replace table new_records")
    con.execute(people_sql)
    counts["next_day_customer_records"] = customers_csv(NEXT_DAY, "new_records")
    orders(0, NEW_ORDERS - NEW_CUSTOMERS, customers, 0, NEXT_DAY, 1, "N", "records")
    con.execute("create table next_orders as select * from orders")
    orders(NEW_ORDERS - NEW_CUSTOMERS, NEW_ORDERS, NEW_CUSTOMERS, customers, NEXT_DAY, 1, "N", "new_records")
    con.execute("insert into next_orders select * from orders")
    path = day_dir("orders", NEXT_DAY) / "orders-0001.csv"
    con.execute(ORDERS_CSV_SQL.format(rows="select * from next_orders", path=path))
    ((k,),) = con.execute("select count(*) from next_orders").fetchall()
    counts["next_day_orders"] = k
    con.close()
    counts["csv_bytes"] = sum(f.stat().st_size for f in landing.rglob("*.csv"))
    return counts


# ---------------------------------------------------------------------------------------------
# the floor: one DuckDB query + scipy connected components, and the same in pandas

FLOOR_RECORDS_SQL = """
select source_system, source_customer_id, lower(trim(email)) as email,
       case when regexp_matches('+66' || substr(phone, 2), '{mobile_re}') then '+66' || substr(phone, 2) end as mobile,
       registered_at
from (
    select *, row_number() over (partition by source_system, source_customer_id order by filename desc) as rn
    from (select *, customer_id as source_customer_id
          from read_csv('{landing}/customers/*/*.csv', filename = true, all_varchar = true, union_by_name = true))
    where cast(regexp_extract(filename, '/customers/([0-9-]+)/', 1) as date) <= date '{as_of}'
) where rn = 1
order by source_system, source_customer_id
"""

FLOOR_EDGES_SQL = """
with ids as (
    select rn - 1 as node, 'e' as t, email as v from recs where email is not null
    union all select rn - 1, 'm', mobile from recs where mobile is not null
),
usage as (select t, v, min(node) as hub, count(*) as k from ids group by t, v)
select i.node, u.hub from ids i join usage u using (t, v)
where u.k between 2 and {max_records} and i.node <> u.hub
"""

FLOOR_RANKS_SQL = """
with o as (
    select * from (
        select source_system, order_id, customer_id, cast(ordered_at as date) as d, status,
               cast(total_amount as double) as total_amount,
               -- a later file supersedes (no order repeats within one file of this data)
               row_number() over (partition by source_system, order_id order by filename desc) as last
        from read_csv('{landing}/orders/*/*.csv', filename = true, all_varchar = true)
        where cast(regexp_extract(filename, '/orders/([0-9-]+)/', 1) as date) <= date '{as_of}'
    ) where last = 1 and status = 'completed' and d <= date '{as_of}'
),
per_record as (
    select source_system, customer_id,
           sum(case when d > date '{as_of}' - interval {window_months} month then total_amount end) as spend,
           count(case when d > date '{as_of}' - interval {window_months} month then 1 end) as n,
           count(*) as ever
    from o group by all
),
per_person as (
    select c.person, coalesce(sum(p.spend), 0) as spend, coalesce(sum(p.n), 0) as n,
           coalesce(sum(p.ever), 0) as ever
    from comp c left join per_record p
      on p.source_system = c.source_system and p.customer_id = c.source_customer_id
    group by c.person
)
select c.source_system, c.source_customer_id, {rank_case} as rank
from comp c join per_person pp using (person)
"""


def _floor_params(landing: Path, as_of: date) -> dict:
    import yaml

    from crmloop.rank_rules import rank_case_sql, window_months
    from sources.normalise import TH_MOBILE_E164_REGEX

    dbt_vars = yaml.safe_load((REPO / "dbt_project" / "dbt_project.yml").read_text())["vars"]
    return {
        "landing": landing,
        "as_of": as_of,
        "mobile_re": TH_MOBILE_E164_REGEX,
        "max_records": dbt_vars["identity_max_records_per_identifier"],  # the dbt project's rule
        "window_months": window_months(),
        "rank_case": rank_case_sql("pp.spend", "pp.n", "pp.ever"),
    }


def floor_duckdb(landing: Path, as_of: date, out: Path) -> None:
    """Identity (scipy connected components over shared email / mobile) and ranks per record,
    written to out (Parquet): source_system, source_customer_id, rank."""
    import duckdb
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    p = _floor_params(landing, as_of)
    con = duckdb.connect()
    con.execute("set enable_progress_bar = false")
    con.execute(
        "create table recs as select row_number() over () as rn, * from ("
        + FLOOR_RECORDS_SQL.format(**p)
        + ")"
    )
    edges = con.execute(FLOOR_EDGES_SQL.format(**p)).fetchnumpy()
    ((n,),) = con.execute("select count(*) from recs").fetchall()
    a, b = edges["node"].astype(np.int64), edges["hub"].astype(np.int64)
    graph = coo_matrix((np.ones(a.size, np.int8), (a, b)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    con.register("labels", {"node": np.arange(n), "person": labels})
    con.execute(
        "create table comp as select r.source_system, r.source_customer_id, l.person "
        "from recs r join labels l on l.node = r.rn - 1"
    )
    con.execute(f"copy ({FLOOR_RANKS_SQL.format(**p)}) to '{out}' (format parquet)")
    con.close()


def floor_pandas(landing: Path, as_of: date, out: Path) -> None:
    """The analyst's alternative: the same identity and ranks with pandas + scipy."""
    import numpy as np
    import pandas as pd
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from crmloop.rank_rules import assign_ranks

    p = _floor_params(landing, as_of)
    frames = []
    for f in sorted(landing.glob("customers/*/*.csv")):
        if date.fromisoformat(f.parent.name) > as_of:
            continue
        frames.append(pd.read_csv(f, dtype=str, engine="pyarrow"))
    recs = pd.concat(frames, ignore_index=True)
    recs = recs.drop_duplicates(["source_system", "customer_id"], keep="last").reset_index(drop=True)
    recs["email"] = recs["email"].str.strip().str.lower()
    e164 = "+66" + recs["phone"].str[1:]
    recs["mobile"] = e164.where(e164.str.fullmatch(p["mobile_re"]).fillna(False).astype(bool))
    ids = pd.concat(
        [
            pd.DataFrame({"node": recs.index, "t": "e", "v": recs["email"]}),
            pd.DataFrame({"node": recs.index, "t": "m", "v": recs["mobile"]}),
        ]
    ).dropna()
    g = ids.groupby(["t", "v"])["node"]
    ids["hub"], ids["k"] = g.transform("min"), g.transform("size")
    ids = ids[(ids["k"] >= 2) & (ids["k"] <= p["max_records"]) & (ids["node"] != ids["hub"])]
    n = len(recs)
    graph = coo_matrix((np.ones(len(ids), np.int8), (ids["node"], ids["hub"])), shape=(n, n))
    _, recs["person"] = connected_components(graph, directed=False)

    orders = []
    for f in sorted(landing.glob("orders/*/*.csv")):
        if date.fromisoformat(f.parent.name) > as_of:
            continue
        df = pd.read_csv(
            f,
            engine="pyarrow",
            usecols=["source_system", "order_id", "customer_id", "ordered_at", "status", "total_amount"],
        )
        orders.append(df)
    o = pd.concat(orders, ignore_index=True)
    o = o.drop_duplicates(["source_system", "order_id"], keep="last")  # files and rows are in order
    o["d"] = pd.to_datetime(o["ordered_at"]).dt.normalize()
    asof = pd.Timestamp(as_of)
    o = o[(o["status"] == "completed") & (o["d"] <= asof)]
    in_win = o["d"] > asof - pd.DateOffset(months=p["window_months"])
    o = o.assign(spend=o["total_amount"].where(in_win, 0.0), n=in_win.astype(int), ever=1)
    per_rec = o.groupby(["source_system", "customer_id"])[["spend", "n", "ever"]].sum()
    merged = recs.join(per_rec, on=["source_system", "customer_id"]).fillna({"spend": 0, "n": 0, "ever": 0})
    pp = merged.groupby("person")[["spend", "n", "ever"]].sum()
    pp["rank"] = assign_ranks(pp["spend"].to_numpy(), pp["n"].to_numpy(), pp["ever"].to_numpy())
    res = merged[["source_system", "customer_id", "person"]].join(pp["rank"], on="person")
    res.rename(columns={"customer_id": "source_customer_id"}).drop(columns="person").to_parquet(out)


# ---------------------------------------------------------------------------------------------
# measuring


def _measured(cmd: list[str], env: dict) -> dict:
    """Run cmd in a wrapper process (bench.dbt_build's): wall, CPU (user + sys) and peak RSS of its
    process tree, the load average after it, and when it started (epoch seconds)."""
    from bench import dbt_build

    started = time.time()
    secs, rss, _ = dbt_build._measured(cmd, env)
    return dbt_build._figures(secs, rss, load_avg_1m=round(os.getloadavg()[0], 1), started_at=started)


QUALITY_STEP_MARKERS = (
    "_quality",
)  # the asset-check steps: lake_<source>_quality, campaign_audiences_quality


def step_times(dagster_home: Path, partition: str, started_after: float) -> dict:
    """Per-step seconds of the daily run of `partition` started after `started_after` (epoch),
    from the Dagster event log, plus when the first step started."""
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    from dagster import DagsterEventType, DagsterInstance, RunsFilter

    with DagsterInstance.get() as instance:
        runs = [
            r
            for r in instance.get_run_records(RunsFilter(tags={"dagster/partition": partition}))
            if r.create_timestamp.timestamp() >= started_after - 1
        ]
        steps: dict[str, float] = {}
        first_start = run_start = None
        for rec in runs:
            begin: dict[str, float] = {}
            for ev in instance.all_logs(rec.dagster_run.run_id):
                de = ev.dagster_event
                if de is None:
                    continue
                if de.event_type == DagsterEventType.RUN_START:
                    run_start = min(run_start or ev.timestamp, ev.timestamp)
                if de.event_type == DagsterEventType.STEP_START:
                    begin[ev.step_key] = ev.timestamp
                    first_start = min(first_start or ev.timestamp, ev.timestamp)
                elif de.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                    if ev.step_key in begin:
                        steps[ev.step_key] = steps.get(ev.step_key, 0) + ev.timestamp - begin[ev.step_key]
    return {"steps": steps, "first_step_at": first_start, "run_start_at": run_start}


def dbt_model_times(target_dir: Path, started_after: float) -> tuple[dict, float]:
    """Per-model seconds (and tests summed) of the dbt invocations written after started_after,
    and the seconds dbt spent before executing its first node (parse, adapter set-up)."""
    models: dict[str, float] = {}
    before_first = 0.0
    for rr in sorted(target_dir.rglob("run_results.json")):
        if rr.stat().st_mtime < started_after:
            continue
        data = json.loads(rr.read_text())
        from datetime import datetime

        gen = datetime.fromisoformat(data["metadata"]["generated_at"].replace("Z", "+00:00")).timestamp()
        starts = []
        for r in data["results"]:
            kind, _, rest = r["unique_id"].partition(".")
            name = rest.split(".", 1)[-1] if kind == "model" else f"{kind}s"
            models[name] = round(models.get(name, 0) + r["execution_time"], 2)
            for t in r.get("timing", []):
                if t.get("started_at"):
                    starts.append(datetime.fromisoformat(t["started_at"].replace("Z", "+00:00")).timestamp())
        elapsed = data.get("elapsed_time", 0.0)
        if starts:  # dbt's own start = when it wrote the file minus its elapsed time
            before_first += max(0.0, min(starts) - (gen - elapsed))
    return dict(sorted(models.items(), key=lambda kv: -kv[1])), round(before_first, 2)


def rank_agreement(warehouse: Path, floor_file: Path) -> dict:
    """Share of the floor's source records that crmloop puts in the same rank."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    ((total, same, missing),) = con.execute(
        f"""
        with ours as (
            select i.source_system, i.source_customer_id, r.rank
            from marts.customer_identity i join marts.customer_ranks r using (customer_id)
        )
        select count(*), count(case when o.rank = f.rank then 1 end), count(case when o.rank is null then 1 end)
        from read_parquet('{floor_file}') f
        left join ours o on o.source_system = f.source_system and o.source_customer_id = f.source_customer_id
        """
    ).fetchall()
    ranks = dict(
        con.execute("select rank, count(*) from marts.customer_ranks group by 1 order by 1").fetchall()
    )
    con.close()
    return {
        "records": total,
        "same_rank": same,
        "missing_in_crmloop": missing,
        "share": round(same / total, 6) if total else None,
        "crmloop_people_by_rank": ranks,
    }


def run_day(work: Path, landing: Path, home: Path, as_of: date, env: dict) -> dict:
    crmloop = str(REPO / ".venv" / "bin" / "crmloop")
    m = _measured(
        [crmloop, "run", "--landing", str(landing), "--home", str(home), "--as-of", str(as_of)], env
    )
    started = m.pop("started_at")
    st = step_times(home / "dagster", as_of.isoformat(), started)
    models, dbt_startup = dbt_model_times(home / "dbt_target", started)
    steps = {k: round(v, 2) for k, v in sorted(st["steps"].items(), key=lambda kv: -kv[1])}
    gx = sum(v for k, v in steps.items() if any(q in k for q in QUALITY_STEP_MARKERS))
    quality = gx + models.get("tests", 0.0)  # great-expectations steps + dbt data tests
    # fixed start-up: the process's imports and Dagster set-up until its first run starts, and
    # dbt's own start (parse, adapter) in each dbt invocation
    before_run = (st["run_start_at"] or started) - started
    m.update(
        startup_seconds=round(before_run + dbt_startup, 2),
        startup_parts={"process_until_first_run": round(before_run, 2), "dbt_before_first_node": dbt_startup},
        quality_seconds=round(quality, 2),
        quality_parts={"great_expectations_steps": round(gx, 2), "dbt_tests": models.get("tests", 0.0)},
        quality_share=round(quality / m["seconds"], 3),
        steps=steps,
        dbt_models=models,
    )
    return m


def _child(fn: str, *args: str) -> list[str]:
    return [sys.executable, "-c", f"import sys; from bench.whole_run import {fn}; {fn}(*sys.argv[1:])", *args]


def floor_main(kind: str, landing: str, as_of: str, out: str) -> None:
    fn = floor_duckdb if kind == "duckdb" else floor_pandas
    fn(Path(landing), date.fromisoformat(as_of), Path(out))


def landing_main(landing: str, customers: str) -> None:
    print(json.dumps(write_landing(Path(landing), int(customers))))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--skip-pandas", action="store_true")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench_whole_run_", dir=args.workdir))
    landing, home = work / "landing", work / "home"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "CRM_START_DATE": str(DAY - timedelta(days=7)),
    }
    say = lambda m: print(f"[bench.whole_run] {m}", file=sys.stderr, flush=True)  # noqa: E731
    out: dict = {
        "bench": "whole_run",
        "customers": args.customers,
        "day": str(DAY),
        "next_day": str(NEXT_DAY),
    }
    try:
        say(f"writing CSV landing zone: {args.customers:,} people")
        t0 = time.perf_counter()
        gen = subprocess.run(
            _child("landing_main", str(landing), str(args.customers)), capture_output=True, text=True, env=env
        )
        if gen.returncode != 0:
            raise RuntimeError(gen.stderr[-4000:])
        out["data"] = json.loads(gen.stdout.strip().splitlines()[-1])
        out["data"]["seconds"] = round(time.perf_counter() - t0, 1)
        say(f"data {out['data']}")

        floors = {}
        for label, kind, day in (
            ("floor", "duckdb", DAY),
            ("floor_next_day", "duckdb", NEXT_DAY),
            ("pandas", "pandas", DAY),
        ):
            if kind == "pandas" and args.skip_pandas:
                continue
            say(f"{label}: {kind} as of {day}")
            f = work / f"{label}.parquet"
            m = _measured(_child("floor_main", kind, str(landing), str(day), str(f)), env)
            m.pop("started_at")
            out[label] = m
            floors[label] = f
            say(f"{label} {m}")
        if "pandas" in out:
            out["pandas"]["ratio_to_floor"] = round(out["pandas"]["seconds"] / out["floor"]["seconds"], 2)

        for label, day, floor_label in (
            ("first_day", DAY, "floor"),
            ("next_day", NEXT_DAY, "floor_next_day"),
        ):
            say(f"crmloop run as of {day} ({label})")
            r = run_day(work, landing, home, day, env)
            r["ratio_to_floor"] = round(r["seconds"] / out[floor_label]["seconds"], 2)
            r["rank_agreement"] = rank_agreement(home / "warehouse.duckdb", floors[floor_label])
            out[f"crmloop_{label}"] = r
            say(
                f"{label}: {r['seconds']} s, {r['ratio_to_floor']}x floor, ranks {r['rank_agreement']['share']}"
            )
    except Exception as exc:
        out["error"] = str(exc)[-3000:]
        raise
    finally:
        if args.keep:
            out["workdir"] = str(work)
        else:
            shutil.rmtree(work, ignore_errors=True)
        print(json.dumps(out, default=str), flush=True)
    return out


if __name__ == "__main__":
    main()
