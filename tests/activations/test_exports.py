from __future__ import annotations

import csv
import hashlib
import json
import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
from openpyxl import load_workbook

from activations.audiences.prepare import prepare_messages
from activations.exports.files import CHANNEL_COLUMNS, CSV_NAMES, csv_safe, write_exports
from tests.activations.plan_fixture import DAILY_PLAN_PATH
from tests.activations.profiles_fixture import AS_OF, standard_rows, write_profiles

PLAN_PATH = DAILY_PLAN_PATH  # the mechanics after entry; journeys: test_journeys.py
SEND = date(2026, 11, 22)
BKK = ZoneInfo("Asia/Bangkok")


def _prepared(tmp_path: Path, now=None):
    wh = write_profiles(tmp_path / "w.duckdb", standard_rows(20))
    return prepare_messages(wh, PLAN_PATH, AS_OF, SEND, now or datetime(2026, 11, 22, 23, 0, tzinfo=BKK))


def test_exports_layout_thai_bom_checksums(tmp_path: Path):
    prepared = _prepared(tmp_path)
    out = tmp_path / "exports"
    manifests = write_exports(prepared, out)
    assert set(manifests) == {"vip_party", "regular_winback", "new_thank_you", "prospect_welcome"}
    vip_dir = out / "2026-11-22" / "vip_party"
    assert sorted(p.name for p in vip_dir.iterdir()) == [
        "direct_mail_list.csv", "manifest.json", "phone_call_list.csv", "vip_party.xlsx",
    ]  # fmt: skip
    for cid, camp in prepared.campaigns.items():
        folder = out / "2026-11-22" / cid
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        assert manifest == manifests[cid]
        for f in manifest["files"]:
            data = (folder / f["name"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["bytes"]
        for ch, batch in camp.channels.items():
            assert manifest["counts"][ch]["eligible"] == batch.eligible
            assert manifest["counts"][ch]["audience"] == (
                batch.holdout + manifest["counts"][ch]["suppressed_total"] + batch.eligible
            )
            path = folder / CSV_NAMES[ch]
            raw = path.read_bytes()
            assert raw.startswith(b"\xef\xbb\xbf")
            df = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
            assert list(df.columns) == [c[0] for c in CHANNEL_COLUMNS[ch]]
            assert len(df) == batch.eligible
            assert df["send_id"].tolist() == [m.send_id for m in batch.messages]
            names = df["first_name"].tolist()
            assert names == [m.fields["first_name"] for m in batch.messages]
            assert any("\u0e00" <= c <= "\u0e7f" for n in names for c in n)  # Thai intact


def test_xlsx_sheets_columns_and_thai(tmp_path: Path):
    prepared = _prepared(tmp_path)
    write_exports(prepared, tmp_path / "exports")
    xlsx = tmp_path / "exports" / "2026-11-22" / "prospect_welcome" / "prospect_welcome.xlsx"
    wb = load_workbook(xlsx, read_only=True)
    assert wb.sheetnames == ["email", "sms", "ads", "columns"]
    camp = prepared.campaigns["prospect_welcome"]
    email_title = list(wb["email"].iter_rows(values_only=True))[0][0]
    assert (
        email_title == "Welcome campaign (prospect_welcome) · email list · send date 2026-11-22 · 20 people"
    )
    for ch in ("email", "sms", "ads"):
        rows = list(wb[ch].iter_rows(values_only=True))
        assert rows[0][0].endswith(f" · {camp.channels[ch].eligible} people")  # the title row
        assert list(rows[1]) == [c[0] for c in CHANNEL_COLUMNS[ch]]
        assert len(rows) - 2 == camp.channels[ch].eligible
    sms_rows = list(wb["sms"].iter_rows(values_only=True))
    header = sms_rows[1]
    first = dict(zip(header, sms_rows[2], strict=True))
    msg = camp.channels["sms"].messages[0]
    assert first["sms_text"] == msg.sms_body
    texts = [dict(zip(header, r, strict=True))["sms_text"] for r in sms_rows[2:]]
    assert any("ซื้อครั้งแรกรับของขวัญฟรี" in t for t in texts)
    assert first["not_before"] == "2026-11-23T08:00:00+07:00"  # queued by quiet hours
    assert "email" not in header and "subject" not in header  # only the columns SMS needs
    described = [(r[0], r[1]) for r in list(wb["columns"].iter_rows(values_only=True))[2:]]
    assert ("sms", "sms_segments") in described and ("email", "subject") in described
    wb.close()
    df = pd.read_excel(xlsx, sheet_name="email", dtype=str, header=1)  # below the title row
    assert df["subject"].str.contains("ยินดีต้อนรับ").any()
    vip = tmp_path / "exports" / "2026-11-22" / "vip_party"
    mail = pd.read_csv(vip / "direct_mail_list.csv", encoding="utf-8-sig", dtype=str)
    assert {"address", "district", "province", "postal_code", "mailing_address"} <= set(mail.columns)
    assert mail["province"].eq("กรุงเทพมหานคร").all()
    calls = pd.read_csv(vip / "phone_call_list.csv", encoding="utf-8-sig", dtype=str)
    assert calls["phone"].str.startswith("+66").all() and "call_script" in calls


def test_rerun_replaces_files(tmp_path: Path):
    prepared = _prepared(tmp_path)
    out = tmp_path / "exports"
    write_exports(prepared, out)
    folder = out / "2026-11-22" / "new_thank_you"
    (folder / "stale.csv").write_text("old", encoding="utf-8")
    first = (folder / "email.csv").read_bytes()
    write_exports(prepared, out)
    assert not (folder / "stale.csv").exists()
    assert (folder / "email.csv").read_bytes() == first
    assert not list(folder.glob("*.tmp"))
    with (folder / "email.csv").open(encoding="utf-8-sig", newline="") as fh:
        assert next(csv.reader(fh))[0] == "customer_id"


def test_an_empty_audience_exports_no_file_and_says_why(tmp_path: Path):
    from dataclasses import replace

    prepared = _prepared(tmp_path)
    out = tmp_path / "exports"
    write_exports(prepared, out)  # an earlier run of the same send date wrote files
    folder = out / "2026-11-22" / "new_thank_you"
    assert (folder / "email.csv").exists()
    thanks = prepared.campaigns["new_thank_you"]
    thanks.channels = {
        ch: replace(b, messages=[], holdout=0, suppressed={"opted_out": b.audience})
        for ch, b in thanks.channels.items()
    }
    welcome = prepared.campaigns["prospect_welcome"]
    emptied = next(ch for ch in welcome.channels if ch != "email")
    welcome.channels[emptied] = replace(welcome.channels[emptied], messages=[])
    manifests = write_exports(prepared, out)
    assert manifests["new_thank_you"]["files"] == [] and not folder.exists()
    why = manifests["new_thank_you"]["skipped"]
    assert why.startswith("empty audience: nobody is eligible on any channel") and "opted_out" in why
    # a campaign with other recipients keeps its files, without one for the empty channel
    names = {f["name"] for f in manifests["prospect_welcome"]["files"]}
    assert CSV_NAMES["email"] in names and CSV_NAMES[emptied] not in names
    assert not (out / "2026-11-22" / "prospect_welcome" / CSV_NAMES[emptied]).exists()
    assert manifests["prospect_welcome"]["counts"][emptied]["eligible"] == 0


EVIL = '=HYPERLINK("http://evil.example","click")'


def test_csv_cells_never_carry_formulas_xlsx_cells_are_text(tmp_path: Path):
    rows = standard_rows(20)
    for i, r in enumerate(rows):
        r["first_name"] = EVIL
        r["last_name"] = ["@SUM(A1:A9)", "+1+2", "-3+cmd|' /C calc'!A0", "\tx", "\rx"][i % 5]
        r["address"] = "=1+1"
    wh = write_profiles(tmp_path / "w.duckdb", rows)
    prepared = prepare_messages(wh, PLAN_PATH, AS_OF, SEND, datetime(2026, 11, 22, 23, 0, tzinfo=BKK))
    out = tmp_path / "exports"
    write_exports(prepared, out)
    csvs = sorted((out / "2026-11-22").glob("*/*.csv"))
    assert {p.name for p in csvs} >= {"email.csv", "direct_mail_list.csv", "phone_call_list.csv", "sms.csv"}
    phones = 0
    for path in csvs:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            table = list(csv.reader(fh))
        header, body = table[0], table[1:]
        assert body, path
        for row in body:
            cells = dict(zip(header, row, strict=True))
            assert cells["first_name"] == "'" + EVIL, path
            assert cells["last_name"].startswith("'"), path
            for col, value in cells.items():
                if col in ("mobile", "phone") and value.startswith("+"):
                    assert re.fullmatch(r"\+66\d{9}", value), (path, col, value)  # E.164 kept readable
                    phones += 1
                    continue
                assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (path, col, value)
    assert phones > 0
    for xlsx in (out / "2026-11-22").glob("*/*.xlsx"):
        wb = load_workbook(xlsx)  # not read-only: data_type tells a formula ("f") from text ("s")
        names = []
        for ws in wb.worksheets:
            if ws.title == "columns":  # describes the columns; no customer data
                continue
            rows = list(ws.iter_rows())
            header = next((i for i, r in enumerate(rows) if any(c.value == "first_name" for c in r)), None)
            col = next(j for j, c in enumerate(rows[header]) if c.value == "first_name")
            names += [r[col] for r in rows[header + 1 :]]
        bad = [
            (c.coordinate, c.value, c.data_type)
            for c in names
            if not (c.value == EVIL and c.data_type == "s")
        ]
        assert names and not bad, (xlsx, bad[:5])
        wb.close()


def test_csv_safe_rule():
    assert csv_safe("=1+1", "first_name") == "'=1+1"
    assert csv_safe("+66812345678", "mobile") == "+66812345678"
    assert csv_safe("+66812345678", "first_name") == "'+66812345678"
    assert csv_safe("+66 81=cmd", "phone") == "'+66 81=cmd"
    assert csv_safe("สมชาย", "first_name") == "สมชาย"
    assert csv_safe(3, "sms_segments") == 3
