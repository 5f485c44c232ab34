"""Input that cannot hide rows: every physical record is counted, refused input is named."""

from __future__ import annotations

import io
import json
import os

import openpyxl
import pyarrow.parquet as pq

from sources.ingest import MAX_FIELD_CHARS
from tests.sources.conftest import D

HEADER = "source_system,customer_id,first_name,email\n"


def _ten_rows(broken_row: int | None = None) -> str:
    lines = []
    for i in range(1, 11):
        name = f"Name{i}"
        if i == broken_row:
            name = '"Broken'  # opening quote never closed
        lines.append(f"pos,C{i:03d},{name},c{i}@example.com\n")
    return HEADER + "".join(lines)


def test_unterminated_quote_hides_no_rows(env):
    env.drop("customers", "c.csv", _ten_rows(broken_row=3))
    res = env.ingest("customers")
    f = res.files[0]
    assert f.rows_in == 10  # the file's 10 physical records, not 3
    assert (f.loaded, f.quarantined, f.rejected) == (9, 1, 0)
    q = env.quarantine_rows("customers")
    assert [(r["row"], r["reason"]) for r in q] == [(3, "malformed_row")]
    assert "unterminated quote" in q[0]["value"]
    loaded_ids = sorted(r["source_customer_id"] for r in env.lake_rows(res))
    assert loaded_ids == [f"C{i:03d}" for i in range(1, 11) if i != 3]
    # row numbers after the broken record keep their place in the file
    assert sorted(r["_row_number"] for r in env.lake_rows(res)) == [1, 2, 4, 5, 6, 7, 8, 9, 10]


def test_a_quoted_newline_is_still_one_record(env):
    env.drop("customers", "c.csv", HEADER + 'pos,C1,"two\nlines",a@example.com\npos,C2,B,b@example.com\n')
    res = env.ingest("customers")
    assert (res.rows_in, res.rows_loaded) == (2, 2)
    assert [r["first_name"] for r in env.lake_rows(res)] == ["two lines", "B"]


def test_a_file_rejected_whole_counts_its_rows(env):
    env.drop("customers", "a.csv", _ten_rows())
    # the required customer id column is missing: rejected whole, its 4 data rows still counted
    env.drop("customers", "b.csv", "source_system,first_name\npos,A\npos,B\npos,C\npos,D\n")
    res = env.ingest("customers")
    b = next(f for f in res.files if f.path.endswith("b.csv"))
    assert b.error and "missing required column" in b.error
    assert (b.rows_in, b.loaded, b.quarantined, b.rejected) == (4, 0, 0, 4)
    assert (res.rows_in, res.rows_loaded, res.rows_quarantined, res.rows_rejected) == (14, 10, 0, 4)
    assert res.rejected_files == {b.path: b.error}


def test_symlink_in_landing_is_refused_not_followed(env, tmp_path):
    secret = tmp_path / "outside" / "secret.csv"
    secret.parent.mkdir()
    secret.write_text(HEADER + "pos,S1,Secret,secret@example.com\n")
    env.drop("customers", "real.csv", _ten_rows())
    os.symlink(secret, env.folder("customers") / "link.csv")
    os.symlink(secret.parent, env.folder("customers") / "linked_dir")
    res = env.ingest("customers")
    refused = {f.path: f.error for f in res.files if f.error}
    assert set(refused) == {"customers/2025-01-02/link.csv", "customers/2025-01-02/linked_dir"}
    assert all("symbolic link" in e and "not followed" in e for e in refused.values())
    assert all(str(secret.parent) not in e for e in refused.values())  # the target is not quoted
    assert res.rows_loaded == 10 and "S1" not in {r["source_customer_id"] for r in env.lake_rows(res)}
    q_dir = env.quarantine / "customers" / f"load_date={D.isoformat()}"
    assert not (q_dir / "files").exists()  # nothing was copied
    manifest = pq.read_table(q_dir / "files.parquet").to_pylist()
    assert {m["file"] for m in manifest} == set(refused)
    assert all("Secret" not in (m["raw"] + m["value"]) for m in manifest)


def test_symlinked_partition_folder_is_refused(env, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "c.csv").write_text(_ten_rows())
    (env.landing / "customers").mkdir(parents=True)
    os.symlink(outside, env.landing / "customers" / D.isoformat())
    res = env.ingest("customers")
    assert res.rows_loaded == 0
    assert [f.error for f in res.files] == ["refused: symbolic link (not followed)"]


def _xlsx(rows: list[list]) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_xlsx_formula_without_cached_value_is_quarantined_in_a_key_nulled_elsewhere(env):
    data = _xlsx(
        [
            ["source_system", "customer_id", "first_name", "email", "note"],
            ["pos", "C1", "Ann", "a@example.com", "=1+1"],  # unmapped column: harmless
            ["pos", '=CONCAT("C","2")', "Bob", "b@example.com", None],  # never computed by Excel
            ["pos", "C3", '=CONCAT("B","ob")', "c@example.com", None],  # the same, in a non-key field
        ]
    )
    env.drop("customers", "c.xlsx", data)
    res = env.ingest("customers")
    assert (res.rows_in, res.rows_loaded, res.rows_quarantined) == (3, 2, 1)
    q = env.quarantine_rows("customers")
    assert [(r["row"], r["reason"]) for r in q] == [(2, "uncomputed_formula:source_customer_id")]
    assert 'CONCAT("C","2")' in q[0]["value"]
    c3 = next(r for r in env.lake_rows(res) if r["source_customer_id"] == "C3")
    assert (c3["first_name"], c3["nulled_fields"]) == (None, "uncomputed_formula:first_name")
    assert [(s["row"], s["reason"]) for s in res.nulled_samples] == [(3, "uncomputed_formula:first_name")]
    assert 'CONCAT("B","ob")' in res.nulled_samples[0]["value"]


def test_a_key_longer_than_the_limit_is_quarantined_another_field_nulled(env):
    huge = "x" * (20 << 20)  # a 20 MB id
    env.drop("customers", "c.csv", HEADER + f"pos,{huge},Ann,a@example.com\npos,C2,Bob,b@example.com\n")
    env.drop(
        "customers",
        "c.jsonl",
        json.dumps({"source_system": "web", "customer_id": huge, "first_name": "Jo"})
        + "\n"
        + json.dumps({"source_system": "web", "customer_id": "J2", "first_name": huge})
        + "\n",
    )
    res = env.ingest("customers")
    assert (res.rows_in, res.rows_loaded, res.rows_quarantined) == (4, 2, 2)
    j2 = next(r for r in env.lake_rows(res) if r["source_customer_id"] == "J2")
    assert (j2["first_name"], j2["nulled_fields"]) == (None, "too_long:first_name")
    assert res.nulled_counts == {"too_long:first_name": 1}
    assert f"{len(huge):,} characters" in res.nulled_samples[0]["value"]
    assert len(res.nulled_samples[0]["value"]) < 1000
    q = env.quarantine_rows("customers")
    assert sorted(r["reason"] for r in q) == ["too_long:source_customer_id"] * 2
    assert all(len(r["value"]) < 1000 and f"{len(huge):,} characters" in r["value"] for r in q)
    assert all(len(r["raw"]) < 2 * MAX_FIELD_CHARS for r in q)  # the quarantine does not keep 20 MB


def test_a_csv_not_decodable_as_declared_counts_its_lines(env, tmp_path):
    from sources.declarations import load_declarations

    ddir = tmp_path / "decls"
    ddir.mkdir()
    (ddir / "shop_utf8.yml").write_text(
        "entity: products\ncsv: {encoding: utf-8}\ncolumns:\n  product_id: {required: true}\n  name: {}\n"
    )
    decl = load_declarations(ddir)["shop_utf8"]
    env.decls = {**env.decls, "shop_utf8": decl}
    rows = "".join(f"P{i},สินค้า{i}\n" for i in range(5)).encode("cp874")  # TIS-620, declared UTF-8
    env.drop("shop_utf8", "p.csv", b"product_id,name\n" + rows)
    res = env.ingest("shop_utf8")
    (f,) = res.files
    assert f.error and "not valid utf-8" in f.error
    assert (f.rows_in, f.rejected, res.rows_loaded) == (5, 5, 0)
