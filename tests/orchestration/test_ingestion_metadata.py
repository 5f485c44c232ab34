"""The ingestion asset's metadata names every field nulled at ingestion: per column a count, and
lines a person can act on (file, row, reason, value), as it does for quarantined rows."""

from __future__ import annotations

import logging

from orchestration.defs.ingestion import ingestion_metadata
from sources import load_declarations
from tests.sources.conftest import Env


def test_metadata_counts_nulled_fields_per_column_with_file_row_and_value(tmp_path):
    env = Env(tmp_path, load_declarations())
    env.drop(
        "customers",
        "c.csv",
        "source_system,customer_id,gender,birth_date\n"
        "pos,1,M,19450493\n"
        "pos,2,alien,1990-01-01\n"
        "pos,3,F,31/02/2530\n",
    )
    result = env.ingest("customers")
    meta = ingestion_metadata(result, tmp_path / "lake", logging.getLogger("test"))
    assert meta["rows_loaded"] == 3 and meta["rows_quarantined"] == 0
    assert meta["nulled_fields_by_column"].data == {"birth_date": 2, "gender": 1}
    text = meta["nulled_fields"].md_str
    assert "| birth_date | invalid_date | 2 |" in text
    assert "| customers/2025-01-02/c.csv | 1 | invalid_date:birth_date | 19450493 |" in text
    assert "| customers/2025-01-02/c.csv | 2 | invalid_enum:gender | alien |" in text
