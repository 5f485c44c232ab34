"""Workbooks for marketers, written by XlsxWriter in constant-memory mode (rows stream to disk,
so a million-row sheet keeps memory flat) and laid out to be read on screen and printed.

Each sheet: an optional bold title row (campaign, date, count), a header row that stays in view
(frozen panes) and is repeated on every printed page, column widths from the content (bounded),
wrapped text with row heights that show every line of multi-line cells (call scripts, letters),
and a page setup of A4 landscape, one page wide, with the title and page numbers in the footer.
Sheets continue on `name_2`, `name_3`, ... past Excel's row limit.

Values: text is always written with `write_string` (never XlsxWriter's type detection), so
identifiers, phones (+66...), leading zeros and formula-looking text stay exactly as given;
int/float become numbers, bool a boolean, None or "" an empty cell, anything else its `str()`.
"""

from __future__ import annotations

import math
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import xlsxwriter
from rich.cells import cell_len
from xlsxwriter.worksheet import Worksheet

MAX_ROWS = 1_048_576  # rows per sheet in Excel, title and header included
MIN_WIDTH, MAX_WIDTH = 8, 100  # column width bounds, in Excel character units
LINE_HEIGHT = 15.0  # points per text line (Excel's default row height for Calibri 11)
MAX_ROW_HEIGHT = 409.0  # Excel's largest row height, in points
TITLE_HEIGHT = 24.0
_WRAP_AT = MAX_WIDTH - 4  # characters per line assumed in a column at MAX_WIDTH (padding, glyph widths)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_EXACT_INT = 10**15  # Excel keeps 15 significant digits: larger integers are written as text


def _lines(text: str) -> list[int]:
    """The width of each line in character cells (rich's terminal measure: Thai vowel and tone
    marks take none, East-Asian wide characters two)."""
    return [cell_len(line) for line in text.split("\n")]


class MarketerWorkbook:
    """Write sheets one after another: `add_sheet(name, header, rows, title=...)`, then `close()`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        # the rows stream into temporary files until close(): ours, so a failed write removes them too
        self._tmpdir = tempfile.mkdtemp(prefix=".xlsx-", dir=self.path.parent)
        self._wb = xlsxwriter.Workbook(str(self.path), {"constant_memory": True, "tmpdir": self._tmpdir})
        self._sheets: list[str] = []
        self._closed = False
        self._title = self._wb.add_format({"bold": True, "font_size": 14, "valign": "vcenter"})
        self._header = self._wb.add_format(
            {"bold": True, "bg_color": "#D9E1F2", "bottom": 1, "valign": "top"}
        )
        self._cell = self._wb.add_format({"valign": "top"})
        self._wrap = self._wb.add_format({"valign": "top", "text_wrap": True})

    def __enter__(self) -> MarketerWorkbook:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:  # XlsxWriter writes the file only on close: a failed write leaves no file behind
            self._closed = True
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    def add_sheet(
        self,
        name: str,
        header: Sequence[str],
        rows: Iterable[Sequence[Any]],
        title: str | None = None,
        validations: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[str]:
        """Write a sheet (continued on `name_2`, `name_3`, ... past Excel's row limit); returns the sheet names.
        Invalid or repeated names raise XlsxWriter's InvalidWorksheetName / DuplicateWorksheetName.
        `validations`: header -> XlsxWriter `data_validation` options (e.g. a drop-down list), applied
        to that column's data rows."""
        unknown = [h for h in validations or {} if h not in header]
        if unknown:
            raise ValueError(f"sheet {name!r}: validation for unknown column {unknown[0]!r}")
        names: list[str] = []
        it = iter(rows)
        part = 1
        while True:
            sheet_name = name if part == 1 else f"{name}_{part}"[:31]
            ws = self._wb.add_worksheet(sheet_name)
            self._sheets.append(sheet_name)
            names.append(sheet_name)
            part_title = title if title is None or part == 1 else f"{title} (continued, part {part})"
            if not self._write_sheet(ws, header, it, part_title, validations or {}):
                return names
            part += 1

    def _write_sheet(
        self, ws: Worksheet, header: Sequence[str], it, title: str | None, validations: Mapping[str, Mapping]
    ) -> bool:
        """Write up to MAX_ROWS rows; True if the sheet filled up and rows may remain."""
        r = 0
        if title is not None:
            ws.set_row(0, TITLE_HEIGHT)
            ws.write_string(0, 0, title, self._title)
            r = 1
        head_row = r
        ws.set_row(head_row, LINE_HEIGHT)
        widths = [max(_lines(str(h))) for h in header]
        for c, h in enumerate(header):
            ws.write_string(r, c, str(h), self._header)
        full = False
        ncols = len(header)
        default_lines = 0
        for row in it:
            r += 1
            if len(row) != ncols:
                raise ValueError(f"sheet {ws.name!r} row {r + 1}: {len(row)} values for {ncols} columns")
            cells, lines = self._cells(row, widths)
            # Row heights that show every line. The first data row's height becomes the sheet's
            # default and only rows that differ get their own (XlsxWriter keeps every set_row in
            # memory): a list rendered from one template stays flat in memory however long it is.
            if not default_lines:
                default_lines = lines
                ws.set_default_row(_height(lines))
            elif lines != default_lines:
                ws.set_row(r, _height(lines))
            self._write_cells(ws, r, cells)
            if r + 1 >= MAX_ROWS:
                full = True
                break
        for c, w in enumerate(widths):
            ws.set_column(c, c, min(MAX_WIDTH, max(MIN_WIDTH, w + 2)))
        if r > head_row:
            for h, options in validations.items():
                c = list(header).index(h)
                if ws.data_validation(head_row + 1, c, r, c, dict(options)):
                    raise ValueError(
                        f"sheet {ws.name!r} column {h!r}: XlsxWriter refused the validation {options!r}"
                    )
        ws.freeze_panes(head_row + 1, 0)
        ws.repeat_rows(head_row)
        ws.set_landscape()
        ws.set_paper(9)  # A4
        ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.6)
        ws.fit_to_pages(1, 0)  # one page wide, as many pages tall as needed
        ws.hide_gridlines(0)  # gridlines on screen and on paper: callers tick rows off
        footer = (title or ws.name).replace("&", "&&")[:200]
        ws.set_footer(f"&L{footer}&RPage &P of &N")
        return full

    @staticmethod
    def _cells(row: Sequence[Any], widths: list[int]) -> tuple[list[tuple[int, Any, bool]], int]:
        """The cells to write (column, value, wrap) and the text lines the row needs; widens `widths`."""
        lines = 1
        cells: list[tuple[int, Any, bool]] = []
        for c, v in enumerate(row):
            if v is None or v == "":
                continue
            if isinstance(v, bool) or (isinstance(v, int | float) and _is_number(v)):
                cells.append((c, v, False))
                widths[c] = max(widths[c], len(str(v)))
                continue
            text = v if isinstance(v, str) else str(v)
            if text.isascii() and text.isprintable():  # the common case, measured in C: one line, clean
                widths[c] = max(widths[c], len(text))
                cells.append((c, text, len(text) + 2 > MAX_WIDTH))
                if len(text) + 2 > MAX_WIDTH:
                    lines = max(lines, math.ceil(len(text) / _WRAP_AT))
                continue
            text = _clean(text)
            line_widths = _lines(text)
            longest = max(line_widths)
            widths[c] = max(widths[c], longest)
            wrap = len(line_widths) > 1 or longest + 2 > MAX_WIDTH
            if wrap:
                # a line longer than the widest column wraps at about _WRAP_AT characters
                lines = max(lines, sum(max(1, math.ceil(w / _WRAP_AT)) for w in line_widths))
            cells.append((c, text, wrap))
        return cells, lines

    def _write_cells(self, ws: Worksheet, r: int, cells: list[tuple[int, Any, bool]]) -> None:
        for c, v, wrap in cells:
            if isinstance(v, bool):
                rc = ws.write_boolean(r, c, v, self._cell)
            elif not isinstance(v, str):
                rc = ws.write_number(r, c, v, self._cell)
            elif v.startswith("<r>") and v.endswith("</r>"):
                # constant-memory XlsxWriter writes such a string as raw rich-text XML: write it as
                # three escaped runs of one format instead, so the text stays the text
                rc = ws.write_rich_string(r, c, v[:1], v[1:2], v[2:], self._wrap if wrap else self._cell)
            else:
                rc = ws.write_string(r, c, v, self._wrap if wrap else self._cell)
            if rc:  # XlsxWriter returns a code instead of raising, e.g. -2: text over 32,767 characters cut
                raise ValueError(
                    f"sheet {ws.name!r} row {r + 1} column {c + 1}: XlsxWriter refused the value (code {rc})"
                )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if not self._sheets:
                raise ValueError("an XLSX needs at least one sheet")
            self._wb.close()
        finally:
            shutil.rmtree(self._tmpdir, ignore_errors=True)


def _height(lines: int) -> float:
    return min(MAX_ROW_HEIGHT, lines * LINE_HEIGHT)


def _clean(text: str) -> str:
    """Control characters removed: Excel cannot show them, and XlsxWriter's _xHHHH_ escape for them
    reads back literally in pandas and openpyxl."""
    return _CONTROL.sub("", text) if _CONTROL.search(text) else text


def _is_number(v: int | float) -> bool:
    if isinstance(v, int):
        return -_EXACT_INT < v < _EXACT_INT
    return math.isfinite(v)
