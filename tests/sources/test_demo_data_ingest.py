"""Ingest the demo generator's extracts: exactly its broken rows are quarantined, nothing else,
and the phones/emails it shows come out as the people's true E.164 numbers and addresses."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pyarrow.parquet as pq

from crmloop.demo_data.generate import generate
from sources import ingest_partition, landing_partitions, load_declarations
from sources.schema import NULLED_FIELDS, NULLED_SEPARATOR


def ingest_every_partition(landing, work) -> tuple[list, set[tuple[str, int]]]:
    """Ingest every landing partition with its declaration (lake and quarantine under `work`),
    checking each one's accounting; returns the results and every quarantined (file, row)."""
    decls = load_declarations()
    results, quarantined = [], set()
    for source, dates in landing_partitions(landing).items():
        for d in dates:
            r = ingest_partition(
                decls[source],
                landing_dir=landing,
                lake_dir=work / "lake",
                quarantine_dir=work / "q",
                load_date=d,
            )
            assert r.rows_in == r.rows_loaded + r.rows_quarantined
            assert not r.unreadable_files, [f.error for f in r.files if f.error]
            for f in (work / "q" / source / f"load_date={d}").glob("rows-*.parquet"):
                quarantined |= {
                    (x["file"], x["row"]) for x in pq.read_table(f, columns=["file", "row"]).to_pylist()
                }
            results.append(r)
    return results, quarantined


def test_demo_extracts_quarantine_exactly_the_broken_rows(tmp_path):
    landing, truth = tmp_path / "landing", tmp_path / "truth"
    generate(customers=600, seed=7, out=landing, as_of=date(2025, 6, 30), truth_dir=truth)
    parts = landing_partitions(landing)
    assert {"customers", "dealer_customers", "orders", "order_lines", "web_events"} <= set(parts)
    results, quarantined = ingest_every_partition(landing, tmp_path)
    loaded_customers = [row for r in results if r.entity == "customers" for row in env_rows(r.lake_files)]
    broken = {(b["file"], b["row_number"]) for b in pq.read_table(truth / "broken_rows.parquet").to_pylist()}
    assert broken and quarantined == broken

    records = pq.read_table(truth / "records.parquet").to_pylist()
    people = pq.read_table(truth / "people.parquet").to_pylist()
    key = {(c["source_system"], c["source_customer_id"]): c for c in loaded_customers}
    checked = 0
    for rec in records:
        c = key.get((rec["source_system"], rec["source_customer_id"]))
        if c is None or not rec["mobile_shown"] or rec["junk_phone"] or rec["shop_phone"]:
            continue
        assert c["phone"] == people[rec["person_id"]]["mobile_e164"], (rec, c["phone_raw"])
        assert c["phone_is_mobile"] is True
        checked += 1
    assert checked > 300


def test_demo_unparseable_fields_of_real_records_load_nulled_and_flagged(tmp_path):
    # the truth lists the real records the generator gave an unparseable birth date or
    # registration time: each loads (its customer is not lost) with that field null and flagged
    landing, truth = tmp_path / "landing", tmp_path / "truth"
    generate(customers=600, seed=7, out=landing, as_of=date(2025, 6, 30), truth_dir=truth)
    results, _ = ingest_every_partition(landing, tmp_path)
    expected = {
        (x["file"], x["row_number"], x["column"])
        for x in pq.read_table(truth / "nulled_fields.parquet").to_pylist()
    }
    assert {c for _, _, c in expected} == {"birth_date", "registered_at"}
    flagged, values = set(), {}
    cols = ["_source_file", "_row_number", NULLED_FIELDS, "birth_date", "registered_at"]
    for r in results:
        if r.entity != "customers":
            continue
        for f in r.lake_files:
            for row in pq.read_table(f, columns=cols).to_pylist():
                for reason in (
                    (row[NULLED_FIELDS] or "").split(NULLED_SEPARATOR) if row[NULLED_FIELDS] else []
                ):
                    col = reason.split(":", 1)[1]
                    flagged.add((row["_source_file"], row["_row_number"], col))
                    values[(row["_source_file"], row["_row_number"], col)] = row[col]
    assert flagged == expected
    assert all(v is None for v in values.values())
    counted = Counter()
    for r in results:
        counted.update(r.nulled_counts)
    assert sum(counted.values()) == len(expected)


def env_rows(files) -> list[dict]:
    out = []
    for f in files:
        out += pq.read_table(
            f, columns=["source_system", "source_customer_id", "phone", "phone_raw", "phone_is_mobile"]
        ).to_pylist()
    return out


def test_demo_extracts_of_several_days_ingest_day_by_day(tmp_path):
    landing, truth = tmp_path / "landing", tmp_path / "truth"
    generate(customers=600, seed=7, out=landing, as_of=date(2025, 6, 30), truth_dir=truth, days=3)
    parts = landing_partitions(landing)
    days = [date(2025, 6, 27), date(2025, 6, 28), date(2025, 6, 29), date(2025, 6, 30)]
    assert parts["orders"] == days
    results, quarantined = ingest_every_partition(landing, tmp_path)
    loaded_orders = sum(r.rows_loaded for r in results if r.source == "orders")
    broken = {(b["file"], b["row_number"]) for b in pq.read_table(truth / "broken_rows.parquet").to_pylist()}
    assert broken and quarantined == broken
    assert loaded_orders > 0
