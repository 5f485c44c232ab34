"""Bounded-memory reads of the lake for the quality suites.

Everything here touches one partition of one source at a time, or only Parquet footers and
folder names for cross-partition facts (row counts per partition, newest partition), or a
read-only DuckDB scan that returns a handful of keys (orders whose customer is unknown).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sources.lake import entity_files, partition_dir, partitions, quarantine_partition_dir
from sources.schema import NULLED_FIELDS, NULLED_SEPARATOR


class LakeError(ValueError):
    """A lake file or folder that breaks the layout contract (names the path and reason)."""


def source_files(lake_dir: Path, entity: str, source: str, load_date: date) -> list[Path]:
    """The Parquet files source `source` wrote into the entity's partition (`<source>-NNNN.parquet`)."""
    folder = partition_dir(lake_dir, entity, load_date)
    if not folder.is_dir():
        return []
    pattern = re.compile(rf"^{re.escape(source)}-\d+\.parquet$")
    return sorted(p for p in folder.iterdir() if pattern.match(p.name))


@dataclass(frozen=True)
class PartitionStat:
    load_date: date
    files: int
    rows: int


def partition_stats(
    lake_dir: Path, entity: str, source: str, *, up_to: date | None = None
) -> list[PartitionStat]:
    """Row counts per partition of one source, read from Parquet footers only (no data pages)."""
    stats = []
    for d, _ in partitions(lake_dir, entity, up_to=up_to):
        files = source_files(lake_dir, entity, source, d)
        if not files:
            continue
        rows = 0
        for f in files:
            try:
                rows += pq.ParquetFile(f).metadata.num_rows
            except (OSError, pa.ArrowInvalid) as exc:
                raise LakeError(f"{f}: unreadable Parquet footer ({exc})") from exc
        stats.append(PartitionStat(d, len(files), rows))
    return stats


def file_schemas(files: list[Path]) -> list[pa.Schema]:
    out = []
    for f in files:
        try:
            out.append(pq.read_schema(f))
        except (OSError, pa.ArrowInvalid) as exc:
            raise LakeError(f"{f}: unreadable Parquet schema ({exc})") from exc
    return out


def schema_frame(files: list[Path], schemas: list[pa.Schema], columns: list[str]) -> pd.DataFrame:
    """Long format, one row per file × wanted column: `column_type` = "<column>:<arrow type>" when
    the file has it, else `missing_column` = the column's name (footers only, no data read)."""
    rows = []
    for f, s in zip(files, schemas, strict=True):
        for c in columns:
            idx = s.get_field_index(c)
            if idx >= 0:
                rows.append(
                    {
                        "file": f.name,
                        "column": c,
                        "column_type": f"{c}:{s.field(idx).type}",
                        "missing_column": None,
                    }
                )
            else:
                rows.append({"file": f.name, "column": c, "column_type": None, "missing_column": c})
    return pd.DataFrame(rows, columns=["file", "column", "column_type", "missing_column"], dtype=object)


def read_columns(files: list[Path], schemas: list[pa.Schema], columns: list[str]) -> pd.DataFrame:
    """Read only `columns` that exist in every file; dates become datetime64 so ranges compare."""
    present = [c for c in columns if all(s.get_field_index(c) >= 0 for s in schemas)]
    tables = []
    for f in files:
        try:
            t = pq.read_table(f, columns=present)
        except (OSError, pa.ArrowInvalid) as exc:
            raise LakeError(f"{f}: cannot read columns {present} ({exc})") from exc
        tables.append(t)
    if not tables:
        return pd.DataFrame(columns=present)
    table = pa.concat_tables(tables, promote_options="permissive")
    frame = table.to_pandas(date_as_object=False)
    # GX compares datetime64[ns] columns vectorised but other units value by value (about 10x
    # slower); cast when every value fits in ns (1677..2262), else keep the unit (e.g. a BE year
    # 2568 read as CE) so that the bad value is shown as it is.
    for col in frame.columns:
        dtype = frame[col].dtype
        if pd.api.types.is_datetime64_dtype(dtype) and str(dtype) != "datetime64[ns]":
            values = frame[col].dropna()
            if values.empty or (values.min() >= _NS_MIN and values.max() <= _NS_MAX):
                frame[col] = frame[col].astype("datetime64[ns]")
    return frame


def nulled_field_counts(files: list[Path]) -> list[tuple[str, str, int, str, int]]:
    """The fields ingestion nulled in these lake files (sources.schema.NULLED_FIELDS): one
    (column, reason, rows, first file, first row) per column and reason, most rows first; empty
    when the files carry no such column."""
    import duckdb

    if not files:
        return []
    con = duckdb.connect(":memory:", config={"threads": 2, "memory_limit": "1GB"})
    try:
        files_sql = "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"
        described = con.execute(f"DESCRIBE SELECT * FROM read_parquet({files_sql}, union_by_name = true)")
        names = {r[0] for r in described.fetchall()}
        if NULLED_FIELDS not in names:
            return []
        rows = con.execute(
            f"""
            WITH flags AS (
                SELECT trim(unnest(string_split({NULLED_FIELDS}, '{NULLED_SEPARATOR.strip()}'))) AS flag,
                       _source_file, _row_number
                FROM read_parquet({files_sql}, union_by_name = true)
                WHERE {NULLED_FIELDS} IS NOT NULL
            )
            SELECT split_part(flag, ':', 2) AS col, split_part(flag, ':', 1) AS reason, count(*) AS n,
                   arg_min(_source_file, (_source_file, _row_number)) AS file,
                   arg_min(_row_number, (_source_file, _row_number)) AS row
            FROM flags GROUP BY flag ORDER BY n DESC, col, reason
            """
        ).fetchall()
    except duckdb.Error as exc:
        raise LakeError(f"{files[0].parent}: cannot count the nulled fields ({exc})") from exc
    finally:
        con.close()
    return [(c, r, int(n), f, int(row)) for c, r, n, f, row in rows]


def nulled_fields_note(counts: list[tuple[str, str, int, str, int]]) -> str:
    """One line per column a person can act on: `birth_date: 58 rows nulled (invalid_date),
    first <file> row 62`."""
    if not counts:
        return "no field was nulled at ingestion"
    return "; ".join(
        f"{col}: {n:,} row{'s' if n != 1 else ''} nulled ({reason}), first {file} row {row}"
        for col, reason, n, file, row in counts
    )


def rejected_files(quarantine_dir: Path, source: str, load_date: date) -> pd.DataFrame:
    """Files of one source partition that ingestion rejected whole (its `files.parquet` in the
    quarantine): one row each, column `rejected_file` = "<file>: <reason>"; empty when none."""
    path = quarantine_partition_dir(quarantine_dir, source, load_date) / "files.parquet"
    if not path.is_file():
        return pd.DataFrame({"rejected_file": pd.Series([], dtype=object)})
    try:
        t = pq.read_table(path, columns=["file", "value"])
    except (OSError, pa.ArrowInvalid) as exc:
        raise LakeError(f"{path}: unreadable quarantine manifest ({exc})") from exc
    rows = [
        f"{f}: {v}" for f, v in zip(t.column("file").to_pylist(), t.column("value").to_pylist(), strict=True)
    ]
    return pd.DataFrame({"rejected_file": pd.Series(rows, dtype=object)})


def quarantine_counts(quarantine_dir: Path, source: str, load_date: date) -> dict[str, int]:
    """Rows ingestion quarantined in one source partition, by reason (most frequent first); only
    the `reason` column of its `rows-*.parquet` is read."""
    folder = quarantine_partition_dir(quarantine_dir, source, load_date)
    counts: dict[str, int] = {}
    for path in sorted(folder.glob("rows-*.parquet")) if folder.is_dir() else []:
        try:
            reasons = pq.read_table(path, columns=["reason"]).column("reason").value_counts()
        except (OSError, pa.ArrowInvalid) as exc:
            raise LakeError(f"{path}: unreadable quarantine file ({exc})") from exc
        for item in reasons.to_pylist():
            counts[item["values"]] = counts.get(item["values"], 0) + item["counts"]
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


_NS_MIN = pd.Timestamp.min
_NS_MAX = pd.Timestamp.max


def unknown_customer_ids(lake_dir: Path, order_files: list[Path], load_date: date) -> set[tuple[str, str]]:
    """(source_system, source_customer_id) of the given order files that no customers partition
    up to `load_date` knows. One read-only DuckDB scan of two columns; returns only the misses."""
    import duckdb

    if not order_files:
        return set()
    customer_files = entity_files(lake_dir, "customers", up_to=load_date)
    con = duckdb.connect(":memory:", config={"threads": 2, "memory_limit": "1GB"})
    try:
        files_sql = "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in order_files) + "]"
        if customer_files:
            customers_sql = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in customer_files) + "]"
            sql = f"""
                WITH o AS (
                    SELECT DISTINCT source_system, source_customer_id
                    FROM read_parquet({files_sql}) WHERE source_customer_id IS NOT NULL
                ), c AS (
                    SELECT DISTINCT source_system, source_customer_id
                    FROM read_parquet({customers_sql}, union_by_name = true)
                )
                SELECT o.source_system, o.source_customer_id FROM o
                ANTI JOIN c ON o.source_system IS NOT DISTINCT FROM c.source_system
                           AND o.source_customer_id = c.source_customer_id
            """
        else:
            sql = f"""SELECT DISTINCT source_system, source_customer_id FROM read_parquet({files_sql})
                      WHERE source_customer_id IS NOT NULL"""
        rows = con.execute(sql).fetchall()
    finally:
        con.close()
    return {(r[0], r[1]) for r in rows}
