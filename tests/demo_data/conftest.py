from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from crmloop.demo_data.generate import generate

AS_OF = date(2026, 11, 21)


class Generated:
    def __init__(self, root: Path, customers: int, seed: int = 7, **kw):
        self.landing = root / "landing"
        self.truth_dir = root / "truth"
        self.summary = generate(
            customers=customers, seed=seed, out=self.landing, as_of=AS_OF, truth_dir=self.truth_dir, **kw
        )
        self.people = pd.read_parquet(self.truth_dir / "people.parquet")
        self.records = pd.read_parquet(self.truth_dir / "records.parquet")
        self.broken = pd.read_parquet(self.truth_dir / "broken_rows.parquet")
        self.nulled = pd.read_parquet(self.truth_dir / "nulled_fields.parquet")
        self.orders_truth = pd.read_parquet(self.truth_dir / "orders.parquet")

    def files(self, source: str, name: str) -> list[Path]:
        return sorted((self.landing / source).glob(f"*/{name}"))


@pytest.fixture(scope="session")
def small(tmp_path_factory) -> Generated:
    return Generated(tmp_path_factory.mktemp("demo_small"), customers=1500)


@pytest.fixture(scope="session")
def calibrated(tmp_path_factory) -> Generated:
    return Generated(tmp_path_factory.mktemp("demo_5k"), customers=5000, seed=42)
