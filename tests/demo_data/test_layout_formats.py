from __future__ import annotations

import json
from datetime import timedelta

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crmloop.demo_data.generate import DEALER_HEADERS, generate

from .conftest import AS_OF
from .readback import be_to_datetime, parse_amount

BULK, TODAY = (AS_OF - timedelta(days=1)).isoformat(), AS_OF.isoformat()
SOURCES = {
    "customers",
    "dealer_customers",
    "orders",
    "order_lines",
    "products",
    "web_events",
    "consents",
    "support_tickets",
}


def test_landing_layout_has_two_partitions_per_source(small):
    got = {p.name for p in small.landing.iterdir()}
    assert got == SOURCES
    for source in SOURCES:
        parts = sorted(p.name for p in (small.landing / source).iterdir())
        assert parts[0] == BULK
        assert set(parts) <= {BULK, TODAY}
    for name in ("pos_customers.csv", "web_customers.jsonl", "warranty_cards.xlsx", "loyalty_members.csv"):
        assert (small.landing / "customers" / BULK / name).is_file()
    assert (small.landing / "orders" / TODAY / "pos_orders.csv").is_file()
    assert (small.landing / "web_events" / TODAY / "web_events.jsonl").is_file()
    # the truth is kept outside the landing zone
    assert not any("truth" in str(p) for p in small.landing.rglob("*"))
    listed = {f["path"] for f in small.summary.files}
    on_disk = {str(p.relative_to(small.landing)) for p in small.landing.rglob("*") if p.is_file()}
    assert listed == on_disk


def test_describe_lists_files_rows_and_ranks(small):
    text = small.summary.describe()
    assert "customers/" + BULK + "/pos_customers.csv" in text
    for rank in ("VIP", "Regular", "New", "Dormant", "Prospect"):
        assert rank in text
    assert sum(small.summary.people_by_rank.values()) == 1500
    assert small.summary.rows_per_source["orders"] > 0


def test_pos_customers_are_cp874_with_buddhist_era_dates(small):
    raw = (small.landing / "customers" / BULK / "pos_customers.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    try:
        raw.decode("utf-8")
        decodes_as_utf8 = True
    except UnicodeDecodeError:
        decodes_as_utf8 = False
    assert not decodes_as_utf8, "Thai text must be TIS-620/cp874 bytes, not UTF-8"
    df = pd.read_csv(pd.io.common.BytesIO(raw), encoding="cp874", dtype=str)
    assert list(df.columns)[:3] == ["source_system", "source_customer_id", "first_name"]
    assert df["first_name"].str.contains(r"[\u0E00-\u0E7F]").mean() > 0.95
    years = df["registered_at"].dropna().str.slice(6, 10).astype(int)
    assert (years > 2500).mean() > 0.99  # Buddhist Era
    parsed = be_to_datetime(df["registered_at"])
    assert parsed.notna().mean() > 0.99
    assert parsed.max() <= pd.Timestamp(AS_OF)


def test_loyalty_csv_has_bom_and_web_customers_are_jsonl(small):
    raw = (small.landing / "customers" / BULK / "loyalty_members.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    df = pd.read_csv(
        small.landing / "customers" / BULK / "loyalty_members.csv", encoding="utf-8-sig", dtype=str
    )
    assert df["loyalty_card_id"].str.fullmatch(r"LC\d{10}").all()
    lines = (small.landing / "customers" / BULK / "web_customers.jsonl").read_text("utf-8").splitlines()
    rows = [json.loads(x) for x in lines]
    assert {r["source_system"] for r in rows} == {"web"}
    assert all(r["email"] for r in rows if r["source_customer_id"])
    iso = pd.to_datetime(pd.Series([r["registered_at"] for r in rows]), format="%Y-%m-%dT%H:%M:%S")
    assert iso.notna().all()


def test_warranty_xlsx_uses_excel_serial_numbers(small):
    wb = openpyxl.load_workbook(small.landing / "customers" / BULK / "warranty_cards.xlsx", read_only=True)
    ws = wb.active
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0][:2]) == ["source_system", "source_customer_id"]
    header = list(rows[0])
    reg = [r[header.index("registered_at")] for r in rows[1:]]
    assert all(isinstance(v, float) for v in reg)
    lo = (pd.Timestamp(AS_OF) - pd.Timestamp("1899-12-30")).days - 5 * 365
    assert min(reg) > lo and max(reg) < lo + 5 * 365 + 2
    births = [r[header.index("birth_date")] for r in rows[1:] if r[header.index("birth_date")] is not None]
    assert births and all(isinstance(v, int) for v in births)


def test_dealer_export_has_its_own_thai_headers_and_date_cells(small):
    path = small.landing / "dealer_customers" / BULK / "dealer_export.xlsx"
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    header = [c.value for c in ws[1]]
    assert header == [h for h, _ in DEALER_HEADERS]
    assert {"ชื่อ", "นามสกุล", "อีเมล", "เบอร์โทร", "วันเกิด"} <= set(header)
    reg = [c.value for c in ws["N"][1:]]
    assert all(v is not None and v.year >= 2021 for v in reg)
    df = pd.read_excel(path, dtype={"เบอร์โทร": str, "รหัสลูกค้า": str})
    assert set(df["เพศ"].dropna()) <= {"ชาย", "หญิง"}
    assert df["รหัสลูกค้า"].str.startswith("DL").all()


def test_orders_amount_formats_statuses_refunds_and_duplicates(small):
    pos = pd.read_csv(small.landing / "orders" / BULK / "pos_orders.csv", dtype=str)
    amounts = pos["total_amount"]
    assert amounts.str.startswith("฿").any()
    assert amounts.str.fullmatch(r"\d{1,3}(,\d{3})+\.\d{2}").any()  # 1,234.50
    assert set(pos["status"]) == {"completed", "cancelled", "refunded"}
    assert (parse_amount(amounts).isna()).sum() >= 1  # the "abc" rows
    refunds = pos[pos["status"] == "refunded"]
    for oid in refunds["order_id"].head(20):
        rows = pos.index[pos["order_id"] == oid].tolist()
        assert len(rows) >= 2 and pos.loc[rows[-1], "status"] == "refunded"
        assert pos.loc[rows[0], "status"] == "completed"
    dup = pos[pos.duplicated(keep=False) & (pos["status"] == "completed")]
    web = pd.read_json(small.landing / "orders" / BULK / "web_orders.jsonl", lines=True, dtype=False)
    dup_web = web[web.duplicated(keep=False) & (web["status"] == "completed")]
    assert len(dup) + len(dup_web) >= 2


def test_order_lines_parquet_types_and_totals(small):
    t = pq.read_table(small.landing / "order_lines" / BULK / "order_lines.parquet")
    assert t.schema.field("line_no").type == pa.int64()
    assert t.schema.field("quantity").type == pa.int64()
    assert t.schema.field("unit_price").type == pa.float64()
    assert t.schema.field("warranty_until").type == pa.date32()
    lines = t.to_pandas()
    good = lines[lines["quantity"] > 0]
    per_order = (good["quantity"] * good["unit_price"]).groupby(good["order_id"]).sum().round(2)
    truth = small.orders_truth.set_index("order_id")["total_amount"]
    common = per_order.index.intersection(truth.index)
    assert len(common) > 0.95 * len(per_order)
    assert (per_order[common] - truth[common]).abs().max() < 0.01


def test_web_events_consents_tickets_products(small):
    ev = pd.read_json(small.landing / "web_events" / BULK / "web_events.jsonl", lines=True, dtype=False)
    assert set(ev["event_type"]) == {"login", "page_view", "search"}
    terms = ev["search_term"].dropna()
    assert terms.str.contains(r"[\u0E00-\u0E7F]").any() and terms.str.fullmatch(r"[ -~]+").any()
    assert ev.loc[ev["event_type"] == "search", "search_term"].notna().all()
    cons = pd.read_csv(small.landing / "consents" / BULK / "consents.csv", dtype=str)
    assert set(cons["channel"]) == {"email", "sms", "phone", "dm", "ads", "all"}
    assert set(cons["status"]) == {"opt_in", "opt_out"}
    tk = pd.read_csv(small.landing / "support_tickets" / BULK / "support_tickets.csv", dtype=str)
    assert set(tk["status"]) <= {"open", "closed"} and len(tk) > 50
    assert tk.loc[tk["status"] == "open", "closed_at"].isna().all()
    pr = pd.read_csv(small.landing / "products" / BULK / "products.csv", dtype=str)
    assert pr["product_id"].is_unique and len(pr) > 100


def test_today_partition_is_one_day_of_activity(small):
    pos = pd.read_csv(small.landing / "orders" / TODAY / "pos_orders.csv", dtype=str)
    web = pd.read_json(small.landing / "orders" / TODAY / "web_orders.jsonl", lines=True, dtype=False)
    pos_ts = be_to_datetime(pos["ordered_at"]).dropna()
    web_ts = pd.to_datetime(web["ordered_at"], format="%Y-%m-%dT%H:%M:%S", errors="coerce").dropna()
    completed_today = pos_ts[pos["status"] != "refunded"]
    assert (completed_today.dt.date == AS_OF).all()
    assert (web_ts[web["status"] != "refunded"].dt.date == AS_OF).all()
    bulk_pos = pd.read_csv(small.landing / "orders" / BULK / "pos_orders.csv", dtype=str)
    bulk_ts = be_to_datetime(bulk_pos["ordered_at"]).dropna()
    assert bulk_ts.max().date() <= AS_OF - timedelta(days=1)
    ev = pd.read_json(small.landing / "web_events" / TODAY / "web_events.jsonl", lines=True, dtype=False)
    ev_ts = pd.to_datetime(ev["occurred_at"], format="%Y-%m-%dT%H:%M:%S", errors="coerce").dropna()
    assert len(ev_ts) > 0 and (ev_ts.dt.date == AS_OF).all()
    # updated customer records: known ids re-sent with today's updated_at
    today = pd.read_csv(
        small.landing / "customers" / TODAY / "pos_customers.csv", encoding="cp874", dtype=str
    )
    bulk = pd.read_csv(small.landing / "customers" / BULK / "pos_customers.csv", encoding="cp874", dtype=str)
    webt = pd.read_json(small.landing / "customers" / TODAY / "web_customers.jsonl", lines=True, dtype=False)
    webb = pd.read_json(small.landing / "customers" / BULK / "web_customers.jsonl", lines=True, dtype=False)
    resent = set(today["source_customer_id"]) & set(bulk["source_customer_id"].dropna())
    resent |= set(webt["source_customer_id"]) & set(webb["source_customer_id"].dropna())
    assert resent, "expected some updated customer records today"
    new = (set(today["source_customer_id"]) - set(bulk["source_customer_id"].dropna())) | (
        set(webt["source_customer_id"]) - set(webb["source_customer_id"].dropna())
    )
    assert new, "expected a few new customers today"


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    def run(name, seed):
        out = tmp_path / name / "landing"
        generate(customers=400, seed=seed, out=out, as_of=AS_OF, truth_dir=tmp_path / name / "truth")
        return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}, {
            p.name: p.read_bytes() for p in sorted((tmp_path / name / "truth").iterdir())
        }

    a, ta = run("a", 11)
    b, tb = run("b", 11)
    c, _ = run("c", 12)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == b[k], f"{k} differs between two runs with the same seed"
    assert ta == tb
    assert any(a[k] != c.get(k) for k in a)
