"""Small Parquet lakes that follow the lake contract (sources/README.md) exactly, for tests.

    <lake>/<entity>/load_date=YYYY-MM-DD/<source>-NNNN.parquet

Every file carries the entity's columns plus `_source`, `_source_file`, `_row_number`;
`load_date` is only in the folder name. Timestamps are naive Bangkok wall-clock `timestamp[us]`,
dates `date32`, money `float64`, identifiers strings.

    write_partition(lake, "orders", "2025-06-30", [{"order_id": "1", ...}], source="pos")
    write_empty_entities(lake)      # every entity has at least an empty file with the full schema
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sources.schema import ENTITY_COLUMNS as LAKE_ENTITY_COLUMNS
from sources.schema import LINEAGE_COLUMNS

S, TS, D, F, INT, B = pa.string(), pa.timestamp("us"), pa.date32(), pa.float64(), pa.int64(), pa.bool_()

# The real lake contract (sources/schema.py), never a copy; entities only dbt declares (lake.yml
# `columns` with `data_type`) are added to this dict by write_empty_entities, not to the contract.
ENTITY_COLUMNS: dict[str, list[tuple[str, pa.DataType]]] = dict(LAKE_ENTITY_COLUMNS)
META_COLUMNS: list[tuple[str, pa.DataType]] = LINEAGE_COLUMNS


def entity_schema(entity: str) -> pa.Schema:
    if entity not in ENTITY_COLUMNS:
        raise ValueError(f"unknown lake entity {entity!r}; known: {sorted(ENTITY_COLUMNS)}")
    return pa.schema(ENTITY_COLUMNS[entity] + META_COLUMNS)


def _coerce(value, typ: pa.DataType):
    if value is None:
        return None
    if typ == TS and isinstance(value, str):
        return datetime.fromisoformat(value)
    if typ == D and isinstance(value, str):
        return date.fromisoformat(value)
    if typ == D and isinstance(value, datetime):
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
    """Write one `<source>-NNNN.parquet` file into `<lake>/<entity>/load_date=<date>/`.

    Rows are dicts with the entity's columns (missing ones are null); `_source`, `_source_file` and
    `_row_number` are filled in unless given. Unknown columns raise ValueError naming the row.
    """
    schema = entity_schema(entity)
    names = set(schema.names)
    load_date = load_date.isoformat() if isinstance(load_date, date) else str(load_date)
    src_file = f"{source}/{load_date}/{entity}-{file_no:04d}.csv"
    cols: dict[str, list] = {n: [] for n in schema.names}
    for i, row in enumerate(rows, start=1):
        extra = set(row) - names
        if extra:
            raise ValueError(f"{entity} row {i}: unknown columns {sorted(extra)}")
        full = {"_source": source, "_source_file": src_file, "_row_number": i, **row}
        for field in schema:
            cols[field.name].append(_coerce(full.get(field.name), field.type))
    table = pa.table(cols, schema=schema)
    out_dir = Path(lake) / entity / f"load_date={load_date}"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{source}-{file_no:04d}.parquet"
    pq.write_table(table, path)
    return path


LAKE_SOURCES_YML = Path(__file__).resolve().parents[2] / "dbt_project" / "models" / "staging" / "lake.yml"
_YML_TYPES = {
    "string": S,
    "varchar": S,
    "text": S,
    "timestamp": TS,
    "date": D,
    "double": F,
    "float": F,
    "float64": F,
    "bigint": INT,
    "int": INT,
    "integer": INT,
    "int64": INT,
    "boolean": B,
    "bool": B,
}


def declared_entities() -> dict[str, list[tuple[str, pa.DataType]] | None]:
    """Entities the dbt project reads (source `lake` in dbt_project/models/staging/lake.yml), with
    their columns: from ENTITY_COLUMNS, else from the YAML's `columns` (`data_type`), else None."""
    import yaml

    doc = yaml.safe_load(LAKE_SOURCES_YML.read_text())
    out: dict[str, list[tuple[str, pa.DataType]] | None] = {}
    for src in doc.get("sources", []):
        if src.get("name") != "lake":
            continue
        for t in src.get("tables", []):
            name = t["name"]
            if name in ENTITY_COLUMNS:
                out[name] = ENTITY_COLUMNS[name]
                continue
            cols: list | None = []
            for c in t.get("columns", []) or []:
                typ = _YML_TYPES.get(str(c.get("data_type", "")).lower())
                if typ is None:
                    cols = None
                    break
                if c["name"] not in {"_source", "_source_file", "_row_number", "load_date"}:
                    cols.append((c["name"], typ))
            out[name] = cols or None
    return out


def write_empty_entities(
    lake: Path | str, load_date: str = "2020-01-01", entities: Iterable[str] | None = None
):
    """Give every entity the dbt project reads (that has no partition yet) an empty file with the
    full schema. Entities outside ENTITY_COLUMNS are written when lake.yml declares their `columns`
    with `data_type`; others are skipped (the customer-model tests do not select their models)."""
    declared = declared_entities()
    for name, cols in declared.items():
        if name not in ENTITY_COLUMNS and cols is not None:
            ENTITY_COLUMNS[name] = cols
    for entity in entities or list(ENTITY_COLUMNS):
        if not (Path(lake) / entity).exists():
            write_partition(lake, entity, load_date, [], source="empty")


def customer(system: str, cid: str, registered_at: str = "2020-01-01 09:00:00", **kw) -> dict:
    """A customers row with sensible defaults (valid email/mobile only when given)."""
    row = {
        "source_system": system,
        "source_customer_id": cid,
        "first_name": kw.pop("first_name", "Somchai"),
        "last_name": kw.pop("last_name", "Jaidee"),
        "email_valid": kw.get("email") is not None,
        "phone_is_mobile": kw.get("phone") is not None,
        "country": "TH",
        "registered_at": registered_at,
        "updated_at": kw.pop("updated_at", registered_at),
    }
    row.update(kw)
    return row


def order(
    system: str, oid: str, cid: str, ordered_at: str, amount: float, status: str = "completed", **kw
) -> dict:
    row = {
        "source_system": system,
        "order_id": oid,
        "source_customer_id": cid,
        "ordered_at": ordered_at,
        "channel": kw.pop("channel", "store"),
        "store_id": kw.pop("store_id", "S01"),
        "status": status,
        "total_amount": float(amount),
        "currency": "THB",
    }
    row.update(kw)
    return row
