"""Share gates judged with a confidence bound; the quarantined share of a partition gates; the
thresholds' precedence; users' own declarations beside the built-in ones."""

from __future__ import annotations

from datetime import date

import pytest

from crmloop.settings import QualityThresholds, Settings
from sources import DeclarationError, ingest_partition, load_declarations
from sources.quality import ERROR, validate_partition, validate_partition_for
from sources.quality.thresholds import thresholds_for

DAY = date(2025, 3, 10)


def _dealer_xlsx(rows: list[list]) -> bytes:
    import io

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "ลูกค้า"
    ws.append(["รหัสลูกค้า", "ชื่อ", "อีเมล"])
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _ingest(tmp_path, source: str, name: str, data: bytes | str):
    landing, lake, quarantine = tmp_path / "landing", tmp_path / "lake", tmp_path / "quarantine"
    folder = landing / source / DAY.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data if isinstance(data, bytes) else data.encode())
    res = ingest_partition(
        load_declarations()[source],
        landing_dir=landing,
        lake_dir=lake,
        quarantine_dir=quarantine,
        load_date=DAY,
    )
    return res, lake, quarantine


def _settings(tmp_path) -> Settings:
    return Settings(landing_dir=tmp_path / "landing", home=tmp_path, as_of=DAY, start_date=DAY)


def test_three_dealer_rows_two_without_email_is_not_an_error(tmp_path):
    # the demo's own day: 2 of 3 rows without email is 66.7 % > 50 %, but 3 rows prove nothing
    _ingest(
        tmp_path,
        "dealer_customers",
        "d.xlsx",
        _dealer_xlsx([["D1", "A", "a@x.co"], ["D2", "B", None], ["D3", "C", None]]),
    )
    report = validate_partition_for(_settings(tmp_path), "dealer_customers", "customers", DAY)
    o = report.outcome("email.not_null")
    assert o.passed and o.unexpected_count == 2
    assert "Wilson" in o.config["description"] and "Wilson" in o.note


def test_a_share_clearly_over_the_threshold_still_fails(tmp_path):
    rows = [[f"D{i}", "N", None if i % 10 < 7 else f"d{i}@x.co"] for i in range(200)]  # 70 % missing
    _ingest(tmp_path, "dealer_customers", "d.xlsx", _dealer_xlsx(rows))
    report = validate_partition_for(_settings(tmp_path), "dealer_customers", "customers", DAY)
    o = report.outcome("email.not_null")
    assert not o.passed and o.severity == ERROR and o.unexpected_count == 140


HEADER = (
    "source_system,order_id,source_customer_id,ordered_at,channel,store_id,status,total_amount,currency\n"
)


def _orders(n: int, bad: int) -> str:
    rows = [
        f"pos,O{i},C{i},2025-03-10 10:00,store,S1,{'completed' if i >= bad else 'no-such-status'},100,THB\n"
        for i in range(n)
    ]
    return HEADER + "".join(rows)


def test_quarantined_share_over_the_threshold_is_an_error(tmp_path):
    res, lake, quarantine = _ingest(tmp_path, "orders", "o.csv", _orders(200, 60))  # 30 % quarantined
    assert res.rows_quarantined == 60
    report = validate_partition(
        "orders",
        "orders",
        DAY,
        lake_dir=lake,
        docs_dir=None,
        quarantine_dir=quarantine,
        thresholds=QualityThresholds(max_quarantine_share=0.05),
    )
    o = report.outcome("rows.quarantined_share")
    assert not o.passed and o.severity == ERROR
    assert "invalid_enum:status" in o.note and "60" in o.note


def test_a_few_quarantined_rows_pass(tmp_path):
    _res, lake, quarantine = _ingest(tmp_path, "orders", "o.csv", _orders(200, 2))  # 1 %
    report = validate_partition(
        "orders",
        "orders",
        DAY,
        lake_dir=lake,
        docs_dir=None,
        quarantine_dir=quarantine,
        thresholds=QualityThresholds(max_quarantine_share=0.05),
    )
    assert report.outcome("rows.quarantined_share").passed


def test_threshold_precedence(monkeypatch):
    decls = load_declarations()
    base = QualityThresholds(max_null_share=0.3)  # as the global env / defaults made it
    # a declaration's value beats the global setting ...
    assert thresholds_for(base, decls["customers"], environ={}).max_null_share == 0.5
    # ... and an env override for this source beats the declaration, without editing the package
    env = {"CRM_DQ_CUSTOMERS_MAX_NULL_SHARE": "0.8"}
    assert thresholds_for(base, decls["customers"], environ=env).max_null_share == 0.8
    assert thresholds_for(base, decls["orders"], environ=env).max_null_share == 0.3  # other sources untouched
    with pytest.raises(ValueError, match="CRM_DQ_CUSTOMERS_MAX_NULL_SHARE"):
        thresholds_for(base, decls["customers"], environ={"CRM_DQ_CUSTOMERS_MAX_NULL_SHARE": "lots"})


def test_users_keep_their_own_declarations_beside_the_built_in_ones(tmp_path, monkeypatch):
    own = tmp_path / "my_sources"
    own.mkdir()
    (own / "shop_b.yml").write_text(
        "entity: products\ncolumns:\n  product_id: {required: true, from: [sku]}\n  name: {}\n"
    )
    monkeypatch.setenv("CRM_SOURCES_DIR", str(own))
    decls = load_declarations()
    assert "shop_b" in decls and "customers" in decls
    (own / "orders.yml").write_text("entity: orders\ncolumns:\n  order_id: {}\n")
    with pytest.raises(DeclarationError, match=r"orders.*declared twice"):
        load_declarations()


def test_a_sources_dir_that_is_not_a_folder_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_SOURCES_DIR", str(tmp_path / "no_such_folder"))
    with pytest.raises(DeclarationError, match="CRM_SOURCES_DIR: .*no_such_folder is not a folder"):
        load_declarations()
