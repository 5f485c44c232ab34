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
from activations.plan.spec import Plan, coerce_plan

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


# channels delivered as a list in the run's own output (exports, ad sync), not message by message
LIST_CHANNELS = frozenset({"phone", "direct_mail", "ads"})


def compose_campaign_sends(
    audience: pd.DataFrame, suppressions: pd.DataFrame, ledger: pd.DataFrame, send_date: date
) -> pa.Table:
    """One row per audience member (campaign × customer × channel) of `send_date` with its outcome.

    audience: campaign_id, customer_id, channel, holdout, address (the send date's snapshot);
    suppressions: campaign_id, customer_id, channel, reason; ledger: campaign_id, customer_id,
    channel, status, reason, send_id. Rows of the other frames that match no audience member are
    ignored. Precedence: holdout, then suppressed, then the ledger status; else `sent` on the
    list channels (phone call list, direct-mail list, ad audience: handed over in the run's
    files and syncs, never through the ledger) and `queued` on the others."""
    keys = ["campaign_id", "customer_id", "channel"]
    for name, df, cols in (
        ("audience", audience, [*keys, "holdout", "address"]),
        ("suppressions", suppressions, [*keys, "reason"]),
        ("ledger", ledger, [*keys, "status", "reason", "send_id"]),
    ):
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise ValueError(f"compose_campaign_sends: {name} lacks columns {missing}")
    aud = audience[[*keys, "holdout", "address"]].drop_duplicates(keys)
    sup = suppressions[[*keys, "reason"]].drop_duplicates(keys).rename(columns={"reason": "sup_reason"})
    led = ledger[[*keys, "status", "reason", "send_id"]].drop_duplicates(keys)
    led = led.rename(columns={"reason": "led_reason", "send_id": "led_send_id"})
    df = aud.merge(sup, on=keys, how="left").merge(led, on=keys, how="left")
    holdout = df["holdout"].fillna(False).astype(bool).to_numpy()
    sup_reason = df["sup_reason"].astype(object).where(df["sup_reason"].notna(), None).tolist()
    status = df["status"].astype(object).where(df["status"].notna(), None).tolist()
    led_reason = df["led_reason"].astype(object).where(df["led_reason"].notna(), None).tolist()
    outcome, reason = [], []
    channels = df["channel"].astype(str).tolist()
    for h, sr, st, lr, ch in zip(holdout, sup_reason, status, led_reason, channels, strict=True):
        if h:
            outcome.append("holdout")
            reason.append(None)
        elif sr is not None:
            outcome.append("suppressed")
            reason.append(sr)
        elif st is not None:
            if st not in _LEDGER_OUTCOME:
                raise ValueError(f"activations.send_ledger: unknown status {st!r}")
            outcome.append(_LEDGER_OUTCOME[st])
            reason.append(lr if st != "sent" else None)
        else:
            outcome.append("sent" if ch in LIST_CHANNELS else "queued")
            reason.append(None)
    led_sid = df["led_send_id"].astype(object).where(df["led_send_id"].notna(), None).tolist()
    send_ids = [
        s or send_id_for(c, cu, ch, send_date)
        for s, c, cu, ch in zip(led_sid, df["campaign_id"], df["customer_id"], df["channel"], strict=True)
    ]
    n = len(df)
    table = pa.table(
        {
            "campaign_id": pa.array(df["campaign_id"].astype(str).tolist(), S),
            "customer_id": pa.array(df["customer_id"].astype(str).tolist(), S),
            "channel": pa.array(df["channel"].astype(str).tolist(), S),
            "send_date": pa.array([send_date] * n, D),
            "holdout": pa.array(holdout.tolist(), B),
            "outcome": pa.array(outcome, S),
            "reason": pa.array(reason, S),
            "send_id": pa.array(send_ids, S),
            "address_hash": pa.array([address_hash(a) for a in df["address"].tolist()], S),
        }
    )
    table = table.sort_by(
        [("campaign_id", "ascending"), ("channel", "ascending"), ("customer_id", "ascending")]
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
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    have = {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchall()
    }
    select = ", ".join(f'"{c}"' if c in have else f'null as "{c}"' for c in columns)
    return con.execute(f"select {select} from {table} where send_date = ?", [send_date]).df()


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
        empty = pd.DataFrame({c: pd.Series([], dtype=object) for c in [*keys, "holdout", "address"]})
        audience = empty
        suppressions = pd.DataFrame({c: pd.Series([], dtype=object) for c in [*keys, "reason"]})
        ledger = pd.DataFrame(
            {c: pd.Series([], dtype=object) for c in [*keys, "status", "reason", "send_id"]}
        )
    say(f"campaign state {send_date}: {len(audience)} audience rows, {len(ledger)} ledger rows")
    sends = compose_campaign_sends(audience, suppressions, ledger, send_date)
    plan_table = campaign_plan_table(plan, send_date)
    sends_path = write_lake_partition(lake_dir, "campaign_sends", send_date, sends)
    plan_path = write_lake_partition(lake_dir, "campaign_plan", send_date, plan_table)
    outcomes = {o: 0 for o in OUTCOMES}
    for o in sends.column("outcome").to_pylist():
        outcomes[o] += 1
    say(f"campaign state {send_date}: wrote {sends.num_rows} sends, {plan_table.num_rows} plan rows")
    return {
        "send_date": send_date.isoformat(),
        "campaign_sends": sends.num_rows,
        "campaign_plan": plan_table.num_rows,
        "outcomes": outcomes,
        "files": {"campaign_sends": str(sends_path), "campaign_plan": str(plan_path)},
    }
