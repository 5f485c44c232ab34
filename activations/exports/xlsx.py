"""A small streaming XLSX writer (Office Open XML, SpreadsheetML) for large marketer lists.

openpyxl (without lxml) writes about 25,000 cells a second; a campaign of half a million
people needs millions of cells. This writer streams each sheet straight into the zip with
inline strings, so memory stays flat and speed is bound by compression. It writes text,
numbers, booleans and empty cells, a bold frozen header row and column widths; nothing else.
Files open in Excel, LibreOffice, openpyxl and pandas (the tests read them back).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

MAX_ROWS = 1_048_576  # rows per sheet in Excel, header included
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")

_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

_STYLES = (
    _XML_HEAD + f'<styleSheet xmlns="{_NS}">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def column_letter(i: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(65 + r) + out
    return out


def _text(v: str) -> str:
    if _ILLEGAL.search(v):
        v = _ILLEGAL.sub("", v)
    return escape(v)


def _cell(ref: str, v: Any, style: str = "") -> str:
    if v is None or v == "":
        return ""
    if isinstance(v, bool):
        return f'<c r="{ref}"{style} t="b"><v>{int(v)}</v></c>'
    if isinstance(v, int | float) and v == v and v not in (float("inf"), float("-inf")):
        return f'<c r="{ref}"{style}><v>{v!r}</v></c>'
    return f'<c r="{ref}"{style} t="inlineStr"><is><t xml:space="preserve">{_text(str(v))}</t></is></c>'


class XlsxWriter:
    """Write sheets one after another: `add_sheet(name, header, rows)`, then `close()`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._zip = zipfile.ZipFile(self.path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
        self._sheets: list[str] = []

    def __enter__(self) -> XlsxWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        elif self._zip.fp is not None:
            self._zip.close()  # a failed write leaves an incomplete file; the caller discards it

    def add_sheet(
        self,
        name: str,
        header: Sequence[str],
        rows: Iterable[Sequence[Any]],
        widths: Sequence[int] | None = None,
    ) -> list[str]:
        """Write a sheet (continued on `name_2`, `name_3`, ... past Excel's row limit); returns the sheet names."""
        if not name or len(name) > 31 or _BAD_SHEET_CHARS.search(name):
            raise ValueError(f"invalid sheet name {name!r} (1–31 characters, none of []:*?/\\)")
        refs = [column_letter(i) for i in range(len(header))]
        names: list[str] = []
        it = iter(rows)
        part = 1
        while True:
            sheet_name = name if part == 1 else f"{name}_{part}"[:31]
            if sheet_name in self._sheets:
                raise ValueError(f"sheet {sheet_name!r} written twice")
            self._sheets.append(sheet_name)
            names.append(sheet_name)
            full = self._write_sheet(len(self._sheets), header, refs, it, widths)
            if not full:
                return names
            part += 1

    def _write_sheet(self, index: int, header, refs, it, widths) -> bool:
        """Write up to MAX_ROWS rows; True if the sheet filled up and rows may remain."""
        cols = ""
        if widths:
            cols = "<cols>" + "".join(
                f'<col min="{i + 1}" max="{i + 1}" width="{w}" customWidth="1"/>' for i, w in enumerate(widths)
            ) + "</cols>"  # fmt: skip
        with self._zip.open(f"xl/worksheets/sheet{index}.xml", "w", force_zip64=True) as raw:
            buf: list[str] = [
                _XML_HEAD,
                f'<worksheet xmlns="{_NS}" xmlns:r="{_REL_NS}"><sheetViews><sheetView workbookViewId="0">'
                '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>'
                f"{cols}<sheetData>",
                '<row r="1">'
                + "".join(_cell(f"{r}1", h, ' s="1"') for r, h in zip(refs, header, strict=True))
                + "</row>",
            ]
            n = 1
            full = False
            for row in it:
                n += 1
                buf.append(
                    f'<row r="{n}">'
                    + "".join(_cell(f"{r}{n}", v) for r, v in zip(refs, row, strict=True))
                    + "</row>"
                )
                if len(buf) >= 2000:
                    raw.write("".join(buf).encode("utf-8"))
                    buf.clear()
                if n >= MAX_ROWS:
                    full = True
                    break
            buf.append("</sheetData></worksheet>")
            raw.write("".join(buf).encode("utf-8"))
        return full

    def close(self) -> None:
        if self._zip.fp is None:
            return
        if not self._sheets:
            self._zip.close()
            raise ValueError("an XLSX needs at least one sheet")
        n = len(self._sheets)
        z = self._zip
        z.writestr(
            "[Content_Types].xml",
            _XML_HEAD + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            + "".join(
                f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
                'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                for i in range(1, n + 1)
            )
            + "</Types>",
        )
        z.writestr(
            "_rels/.rels",
            _XML_HEAD + f'<Relationships xmlns="{_PKG_REL_NS}"><Relationship Id="rId1" '
            f'Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        z.writestr(
            "xl/workbook.xml",
            _XML_HEAD
            + f'<workbook xmlns="{_NS}" xmlns:r="{_REL_NS}"><sheets>'
            + "".join(
                f'<sheet name={quoteattr(s)} sheetId="{i}" r:id="rId{i}"/>'
                for i, s in enumerate(self._sheets, 1)
            )
            + "</sheets></workbook>",
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            _XML_HEAD
            + f'<Relationships xmlns="{_PKG_REL_NS}">'
            + "".join(
                f'<Relationship Id="rId{i}" Type="{_REL_NS}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                for i in range(1, n + 1)
            )
            + f'<Relationship Id="rId{n + 1}" Type="{_REL_NS}/styles" Target="styles.xml"/></Relationships>',
        )
        z.writestr("xl/styles.xml", _STYLES)
        z.close()
