from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from xlsxwriter.exceptions import DuplicateWorksheetName, InvalidWorksheetName

from activations.exports import xlsx as xlsx_mod
from activations.exports.xlsx import LINE_HEIGHT, MAX_WIDTH, MIN_WIDTH, MarketerWorkbook


def test_types_escaping_and_thai_read_back(tmp_path: Path):
    path = tmp_path / "t.xlsx"
    rows = [
        ["สมชาย ใจดี", 3, 2.5, True, None],
        ['<b>&"quotes"</b>', -1, 0.1, False, "ctrl\x01char\x0b"],
        ["  leading and trailing  ", 10**12, 1e-7, None, "line1\nline2"],
    ]
    with MarketerWorkbook(path) as xw:
        assert xw.add_sheet("data", ["name", "n", "x", "flag", "note"], rows) == ["data"]
        xw.add_sheet("อธิบาย", ["a"], [["ข"]])
    wb = load_workbook(path)
    assert wb.sheetnames == ["data", "อธิบาย"]
    got = [list(r) for r in wb["data"].iter_rows(values_only=True)]
    assert got[0] == ["name", "n", "x", "flag", "note"]
    assert got[1] == ["สมชาย ใจดี", 3, 2.5, True, None]
    assert got[2] == ['<b>&"quotes"</b>', -1, 0.1, False, "ctrlchar"]
    assert got[3] == ["  leading and trailing  ", 10**12, 1e-7, None, "line1\nline2"]
    assert wb["data"]["A1"].font.b and wb["data"].freeze_panes == "A2"
    df = pd.read_excel(path, sheet_name="data")
    assert df["name"].tolist()[0] == "สมชาย ใจดี" and len(df) == 3


def test_identifiers_phones_and_formula_text_stay_text(tmp_path: Path):
    path = tmp_path / "t.xlsx"
    values = ["0812345678", "+66812345678", "00123", "1e5", "=1+1", '=HYPERLINK("x")', "<r>x</r>", "TRUE"]
    with MarketerWorkbook(path) as xw:
        xw.add_sheet("ids", ["v", "big"], [[v, 12345678901234567] for v in values])
    ws = load_workbook(path)["ids"]
    cells = [(c.value, c.data_type) for c in ws["A"][1:]]
    assert cells == [(v, "s") for v in values]
    assert ws["B2"].value == "12345678901234567" and ws["B2"].data_type == "s"  # beyond Excel's 15 digits


def test_title_header_print_setup_and_frozen_panes(tmp_path: Path):
    path = tmp_path / "t.xlsx"
    with MarketerWorkbook(path) as xw:
        xw.add_sheet(
            "phone", ["customer_id", "phone"], [["C0000000001", "+66810000001"]], title="VIP & co · 1 person"
        )
    ws = load_workbook(path)["phone"]
    assert ws["A1"].value == "VIP & co · 1 person" and ws["A1"].font.b
    assert [c.value for c in ws[2]] == ["customer_id", "phone"] and ws["A2"].font.b
    assert ws.freeze_panes == "A3"
    assert ws.print_title_rows == "$2:$2"
    assert ws.page_setup.orientation == "landscape"
    assert ws.page_setup.paperSize == 9  # A4
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.page_setup.fitToWidth is None  # not written: the OOXML default, 1 page wide
    assert ws.page_setup.fitToHeight == 0  # as many pages tall as needed
    assert "VIP && co" in ws.oddFooter.left.text and "&P" in ws.oddFooter.right.text
    assert ws.print_options.gridLines


def test_widths_follow_content_within_bounds_and_multiline_cells_wrap(tmp_path: Path):
    script = "Hello Somchai, this is crmloop Store calling.\n" + "x" * 150 + "\nWill you join us?"
    path = tmp_path / "t.xlsx"
    with MarketerWorkbook(path) as xw:
        xw.add_sheet(
            "phone",
            ["customer_id", "n", "call_script", "thai"],
            [["C00000000012345", 1, script, "สวัสดีค่ะ คุณสมศรี"], ["C1", 2, "one line", None]],
        )
    ws = load_workbook(path)["phone"]
    widths = {c: ws.column_dimensions[c].width for c in "ABCD"}
    assert widths["A"] >= len("C00000000012345") + 2  # the whole customer id shows
    assert widths["B"] >= MIN_WIDTH and widths["B"] < 10
    assert widths["C"] >= MAX_WIDTH and widths["C"] < MAX_WIDTH + 1  # bounded
    assert widths["D"] < len("สวัสดีค่ะ คุณสมศรี") + 2  # Thai marks take no width
    assert ws["C2"].alignment.wrap_text and ws["C2"].alignment.vertical == "top"
    assert not ws["C3"].alignment.wrap_text
    # 1 + 2 (150 characters wrap once at a 100-wide column) + 1 lines, all shown
    assert ws.row_dimensions[2].height == 4 * LINE_HEIGHT
    assert ws.row_dimensions[3].height == LINE_HEIGHT
    assert ws.sheet_format.defaultRowHeight == 4 * LINE_HEIGHT  # the first data row's: no per-row entry


def test_sheet_continues_past_the_row_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(xlsx_mod, "MAX_ROWS", 4)  # header + 3 rows per sheet
    path = tmp_path / "t.xlsx"
    with MarketerWorkbook(path) as xw:
        names = xw.add_sheet("email", ["i"], ([i] for i in range(8)))
        titled = xw.add_sheet("sms", ["i"], ([i] for i in range(3)), title="SMS")  # title + header + 2
    assert names == ["email", "email_2", "email_3"]
    assert titled == ["sms", "sms_2"]
    wb = load_workbook(path, read_only=True)
    values = [r[0] for s in names for r in list(wb[s].iter_rows(values_only=True))[1:]]
    assert values == list(range(8))
    sms = [list(wb[s].iter_rows(values_only=True)) for s in titled]
    assert sms[0] == [("SMS",), ("i",), (0,), (1,)]
    assert sms[1] == [("SMS (continued, part 2)",), ("i",), (2,)]
    wb.close()


def test_bad_sheet_names_and_empty_workbook(tmp_path: Path):
    xw = MarketerWorkbook(tmp_path / "t.xlsx")
    with pytest.raises(InvalidWorksheetName):
        xw.add_sheet("a/b", ["x"], [])
    with pytest.raises(InvalidWorksheetName):
        xw.add_sheet("x" * 32, ["x"], [])
    xw.add_sheet("ok", ["x"], [])
    with pytest.raises(DuplicateWorksheetName):
        xw.add_sheet("ok", ["x"], [])
    xw.close()
    with pytest.raises(ValueError, match="at least one sheet"):
        MarketerWorkbook(tmp_path / "empty.xlsx").close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.xlsx"]  # no temporary rows left behind


def test_a_failed_write_leaves_no_file_and_no_temporary_rows(tmp_path: Path):
    def rows():
        yield ["a"]
        raise RuntimeError("render failed")

    with pytest.raises(RuntimeError, match="render failed"), MarketerWorkbook(tmp_path / "t.xlsx") as xw:
        xw.add_sheet("s", ["x"], rows())
    assert list(tmp_path.iterdir()) == []
    with (
        pytest.raises(ValueError, match="row 2: 2 values for 1 columns"),
        MarketerWorkbook(tmp_path / "u.xlsx") as xw,
    ):
        xw.add_sheet("s", ["x"], [["a", "b"]])
    assert list(tmp_path.iterdir()) == []


def test_a_validation_names_a_column_of_the_sheet(tmp_path: Path):
    with (
        pytest.raises(ValueError, match="validation for unknown column 'nope'"),
        MarketerWorkbook(tmp_path / "v.xlsx") as xw,
    ):
        xw.add_sheet("s", ["a"], [["x"]], validations={"nope": {"validate": "list", "source": ["y"]}})
