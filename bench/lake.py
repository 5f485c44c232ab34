"""Parquet lakes that follow the lake contract exactly, for the benchmarks and the tests (which
import them from here: production and bench code never import tests).

    <lake>/<entity>/load_date=YYYY-MM-DD/<source>-NNNN.parquet

Every file carries the entity's columns plus `_source`, `_source_file`, `_row_number`;
`load_date` is only in the folder name. The schemas are the lake's one writer's own,
`sources/schema.py` (ingestion, which also loads the campaign state), never a copy.

    write_columns(lake, "orders", day, "pos", {"order_id": array, ...}, n)   # bench scale, arrays
    write_partition(lake, "orders", "2025-06-30", [{"order_id": "1", ...}], source="pos")  # rows
    write_empty_entities(lake)      # every entity has at least an empty file with the full schema
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sources.schema import entities
from sources.schema import entity_schema as ingested_schema

LINEAGE = ("_source", "_source_file", "_row_number")


def lake_schemas() -> dict[str, pa.Schema]:
    """Every entity Python writes into the lake, with its schema (lineage columns included)."""
    return {e: ingested_schema(e) for e in entities()}


def entity_schema(entity: str) -> pa.Schema:
    schemas = lake_schemas()
    if entity not in schemas:
        raise ValueError(f"unknown lake entity {entity!r}; known: {sorted(schemas)}")
    return schemas[entity]


def write_columns(
    lake: Path | str,
    entity: str,
    load_date: str | date,
    source: str,
    columns: Mapping[str, object],
    n: int,
    file_no: int = 1,
) -> Path:
    """Write `n` rows given as one array-like per column (missing columns are null, lineage filled
    in unless given) into `<lake>/<entity>/load_date=<date>/<source>-NNNN.parquet`."""
    schema = entity_schema(entity)
    unknown = set(columns) - set(schema.names)
    if unknown:
        raise ValueError(f"{entity}: unknown columns {sorted(unknown)}")
    load_date = load_date.isoformat() if isinstance(load_date, date) else str(load_date)
    lineage = {
        "_source": np.full(n, source, dtype=object),
        "_source_file": np.full(n, f"{source}/{load_date}/{entity}-{file_no:04d}.csv", dtype=object),
        "_row_number": np.arange(1, n + 1, dtype=np.int64),
    }
    arrays = []
    for field in schema:
        values = columns.get(field.name, lineage.get(field.name))
        arrays.append(pa.nulls(n, field.type) if values is None else pa.array(values, type=field.type))
    out_dir = Path(lake) / entity / f"load_date={load_date}"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{source}-{file_no:04d}.parquet"
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), path)
    return path


def _coerce(value, typ: pa.DataType):
    if isinstance(value, str) and typ == pa.timestamp("us"):
        return datetime.fromisoformat(value)
    if isinstance(value, str) and typ == pa.date32():
        return date.fromisoformat(value)
    if isinstance(value, datetime) and typ == pa.date32():
        return value.date()
    return value


def write_partition(
    lake: Path | str,
    entity: str,
    load_date: str | date,
    rows: Iterable[Mapping],
    source: str = "fixture",
    file_no: int = 1,
) -> Path:
    """Write rows (dicts with the entity's columns; missing ones are null, ISO strings become dates
    and timestamps; `_source`, `_source_file`, `_row_number` filled in unless given) as one file.
    Unknown columns raise ValueError naming the row."""
    schema = entity_schema(entity)
    names = set(schema.names)
    day = load_date.isoformat() if isinstance(load_date, date) else str(load_date)
    src_file = f"{source}/{day}/{entity}-{file_no:04d}.csv"
    full = []
    for i, row in enumerate(rows, start=1):
        extra = set(row) - names
        if extra:
            raise ValueError(f"{entity} row {i}: unknown columns {sorted(extra)}")
        full.append({"_source": source, "_source_file": src_file, "_row_number": i, **row})
    columns = {f.name: [_coerce(row.get(f.name), f.type) for row in full] for f in schema}
    return write_columns(lake, entity, day, source, columns, len(full), file_no)


def write_empty_entities(
    lake: Path | str, load_date: str = "2020-01-01", entities: Iterable[str] | None = None
):
    """Give every lake entity (or those named) that has no partition yet an empty file with the full schema."""
    for entity in entities or list(lake_schemas()):
        if not (Path(lake) / entity).exists():
            write_partition(lake, entity, load_date, [], source="empty")
