"""Vectorised value formatting (phones, dates, amounts) and deterministic file writers."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

EXCEL_EPOCH_DAYS = -25569  # 1899-12-30 relative to 1970-01-01
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def s(values) -> pa.Array:
    """A pyarrow string array from ints / numpy / lists."""
    arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values)
    return arr.cast(pa.string())


def join(*parts) -> pa.Array:
    """Element-wise concatenation of arrays and scalar strings."""
    return pc.binary_join_element_wise(*parts, "")


def zpad(ints: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(s(np.asarray(ints, dtype=np.int64)), width=width, padding="0")


def slice_(arr: pa.Array, start: int, stop: int) -> pa.Array:
    return pc.utf8_slice_codeunits(arr, start=start, stop=stop)


def choose(index: np.ndarray, *variants: pa.Array) -> pa.Array:
    return pc.choose(pa.array(np.asarray(index, dtype=np.int8)), *variants)


def with_nulls(arr: pa.Array, present: np.ndarray) -> pa.Array:
    return pc.if_else(pa.array(np.asarray(present, dtype=bool)), arr, pa.scalar(None, arr.type))


# ---------------------------------------------------------------- phones
PHONE_STYLES = ("dashed", "plain", "intl_spaced", "intl_plain", "spaced")


def format_mobile(nsn: np.ndarray, style: np.ndarray) -> pa.Array:
    """nsn: the 9-digit national number (e.g. 812345678). style indexes PHONE_STYLES."""
    d = s(np.asarray(nsn, dtype=np.int64))
    a, b, c = slice_(d, 0, 2), slice_(d, 2, 5), slice_(d, 5, 9)
    return choose(
        style,
        join("0", a, "-", b, "-", c),  # 081-234-5678
        join("0", d),  # 0812345678
        join("+66 ", a, " ", b, " ", c),  # +66 81 234 5678
        join("66", d),  # 66812345678
        join("0", a, " ", b, " ", c),  # 081 234 5678
    )


def format_landline(nsn: np.ndarray) -> pa.Array:
    """nsn: 8-digit Bangkok landline national number 2XXXXXXX -> 02-XXX-XXXX."""
    d = s(np.asarray(nsn, dtype=np.int64))
    return join("0", slice_(d, 0, 1), "-", slice_(d, 1, 4), "-", slice_(d, 4, 8))


# ---------------------------------------------------------------- emails
def vary_email(email: pa.Array, style: np.ndarray) -> pa.Array:
    """0 as-is, 1 Capitalised, 2 UPPER, 3 padded with spaces, 4 Title.Case."""
    return choose(
        style,
        email,
        pc.utf8_capitalize(email),
        pc.utf8_upper(email),
        join(" ", email, " "),
        pc.utf8_title(email),
    )


# ---------------------------------------------------------------- dates and times
def ts_array(seconds: np.ndarray) -> pa.Array:
    """Naive wall-clock timestamps from epoch seconds."""
    return pa.array(np.asarray(seconds, dtype="int64").astype("datetime64[s]")).cast(pa.timestamp("s"))


def iso_ts(seconds: np.ndarray, sep: str = " ") -> pa.Array:
    return pc.strftime(ts_array(seconds), format=f"%Y-%m-%d{sep}%H:%M:%S")


def iso_date(days: np.ndarray) -> pa.Array:
    return pc.strftime(ts_array(np.asarray(days, dtype=np.int64) * 86400), format="%Y-%m-%d")


def be_date(days: np.ndarray) -> pa.Array:
    """DD/MM/YYYY with a Buddhist-Era year (CE + 543)."""
    t = ts_array(np.asarray(days, dtype=np.int64) * 86400)
    return join(pc.strftime(t, format="%d/%m/"), s(pc.add(pc.year(t), 543)))


def be_datetime(seconds: np.ndarray) -> pa.Array:
    """DD/MM/YYYY HH:MM with a Buddhist-Era year."""
    t = ts_array(seconds)
    return join(pc.strftime(t, format="%d/%m/"), s(pc.add(pc.year(t), 543)), pc.strftime(t, format=" %H:%M"))


def excel_serial(seconds: np.ndarray) -> np.ndarray:
    """Excel serial day numbers (1900 date system) as float: days since 1899-12-30."""
    return np.asarray(seconds, dtype=np.float64) / 86400.0 - EXCEL_EPOCH_DAYS


# ---------------------------------------------------------------- amounts
def thousands(whole: np.ndarray) -> pa.Array:
    """Integers formatted with thousands separators: 1234567 -> '1,234,567' (non-negative)."""
    v = np.asarray(whole, dtype=np.int64)
    m, t, u = v // 1_000_000, (v // 1000) % 1000, v % 1000
    sm, st, su = s(m), s(t), s(u)
    pt, pu = zpad(t, 3), zpad(u, 3)
    big = join(sm, ",", pt, ",", pu)
    mid = join(st, ",", pu)
    return choose(np.where(v >= 1_000_000, 2, np.where(v >= 1000, 1, 0)), su, mid, big)


def format_amount(amount: np.ndarray, style: np.ndarray) -> pa.Array:
    """style 0: '1,234.50'; 1: '฿1,234' (decimals only when not whole); 2: '1234.50'."""
    cents = np.round(np.asarray(amount, dtype=np.float64) * 100).astype(np.int64)
    whole, frac = cents // 100, cents % 100
    dec = join(".", zpad(frac, 2))
    th = thousands(whole)
    baht = pc.if_else(pa.array(frac == 0), join("฿", th), join("฿", th, dec))
    return choose(style, join(th, dec), baht, join(s(whole), dec))


# ---------------------------------------------------------------- writers
def write_csv(table: pa.Table, path: Path, encoding: str = "utf-8", bom: bool = False) -> int:
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, write_options=pacsv.WriteOptions(quoting_style="needed"))
    data = buf.getvalue()
    if encoding.lower().replace("-", "") != "utf8":
        data = data.decode("utf-8").encode(encoding)
    if bom:
        data = b"\xef\xbb\xbf" + data
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return len(data)


def write_jsonl(table: pa.Table, path: Path, chunk_rows: int = 500_000) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with path.open("wb") as fh:
        for start in range(0, max(table.num_rows, 1), chunk_rows):
            part = table.slice(start, chunk_rows)
            if part.num_rows == 0:
                break
            df = part.to_pandas(types_mapper=None)
            text = df.to_json(orient="records", lines=True, force_ascii=False, date_format="iso")
            if not text.endswith("\n"):
                text += "\n"
            data = text.encode("utf-8")
            fh.write(data)
            size += len(data)
    return size


def write_parquet(table: pa.Table, path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    return path.stat().st_size


def _col_letter(i: int) -> str:
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(65 + r) + out
    return out


def _xml_escape(arr: pa.Array) -> pa.Array:
    arr = pc.replace_substring(arr, "&", "&amp;")
    arr = pc.replace_substring(arr, "<", "&lt;")
    return pc.replace_substring(arr, ">", "&gt;")


def _concat_bytes(arr: pa.Array) -> bytes:
    """All strings of a null-free string array, concatenated (straight from the Arrow buffers)."""
    arr = pa.concat_arrays([arr.cast(pa.large_string())]) if len(arr) else pa.array([], pa.large_string())
    if len(arr) == 0:
        return b""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1]
    return arr.buffers()[2].to_pybytes()[offsets[0]: offsets[-1]]


_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="dd/mm/yyyy"/>'
    '<numFmt numFmtId="165" formatCode="dd/mm/yyyy hh:mm"/></numFmts>'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '</styleSheet>'
)


def _xlsx_parts(sheet: str) -> dict[str, str]:
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    return {
        "[Content_Types].xml": head + (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            '<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            '</Types>'),
        "_rels/.rels": head + (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/>'
            '</Relationships>'),
        "xl/workbook.xml": head + (
            f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets>'
            f'<sheet name="{sheet}" sheetId="1" r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": head + (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{rel}/styles" Target="styles.xml"/>'
            '</Relationships>'),
        "xl/styles.xml": _STYLES,
    }


def write_xlsx(header: Sequence[str], columns: Sequence[pa.Array], kinds: Sequence[str], path: Path,
               sheet: str = "Sheet1") -> int:
    """A minimal, deterministic XLSX written straight from Arrow arrays (openpyxl is far too slow).

    kinds per column: "text" (inline string), "number", "date" or "datetime" (Excel serial
    numbers with a dd/mm/yyyy [hh:mm] format). Nulls are empty cells."""
    n = len(columns[0]) if columns else 0
    row_no = s(np.arange(2, n + 2))
    cells = []
    for j, (col, kind) in enumerate(zip(columns, kinds, strict=True)):
        ref = join('<c r="', _col_letter(j), row_no)
        if kind == "text":
            cell = join(ref, '" t="inlineStr"><is><t xml:space="preserve">', _xml_escape(col.cast(pa.string())),
                        "</t></is></c>")
        else:
            style = {"number": "", "date": ' s="1"', "datetime": ' s="2"'}[kind]
            cell = join(ref, f'"{style}><v>', col.cast(pa.string()), "</v></c>")
        cells.append(pc.fill_null(cell, ""))
    rows = join(join('<row r="', row_no, '">'), *cells, "</row>") if cells else pa.array([], pa.string())
    head_cells = "".join(
        f'<c r="{_col_letter(j)}1" t="inlineStr"><is><t>{h}</t></is></c>' for j, h in enumerate(header))
    sheet_xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        f'<row r="1">{head_cells}</row>'
    ).encode() + _concat_bytes(rows) + b"</sheetData></worksheet>"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in _xlsx_parts(sheet).items():
            zi = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zi, text.encode())
        zi = zipfile.ZipInfo("xl/worksheets/sheet1.xml", date_time=_ZIP_TIME)
        zi.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(zi, sheet_xml)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out.getvalue())
    return len(out.getvalue())


