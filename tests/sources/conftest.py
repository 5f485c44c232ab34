from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sources import ingest_partition, load_declarations

D = date(2025, 1, 2)


@pytest.fixture(scope="session")
def decls():
    return load_declarations()


class Env:
    def __init__(self, root: Path, decls):
        self.root = root
        self.landing = root / "landing"
        self.lake = root / "home" / "lake"
        self.quarantine = root / "home" / "quarantine"
        self.decls = decls

    def drop(self, source: str, name: str, data: bytes | str, day: date = D, encoding: str = "utf-8") -> Path:
        p = self.landing / source / day.isoformat() / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode(encoding) if isinstance(data, str) else data)
        return p

    def folder(self, source: str, day: date = D) -> Path:
        p = self.landing / source / day.isoformat()
        p.mkdir(parents=True, exist_ok=True)
        return p

    def ingest(self, source: str, day: date = D):
        res = ingest_partition(
            self.decls[source],
            landing_dir=self.landing,
            lake_dir=self.lake,
            quarantine_dir=self.quarantine,
            load_date=day,
        )
        assert res.rows_in == res.rows_loaded + res.rows_quarantined + res.rows_rejected
        assert res.rows_in == sum(f.rows_in for f in res.files)
        assert res.rows_quarantined == sum(res.reason_counts.values())
        return res

    def lake_rows(self, res) -> list[dict]:
        rows = []
        for f in res.lake_files:
            rows += pq.read_table(f).to_pylist()
        return rows

    def quarantine_rows(self, source: str, day: date = D) -> list[dict]:
        q = self.quarantine / source / f"load_date={day.isoformat()}"
        rows = []
        for f in sorted(q.glob("*.parquet")):
            rows += pq.read_table(f).to_pylist()
        return rows


@pytest.fixture
def env(tmp_path, decls):
    return Env(tmp_path, decls)
