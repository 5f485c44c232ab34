"""generate() with days=1 writes what it wrote before `days` existed.

`one_day_fingerprints.json` was recorded from the generator at commit 0d5c0f8 (bulk and one day
only), 2,000 people, seed 42, as of 2026-11-21: every file of the landing zone and the truth by
path. CSV and JSONL by their bytes (encoding, BOM, quoting are the point); Parquet by its schema
and rows, XLSX by its cell values, so a pyarrow or XlsxWriter upgrade alone does not break it.
After an intended change to the generator's output, refresh it with
`python -m tests.demo_data.test_one_day_unchanged` and review the diff."""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import date
from pathlib import Path

import openpyxl
import pyarrow.parquet as pq

from crmloop.demo_data.generate import generate

MANIFEST = Path(__file__).with_name("one_day_fingerprints.json")
RUN = {"customers": 2000, "seed": 42, "as_of": date(2026, 11, 21)}


def _fingerprint(path: Path) -> str:
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        content = json.dumps([str(table.schema), table.to_pylist()], default=str, ensure_ascii=False)
        return "rows:" + hashlib.sha256(content.encode()).hexdigest()
    if path.suffix == ".xlsx":
        wb = openpyxl.load_workbook(path, read_only=True)
        cells = [[ws.title, [list(row) for row in ws.iter_rows(values_only=True)]] for ws in wb.worksheets]
        wb.close()
        content = json.dumps(cells, default=str, ensure_ascii=False)
        return "cells:" + hashlib.sha256(content.encode()).hexdigest()
    return "bytes:" + hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprints(root: Path) -> dict[str, str]:
    generate(out=root / "landing", truth_dir=root / "truth", **RUN)
    return {str(p.relative_to(root)): _fingerprint(p) for p in sorted(root.rglob("*")) if p.is_file()}


def test_one_day_output_is_what_it_was_before_days(tmp_path):
    expected = json.loads(MANIFEST.read_text())
    got = fingerprints(tmp_path)
    assert sorted(got) == sorted(expected)
    assert [k for k in expected if got[k] != expected[k]] == []


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        MANIFEST.write_text(json.dumps(fingerprints(Path(tmp)), indent=1, sort_keys=True) + "\n")
    print(f"wrote {MANIFEST}", file=sys.stderr)
