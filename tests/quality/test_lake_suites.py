"""Lake partition suites: clean data passes; breaking one thing at a time fails the matching expectation."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from sources.quality import ERROR, WARN, LakeError, partition_batches, validate_partition
from sources.quality.lake import source_files
from sources.quality.suites import needed_columns, rows_suite
from sources.schema import NULLED_FIELDS
from tests.quality.conftest import AS_OF
from tests.quality.lakegen import customers_table, orders_table, write_partition

FIRST = AS_OF - timedelta(days=7)


def _orders(lake, n=100, day=AS_OF, ids=None):
    ids = ids or [f"C{i:07d}" for i in range(200)]
    return orders_table(n, ids, day, seed=99)


def _failed_errors(report):
    return {o.name for o in report.failures(ERROR)}


def test_clean_partitions_pass_every_expectation(lake, docs, q):
    cust = validate_partition("crm_customers", "customers", FIRST, lake_dir=lake, docs_dir=None, thresholds=q)
    assert cust.ok, cust.summary()
    rep = validate_partition("pos_orders", "orders", AS_OF, lake_dir=lake, docs_dir=docs, thresholds=q)
    assert rep.ok, rep.summary()
    assert rep.passed(ERROR) and rep.passed(WARN)
    names = {o.name for o in rep.outcomes}
    assert {
        "schema.required_columns",
        "schema.types",
        "key.unique_per_file",
        "freshness.newest_partition",
    } <= names
    # volume and referential were really evaluated for orders (history exists, customers known)
    vol = rep.outcome("volume.within_band")
    assert vol.passed and vol.observed_value == 100 and "allowed 50..150" in vol.note
    assert rep.outcome("customer.known").unexpected_count == 0
    # GX Data Docs: our run page links GX's validation pages, which exist
    assert rep.docs_path.is_file() and rep.docs_path.is_relative_to(docs)
    assert len(rep.docs_pages) == 3 and all(p.is_file() and p.suffix == ".html" for p in rep.docs_pages)
    assert (docs / "index.html").is_file()
    html = rep.docs_path.read_text(encoding="utf-8")
    assert "volume.within_band" in html and "validations/" in html
    runs_index = (docs / "runs" / "index.html").read_text(encoding="utf-8")
    assert rep.docs_path.relative_to(docs / "runs").as_posix() in runs_index


def report_for(lake, docs, q, source="pos_orders", entity="orders", d=AS_OF):
    return validate_partition(source, entity, d, lake_dir=lake, docs_dir=None, thresholds=q)


def test_required_column_missing_fails_schema_with_error(lake, docs, q):
    t = _orders(lake)
    write_partition(lake, "orders", "pos_orders", AS_OF, t.drop_columns(["status"]))
    report = report_for(lake, docs, q)
    o = report.outcome("schema.required_columns")
    assert not o.passed and o.severity == ERROR and o.sample_bad_values == ["status"]
    assert _failed_errors(report) == {"schema.required_columns"}
    # expectations on the absent column are not evaluated; the rest still ran
    assert "status.in_set" not in {x.name for x in report.outcomes}
    assert report.outcome("total_amount.non_negative").passed


def test_wrong_type_fails_schema_type(lake, docs, q):
    t = _orders(lake)
    idx = t.schema.get_field_index("total_amount")
    t = t.set_column(idx, "total_amount", pc.cast(t.column("total_amount"), pa.string()))
    write_partition(lake, "orders", "pos_orders", AS_OF, t)
    o = report_for(lake, docs, q).outcome("schema.types")
    assert not o.passed and o.severity == ERROR and o.sample_bad_values == ["total_amount:string"]


def test_duplicated_keys_fail_with_error(lake, docs, q):
    t = customers_table(50)
    ids = t.column("source_customer_id").to_pylist()
    ids[10] = ids[11] = ids[12]
    t = t.set_column(t.schema.get_field_index("source_customer_id"), "source_customer_id", pa.array(ids))
    write_partition(lake, "customers", "crm_customers", AS_OF, t)
    report = report_for(lake, docs, q, "crm_customers", "customers")
    o = report.outcome("key.unique_per_file")
    assert not o.passed and o.severity == ERROR and o.unexpected_count == 3


def test_forty_percent_null_emails_fail_with_error(lake, docs, q):
    t = customers_table(100)
    emails = t.column("email").to_pylist()
    for i in range(40):
        emails[i * 2] = None
    t = t.set_column(t.schema.get_field_index("email"), "email", pa.array(emails, pa.string()))
    write_partition(lake, "customers", "crm_customers", AS_OF, t)
    report = report_for(lake, docs, q, "crm_customers", "customers")
    o = report.outcome("email.not_null")
    assert not o.passed and o.severity == ERROR
    assert o.unexpected_count == 40 and o.unexpected_percent == pytest.approx(40.0)
    assert o.config["max_share"] == pytest.approx(0.2)  # judged with the Wilson bound (judge_shares)


def test_ten_percent_volume_fails_with_error(lake, docs, q):
    write_partition(lake, "orders", "pos_orders", AS_OF, _orders(lake, n=10))
    report = report_for(lake, docs, q)
    o = report.outcome("volume.within_band")
    assert not o.passed and o.severity == ERROR and o.observed_value == 10
    assert _failed_errors(report) == {"volume.within_band"}


def test_stale_source_fails_freshness_with_error(lake, docs, q):
    # customers were last delivered 7 days before as-of (threshold 2)
    report = report_for(lake, docs, q, "crm_customers", "customers")
    o = report.outcome("freshness.newest_partition")
    assert not o.passed and o.severity == ERROR and o.observed_value == 7
    assert [
        b.name for b in partition_batches("crm_customers", "customers", AS_OF, lake_dir=lake, thresholds=q)
    ] == ["customers.crm_customers.partitions"]


def test_unknown_customers_fail_referential(lake, docs, q):
    t = orders_table(100, [f"X{i}" for i in range(5)], AS_OF)
    write_partition(lake, "orders", "pos_orders", AS_OF, t)
    o = report_for(lake, docs, q).outcome("customer.known")
    assert not o.passed and o.severity == ERROR and o.unexpected_count == 100
    assert set(o.sample_bad_values) <= {f"X{i}" for i in range(5)}


def test_future_and_buddhist_era_timestamps_fail(lake, docs, q):
    t = _orders(lake)
    ts = t.column("ordered_at").to_pylist()
    ts[0] = datetime(2568, 3, 10, 12, 0)  # a BE year read as CE
    t = t.set_column(t.schema.get_field_index("ordered_at"), "ordered_at", pa.array(ts, pa.timestamp("us")))
    write_partition(lake, "orders", "pos_orders", AS_OF, t)
    o = report_for(lake, docs, q).outcome("ordered_at.plausible_time")
    assert not o.passed and o.severity == ERROR and o.unexpected_count == 1
    assert o.sample_bad_values and "2568" in str(o.sample_bad_values[0])


def test_bad_values_fail_value_sets_and_ranges(lake, docs, q):
    t = _orders(lake)
    status = t.column("status").to_pylist()
    status[3] = "shipped"
    amount = t.column("total_amount").to_pylist()
    amount[4] = -5.0
    t = t.set_column(t.schema.get_field_index("status"), "status", pa.array(status))
    t = t.set_column(t.schema.get_field_index("total_amount"), "total_amount", pa.array(amount))
    write_partition(lake, "orders", "pos_orders", AS_OF, t)
    report = report_for(lake, docs, q)
    assert report.outcome("status.in_set").sample_bad_values == ["shipped"]
    assert report.outcome("total_amount.non_negative").sample_bad_values == [-5.0]
    assert _failed_errors(report) == {"status.in_set", "total_amount.non_negative"}


def test_format_problems_warn_and_birth_dates_error(lake, docs, q):
    t = customers_table(100)
    emails = t.column("email").to_pylist()
    phones = t.column("phone").to_pylist()
    births = t.column("birth_date").to_pylist()
    for i in range(10):
        emails[i] = f"broken{i}@@example"
    phones[20] = "+66212345678"  # a landline flagged mobile: not a Thai mobile
    for i in range(30, 40):
        births[i] = date(2020, 1, 1)  # 5 years old at as-of: 10% > the 5% tolerance
    t = t.set_column(t.schema.get_field_index("email"), "email", pa.array(emails))
    t = t.set_column(t.schema.get_field_index("phone"), "phone", pa.array(phones))
    t = t.set_column(t.schema.get_field_index("birth_date"), "birth_date", pa.array(births, pa.date32()))
    write_partition(lake, "customers", "crm_customers", AS_OF, t)
    report = report_for(lake, docs, q, "crm_customers", "customers")
    email = report.outcome("email.format")
    assert not email.passed and email.severity == WARN and email.unexpected_count == 10
    assert len(email.sample_bad_values) == 10
    assert report.outcome("phone.th_mobile").passed  # 1% is within the 5% tolerance
    birth = report.outcome("birth_date.plausible")
    assert not birth.passed and birth.severity == ERROR and birth.unexpected_count == 10
    assert "email.format" not in _failed_errors(report)


def test_fields_nulled_at_ingestion_are_counted_per_column_and_gated_like_the_quarantine(lake, docs, q):
    t = customers_table(100)
    flags = [None] * 100
    births = t.column("birth_date").to_pylist()
    for i in (3, 4, 5):  # what ingestion loads for a bad birth date: null, flagged
        flags[i], births[i] = "invalid_date:birth_date", None
    flags[7] = "invalid_enum:gender; invalid_date:birth_date"
    births[7] = None
    t = t.set_column(t.schema.get_field_index(NULLED_FIELDS), NULLED_FIELDS, pa.array(flags, pa.string()))
    t = t.set_column(t.schema.get_field_index("birth_date"), "birth_date", pa.array(births, pa.date32()))
    write_partition(lake, "customers", "crm_customers", AS_OF, t)
    report = report_for(lake, docs, q, "crm_customers", "customers")
    nulled = report.outcome("nulled_fields.share")
    assert nulled.severity == ERROR and nulled.passed and nulled.unexpected_count == 4
    assert "birth_date: 4 rows nulled (invalid_date), first crm_customers/customers.csv row 4" in nulled.note
    assert "gender: 1 row nulled (invalid_enum), first crm_customers/customers.csv row 8" in nulled.note
    # a source whose birth dates all stop parsing is held back, as when it was quarantined
    t = t.set_column(
        t.schema.get_field_index(NULLED_FIELDS), NULLED_FIELDS, pa.array(["invalid_date:birth_date"] * 100)
    )
    write_partition(lake, "customers", "crm_customers", AS_OF, t)
    report = report_for(lake, docs, q, "crm_customers", "customers")
    assert "nulled_fields.share" in _failed_errors(report)


def test_reads_only_this_source_and_needed_columns(lake, q):
    # another source feeding the same entity on the same day is not part of this validation
    write_partition(lake, "orders", "web_orders", AS_OF, _orders(lake, n=7))
    assert [p.name for p in source_files(lake, "orders", "pos_orders", AS_OF)] == ["pos_orders-0000.parquet"]
    batches = partition_batches("pos_orders", "orders", AS_OF, lake_dir=lake, thresholds=q)
    rows = next(b for b in batches if b.name.endswith(".rows"))
    assert len(rows.frame) == 100
    wanted = set(needed_columns(rows_suite("orders", as_of=AS_OF, thresholds=q, referential=True)))
    assert set(rows.frame.columns) - {"_unknown_customer_id"} == wanted
    assert "store_id" not in rows.frame.columns
    # timestamps in ns so GX compares them vectorised
    assert str(rows.frame["ordered_at"].dtype) == "datetime64[ns]"


def test_thai_mobile_format_applies_only_to_numbers_flagged_mobile(lake, q):
    t = customers_table(100)
    phones = t.column("phone").to_pylist()
    mobile = t.column("phone_is_mobile").to_pylist()
    for i in range(10):  # landlines, correctly flagged: not a mobile problem
        phones[i], mobile[i] = "+6621234567", False
    for i in range(10, 20):  # flagged mobile but a landline number: 10% > 5% tolerance
        phones[i] = "+6621234568"
    t = t.set_column(t.schema.get_field_index("phone"), "phone", pa.array(phones))
    t = t.set_column(t.schema.get_field_index("phone_is_mobile"), "phone_is_mobile", pa.array(mobile))
    write_partition(lake, "customers", "crm_customers", AS_OF, t)
    report = report_for(lake, None, q, "crm_customers", "customers")
    o = report.outcome("phone.th_mobile")
    assert not o.passed and o.severity == WARN
    assert o.unexpected_count == 10 and o.unexpected_percent == pytest.approx(100 * 10 / 90)
    assert report.outcome("phone.e164").passed


def test_unreadable_parquet_names_the_file(lake, q):
    bad = lake / "orders" / f"load_date={AS_OF}" / "pos_orders-0001.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(LakeError, match="pos_orders-0001.parquet"):
        validate_partition("pos_orders", "orders", AS_OF, lake_dir=lake, docs_dir=None, thresholds=q)
