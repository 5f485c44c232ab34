"""A landing file that ingestion rejects whole (a required column missing) fails the partition's
ERROR suite (`files.none_rejected`), naming the file and the reason; a good file passes."""

from __future__ import annotations

from datetime import date

from sources import ingest_partition, load_declarations
from sources.quality import ERROR, validate_partition

DAY = date(2025, 3, 10)
HEADER = (
    "source_system,order_id,source_customer_id,ordered_at,channel,store_id,status,total_amount,currency\n"
)
ROW = "pos,PO1,C1,2025-03-10 10:00,store,S1,completed,100,THB\n"


def _ingest_and_validate(tmp_path, header: str):
    landing, lake, quarantine = tmp_path / "landing", tmp_path / "lake", tmp_path / "quarantine"
    folder = landing / "orders" / DAY.isoformat()
    folder.mkdir(parents=True)
    (folder / "pos_orders.csv").write_text(
        header + ROW.replace("PO1,", "" if "order_id" not in header else "PO1,")
    )
    ingest_partition(
        load_declarations()["orders"],
        landing_dir=landing,
        lake_dir=lake,
        quarantine_dir=quarantine,
        load_date=DAY,
    )
    return validate_partition(
        "orders", "orders", DAY, lake_dir=lake, docs_dir=None, quarantine_dir=quarantine
    )


def test_file_missing_a_required_column_fails_with_error(tmp_path):
    report = _ingest_and_validate(tmp_path, HEADER.replace("order_id,", ""))
    o = report.outcome("files.none_rejected")
    assert not o.passed and o.severity == ERROR and o.unexpected_count == 1
    assert "pos_orders.csv" in o.sample_bad_values[0] and "order_id" in o.sample_bad_values[0]
    assert not report.passed(ERROR)


def test_ingested_file_passes(tmp_path):
    report = _ingest_and_validate(tmp_path, HEADER)
    o = report.outcome("files.none_rejected")
    assert o.passed and o.unexpected_count == 0


def test_empty_partition_of_a_day_when_nothing_landed_is_not_fresh(tmp_path):
    """Ingestion writes an empty partition for a day with no landing files; freshness looks at the
    newest partition that brought rows, so a source that stopped delivering is stale."""
    from datetime import timedelta

    landing, lake, quarantine = tmp_path / "landing", tmp_path / "lake", tmp_path / "quarantine"
    old = DAY - timedelta(days=5)
    folder = landing / "orders" / old.isoformat()
    folder.mkdir(parents=True)
    (folder / "pos_orders.csv").write_text(HEADER + ROW.replace("2025-03-10", old.isoformat()))
    decl = load_declarations()["orders"]
    for d in (old, DAY):
        ingest_partition(decl, landing_dir=landing, lake_dir=lake, quarantine_dir=quarantine, load_date=d)
    assert (lake / "orders" / f"load_date={DAY.isoformat()}").is_dir()  # the empty partition exists
    report = validate_partition(
        "orders", "orders", DAY, lake_dir=lake, docs_dir=None, quarantine_dir=quarantine
    )
    o = report.outcome("freshness.newest_partition")
    assert not o.passed and o.severity == ERROR and old.isoformat() in (o.note or ""), o
