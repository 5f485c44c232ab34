"""XlsxReader on cell kinds openpyxl does not write: error cells, rich and phonetic shared strings,
ISO date cells, the 1904 calendar, formulas with and without a cached value."""

import zipfile
from pathlib import Path

import pytest

from sources.readers import XlsxReader

_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def _workbook(path: Path, rows: str, shared: list[str], date1904: bool = False) -> Path:
    calendar = ' date1904="1"' if date1904 else ""
    parts = {
        "[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.sheet.main+xml"/>'
        f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_CT}.worksheet+xml"/>'
        f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_CT}.sharedStrings+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{_CT}.styles+xml"/></Types>',
        "_rels/.rels": f'<Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
        f'Type="{_R}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<workbook {_NS} xmlns:r="{_R}"><workbookPr{calendar}/>'
        '<sheets><sheet name="ข้อมูล" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{_PKG}">'
        f'<Relationship Id="rId1" Type="{_R}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{_R}/sharedStrings" Target="sharedStrings.xml"/>'
        f'<Relationship Id="rId3" Type="{_R}/styles" Target="styles.xml"/></Relationships>',
        "xl/sharedStrings.xml": f"<sst {_NS}>" + "".join(f"<si>{s}</si>" for s in shared) + "</sst>",
        "xl/styles.xml": f'<styleSheet {_NS}><numFmts count="1"><numFmt numFmtId="164" '
        'formatCode="dd/mm/yyyy hh:mm"/></numFmts><fonts count="1"><font/></fonts><fills count="1">'
        '<fill/></fills><borders count="1"><border/></borders><cellStyleXfs count="1"><xf/></cellStyleXfs>'
        '<cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/>'
        '<xf numFmtId="164" applyNumberFormat="1"/></cellXfs></styleSheet>',
        "xl/worksheets/sheet1.xml": f"<worksheet {_NS}><sheetData>{rows}</sheetData></worksheet>",
    }
    with zipfile.ZipFile(path, "w") as z:
        for name, text in parts.items():
            z.writestr(name, '<?xml version="1.0" encoding="UTF-8"?>' + text)
    return path


ROWS = (
    '<row r="2"><c r="B2" t="s"><v>0</v></c><c r="C2" t="s"><v>1</v></c><c r="D2" t="inlineStr">'
    '<is><t>when</t></is></c><c r="E2" t="inlineStr"><is><t>total</t></is></c></row>'
    '<row r="3"><c r="B3" t="e"><v>#N/A</v></c><c r="C3" t="s"><v>2</v></c><c r="D3" s="1"><v>45658</v></c>'
    '<c r="E3" t="str"><f>"1"&amp;"2"</f><v>12</v></c></row>'
    '<row r="5"><c r="B5" t="s"><v>3</v></c><c r="C5" t="inlineStr"><is><r><t>ri</t></r><r><t>ch &amp; co</t>'
    '</r></is></c><c r="D5" s="2"><v>45658.375</v></c><c r="E5"><f>SUM(A1:A2)</f></c></row>'
    '<row r="6"><c r="B6" t="e"><f>1/0</f><v>#DIV/0!</v></c><c r="E6"><v>1.5E3</v></c></row>'
)
SHARED = [
    "<t>id</t>",
    "<t>name</t>",
    '<r><t>สม</t></r><r><t>ชาย</t></r><rPh sb="0" eb="1"><t>PHONETIC</t></rPh>',
    "<t>0007</t>",
]


def _read(path: Path, **kw) -> tuple[list[str], list[tuple]]:
    rd = XlsxReader(path, **kw)
    out = []
    for b in rd.batches():
        cols = [c.to_pylist() for c in b.columns]
        formulas = {(pos, idx): f for pos, idx, f in b.uncomputed}
        for pos, rn in enumerate(b.row_numbers.to_pylist()):
            out.append((rn, [c[pos] for c in cols], {i: f for (p, i), f in formulas.items() if p == pos}))
    return rd.header, out


def test_cell_kinds_read_as_text(tmp_path):
    header, rows = _read(_workbook(tmp_path / "w.xlsx", ROWS, SHARED), header_row=2)
    assert header == ["", "id", "name", "when", "total"]  # column A is empty: positions kept
    assert rows == [
        # an error cell is no value; a formula with a cached value reads as that value
        (1, [None, None, "สมชาย", "2025-01-01 00:00:00", "12"], {}),
        # row 4 is empty: not a row, but numbering keeps the sheet's rows; the formula never computed
        (3, [None, "0007", "rich & co", "2025-01-01 09:00:00", None], {4: "SUM(A1:A2)"}),
        (4, [None, None, None, None, "1500"], {}),
    ]


def test_1904_calendar(tmp_path):
    _, rows = _read(_workbook(tmp_path / "w.xlsx", ROWS, SHARED, date1904=True), header_row=2)
    assert [r[1][3] for r in rows] == ["2029-01-02 00:00:00", "2029-01-02 09:00:00", None]


def test_sheet_and_header_errors_name_the_sheet(tmp_path):
    from sources.readers import ReadError

    path = _workbook(tmp_path / "w.xlsx", ROWS, SHARED)
    with pytest.raises(ReadError, match=r"sheet 'orders' not found \(sheets: ข้อมูล\)"):
        XlsxReader(path, sheet="orders")
    with pytest.raises(ReadError, match=r"no header row \(row 1 of sheet 'ข้อมูล' is empty\)"):
        XlsxReader(path)
