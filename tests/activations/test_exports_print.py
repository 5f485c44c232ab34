"""The VIP call list as a marketer prints it: the XLSX rendered to PDF by LibreOffice headless.

Needs `soffice` (Debian libreoffice-calc-nogui) and `pdfinfo`/`pdftotext` (poppler-utils); .ci/run
installs them. Missing tools fail the test: they are not a reason to skip it."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from activations.audiences.prepare import prepare_messages
from activations.exports.files import CHANNEL_COLUMNS, write_exports
from activations.exports.xlsx import LINE_HEIGHT
from tests.activations.plan_fixture import DAILY_PLAN_PATH  # the whole VIP segment on the call list
from tests.activations.profiles_fixture import AS_OF, profile, write_profiles

pytestmark = pytest.mark.slow

SEND = date(2026, 11, 22)
PHONE_COLUMNS = [c[0] for c in CHANNEL_COLUMNS["phone"]]


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} not found: apt-get install libreoffice-calc-nogui poppler-utils (see .ci/run)"
    return path


def _vip_call_list(tmp_path: Path) -> tuple[Path, int]:
    rows = [profile(f"C{k:05d}", "VIP") for k in range(1, 516)]
    wh = write_profiles(tmp_path / "w.duckdb", rows)
    prepared = prepare_messages(
        wh, DAILY_PLAN_PATH, AS_OF, SEND, datetime(2026, 11, 22, 10, 0, tzinfo=ZoneInfo("Asia/Bangkok"))
    )
    write_exports(prepared, tmp_path / "exports")
    calls = prepared.campaigns["vip_party"].channels["phone"].eligible
    return tmp_path / "exports" / SEND.isoformat() / "vip_party" / "vip_party.xlsx", calls


def _words(pdf: Path, page: int) -> list[tuple[str, float, float]]:
    """(word, yMin, yMax) of one page, from pdftotext's bounding boxes."""
    out = subprocess.run(
        [_tool("pdftotext"), "-f", str(page), "-l", str(page), "-bbox", str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    body = out[out.index("<body>") : out.index("</body>") + len("</body>")]
    return [
        (w.text or "", float(w.get("yMin")), float(w.get("yMax"))) for w in ET.fromstring(body).iter("word")
    ]


def test_vip_call_list_prints_one_page_wide_with_every_script_line_visible(tmp_path: Path):
    xlsx, calls = _vip_call_list(tmp_path)
    assert calls > 450  # a list of the size the issue printed on 113 pages

    # What the file asks for, read back with openpyxl.
    ws = load_workbook(xlsx)["phone"]
    assert (
        ws["A1"].value
        == f"Exclusive party for VIP customers (vip_party) · call list · send date 2026-11-22 · {calls} people"
    )
    assert [c.value for c in ws[2]] == PHONE_COLUMNS
    assert ws.max_row == calls + 2
    assert ws.print_title_rows == "$2:$2" and ws.freeze_panes == "A3"
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.paperSize == 9
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToHeight == 0
    script_col = PHONE_COLUMNS.index("call_script") + 1
    for r in range(3, calls + 3):
        cell = ws.cell(r, script_col)
        assert cell.alignment.wrap_text, r
        assert cell.value.count("\n") == 2, (
            r
        )  # the plan's scripts have three lines, each shorter than the column
        # a row without its own height takes the sheet's default (XlsxWriter sets it from row 1)
        own = ws.row_dimensions[r].height
        height = ws.sheet_format.defaultRowHeight if own is None else own
        assert height == 3 * LINE_HEIGHT, r
    assert ws.column_dimensions["A"].width >= len("C00001") + 2

    # What LibreOffice prints.
    pdf_dir = tmp_path / "pdf"
    subprocess.run(
        [
            _tool("soffice"),
            f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",  # a private profile: parallel runs
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(pdf_dir),
            str(xlsx),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    pdf = pdf_dir / "vip_party.pdf"
    info = subprocess.run([_tool("pdfinfo"), str(pdf)], check=True, capture_output=True, text=True).stdout
    assert re.search(r"Page size:\s+841\.89 x 595\.3\d* pts \(A4\)", info), info  # A4 landscape
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    call_pages = [p for p in range(1, pages + 1) if "call list" in " ".join(w for w, *_ in _words(pdf, p))]
    assert call_pages == list(range(1, len(call_pages) + 1))  # the first sheet, in one run of pages
    # one page wide: every page shows the first and the last column (no page holds a right-hand strip),
    # at least 20 calls a page (without page setup, 463 calls took 113 pages)
    assert len(call_pages) <= math.ceil(calls / 20), len(call_pages)
    seen_ids: list[str] = []
    for p in call_pages:
        words = _words(pdf, p)
        text = [w for w, *_ in words]
        assert {PHONE_COLUMNS[0], PHONE_COLUMNS[-1]} <= set(text), p
        # every line of every English script lies inside its own row: above the next row's first cell
        ids = sorted((y0, w) for w, y0, _ in words if re.fullmatch(r"C\d{5}", w))
        seen_ids += [w for _, w in ids]
        tops = [y0 for y0, _ in ids]
        ends = [(y1, y0) for w, y0, y1 in words if w == "us?"]  # "... Will you join us?": the last word
        hellos = [w for w in text if w == "Hello"]
        assert ends and len(ends) == len(hellos), p
        for y1, y0 in ends:
            below = [t for t in tops if t > y0]
            if below:
                assert y1 <= min(below) + 0.5, (p, y0, y1, min(below))
    assert len(seen_ids) == calls and len(set(seen_ids)) == calls  # every call printed once
