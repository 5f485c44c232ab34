"""The lake's layout, once: `<lake>/<entity>/load_date=YYYY-MM-DD/<source>-NNNN.parquet`, and the
quarantine's `<quarantine>/<source>/load_date=YYYY-MM-DD/`.

Ingestion writes this layout; the quality suites, the journeys (responses), the suppression list,
the run summary and the runner read it through these functions instead of spelling the folder
names themselves. dbt reads the same layout through `dbt_project/models/staging/lake.yml`
(`hive_partitioning`), which cannot import Python: it names the same `load_date` key.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

PARTITION_KEY = "load_date"
_PARTITION = re.compile(rf"^{PARTITION_KEY}=(\d{{4}}-\d{{2}}-\d{{2}})$")


def partition_name(load_date: date) -> str:
    return f"{PARTITION_KEY}={load_date.isoformat()}"


def partition_date(folder_name: str) -> date | None:
    """The load date a partition folder's name carries; None for any other name."""
    m = _PARTITION.match(folder_name)
    return date.fromisoformat(m.group(1)) if m else None


def partition_dir(lake_dir: Path | str, entity: str, load_date: date) -> Path:
    return Path(lake_dir) / entity / partition_name(load_date)


def quarantine_partition_dir(quarantine_dir: Path | str, source: str, load_date: date) -> Path:
    return Path(quarantine_dir) / source / partition_name(load_date)


def partitions(lake_dir: Path | str, entity: str, *, up_to: date | None = None) -> list[tuple[date, Path]]:
    """The entity's partition folders, oldest first (only `load_date=` folders; up to and
    including `up_to` when given)."""
    root = Path(lake_dir) / entity
    if not root.is_dir():
        return []
    out = []
    for folder in root.iterdir():
        d = partition_date(folder.name)
        if d is not None and folder.is_dir() and (up_to is None or d <= up_to):
            out.append((d, folder))
    return sorted(out)


def entity_files(lake_dir: Path | str, entity: str, *, up_to: date | None = None) -> list[str]:
    """Every Parquet file of the entity's partitions (up to `up_to`), as sorted path strings for
    DuckDB's `read_parquet([...])`; empty when the entity has none."""
    return sorted(
        str(f) for _, folder in partitions(lake_dir, entity, up_to=up_to) for f in folder.glob("*.parquet")
    )
