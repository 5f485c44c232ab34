"""Campaign state → the lake, so dbt (DuckDB or Spark) can compute campaign results.

The dbt project reads only the Parquet lake (never DuckDB-only tables), so after a send date's
audiences, suppressions and sends exist, this module writes two lake entities for it:

    <lake>/campaign_sends/load_date=<send_date>/activations-0000.parquet
    <lake>/campaign_plan/load_date=<send_date>/activations-0000.parquet

(replaced on rerun; `load_date` only in the folder name; the file carries `_source`,
`_source_file`, `_row_number` like every lake file; no raw PII: addresses are SHA-256 hashed).

`campaign_sends`: one row per audience member per campaign × channel × send_date, with its
outcome: `holdout` (control group, receives nothing), `suppressed` (reason = suppression reason),
`sent`, `failed` (reason = provider reason), `ambiguous` (in flight when a run died, or not
reconciled), `queued` (eligible, no send recorded yet: e.g. SMS deferred by quiet hours).

`campaign_plan`: one row per campaign × channel of the plan with the KPI (metric, target,
window) and the dates and holdout share.

Pure parts (`compose_campaign_sends`, `campaign_plan_table`) take frames/plans and return Arrow
tables; `export_campaign_state` does the I/O (read-only DuckDB connection, atomic file replace).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from activations.audiences.messages import send_id_for
from activations.audiences.suppression import CAMPAIGN_SUPPRESSIONS_TABLE, LEDGER_TABLE
from activations.audiences.tables import AUDIENCE_SNAPSHOTS_TABLE
from activations.plan.spec import LIST_CHANNELS, Plan, coerce_plan

SOURCE = "activations"

S, D, F, INT, B = pa.string(), pa.date32(), pa.float64(), pa.int64(), pa.bool_()
META = [("_source", S), ("_source_file", S), ("_row_number", INT)]

CAMPAIGN_SENDS_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("campaign_id", S),
    ("customer_id", S),
    ("channel", S),
    ("send_date", D),
    ("holdout", B),
    ("outcome", S),
    ("reason", S),
    ("send_id", S),
    ("address_hash", S),
]
CAMPAIGN_PLAN_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("campaign_id", S),
    ("campaign_name", S),
    ("channel", S),
    ("segment", S),
    ("objective", S),
    ("kpi_metric", S),
    ("kpi_target", F),
    ("kpi_window_days", INT),
    ("start_date", D),
    ("end_date", D),
    ("holdout_share", F),
]
SCHEMAS = {
    "campaign_sends": pa.schema(CAMPAIGN_SENDS_COLUMNS + META),
    "campaign_plan": pa.schema(CAMPAIGN_PLAN_COLUMNS + META),
}
OUTCOMES = ("holdout", "suppressed", "sent", "failed", "ambiguous", "queued")
_LEDGER_OUTCOME = {"sent": "sent", "failed": "failed", "ambiguous": "ambiguous", "pending": "ambiguous"}


def address_hash(address: str | None) -> str | None:
    """SHA-256 (hex) of an address as stored in the audience; None stays None."""
    if address is None or (isinstance(address, float) and pd.isna(address)) or address is pd.NA:
        return None
    return hashlib.sha256(str(address).encode("utf-8")).hexdigest()


def _with_meta(table: pa.Table, entity: str, send_date: date) -> pa.Table:
    n = table.num_rows
    src_file = f"{SOURCE}/{send_date.isoformat()}/{entity}.parquet"
    table = table.append_column("_source", pa.array([SOURCE] * n, S))
    table = table.append_column("_source_file", pa.array([src_file] * n, S))
    table = table.append_column("_row_number", pa.array(range(1, n + 1), INT))
    return table.cast(SCHEMAS[entity])


_COMPOSE_SQL = """
with aud as (
    select * exclude (_i) from (select *, row_number() over (partition by campaign_id, customer_id, channel
                                                               order by _i) as _k from aud_in) where _k = 1
),
sup as (
    select campaign_id, customer_id, channel, reason from (
        select *, row_number() over (partition by campaign_id, customer_id, channel order by _i) as _k from sup_in
    ) where _k = 1
),
led as (
    select campaign_id, customer_id, channel, status, reason, send_id from (
        select *, row_number() over (partition by campaign_id, customer_id, channel order by _i) as _k from led_in
    ) where _k = 1
)
select cast(a.campaign_id as varchar) as campaign_id, cast(a.customer_id as varchar) as customer_id,
       cast(a.channel as varchar) as channel, coalesce(cast(a.holdout as boolean), false) as holdout,
       case when coalesce(cast(a.holdout as boolean), false) then 'holdout'
            when s.reason is not null then 'suppressed'
            when l.status is not null then case l.status {ledger_cases} else '?' || l.status end
            when a.channel in ({list_channels}) then 'sent'
            else 'queued' end as outcome,
       case when coalesce(cast(a.holdout as boolean), false) then null
            when s.reason is not null then s.reason
            when l.status is not null and l.status <> 'sent' then l.reason end as reason,
       l.send_id as ledger_send_id,
       case when a.address is not null then sha256(cast(a.address as varchar)) end as address_hash
from aud a
left join sup s using (campaign_id, customer_id, channel)
left join led l using (campaign_id, customer_id, channel)
order by campaign_id, channel, customer_id
"""


def _indexed(frame, columns: list[str]) -> pa.Table:
    """The frame's columns as Arrow (all strings but holdout), with its row order in `_i`."""
    t = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame[columns], preserve_index=False)
    t = t.select(columns)
    return t.append_column("_i", pa.array(range(t.num_rows), INT))


def compose_campaign_sends(audience, suppressions, ledger, send_date: date) -> pa.Table:
    """One row per audience member (campaign × customer × channel) of `send_date` with its outcome.

    audience: campaign_id, customer_id, channel, holdout, address (the send date's snapshot);
    suppressions: campaign_id, customer_id, channel, reason; ledger: campaign_id, customer_id,
    channel, status, reason, send_id (pandas frames or Arrow tables). Rows of the other frames that
    match no audience member are ignored; a key repeated in one frame counts its first row.
    Precedence: holdout, then suppressed, then the ledger status; else `sent` on the list channels
    (phone call list, direct-mail list, ad audience: handed over in the run's files and syncs, never
    through the ledger) and `queued` on the others. `address_hash` is the SHA-256 hex of the address
    (`address_hash`). Vectorised in DuckDB: a million members take seconds, not minutes."""
    import duckdb

    keys = ["campaign_id", "customer_id", "channel"]
    frames = {}
    for name, df, cols in (
        ("aud_in", audience, [*keys, "holdout", "address"]),
        ("sup_in", suppressions, [*keys, "reason"]),
        ("led_in", ledger, [*keys, "status", "reason", "send_id"]),
    ):
        have = df.column_names if isinstance(df, pa.Table) else list(df.columns)
        missing = [c for c in cols if c not in have]
        if missing:
            label = {"aud_in": "audience", "sup_in": "suppressions", "led_in": "ledger"}[name]
            raise ValueError(f"compose_campaign_sends: {label} lacks columns {missing}")
        t = _indexed(df, cols)
        # an empty or all-null column has no type: strings (holdout a boolean)
        frames[name] = t.cast(
            pa.schema(
                [(f.name, B if f.name == "holdout" else INT if f.name == "_i" else S) for f in t.schema]
            )
        )
    con = duckdb.connect()
    try:
        for name, t in frames.items():
            con.register(name, t)
        sql = _COMPOSE_SQL.format(
            ledger_cases=" ".join(f"when '{k}' then '{v}'" for k, v in _LEDGER_OUTCOME.items()),
            list_channels=", ".join(f"'{c}'" for c in sorted(LIST_CHANNELS)),
        )
        res = con.sql(sql).to_arrow_table()
    finally:
        con.close()
    outcome = res.column("outcome").to_pylist()
    unknown = sorted({o[1:] for o in outcome if o.startswith("?")})
    if unknown:
        raise ValueError(f"activations.send_ledger: unknown status {unknown[0]!r}")
    # the send id of a member without a ledger row follows the ledger's own rule (send_id_for)
    led_sid = res.column("ledger_send_id").to_pylist()
    camp, cust, chan = (res.column(c).to_pylist() for c in keys)
    send_ids = [
        s or send_id_for(c, cu, ch, send_date) for s, c, cu, ch in zip(led_sid, camp, cust, chan, strict=True)
    ]
    n = res.num_rows
    table = pa.table(
        {
            "campaign_id": res.column("campaign_id"),
            "customer_id": res.column("customer_id"),
            "channel": res.column("channel"),
            "send_date": pa.array([send_date] * n, D),
            "holdout": res.column("holdout"),
            "outcome": res.column("outcome"),
            "reason": res.column("reason"),
            "send_id": pa.array(send_ids, S),
            "address_hash": res.column("address_hash"),
        }
    )
    return _with_meta(table, "campaign_sends", send_date)


def campaign_plan_table(plan: Plan, send_date: date) -> pa.Table:
    """One row per campaign × channel of the plan (every campaign, active or not)."""
    rows: dict[str, list] = {name: [] for name, _ in CAMPAIGN_PLAN_COLUMNS}
    for c in plan.campaigns:
        for ch in c.channels:
            rows["campaign_id"].append(c.id)
            rows["campaign_name"].append(c.name)
            rows["channel"].append(ch)
            rows["segment"].append(c.segment.describe())
            rows["objective"].append(c.objective)
            rows["kpi_metric"].append(c.kpi.metric)
            rows["kpi_target"].append(float(c.kpi.target))
            rows["kpi_window_days"].append(int(c.kpi.window_days))
            rows["start_date"].append(c.start_date)
            rows["end_date"].append(c.end_date)
            rows["holdout_share"].append(float(c.holdout_share))
    table = pa.table({name: pa.array(rows[name], typ) for name, typ in CAMPAIGN_PLAN_COLUMNS})
    return _with_meta(table, "campaign_plan", send_date)


def _read(con, table: str, columns: list[str], send_date: date) -> pd.DataFrame:
    schema, name = table.split(".")
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchall()[0][0]
    if not exists:
        return pa.table({c: pa.array([], B if c == "holdout" else S) for c in columns})
    have = {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchall()
    }
    select = ", ".join(f'"{c}"' if c in have else f'null as "{c}"' for c in columns)
    return con.sql(f"select {select} from {table} where send_date = ?", params=[send_date]).to_arrow_table()


def write_lake_partition(lake_dir: Path | str, entity: str, load_date: date, table: pa.Table) -> Path:
    """Atomically replace `<lake>/<entity>/load_date=<d>/activations-*.parquet` by one file."""
    lake_dir = Path(lake_dir)
    staging = lake_dir / ".staging"
    staging.mkdir(parents=True, exist_ok=True)
    tmp = staging / f"{entity}-{load_date.isoformat()}-{uuid.uuid4().hex}.parquet"
    pq.write_table(table, tmp)
    part = lake_dir / entity / f"load_date={load_date.isoformat()}"
    part.mkdir(parents=True, exist_ok=True)
    final = part / f"{SOURCE}-0000.parquet"
    for old in part.glob(f"{SOURCE}-*.parquet"):
        if old != final:
            old.unlink()
    os.replace(tmp, final)
    return final


def export_campaign_state(
    warehouse_path: Path | str,
    lake_dir: Path | str,
    plan: Plan | str | Path,
    send_date: date,
    *,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Write `campaign_sends` and `campaign_plan` for `send_date` into the lake.

    Reads `activations.campaign_audience_snapshots`, `activations.campaign_suppressions` and
    `activations.send_ledger` with a read-only connection; a table that does not exist yet counts
    as empty (the files are then empty, with the full schema). Returns counts and file paths."""
    import duckdb

    plan = coerce_plan(plan)
    say = progress or (lambda _m: None)
    keys = ["campaign_id", "customer_id", "channel"]
    warehouse_path = Path(warehouse_path)
    if warehouse_path.exists():
        con = duckdb.connect(str(warehouse_path), read_only=True)
        try:
            audience = _read(con, AUDIENCE_SNAPSHOTS_TABLE, [*keys, "holdout", "address"], send_date)
            suppressions = _read(con, CAMPAIGN_SUPPRESSIONS_TABLE, [*keys, "reason"], send_date)
            ledger = _read(con, LEDGER_TABLE, [*keys, "status", "reason", "send_id"], send_date)
        finally:
            con.close()
    else:
        audience, suppressions, ledger = (
            pa.table({c: pa.array([], B if c == "holdout" else S) for c in cols})
            for cols in (
                [*keys, "holdout", "address"],
                [*keys, "reason"],
                [*keys, "status", "reason", "send_id"],
            )
        )
    say(f"campaign state {send_date}: {audience.num_rows} audience rows, {ledger.num_rows} ledger rows")
    sends = compose_campaign_sends(audience, suppressions, ledger, send_date)
    plan_table = campaign_plan_table(plan, send_date)
    sends_path = write_lake_partition(lake_dir, "campaign_sends", send_date, sends)
    plan_path = write_lake_partition(lake_dir, "campaign_plan", send_date, plan_table)
    outcomes = {o: 0 for o in OUTCOMES}
    for o in sends.column("outcome").value_counts().to_pylist():
        outcomes[o["values"]] += o["counts"]
    say(f"campaign state {send_date}: wrote {sends.num_rows} sends, {plan_table.num_rows} plan rows")
    return {
        "send_date": send_date.isoformat(),
        "campaign_sends": sends.num_rows,
        "campaign_plan": plan_table.num_rows,
        "outcomes": outcomes,
        "files": {"campaign_sends": str(sends_path), "campaign_plan": str(plan_path)},
    }
