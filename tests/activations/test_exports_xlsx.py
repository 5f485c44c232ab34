from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from activations.exports import xlsx as xlsx_mod
from activations.exports.xlsx import XlsxWriter, column_letter


def test_column_letters():
    assert [column_letter(i) for i in (0, 1, 25, 26, 27, 51, 52, 701, 702)] == [
        "A", "B", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA",
    ]  # fmt: skip


def test_types_escaping_and_thai_read_back(tmp_path: Path):
    path = tmp_path / "t.xlsx"
    rows = [
        ["สมชาย ใจดี", 3, 2.5, True, None],
        ['<b>&"quotes"</b>', -1, 0.1, False, "ctrl\x01char\x0b"],
        ["  leading and trailing  ", 10**12, 1e-7, None, "line1\nline2"],
    ]
    with XlsxWriter(path) as xw:
        assert xw.add_sheet("data", ["name", "n", "x", "flag", "note"], rows, [20, 8, 8, 8, 20]) == ["data"]
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


def test_sheet_continues_past_the_row_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(xlsx_mod, "MAX_ROWS", 4)  # header + 3 rows per sheet
    path = tmp_path / "t.xlsx"
    with XlsxWriter(path) as xw:
        names = xw.add_sheet("email", ["i"], ([i] for i in range(8)))
    assert names == ["email", "email_2", "email_3"]
    wb = load_workbook(path, read_only=True)
    values = [r[0] for s in names for r in list(wb[s].iter_rows(values_only=True))[1:]]
    assert values == list(range(8))
    wb.close()


def test_bad_sheet_names_and_empty_workbook(tmp_path: Path):
    xw = XlsxWriter(tmp_path / "t.xlsx")
    with pytest.raises(ValueError, match="invalid sheet name"):
        xw.add_sheet("a/b", ["x"], [])
    with pytest.raises(ValueError, match="invalid sheet name"):
        xw.add_sheet("x" * 32, ["x"], [])
    xw.add_sheet("ok", ["x"], [])
    with pytest.raises(ValueError, match="written twice"):
        xw.add_sheet("ok", ["x"], [])
    xw.close()
    with pytest.raises(ValueError, match="at least one sheet"):
        XlsxWriter(tmp_path / "empty.xlsx").close()
