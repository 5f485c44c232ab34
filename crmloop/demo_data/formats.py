"""Vectorised value formatting (phones, dates, amounts) and deterministic file writers."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import xlsxwriter

EXCEL_EPOCH_DAYS = -25569  # 1899-12-30 relative to 1970-01-01


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


_D4T = np.array(
    [[48 + i // 1000, 48 + i // 100 % 10, 48 + i // 10 % 10, 48 + i % 10] for i in range(10_000)],
    dtype=np.uint8,
).T.copy()  # (4, 10000): digit position x value


def _digit_rows(v: np.ndarray, width: int) -> list[np.ndarray]:
    """The ASCII digits of v, zero-padded to width: one contiguous uint8 row per position."""
    rows = []
    right = width
    while right > 0:
        w = right % 4 or 4
        right -= w
        chunk = (v // (10**right)) % 10_000 if right else v % 10_000
        rows += [_D4T[j][chunk] for j in range(4 - w, 4)]
    return rows


def _digit_bytes(v: np.ndarray, width: int) -> np.ndarray:
    """(n, width) ASCII digits of v, zero-padded."""
    return np.stack(_digit_rows(v, width), axis=1)


def _from_matrix(mat: np.ndarray) -> pa.Array:
    mat = np.ascontiguousarray(mat, dtype=np.uint8)
    n, width = mat.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(mat)).cast(pa.string())


def fixed_text(*parts) -> pa.Array:
    """Fixed-width text from literal ASCII strings and (int array, width) digit groups, built as a byte
    matrix: much faster than strftime or string joins. fixed_text((day, 2), "/", (month, 2)) -> "05/02"."""
    n = next(len(p[0]) for p in parts if not isinstance(p, str))
    rows: list = []
    for part in parts:
        if isinstance(part, str):
            rows += [int(b) for b in part.encode("ascii")]
        else:
            rows += _digit_rows(np.asarray(part[0], dtype=np.int64), part[1])
    mat = np.empty((len(rows), n), dtype=np.uint8)
    for i, r in enumerate(rows):
        mat[i] = r
    return _from_matrix(mat.T)


def _civil(seconds: np.ndarray):
    """(year, month, day, hour, minute, second) of epoch seconds, by integer arithmetic (proleptic Gregorian)."""
    sec = np.asarray(seconds, dtype=np.int64)
    z = sec // 86400 + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    tod = sec % 86400
    return year, month, day, tod // 3600, tod // 60 % 60, tod % 60


def iso_ts(seconds: np.ndarray, sep: str = " ") -> pa.Array:
    y, mo, d, h, mi, s_ = _civil(seconds)
    return fixed_text((y, 4), "-", (mo, 2), "-", (d, 2), sep, (h, 2), ":", (mi, 2), ":", (s_, 2))


def iso_date(days: np.ndarray) -> pa.Array:
    y, mo, d, *_ = _civil(np.asarray(days, dtype=np.int64) * 86400)
    return fixed_text((y, 4), "-", (mo, 2), "-", (d, 2))


def be_date(days: np.ndarray) -> pa.Array:
    """DD/MM/YYYY with a Buddhist-Era year (CE + 543)."""
    y, mo, d, *_ = _civil(np.asarray(days, dtype=np.int64) * 86400)
    return fixed_text((d, 2), "/", (mo, 2), "/", (y + 543, 4))


def ce_date(days: np.ndarray) -> pa.Array:
    """DD/MM/YYYY with a Common-Era year."""
    y, mo, d, *_ = _civil(np.asarray(days, dtype=np.int64) * 86400)
    return fixed_text((d, 2), "/", (mo, 2), "/", (y, 4))


def be_datetime(seconds: np.ndarray) -> pa.Array:
    """DD/MM/YYYY HH:MM with a Buddhist-Era year."""
    y, mo, d, h, mi, _ = _civil(seconds)
    return fixed_text((d, 2), "/", (mo, 2), "/", (y + 543, 4), " ", (h, 2), ":", (mi, 2))


def excel_serial(seconds: np.ndarray) -> np.ndarray:
    """Excel serial day numbers (1900 date system) as float: days since 1899-12-30."""
    return np.asarray(seconds, dtype=np.float64) / 86400.0 - EXCEL_EPOCH_DAYS


# ---------------------------------------------------------------- amounts
def _amount_text(whole: np.ndarray, frac: np.ndarray, commas: bool) -> pa.Array:
    """'1,234,567.50' (commas) or '1234567.50', whole < 10**9, via a byte matrix and one left-trim."""
    g3, g2, g1 = whole // 1_000_000 % 1000, whole // 1000 % 1000, whole % 1000
    digits = np.maximum(1, np.floor(np.log10(np.maximum(whole, 1))).astype(np.int64) + 1)
    if commas:
        mat = np.concatenate(
            [
                _digit_bytes(g3, 3),
                np.full((whole.size, 1), 44, np.uint8),
                _digit_bytes(g2, 3),
                np.full((whole.size, 1), 44, np.uint8),
                _digit_bytes(g1, 3),
            ],
            axis=1,
        )
        keep = digits + (digits - 1) // 3
    else:
        mat = _digit_bytes(whole, 9)
        keep = digits
    lead = mat.shape[1] - keep
    mat[np.arange(mat.shape[1])[None, :] < lead[:, None]] = 32
    full = np.concatenate([mat, np.full((whole.size, 1), 46, np.uint8), _digit_bytes(frac, 2)], axis=1)
    return pc.ascii_ltrim_whitespace(_from_matrix(full))


def thousands(whole: np.ndarray) -> pa.Array:
    """Integers formatted with thousands separators: 1234567 -> '1,234,567' (0 <= value < 10**9)."""
    v = np.asarray(whole, dtype=np.int64)
    return slice_(_amount_text(v, np.zeros_like(v), True), 0, -3)


def format_amount(amount: np.ndarray, style: np.ndarray) -> pa.Array:
    """style 0: '1,234.50'; 1: '฿1,234' (decimals only when not whole); 2: '1234.50'."""
    cents = np.round(np.asarray(amount, dtype=np.float64) * 100).astype(np.int64)
    whole, frac = cents // 100, cents % 100
    style = np.asarray(style)
    if (style == 2).all():
        return _amount_text(whole, frac, False)
    with_commas = _amount_text(whole, frac, True)
    baht = join("฿", pc.if_else(pa.array(frac == 0), slice_(with_commas, 0, -3), with_commas))
    return choose(style, with_commas, baht, _amount_text(whole, frac, False))


# ---------------------------------------------------------------- writers
def write_csv(
    table: pa.Table, path: Path, encoding: str = "utf-8", bom: bool = False, chunk_rows: int = 250_000
) -> int:
    """CSV (strings quoted, empty field = null) in `encoding`, written in chunks to bound memory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    utf8 = encoding.lower().replace("-", "") == "utf8"
    with path.open("wb") as fh:
        if bom:
            fh.write(b"\xef\xbb\xbf")
        for i, start in enumerate(range(0, max(table.num_rows, 1), chunk_rows)):
            opts = pacsv.WriteOptions(quoting_style="needed", include_header=i == 0)
            buf = io.BytesIO()
            pacsv.write_csv(table.slice(start, chunk_rows), buf, write_options=opts)
            data = buf.getvalue()
            fh.write(data if utf8 else data.decode("utf-8").encode(encoding))
    return path.stat().st_size


def _json_values(col: pa.Array) -> pa.Array:
    """JSON text of each value (strings quoted and escaped, numbers as is, null as null)."""
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        esc = col
        if pc.any(pc.match_substring(col, "\\")).as_py():
            esc = pc.replace_substring(esc, "\\", "\\\\")
        if pc.any(pc.match_substring(col, '"')).as_py():
            esc = pc.replace_substring(esc, '"', '\\"')
        return pc.fill_null(join('"', esc, '"'), "null")
    if pa.types.is_boolean(col.type):
        return pc.fill_null(pc.if_else(col, "true", "false"), "null")
    return pc.fill_null(col.cast(pa.string()), "null")


def write_jsonl(table: pa.Table, path: Path, chunk_rows: int = 250_000) -> int:
    """One JSON object per line, built with Arrow string kernels (no per-row Python)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    names = table.column_names
    size = 0
    with path.open("wb") as fh:
        for start in range(0, table.num_rows, chunk_rows):
            part = table.slice(start, chunk_rows).combine_chunks()
            pieces: list = []
            for i, name in enumerate(names):
                key = ("{" if i == 0 else ",") + '"' + name + '":'
                pieces += [key, _json_values(part.column(name).combine_chunks())]
            lines = join(*pieces, "}\n")
            data = _concat_bytes(lines)
            fh.write(data)
            size += len(data)
    return size


def write_parquet(table: pa.Table, path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    return path.stat().st_size


def _concat_bytes(arr: pa.Array) -> bytes:
    """All strings of a null-free string array, concatenated (straight from the Arrow buffers)."""
    arr = pa.concat_arrays([arr.cast(pa.large_string())]) if len(arr) else pa.array([], pa.large_string())
    if len(arr) == 0:
        return b""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    return arr.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]]


_CREATED = datetime(2020, 1, 1)  # the workbook's creation date: fixed, so a seed gives the same bytes
_NUM_FORMATS = {"date": "dd/mm/yyyy", "datetime": "dd/mm/yyyy hh:mm"}


def write_xlsx(
    header: Sequence[str],
    columns: Sequence[pa.Array],
    kinds: Sequence[str],
    path: Path,
    sheet: str = "Sheet1",
    chunk_rows: int = 100_000,
) -> int:
    """A deterministic XLSX from Arrow arrays, by XlsxWriter in constant-memory mode (inline strings).

    kinds per column: "text" (a string cell, never type-detected), "number", "date" or
    "datetime" (Excel serial numbers with a dd/mm/yyyy [hh:mm] format). Nulls are empty cells.
    Rows are converted from Arrow in chunks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    wb.set_properties({"created": _CREATED})
    ws = wb.add_worksheet(sheet)
    formats = [wb.add_format({"num_format": _NUM_FORMATS[k]}) if k in _NUM_FORMATS else None for k in kinds]
    for j, h in enumerate(header):
        ws.write_string(0, j, h)
    writers = [ws.write_string if kind == "text" else ws.write_number for kind in kinds]
    n = len(columns[0]) if columns else 0
    for start in range(0, n, chunk_rows):
        size = min(chunk_rows, n - start)
        values = [
            (
                col.slice(start, size).cast(pa.string()) if kind == "text" else col.slice(start, size)
            ).to_pylist()
            for col, kind in zip(columns, kinds, strict=True)
        ]
        for i in range(size):
            row = start + i + 1
            for j, vals in enumerate(values):
                if vals[i] is not None:
                    writers[j](row, j, vals[i], formats[j])
    wb.close()
    return path.stat().st_size
