"""Campaign state → the lake, so dbt (DuckDB or Spark) can compute campaign results.

The dbt project reads only the Parquet lake (never DuckDB-only tables), so after a send date's
audiences, suppressions and sends exist, this module produces two declared lake entities for it
(sources/declarations/campaign_sends.yml, campaign_plan.yml; schema in sources/schema.py). It
writes them as the run's own landing-style files,

    <state>/campaign_sends/<send_date>/campaign_sends.parquet      (<home>/campaign_state/)
    <state>/campaign_plan/<send_date>/campaign_plan.parquet

and puts them into the lake through the ingestion code (`sources.ingest_partition`), like every
source: `<lake>/<entity>/load_date=<send_date>/<source>-NNNN.parquet`, bad rows quarantined with
file, row and reason, rows in = loaded + quarantined; replaced on rerun. No raw PII: addresses
are SHA-256 hashed.

`campaign_sends`: one row per audience member per campaign × channel × send_date, with its
outcome (sources.schema.CAMPAIGN_OUTCOMES): `holdout` (control group, receives nothing),
`suppressed` (reason = suppression reason), `sent`, `failed` (reason = provider reason),
`ambiguous` (in flight when a run died, or not reconciled), `queued` (eligible, no send recorded
yet: e.g. SMS deferred by quiet hours).

`campaign_plan`: one row per campaign × channel of the plan with the KPI (metric, target,
window) and the dates and holdout share.

Pure parts (`compose_campaign_sends`, `campaign_plan_table`) take frames/plans and return Arrow
tables of the entity's columns; `export_campaign_state` does the I/O (read-only DuckDB
connection, atomic file replace, ingestion).
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
from activations.plan.spec import LIST_CHANNELS_SQL, Plan, coerce_plan
from sources.schema import CAMPAIGN_OUTCOMES as OUTCOMES
from sources.schema import entity_columns

PRODUCER = "campaign_state"  # `produced_by` of the two declarations
S, D, INT, B = pa.string(), pa.date32(), pa.int64(), pa.bool_()


def state_schema(entity: str) -> pa.Schema:
    """The columns the campaign-state files carry: the entity's (ingestion adds the lineage)."""
    return pa.schema(entity_columns(entity))


def address_hash(address: str | None) -> str | None:
    """SHA-256 (hex) of an address as stored in the audience; None stays None."""
    if address is None or (isinstance(address, float) and pd.isna(address)) or address is pd.NA:
        return None
    return hashlib.sha256(str(address).encode("utf-8")).hexdigest()


_LEDGER_OUTCOME = {"sent": "sent", "failed": "failed", "ambiguous": "ambiguous", "pending": "ambiguous"}


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
            list_channels=LIST_CHANNELS_SQL,
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
    return table.cast(state_schema("campaign_sends"))


def campaign_plan_table(plan: Plan, send_date: date) -> pa.Table:
    """One row per campaign × channel of the plan (every campaign, active or not); `send_date`
    is the date the plan was in force (the partition it is filed under)."""
    columns = entity_columns("campaign_plan")
    rows: dict[str, list] = {name: [] for name, _ in columns}
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
    return pa.table({name: pa.array(rows[name], typ) for name, typ in columns})


def _read(con, table: str, columns: list[str], send_date: date) -> pd.DataFrame:
    schema, name = table.split(".")
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchall()[0][0]
    if not exists:
        return _empty(columns)
    have = {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchall()
    }
    select = ", ".join(f'"{c}"' if c in have else f'null as "{c}"' for c in columns)
    return con.sql(f"select {select} from {table} where send_date = ?", params=[send_date]).to_arrow_table()


def write_state_file(state_dir: Path | str, source: str, send_date: date, table: pa.Table) -> Path:
    """Atomically replace `<state>/<source>/<send_date>/` by one file, `<source>.parquet`: the
    landing-style partition ingestion reads (a rerun replaces it, never adds a second file)."""
    folder = Path(state_dir) / source / send_date.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{source}-{uuid.uuid4().hex}.parquet"  # hidden: ingestion skips it
    pq.write_table(table, tmp)
    final = folder / f"{source}.parquet"
    for old in folder.iterdir():
        if old not in (tmp, final) and old.is_file():
            old.unlink()
    os.replace(tmp, final)
    return final


def _empty(columns: list[str]) -> pa.Table:
    return pa.table({c: pa.array([], B if c == "holdout" else S) for c in columns})


def export_campaign_state(
    warehouse_path: Path | str,
    lake_dir: Path | str,
    plan: Plan | str | Path,
    send_date: date,
    *,
    state_dir: Path | str,
    quarantine_dir: Path | str,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Write `campaign_sends` and `campaign_plan` for `send_date` under `state_dir` and ingest
    them into the lake (`sources.ingest_partition` with their declarations; bad rows go to
    `quarantine_dir`).

    Reads `activations.campaign_audience_snapshots`, `activations.campaign_suppressions` and
    `activations.send_ledger` with a read-only connection; a table that does not exist yet counts
    as empty (the partitions are then empty, with the full schema). Returns the rows loaded per
    entity, the outcomes loaded, the lake files, and `ingest`: the IngestResult per source."""
    import duckdb

    from sources import ingest_partition, produced_declarations

    plan = coerce_plan(plan)
    say = progress or (lambda _m: None)
    keys = ["campaign_id", "customer_id", "channel"]
    columns = {
        "audience": [*keys, "holdout", "address"],
        "suppressions": [*keys, "reason"],
        "ledger": [*keys, "status", "reason", "send_id"],
    }
    warehouse_path = Path(warehouse_path)
    if warehouse_path.exists():
        con = duckdb.connect(str(warehouse_path), read_only=True)
        try:
            audience = _read(con, AUDIENCE_SNAPSHOTS_TABLE, columns["audience"], send_date)
            suppressions = _read(con, CAMPAIGN_SUPPRESSIONS_TABLE, columns["suppressions"], send_date)
            ledger = _read(con, LEDGER_TABLE, columns["ledger"], send_date)
        finally:
            con.close()
    else:
        audience, suppressions, ledger = (_empty(columns[k]) for k in ("audience", "suppressions", "ledger"))
    say(f"campaign state {send_date}: {audience.num_rows} audience rows, {ledger.num_rows} ledger rows")
    tables = {
        "campaign_sends": compose_campaign_sends(audience, suppressions, ledger, send_date),
        "campaign_plan": campaign_plan_table(plan, send_date),
    }
    decls = produced_declarations(PRODUCER)
    results = {}
    for source, table in tables.items():
        decl = decls[source]
        write_state_file(state_dir, decl.name, send_date, table)
        results[source] = ingest_partition(
            decl,
            landing_dir=state_dir,
            lake_dir=lake_dir,
            quarantine_dir=quarantine_dir,
            load_date=send_date,
            progress=say,
        )
    sends = results["campaign_sends"]
    outcomes = {o: 0 for o in OUTCOMES}
    loaded = pq.read_table(sends.lake_files, columns=["outcome"]) if sends.lake_files else None
    if loaded is not None:
        for o in loaded.column("outcome").value_counts().to_pylist():
            outcomes[o["values"]] = outcomes.get(o["values"], 0) + o["counts"]
    say(
        f"campaign state {send_date}: {sends.rows_loaded} sends loaded, {sends.rows_quarantined} "
        f"quarantined; {results['campaign_plan'].rows_loaded} plan rows"
    )
    return {
        "send_date": send_date.isoformat(),
        "campaign_sends": sends.rows_loaded,
        "campaign_plan": results["campaign_plan"].rows_loaded,
        "outcomes": outcomes,
        "files": {e: [str(p) for p in r.lake_files] for e, r in results.items()},
        "ingest": results,
    }
