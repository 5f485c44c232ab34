from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq

from sources import entity_schema, landing_partitions
from tests.sources.conftest import D

CUSTOMERS_CSV = (
    "source_system,customer_id,first_name,last_name,email,phone,gender,birth_date,province,postal_code,registered_at\n"
    "pos,0012,สมชาย,ใจดี, Somchai@Example.COM ,081-234-5678,ชาย,31/01/2530,กรุงเทพมหานคร,10110,2025-01-02 10:00:00\n"
    "web,0013,Malee,Srisuk,malee@example.co.th,+66 81 234 5679,หญิง,1990-05-17,เชียงใหม่,50200,02/01/2568 09:30\n"
    "pos,0014,Niran,,bad@,02-026-1456,M,45658,,,45658.5\n"
    "loyalty,0015,Kanya,,kanya@example.com,66812345670,F,,,,2025-01-02T03:00:00Z\n"
    "pos,,Nobody,,x@example.com,0812345671,F,,,,\n"
    "pos,0017,Bad,Date,b@example.com,0812345672,F,31/02/2530,,,\n"
)

EXPECTED_CUSTOMERS = [
    {
        "source_system": "pos",
        "source_customer_id": "0012",
        "first_name": "สมชาย",
        "last_name": "ใจดี",
        "email": "somchai@example.com",
        "email_valid": True,
        "phone": "+66812345678",
        "phone_raw": "081-234-5678",
        "phone_is_mobile": True,
        "gender": "M",
        "birth_date": date(1987, 1, 31),
        "province": "กรุงเทพมหานคร",
        "postal_code": "10110",
        "country": "TH",
        "registered_at": datetime(2025, 1, 2, 10, 0),
        "_row_number": 1,
    },
    {
        "source_system": "web",
        "source_customer_id": "0013",
        "email": "malee@example.co.th",
        "email_valid": True,
        "phone": "+66812345679",
        "phone_is_mobile": True,
        "gender": "F",
        "birth_date": date(1990, 5, 17),
        "registered_at": datetime(2025, 1, 2, 9, 30),
        "_row_number": 2,
    },
    {
        "source_customer_id": "0014",
        "last_name": None,
        "email": "bad@",
        "email_valid": False,
        "phone": "+6620261456",
        "phone_is_mobile": False,
        "birth_date": date(2025, 1, 1),
        "registered_at": datetime(2025, 1, 1, 12, 0),
        "_row_number": 3,
    },
    {
        "source_system": "loyalty",
        "phone": "+66812345670",
        "gender": "F",
        "birth_date": None,
        "registered_at": datetime(2025, 1, 2, 10, 0),  # 03:00 UTC is 10:00 in Bangkok
        "_row_number": 4,
    },
    {  # an impossible birth date is a non-key field: nulled and flagged, the customer loads
        "source_customer_id": "0017",
        "birth_date": None,
        "nulled_fields": "invalid_date:birth_date",
        "_row_number": 6,
    },
]


def assert_rows(actual: list[dict], expected: list[dict]) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        for k, v in e.items():
            assert a[k] == v, (k, a[k], v)


def test_csv_utf8_normalises_and_quarantines_with_exact_accounting(env):
    env.drop("customers", "customers.csv", CUSTOMERS_CSV)
    res = env.ingest("customers")
    assert (res.rows_in, res.rows_loaded, res.rows_quarantined) == (6, 5, 1)
    assert res.reason_counts == {"missing:source_customer_id": 1}
    assert res.nulled_counts == {"invalid_date:birth_date": 1}
    f = res.files[0]
    assert (f.path, f.format, f.encoding, f.rows_in, f.loaded, f.quarantined) == (
        "customers/2025-01-02/customers.csv",
        "csv",
        "utf-8",
        6,
        5,
        1,
    )
    rows = env.lake_rows(res)
    assert_rows(rows, EXPECTED_CUSTOMERS)
    assert all(
        r["_source"] == "customers" and r["_source_file"] == "customers/2025-01-02/customers.csv"
        for r in rows
    )
    assert [p.name for p in res.lake_files] == ["customers-0000.parquet"]
    assert res.lake_files[0].parent == env.lake / "customers" / "load_date=2025-01-02"
    assert pq.read_schema(res.lake_files[0]).remove_metadata() == entity_schema("customers")

    q = env.quarantine_rows("customers")
    assert [(r["file"], r["row"], r["reason"], r["value"]) for r in q] == [
        ("customers/2025-01-02/customers.csv", 5, "missing:source_customer_id", None),
    ]
    assert json.loads(q[0]["raw"])["first_name"] == "Nobody"
    assert [s["reason"] for s in res.samples] == ["missing:source_customer_id"]
    assert res.nulled_samples == [
        {
            "file": "customers/2025-01-02/customers.csv",
            "row": 6,
            "reason": "invalid_date:birth_date",
            "value": "31/02/2530",
        }
    ]


def test_bom_and_tis620_encodings_give_identical_rows(env):
    env.drop("customers", "a_plain.csv", CUSTOMERS_CSV.replace("0012", "A012"))
    env.drop(
        "customers", "b_bom.csv", b"\xef\xbb\xbf" + CUSTOMERS_CSV.replace("0012", "B012").encode("utf-8")
    )
    env.drop("customers", "c_tis620.csv", CUSTOMERS_CSV.replace("0012", "C012"), encoding="cp874")
    res = env.ingest("customers")
    assert [f.encoding for f in res.files] == ["utf-8", "utf-8-sig", "cp874"]
    assert (res.rows_in, res.rows_loaded, res.rows_quarantined) == (18, 15, 3)
    rows = env.lake_rows(res)
    by_file: dict[str, list[dict]] = {}
    for r in rows:
        by_file.setdefault(r["_source_file"].rsplit("/", 1)[1], []).append(r)
    strip = lambda r: {k: v for k, v in r.items() if k not in ("_source_file", "source_customer_id")}  # noqa: E731
    assert [strip(r) for r in by_file["b_bom.csv"]] == [strip(r) for r in by_file["a_plain.csv"]]
    assert [strip(r) for r in by_file["c_tis620.csv"]] == [strip(r) for r in by_file["a_plain.csv"]]
    assert by_file["c_tis620.csv"][0]["first_name"] == "สมชาย"
    assert by_file["b_bom.csv"][0]["source_system"] == "pos"  # BOM not glued to the first header


def _xlsx(header, rows) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_dealer_xlsx_with_thai_headers_maps_by_yaml_alone(env):
    header = ["รหัสลูกค้า", "ชื่อ", "นามสกุล", "เพศ", "เบอร์โทรศัพท์", "อีเมล", "วันเกิด", "จังหวัด", "วันที่ซื้อ", "หมายเหตุ"]
    rows = [
        [
            "0001",
            "สมศรี",
            "มีสุข",
            "หญิง",
            812345678,
            "SomSri@Mail.com",
            "15/03/2528",
            "ขอนแก่น",
            datetime(2025, 1, 2, 9, 0),
            "vip",
        ],
        [2, "Anan", "Dee", "ชาย", "089-999-8888", None, 31851, "ภูเก็ต", 45658, None],
        [None, "No", "Id", "ชาย", "0812345678", None, None, None, None, None],
        [None, None, None, None, None, None, None, None, None, None],  # empty sheet row: not a row
        ["0004", "Bad", "Gender", "ไม่ระบุ", "02-026-1456", None, "1/1/2568", None, "2/1/2568 08:15", None],
    ]
    env.drop("dealer_customers", "ลูกค้า dealer.xlsx", _xlsx(header, rows))
    res = env.ingest("dealer_customers")
    assert (res.rows_in, res.rows_loaded, res.rows_quarantined) == (4, 3, 1)
    assert res.files[0].format == "xlsx"
    assert res.files[0].unmapped_columns == ["หมายเหตุ"]
    out = env.lake_rows(res)
    assert res.lake_files[0].name == "dealer_customers-0000.parquet"
    assert res.lake_files[0].parent == env.lake / "customers" / "load_date=2025-01-02"
    assert_rows(
        out,
        [
            {
                "source_system": "dealer",
                "source_customer_id": "0001",
                "first_name": "สมศรี",
                "gender": "F",
                "phone": "+66812345678",
                "phone_raw": "812345678",
                "email": "somsri@mail.com",
                "birth_date": date(1985, 3, 15),
                "province": "ขอนแก่น",
                "registered_at": datetime(2025, 1, 2, 9, 0),
                "_source": "dealer_customers",
                "_row_number": 1,
            },
            {
                "source_customer_id": "2",
                "gender": "M",
                "phone": "+66899998888",
                "birth_date": date(1987, 3, 15),  # Excel serial 31851
                "registered_at": datetime(2025, 1, 1, 0, 0),
                "_row_number": 2,
            },
            {
                "source_customer_id": "0004",
                "gender": None,
                "phone_is_mobile": False,
                "birth_date": date(2025, 1, 1),
                "registered_at": datetime(2025, 1, 2, 8, 15),
                "_row_number": 5,
            },
        ],
    )
    q = env.quarantine_rows("dealer_customers")
    assert [(r["row"], r["reason"]) for r in q] == [(3, "missing:source_customer_id")]


def test_jsonl_with_a_broken_line(env):
    lines = [
        {"event_id": "e1", "customer_id": 12, "type": "login", "timestamp": "2025-01-02T08:00:00+07:00"},
        {
            "event_id": "e2",
            "email": "A@B.COM",
            "type": "search",
            "query": "หม้อหุงข้าว",
            "timestamp": "02/01/2568 08:01",
        },
        {"event_id": "e3", "type": "teleport", "timestamp": "2025-01-02 08:02:00"},
    ]
    text = (
        "\n".join(json.dumps(x, ensure_ascii=False) for x in lines[:2])
        + "\n{not json\n\n"
        + json.dumps(lines[2])
        + "\n"
    )
    env.drop("web_events", "events.jsonl", text)
    res = env.ingest("web_events")
    assert (res.rows_in, res.rows_loaded, res.rows_quarantined) == (4, 2, 2)
    assert res.reason_counts == {"malformed_row": 1, "invalid_enum:event_type": 1}
    assert_rows(
        env.lake_rows(res),
        [
            {
                "event_id": "e1",
                "source_system": "web",
                "source_customer_id": "12",
                "event_type": "login",
                "occurred_at": datetime(2025, 1, 2, 8, 0),
                "_row_number": 1,
            },
            {
                "event_id": "e2",
                "email": "a@b.com",
                "event_type": "search",
                "search_term": "หม้อหุงข้าว",
                "occurred_at": datetime(2025, 1, 2, 8, 1),
                "_row_number": 2,
            },
        ],
    )
    q = sorted(env.quarantine_rows("web_events"), key=lambda r: r["row"])
    assert [(r["row"], r["reason"], r["value"]) for r in q] == [
        (3, "malformed_row", "invalid JSON: Expecting property name enclosed in double quotes"),
        (4, "invalid_enum:event_type", "teleport"),
    ]


def test_parquet_typed_input(env):
    t = pa.table(
        {
            "source_system": ["pos", "web"],
            "order_id": pa.array([1001, 1002], pa.int64()),
            "customer_id": ["0012", "0013"],
            "ordered_at": pa.array(
                [
                    datetime(2025, 1, 2, 3, 0, tzinfo=UTC),
                    datetime(2025, 1, 2, 4, 30, tzinfo=UTC),
                ],
                pa.timestamp("us", "UTC"),
            ),
            "status": ["Completed", "refund"],
            "total_amount": pa.array([1234.5, 99.0]),
        }
    )
    buf = io.BytesIO()
    pq.write_table(t, buf)
    env.drop("orders", "orders.parquet", buf.getvalue())
    res = env.ingest("orders")
    assert (res.rows_in, res.rows_loaded, res.rows_quarantined) == (2, 2, 0)
    assert_rows(
        env.lake_rows(res),
        [
            {
                "order_id": "1001",
                "source_customer_id": "0012",
                "ordered_at": datetime(2025, 1, 2, 10, 0),
                "status": "completed",
                "total_amount": 1234.5,
                "currency": "THB",
            },
            {
                "order_id": "1002",
                "source_customer_id": "0013",
                "ordered_at": datetime(2025, 1, 2, 11, 30),
                "status": "refunded",
                "total_amount": 99.0,
            },
        ],
    )


ORDERS_CSV = (
    "source_system,order_id,customer_id,order_date,status,total_amount\n"
    'pos,O1,0012,2025-01-02 10:00:00,completed,"1,234.50"\n'
    "pos,O2,0012,02/01/2568 11:00,cancelled,฿1\n"
    "web,O3,0013,2025-01-02 12:00:00,completed,THB 1\n"
    "web,O4,0013,2025-01-02 12:00:00,lost,10\n"
    "web,O5,0013,2025-01-02 12:00:00,completed,99999999\n"
    "web,O6,0013,2025-01-02 12:00:00,completed,ten\n"
)


def test_row_validation_enums_amounts_and_ranges(env):
    env.drop("orders", "orders.csv", ORDERS_CSV)
    res = env.ingest("orders")
    assert (res.rows_in, res.rows_loaded, res.rows_quarantined) == (6, 3, 3)
    assert res.reason_counts == {
        "invalid_enum:status": 1,
        "out_of_range:total_amount": 1,
        "invalid_amount:total_amount": 1,
    }
    assert [r["total_amount"] for r in env.lake_rows(res)] == [1234.5, 1.0, 1.0]
    q = sorted(env.quarantine_rows("orders"), key=lambda r: r["row"])
    assert [(r["row"], r["reason"], r["value"]) for r in q] == [
        (4, "invalid_enum:status", "lost"),
        (5, "out_of_range:total_amount", "99999999"),
        (6, "invalid_amount:total_amount", "ten"),
    ]


def test_duplicate_delivery_is_counted_once(env):
    env.drop("orders", "orders.csv", ORDERS_CSV)
    env.drop("orders", "orders (copy).csv", ORDERS_CSV)
    res = env.ingest("orders")
    assert (res.rows_in, res.rows_loaded, res.rows_quarantined) == (6, 3, 3)
    dup = [f for f in res.files if f.duplicate_of]
    assert len(dup) == 1 and dup[0].path == "orders/2025-01-02/orders.csv"
    assert dup[0].duplicate_of == "orders/2025-01-02/orders (copy).csv"
    assert (dup[0].rows_in, dup[0].loaded, dup[0].quarantined) == (0, 0, 0)
    assert res.duplicate_files == ["orders/2025-01-02/orders.csv"]
    assert len(res.lake_files) == 1


def _good_xlsx() -> bytes:
    return _xlsx(
        ["order_id", "source_system", "customer_id", "order_date", "status", "amount"],
        [
            ["X1", "pos", "C1", "2025-01-02", "completed", 10],
            ["X2", "pos", "C1", "2025-01-02", "completed", 20],
        ],
    )


def test_broken_files_are_quarantined_whole_and_others_load(env):
    good = env.drop("orders", "00_good.csv", ORDERS_CSV)
    env.drop("orders", "01_csv_named_xlsx.xlsx", ORDERS_CSV.replace("O1", "Z1"))
    env.drop("orders", "02_truncated.xlsx", _good_xlsx()[:700])
    buf = io.BytesIO()
    pq.write_table(pa.table({"order_id": ["P1"] * 100}), buf)
    env.drop("orders", "03_truncated.parquet", buf.getvalue()[:-30])
    env.drop("orders", "04_no_header.csv", "pos,O9,0012,2025-01-02 10:00:00,completed,10\n")
    env.drop(
        "orders",
        "05_missing_status.csv",
        "source_system,order_id,customer_id,order_date,total_amount\npos,O1,C1,2025-01-02,1\n",
    )
    env.drop("orders", "06_empty.csv", "")
    env.drop("orders", "07_scan.pdf", b"%PDF-1.4 ...")
    env.drop("orders", "08_binary.csv", b"\x00\x01\x02\x03" * 20)
    env.drop("orders", "09_good.xlsx", _good_xlsx())
    res = env.ingest("orders")
    errors = {f.path.rsplit("/", 1)[1]: f.error for f in res.files if f.error}
    assert set(errors) == {
        "01_csv_named_xlsx.xlsx",
        "02_truncated.xlsx",
        "03_truncated.parquet",
        "04_no_header.csv",
        "05_missing_status.csv",
        "06_empty.csv",
        "07_scan.pdf",
        "08_binary.csv",
    }
    assert (
        errors["01_csv_named_xlsx.xlsx"]
        == "wrong format: named .xlsx but the content is not an Excel workbook"
    )
    assert errors["02_truncated.xlsx"].startswith("unreadable workbook (truncated or corrupt)")
    assert errors["03_truncated.parquet"].startswith("unreadable Parquet (truncated or corrupt)")
    assert errors["04_no_header.csv"].startswith("no header row: none of the first-row values ('pos', 'O9'")
    assert errors["05_missing_status.csv"].startswith(
        "missing required column(s): status (accepted: status, order_status)"
    )
    assert errors["06_empty.csv"] == "empty file (no header, no rows)"
    assert (
        errors["07_scan.pdf"]
        == "format not accepted: .pdf (source 'orders' accepts csv, xlsx, jsonl, parquet)"
    )
    assert errors["08_binary.csv"] == "wrong format: binary content (NUL bytes), not csv text"
    # rows of the files rejected whole are counted (04: its one line is data, 05: one row)
    assert (res.rows_in, res.rows_loaded, res.rows_quarantined, res.rows_rejected) == (10, 5, 3, 2)
    rejected = {f.path.rsplit("/", 1)[1]: f.rejected for f in res.files if f.rejected}
    assert rejected == {"04_no_header.csv": 1, "05_missing_status.csv": 1}
    assert res.unreadable_files == [f"orders/2025-01-02/{n}" for n in sorted(errors)]
    # the broken files are kept in the quarantine, with their reasons
    qdir = env.quarantine / "orders" / "load_date=2025-01-02"
    assert sorted(p.name for p in (qdir / "files").iterdir()) == sorted(errors)
    listed = pq.read_table(qdir / "files.parquet").to_pylist()
    assert {r["file"].rsplit("/", 1)[1]: r["value"] for r in listed} == errors
    assert good.exists()
    samples = [s for s in res.samples if s["row"] is None]
    assert len(samples) == 8 and all(s["reason"].startswith("unreadable_file: ") for s in samples)


def test_malformed_and_truncated_csv_rows_keep_exact_row_numbers(env):
    text = (
        "source_system,order_id,customer_id,order_date,status,total_amount\n"
        "pos,O1,0012,2025-01-02 10:00:00,completed,10\n"
        "pos,O2,0012,2025-01-02 10:00:00,completed\n"  # one column short
        'pos,"O3\nwith newline",0012,2025-01-02 10:00:00,completed,30\n'
        "pos,O4,0012,2025-01-02 10:00:00,completed,40,extra\n"
        "pos,O5,0012,2025-01-02 10:00:00,completed,50\n"
        "pos,O6,0012,2025-01-02 10:0"  # truncated mid-row
    )
    env.drop("orders", "orders.csv", text)
    res = env.ingest("orders")
    assert (res.rows_in, res.rows_loaded, res.rows_quarantined) == (6, 3, 3)
    assert res.reason_counts == {"malformed_row": 3}
    assert [(r["order_id"], r["_row_number"]) for r in env.lake_rows(res)] == [
        ("O1", 1),
        ("O3\nwith newline", 3),
        ("O5", 5),
    ]
    q = sorted(env.quarantine_rows("orders"), key=lambda r: r["row"])
    assert [(r["row"], r["value"]) for r in q] == [
        (2, "wrong column count: expected 6, got 5"),
        (4, "wrong column count: expected 6, got 7"),
        (6, "wrong column count: expected 6, got 4"),
    ]


def test_reingest_replaces_only_this_sources_files(env):
    env.drop("customers", "customers.csv", CUSTOMERS_CSV)
    env.drop("dealer_customers", "d.csv", "รหัสลูกค้า,ชื่อ\nD1,สมศรี\n")
    first = env.ingest("customers")
    dealer = env.ingest("dealer_customers")
    assert dealer.lake_files[0].name == "dealer_customers-0000.parquet"
    env.drop("customers", "more.csv", "source_system,customer_id\npos,0099\n")
    second = env.ingest("customers")
    assert (second.rows_in, second.rows_loaded, second.rows_quarantined) == (7, 6, 1)
    part = env.lake / "customers" / "load_date=2025-01-02"
    assert sorted(p.name for p in part.iterdir()) == [
        "customers-0000.parquet",
        "customers-0001.parquet",
        "dealer_customers-0000.parquet",
    ]
    assert first.lake_files[0] == second.lake_files[0]
    # remove the bad rows' file from landing: re-ingest empties the quarantine too
    (env.landing / "customers" / "2025-01-02" / "customers.csv").unlink()
    third = env.ingest("customers")
    assert (third.rows_in, third.rows_loaded, third.rows_quarantined) == (1, 1, 0)
    assert sorted(p.name for p in part.iterdir()) == [
        "customers-0000.parquet",
        "dealer_customers-0000.parquet",
    ]
    assert not (env.quarantine / "customers" / "load_date=2025-01-02").exists()
    assert not list((env.lake / ".staging").iterdir())


def test_empty_partition_writes_typed_empty_file(env):
    res = env.ingest("support_tickets")
    assert (res.rows_in, res.rows_loaded, res.rows_quarantined, res.files) == (0, 0, 0, [])
    assert [p.name for p in res.lake_files] == ["support_tickets-0000.parquet"]
    t = pq.read_table(res.lake_files[0])
    assert t.num_rows == 0 and t.schema.remove_metadata() == entity_schema("support_tickets")
    assert res.lake_files[0].parent == env.lake / "support_tickets" / "load_date=2025-01-02"


def test_landing_partitions(env):
    env.drop("orders", "a.csv", "x")
    env.drop("orders", "a.csv", "x", day=date(2025, 1, 1))
    env.drop("customers", "a.csv", "x", day=date(2025, 1, 3))
    (env.landing / "orders" / "not-a-date").mkdir()
    (env.landing / "orders" / "2025-13-45").mkdir()
    assert landing_partitions(env.landing) == {
        "customers": [date(2025, 1, 3)],
        "orders": [date(2025, 1, 1), D],
    }
    assert landing_partitions(env.root / "missing") == {}


def test_empty_jsonl_is_zero_rows_not_an_error(env):
    env.drop("web_events", "events.jsonl", "")
    env.drop("web_events", "more.jsonl", "\n\n")
    res = env.ingest("web_events")
    assert [f.error for f in res.files] == [None, None]
    assert (res.rows_in, res.rows_loaded, res.rows_quarantined) == (0, 0, 0)
    assert [p.name for p in res.lake_files] == ["web_events-0000.parquet"]


def test_xlsx_sheet_by_name_header_row_and_cell_kinds(tmp_path, decls):
    from sources import ingest_partition
    from sources.declarations import load_declarations as load

    ddir = tmp_path / "decls"
    ddir.mkdir()
    (ddir / "shop_x.yml").write_text(
        "entity: products\nformats: [xlsx]\nxlsx: {sheet: สินค้า, header_row: 3}\ncolumns:\n"
        "  product_id: {required: true, from: [รหัส]}\n  name: {from: [ชื่อสินค้า]}\n"
        "  category: {from: [หมวด]}\n  price: {from: [ราคา]}\n",
        encoding="utf-8",
    )
    wb = openpyxl.Workbook()
    wb.active.title = "cover"
    wb.active.append(["this sheet is not the data"])
    ws = wb.create_sheet("สินค้า")
    ws.append(["รายงานสินค้า"])  # a title row
    ws.append([])
    ws.append(["รหัส", "ชื่อสินค้า", "หมวด", "ราคา"])
    ws.append(["0012", "หม้อหุงข้าว & กระทะ", True, 1234.5])
    ws.append([12, "=A5", None, "฿1,299"])
    ws["B5"] = '="rice"&" cooker"'
    ws.append([13.0, "Fan <20in>", "air", 1e3])
    p = tmp_path / "landing" / "shop_x" / "2025-01-02" / "p.xlsx"
    p.parent.mkdir(parents=True)
    wb.save(p)
    res = ingest_partition(
        load(ddir)["shop_x"],
        landing_dir=tmp_path / "landing",
        lake_dir=tmp_path / "lake",
        quarantine_dir=tmp_path / "q",
        load_date=D,
    )
    rows = [
        (r["product_id"], r["name"], r["category"], r["price"], r["_row_number"])
        for r in pq.read_table(res.lake_files[0]).to_pylist()
    ]
    assert rows == [
        ("0012", "หม้อหุงข้าว & กระทะ", "true", 1234.5, 1),
        ("13", "Fan <20in>", "air", 1000.0, 3),
    ]
    # a formula without a cached value is no value: the row is quarantined, not loaded with a NULL
    assert res.reason_counts == {"uncomputed_formula:name": 1}
    (q,) = pq.read_table(
        tmp_path / "q" / "shop_x" / "load_date=2025-01-02" / "rows-00000.parquet"
    ).to_pylist()
    assert (q["row"], q["value"].split(" (")[0]) == (2, '="rice"&" cooker"')


def test_header_only_csv_crlf_and_semicolons(env):
    env.drop(
        "orders", "a_header_only.csv", "source_system,order_id,customer_id,order_date,status,total_amount\r\n"
    )
    env.drop(
        "orders",
        "b_semicolon.csv",
        "source_system;order_id;customer_id;order_date;status;total_amount\r\n"
        'pos;O1;0012;2025-01-02 10:00:00;completed;"1,5"\r\n'
        "pos;O2;0012;02/01/2568;completed;1.234,50\r\n",
    )
    res = env.ingest("orders")
    assert [f.error for f in res.files] == [None, None]
    assert (res.rows_in, res.rows_loaded, res.rows_quarantined) == (2, 0, 2)
    # neither `1,5` nor `1.234,50` is a Thai amount: not guessed, quarantined
    assert res.reason_counts == {"invalid_amount:total_amount": 2}
    q = sorted(env.quarantine_rows("orders"), key=lambda r: r["row"])
    assert [(r["row"], r["value"]) for r in q] == [(1, "1,5"), (2, "1.234,50")]
    assert json.loads(q[1]["raw"])["order_date"] == "02/01/2568"


def test_jsonl_arrow_fast_path_matches_line_by_line(tmp_path):
    from sources.readers import JsonlReader, RestartFile

    lines = [
        {
            "event_id": "e1",
            "n": 12,
            "amount": 1234.5,
            "ts": "2025-01-02T08:00:00",
            "tags": ["a", "b"],
            "th": "ค้นหา",
        },
        {"event_id": "e2", "n": 13, "amount": 99, "ts": "not-a-date", "extra": True},
        {"event_id": "e3", "ts": None},
    ]
    p = tmp_path / "e.jsonl"
    p.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n\n", encoding="utf-8")

    def rows(batches):
        out = []
        for b in batches:
            assert not isinstance(b, RestartFile)
            for i in range(b.num_rows):
                rec = {n: c[i].as_py() for n, c in zip(b.names, b.columns, strict=True)}
                out.append((b.row_numbers[i].as_py(), {k: v for k, v in rec.items() if v is not None}))
        return out

    fast = rows(JsonlReader(p).batches())
    slow = rows(JsonlReader(p)._python_batches())
    assert fast == slow
    assert fast[0] == (
        1,
        {
            "event_id": "e1",
            "n": "12",
            "amount": "1234.5",
            "ts": "2025-01-02T08:00:00",
            "tags": '["a", "b"]',
            "th": "ค้นหา",
        },
    )
    assert fast[1][1]["amount"] == "99" and fast[1][1]["extra"] == "true"


def test_unparseable_non_key_fields_are_nulled_and_flagged_keys_still_quarantine(env):
    # an impossible birth date (month 04, day 93) and an unknown gender word are non-key fields:
    # the customer loads with them null and listed in nulled_fields; a missing id still quarantines
    env.drop(
        "customers",
        "customers.csv",
        "source_system,customer_id,first_name,gender,birth_date,registered_at\n"
        "pos,0021,Somchai,ชาย,19450493,2025-01-02 10:00:00\n"
        "pos,0022,Malee,alien,31/02/2530,not a time\n"
        "pos,,Nobody,F,19450493,\n"
        "pos,0024,Niran,M,1990-05-17,2025-01-02 11:00:00\n",
    )
    res = env.ingest("customers")
    assert (res.rows_in, res.rows_loaded, res.rows_quarantined) == (4, 3, 1)
    assert res.reason_counts == {"missing:source_customer_id": 1}
    rows = {r["source_customer_id"]: r for r in env.lake_rows(res)}
    assert rows["0021"]["birth_date"] is None
    assert rows["0021"]["gender"] == "M"
    assert rows["0021"]["nulled_fields"] == "invalid_date:birth_date"
    assert (rows["0022"]["gender"], rows["0022"]["birth_date"], rows["0022"]["registered_at"]) == (
        None,
        None,
        None,
    )
    assert rows["0022"]["nulled_fields"] == (
        "invalid_enum:gender; invalid_date:birth_date; invalid_timestamp:registered_at"
    )
    assert rows["0024"]["nulled_fields"] is None
    assert rows["0024"]["birth_date"] == date(1990, 5, 17)
    assert res.nulled_counts == {
        "invalid_date:birth_date": 2,
        "invalid_enum:gender": 1,
        "invalid_timestamp:registered_at": 1,
    }
    assert res.nulled_samples[0] == {
        "file": "customers/2025-01-02/customers.csv",
        "row": 1,
        "reason": "invalid_date:birth_date",
        "value": "19450493",
    }
    assert [(q["row"], q["reason"]) for q in env.quarantine_rows("customers")] == [
        (3, "missing:source_customer_id")
    ]
