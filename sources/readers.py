"""Readers: one landing file → batches of raw string columns with 1-based data row numbers.

Every value leaves a reader as a string (or null), exactly as delivered; typing happens in the
normalisers. A file that cannot be read raises `ReadError` with a reason that names the problem.
"""

from __future__ import annotations

import codecs
import collections
import csv
import html
import io
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

STRING = pa.string()
BATCH_ROWS = 200_000
CSV_BLOCK_BYTES = 16 << 20
SAMPLE_BYTES = 1 << 20
TAIL_BYTES = 256 << 10
# One CSV record may run over several physical lines only inside quotes; a record that grows past
# this many characters is taken as an unterminated quote (see CsvReader._python_batches).
MAX_RECORD_CHARS = 64 << 20
# Python's csv module rejects a whole file at its first field over 128 KiB; field length is judged
# per value by ingestion instead (sources.ingest.MAX_FIELD_CHARS), so the module's own cap is lifted.
csv.field_size_limit(2**31 - 1)
EXTENSIONS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


class ReadError(Exception):
    """The whole file cannot be read; `str(exc)` is the reason."""


@dataclass
class RawBatch:
    names: list[str]  # the file's headers for these columns
    columns: list[pa.Array]  # string arrays, same length
    row_numbers: pa.Array  # int64, 1-based data row (header excluded)
    bad_rows: list[tuple[int, str, str]] = field(default_factory=list)  # (row, reason, raw text)
    # XLSX cells holding a formula Excel never computed (no cached value): (position in the
    # batch, column index, formula text); the row is quarantined if the column is mapped
    uncomputed: list[tuple[int, int, str]] = field(default_factory=list)

    @property
    def num_rows(self) -> int:
        return len(self.row_numbers)


def format_of(path: Path) -> str | None:
    return EXTENSIONS.get(path.suffix.lower())


def sniff_magic(head: bytes) -> str | None:
    """What the bytes say a file is, whatever its name."""
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    if head.startswith(b"%PDF"):
        return "pdf"
    return None


def detect_encoding(sample: bytes, final: bool = False) -> str:
    """`utf-8-sig` (BOM), `utf-8`, or `cp874` (TIS-620 superset) from a byte sample of the file.

    UTF-8 is strict, so Thai TIS-620 bytes (0xA1–0xFB) never pass as UTF-8; a sample that
    is neither is handed to charset-normalizer."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=final)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = sample.decode("cp874")
        if any("\u0e00" <= ch <= "\u0e7f" for ch in text):
            return "cp874"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        raise ReadError("cannot detect the text encoding (not UTF-8, not TIS-620/cp874)")
    return best.encoding


def _file_sample(path: Path) -> tuple[bytes, bytes, int]:
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(SAMPLE_BYTES)
        tail = b""
        if size > SAMPLE_BYTES + TAIL_BYTES:
            fh.seek(size - TAIL_BYTES)
            tail = fh.read()
    return head, tail, size


def _check_text(path: Path, fmt: str) -> tuple[bytes, str]:
    head, tail, size = _file_sample(path)
    if size == 0 or not head.strip():
        raise ReadError("empty file (no header, no rows)")
    magic = sniff_magic(head)
    if magic:
        raise ReadError(f"wrong format: named .{path.suffix.lstrip('.')} ({fmt}) but the content is {magic}")
    if b"\x00" in head[:65536]:
        raise ReadError(f"wrong format: binary content (NUL bytes), not {fmt} text")
    enc = detect_encoding(head, final=len(head) == size)
    if enc == "utf-8" and tail:
        # the tail may start mid-character: drop up to 3 leading continuation bytes
        t = tail
        while t and (t[0] & 0xC0) == 0x80:
            t = t[1:]
        try:
            t.decode("utf-8")
        except UnicodeDecodeError:
            enc = detect_encoding(t, final=True)
    return head, enc


# -------------------------------------------------------------------------------------------- CSV
def _sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else ","


class CsvReader:
    format = "csv"

    def __init__(self, path: Path, *, delimiter: str | None = None, encoding: str = "auto"):
        self.path = path
        head, det = _check_text(path, "csv")
        self.encoding = det if encoding == "auto" else encoding
        text = head.decode(self.encoding, errors="replace")
        if text.startswith("\ufeff"):
            text = text[1:]
        first = text.splitlines()[0] if text.splitlines() else ""
        self.delimiter = delimiter or _sniff_delimiter(first)
        try:
            header = next(csv.reader(io.StringIO(text), delimiter=self.delimiter))
        except (StopIteration, csv.Error) as exc:
            raise ReadError(f"no header row ({exc})") from None
        self.header = [h.strip() for h in header]
        if not any(self.header):
            raise ReadError("no header row (first line is blank)")

    def batches(self) -> Iterator[RawBatch]:
        """Arrow's streaming CSV reader; if it meets a malformed row (wrong column count,
        unterminated quote) it starts over with Python's csv module, which knows each row's
        number. `RestartFile` tells the caller to discard what it got so far."""
        invalid: list = []

        def handler(row):
            invalid.append(row)
            return "skip"

        names = [f"c{i}" for i in range(len(self.header))]
        arrow_enc = "utf8" if self.encoding in ("utf-8", "utf-8-sig") else self.encoding
        try:
            reader = pacsv.open_csv(
                self.path,
                read_options=pacsv.ReadOptions(
                    column_names=names, skip_rows=1, encoding=arrow_enc, block_size=CSV_BLOCK_BYTES
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=self.delimiter, newlines_in_values=True, invalid_row_handler=handler
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: STRING for n in names},
                    null_values=[""],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                ),
            )
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            if "Empty CSV file" in str(exc):
                return
            yield from self._python_batches()
            return
        row = 0
        try:
            for rb in reader:
                if invalid:
                    raise _Fallback
                n = rb.num_rows
                yield RawBatch(
                    list(self.header), list(rb.columns), pa.array(range(row + 1, row + n + 1), pa.int64())
                )
                row += n
            if invalid:
                raise _Fallback
        except (_Fallback, pa.ArrowInvalid, UnicodeDecodeError):
            if row:
                yield RestartFile()  # type: ignore[misc]
            yield from self._python_batches()

    def _python_batches(self) -> Iterator[RawBatch]:
        """Python's csv module, record by record, every record numbered. A record with the wrong
        shape that ran over several physical lines is an unterminated quote: its first line is
        the bad row (`malformed_row`) and the lines it swallowed are parsed again, so no row
        hides inside a broken one."""
        ncols = len(self.header)
        try:
            with self.path.open("r", encoding=self.encoding, newline="") as fh:
                lines = _Lines(fh)
                rd = csv.reader(lines, delimiter=self.delimiter)
                next(rd, None)
                rows: list[list[str]] = []
                nums: list[int] = []
                bad: list[tuple[int, str, str]] = []
                rn = 0
                while True:
                    lines.start()
                    try:
                        rec = next(rd)
                    except StopIteration:
                        break
                    except _RecordOverflow:
                        rec = None
                    taken = lines.taken
                    if rec is None or (len(rec) != ncols and len(taken) > 1):
                        rn += 1
                        first = taken[0].rstrip("\r\n")
                        bad.append(
                            (
                                rn,
                                f"unterminated quote: the record starting on this row ran over "
                                f"{len(taken)} lines; the following lines were read again as rows",
                                first[:2000],
                            )
                        )
                        lines.push_back(taken[1:])
                        rd = csv.reader(lines, delimiter=self.delimiter)  # fresh parser state
                        continue
                    if len(rec) == 0 or (len(rec) == 1 and rec[0] == "" and ncols > 1):
                        continue  # blank line: not a row
                    rn += 1
                    if len(rec) != ncols:
                        bad.append(
                            (
                                rn,
                                f"wrong column count: expected {ncols}, got {len(rec)}",
                                self.delimiter.join(rec)[:2000],
                            )
                        )
                    else:
                        rows.append(rec)
                        nums.append(rn)
                    if len(rows) >= BATCH_ROWS:
                        yield self._to_batch(rows, nums, bad)
                        rows, nums, bad = [], [], []
                if rows or bad:
                    yield self._to_batch(rows, nums, bad)
        except UnicodeDecodeError as exc:
            raise ReadError(f"not valid {self.encoding} text at byte {exc.start}") from None
        except csv.Error as exc:
            raise ReadError(f"CSV cannot be parsed: {exc}") from None

    def _to_batch(self, rows, nums, bad) -> RawBatch:
        cols = [
            pa.array([(r[i] if r[i] != "" else None) for r in rows], STRING) for i in range(len(self.header))
        ]
        return RawBatch(list(self.header), cols, pa.array(nums, pa.int64()), list(bad))


class _Fallback(Exception):
    pass


class _RecordOverflow(Exception):
    """One CSV record grew past MAX_RECORD_CHARS over several lines."""


class _Lines:
    """A text file's physical lines for csv.reader, remembering the lines of the current record
    and taking lines back to be parsed again."""

    def __init__(self, fh):
        self.fh = fh
        self.back: collections.deque[str] = collections.deque()
        self.taken: list[str] = []
        self.chars = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = self.back.popleft() if self.back else next(self.fh)
        self.taken.append(line)
        self.chars += len(line)
        if self.chars > MAX_RECORD_CHARS and len(self.taken) > 1:
            raise _RecordOverflow
        return line

    def start(self) -> None:
        self.taken, self.chars = [], 0

    def push_back(self, lines: list[str]) -> None:
        self.back.extendleft(reversed(lines))


class RestartFile:
    """Yielded by a reader that must start the file over: drop the rows received so far."""


# ------------------------------------------------------------------------------------------- XLSX
def cell_to_str(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v if v.strip() else None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return None
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, date | time):
        return v.isoformat()
    return str(v)


class UncomputedFormula(str):
    """A cell's formula text where the workbook holds no cached value (the writer never ran Excel's
    calculation): there is no value to load, and a null would hide that."""


_COL_CACHE: dict[str, int] = {}


def _col_index(ref: str) -> int:
    """0-based column of a cell reference (`AB12` -> 27)."""
    letters = ref.rstrip("0123456789")
    idx = _COL_CACHE.get(letters)
    if idx is None:
        idx = 0
        for ch in letters:
            idx = idx * 26 + (ord(ch.upper()) - 64)
        idx -= 1
        _COL_CACHE[letters] = idx
    return idx


def _number_to_str(v: str) -> str:
    """A cell's number as text: as written, but `12.0` → `12` and `1.5E3` → `1500`."""
    if v.endswith(".0"):
        return v[:-2]
    if "e" in v or "E" in v:
        f = float(v)
        return str(int(f)) if f.is_integer() and abs(f) < 1e15 else repr(f)
    return v


# One token per row start or cell: (row attrs) | (cell attrs, formula element, formula text,
# <v> text, fast inline text, other inline)
_TOKEN_RE = re.compile(
    r"<(?:\w+:)?row\b([^>]*?)/?>"
    r"|<(?:\w+:)?c\b(?: r=\"([A-Z]+)\d+\")?([^>]*?)(?:/>|>"
    r"(<(?:\w+:)?f\b[^>]*/>|<(?:\w+:)?f\b[^>]*>([^<]*)</(?:\w+:)?f>)?"
    r"(?:<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>"
    r"|<(?:\w+:)?v\s*/>"  # an empty value element: no cached value
    r"|<(?:\w+:)?is><(?:\w+:)?t\b[^>]*>([^<]*)</(?:\w+:)?t></(?:\w+:)?is>"
    r"|<(?:\w+:)?is>(.*?)</(?:\w+:)?is>)?"
    r"\s*</(?:\w+:)?c>)",
    re.S,
)
_T_RE = re.compile(r"<(?:\w+:)?t\b[^>/]*>(.*?)</(?:\w+:)?t>", re.S)
_RPH_RE = re.compile(r"<(?:\w+:)?rPh\b.*?</(?:\w+:)?rPh>", re.S)
_ROW_END = re.compile(rb"</(?:\w+:)?row>")


def _attr(attrs: str, name: str) -> str | None:
    i = attrs.find(f' {name}="')
    if i < 0:
        return None
    i += len(name) + 3
    return attrs[i : attrs.index('"', i)]


class _SheetStream:
    """Streams `(sheet row number, {column index: text})` from a worksheet's XML.

    openpyxl builds an object per cell (about 50 µs a cell); this keeps openpyxl's workbook,
    sheet lookup, shared strings and date styles, and reads the cells with compiled regexes over
    the sheet XML, chunk by chunk (cut at `</row>`), so memory stays flat."""

    def __init__(self, src, shared_strings, date_styles: set[int], epoch):
        self.src = src
        self.shared = shared_strings
        self.date_styles = date_styles
        self.epoch = epoch

    def _cell_value(self, attrs: str, v: str | None, inner: str | None) -> str | None:
        t = _attr(attrs, "t") or "n"
        if inner is not None:  # inline string with runs or phonetic parts
            inner = _RPH_RE.sub("", inner) if "rPh" in inner else inner
            val = "".join(_T_RE.findall(inner))
        else:
            val = v or ""
        if "&" in val:
            val = html.unescape(val)
        if t == "s":
            s = self.shared[int(val)] if val else None
            return None if s is None else str(s)
        if t in ("inlineStr", "str"):
            return val
        if t == "b":
            return "true" if val in ("1", "true") else "false"
        if t == "e":
            return None  # #N/A, #VALUE!, ...
        if t == "d":
            return val.replace("T", " ")
        if not val:
            return None
        style = _attr(attrs, "s")
        if style is not None and int(style) in self.date_styles:
            from openpyxl.utils.datetime import from_excel

            try:
                return cell_to_str(from_excel(float(val), self.epoch))
            except (ValueError, OverflowError):
                return _number_to_str(val)
        return _number_to_str(val)

    def _parse(self, text: str, out: list, last_row: int) -> int:
        cells: dict[int, str | None] | None = None
        col = -1
        for m in _TOKEN_RE.finditer(text):
            row_attrs, letters, attrs, formula, formula_text, v, t_fast, inner = m.groups()
            if row_attrs is not None:
                if cells is not None:
                    out.append((last_row, cells))
                r = _attr(row_attrs, "r")
                last_row = int(r) if r else last_row + 1
                cells, col = {}, -1
                if m.group(0).endswith("/>"):
                    out.append((last_row, cells))
                    cells = None
                continue
            if letters is not None:
                col = _COL_CACHE.get(letters)
                if col is None:
                    col = _col_index(letters)
            else:
                ref = _attr(attrs, "r")
                col = _col_index(ref) if ref else col + 1
            if cells is None:
                continue
            if t_fast is not None:  # <is><t>text</t></is>, the common inline string
                val = html.unescape(t_fast) if "&" in t_fast else t_fast
            elif v is None and inner is None:
                if formula is not None:  # a formula the writer never computed: no value to read
                    cells[col] = UncomputedFormula(html.unescape(formula_text or ""))
                continue
            else:
                val = self._cell_value(attrs, v, inner)
            if val is not None and val.strip():
                cells[col] = val
        if cells is not None:
            out.append((last_row, cells))
        return last_row

    def rows(self) -> Iterator[tuple[int, dict[int, str | None]]]:
        carry = b""
        last_row = 0
        while True:
            chunk = self.src.read(4 << 20)
            data = carry + chunk
            if not chunk:
                cut = len(data)
            else:
                ends = list(_ROW_END.finditer(data, max(0, len(carry) - 16)))
                if not ends:
                    carry = data
                    continue
                cut = ends[-1].end()
            piece, carry = data[:cut], data[cut:]
            out: list = []
            last_row = self._parse(piece.decode("utf-8"), out, last_row)
            yield from out
            if not chunk:
                break


_SHEET_RE = re.compile(r"<(?:\w+:)?sheet\b([^>]*)/?>")
_REL_RE = re.compile(r"<(?:\w+:)?Relationship\b([^>]*)/?>")
_SI_RE = re.compile(r"<(?:\w+:)?si>(.*?)</(?:\w+:)?si>|<(?:\w+:)?si/>", re.S)
_NUMFMT_RE = re.compile(r"<(?:\w+:)?numFmt\b([^>]*)/?>")
_CELLXFS_RE = re.compile(r"<(?:\w+:)?cellXfs\b[^>]*>(.*?)</(?:\w+:)?cellXfs>", re.S)
_XF_RE = re.compile(r"<(?:\w+:)?xf\b([^>]*)/?>")


def _any_attr(attrs: str, name: str) -> str | None:
    """An XML attribute by local name, whatever its prefix (`r:id`, `id`)."""
    m = re.search(r"(?:^|\s)(?:\w+:)?" + re.escape(name) + r'="([^"]*)"', attrs)
    return html.unescape(m.group(1)) if m else None


class XlsxReader:
    """XLSX, streamed: the workbook's structure (sheets, shared strings, date styles) is read
    with small regexes, the sheet's cells with `_SheetStream`; openpyxl supplies the date-format
    rules and serial conversion. (openpyxl's own read-only mode scans each sheet once at open
    and costs ~50 µs a cell: ~10x slower on a 100k-row export.) Cells become text: numbers as
    written (`812345678`, `45658.5`), date-formatted cells as ISO (`2025-01-02 09:00:00`).
    Fully empty rows are skipped but keep their place in the numbering:
    `_row_number` = sheet row − header row."""

    format = "xlsx"
    encoding = None

    def __init__(self, path: Path, *, sheet=None, header_row: int = 1):
        import zipfile
        import zlib

        self.path = path
        head = path.read_bytes()[:8] if path.stat().st_size else b""
        if not head:
            raise ReadError("empty file (0 bytes)")
        magic = sniff_magic(head)
        if magic != "xlsx":
            raise ReadError(
                f"wrong format: named .xlsx but the content is {magic or 'not an Excel workbook'}"
            )
        try:
            self._zip = zipfile.ZipFile(path)
            self._open_structure(sheet)
        except ReadError:
            raise
        except (zipfile.BadZipFile, zlib.error, KeyError, OSError, ValueError, EOFError, IndexError) as exc:
            raise ReadError(f"unreadable workbook (truncated or corrupt): {exc}") from None
        self.header_row = header_row
        self._rows = self._stream()
        header_cells = None
        try:
            for rn, cells in self._rows:
                if rn == header_row:
                    header_cells = cells
                    break
                if rn > header_row:
                    break
        except ReadError:
            self._zip.close()
            raise
        if not header_cells:
            self._zip.close()
            raise ReadError(f"no header row (row {header_row} of sheet {self.sheet_name!r} is empty)")
        width = max(header_cells) + 1
        self.header = [(header_cells.get(i) or "").strip() for i in range(width)]

    def _text(self, name: str) -> str | None:
        try:
            return self._zip.read(name).decode("utf-8")
        except KeyError:
            return None

    def _open_structure(self, sheet) -> None:
        from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format
        from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900

        wb = self._text("xl/workbook.xml")
        if wb is None:
            raise ReadError("unreadable workbook: no xl/workbook.xml (not an Excel workbook)")
        self.epoch = CALENDAR_MAC_1904 if re.search(r'date1904="(?:1|true)"', wb) else CALENDAR_WINDOWS_1900
        sheets = [(_any_attr(a, "name"), _any_attr(a, "id")) for a in _SHEET_RE.findall(wb)]
        if not sheets:
            raise ReadError("unreadable workbook: it has no sheets")
        names = [n for n, _ in sheets]
        if sheet is None:
            chosen = sheets[0]
        elif isinstance(sheet, int):
            if not 0 <= sheet < len(sheets):
                raise ReadError(f"sheet {sheet!r} not found (sheets: {', '.join(map(str, names))})")
            chosen = sheets[sheet]
        else:
            found = [x for x in sheets if x[0] == sheet]
            if not found:
                raise ReadError(f"sheet {sheet!r} not found (sheets: {', '.join(map(str, names))})")
            chosen = found[0]
        self.sheet_name = chosen[0]
        rels = {
            _any_attr(a, "Id"): _any_attr(a, "Target")
            for a in _REL_RE.findall(self._text("xl/_rels/workbook.xml.rels") or "")
        }
        target = rels.get(chosen[1])
        if not target:
            raise ReadError(f"unreadable workbook: sheet {self.sheet_name!r} has no part")
        self._sheet_part = target.lstrip("/") if target.startswith("/") else "xl/" + target
        sst = self._text("xl/sharedStrings.xml") or ""
        self._shared = []
        for m in _SI_RE.finditer(sst):
            inner = m.group(1) or ""
            if "rPh" in inner:
                inner = _RPH_RE.sub("", inner)
            val = "".join(_T_RE.findall(inner))
            self._shared.append(html.unescape(val) if "&" in val else val)
        styles = self._text("xl/styles.xml") or ""
        custom = {
            int(_any_attr(a, "numFmtId")): _any_attr(a, "formatCode") or ""
            for a in _NUMFMT_RE.findall(styles)
        }
        self._date_styles: set[int] = set()
        xfs = _CELLXFS_RE.search(styles)
        for i, a in enumerate(_XF_RE.findall(xfs.group(1) if xfs else "")):
            fid = int(_any_attr(a, "numFmtId") or 0)
            fmt = custom.get(fid, BUILTIN_FORMATS.get(fid, ""))
            if fmt and is_date_format(fmt):
                self._date_styles.add(i)

    def _stream(self) -> Iterator[tuple[int, dict[int, str | None]]]:
        import zipfile
        import zlib

        try:
            with self._zip.open(self._sheet_part) as src:
                yield from _SheetStream(src, self._shared, self._date_styles, self.epoch).rows()
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError, IndexError) as exc:
            raise ReadError(f"unreadable workbook (truncated or corrupt sheet): {exc}") from None

    def batches(self) -> Iterator[RawBatch]:
        n = len(self.header)
        cols: list[list[str | None]] = [[] for _ in range(n)]
        nums: list[int] = []
        uncomputed: list[tuple[int, int, str]] = []
        try:
            for rn, cells in self._rows:
                if rn <= self.header_row:
                    continue
                if not any(i < n for i in cells):
                    continue  # empty sheet rows are not rows
                for i in range(n):
                    v = cells.get(i)
                    if type(v) is UncomputedFormula:
                        uncomputed.append((len(nums), i, str(v)))
                        v = None
                    cols[i].append(v)
                nums.append(rn - self.header_row)
                if len(nums) >= 50_000:
                    yield RawBatch(
                        list(self.header),
                        [pa.array(c, STRING) for c in cols],
                        pa.array(nums, pa.int64()),
                        uncomputed=uncomputed,
                    )
                    cols = [[] for _ in range(n)]
                    nums, uncomputed = [], []
        finally:
            self._zip.close()
        if nums:
            yield RawBatch(
                list(self.header),
                [pa.array(c, STRING) for c in cols],
                pa.array(nums, pa.int64()),
                uncomputed=uncomputed,
            )


# ------------------------------------------------------------------------------------------ JSONL
def _json_value_to_str(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return json.dumps(v, ensure_ascii=False)


class JsonlReader:
    """One JSON object per line; blank lines are skipped (not rows); a line that is not a JSON
    object is a bad row (quarantined), the file still loads."""

    format = "jsonl"

    def __init__(self, path: Path):
        self.path = path
        self.header = None  # keys vary per line
        with path.open("rb") as fh:
            empty = not fh.read(4096).strip()
        if empty and path.stat().st_size < 4096:  # JSONL has no header: an empty file is zero rows
            self.encoding = "utf-8"
        else:
            _head, self.encoding = _check_text(path, "jsonl")

    def batches(self) -> Iterator[RawBatch]:
        """Arrow's JSON reader when every line parses and each field keeps one type (fields it
        would read as timestamps are kept as text); otherwise the file starts over line by
        line with Python's json, which quarantines each bad line with its number."""
        if self.encoding in ("utf-8", "utf-8-sig"):
            row = 0
            try:
                for rb in self._arrow_batches():
                    n = rb.num_rows
                    cols = [_arrow_to_str(c) for c in rb.columns]
                    yield RawBatch(
                        list(rb.schema.names), cols, pa.array(range(row + 1, row + n + 1), pa.int64())
                    )
                    row += n
                return
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                if row:
                    yield RestartFile()  # type: ignore[misc]
        yield from self._python_batches()

    def _arrow_batches(self):
        import pyarrow.json as pajson

        with self.path.open("rb") as fh:
            head = fh.read(1 << 20)
        cut = head.rfind(b"\n")
        head = head[: cut + 1] if cut >= 0 else head
        inferred = pajson.read_json(io.BytesIO(head)).schema
        fields = []
        for f in inferred:
            t = f.type
            if pa.types.is_temporal(t) or pa.types.is_null(t):
                t = STRING
            fields.append(pa.field(f.name, t))
        reader = pajson.open_json(
            self.path,
            read_options=pajson.ReadOptions(block_size=16 << 20),
            parse_options=pajson.ParseOptions(
                explicit_schema=pa.schema(fields), unexpected_field_behavior="infer", newlines_in_values=False
            ),
        )
        yield from reader

    def _python_batches(self) -> Iterator[RawBatch]:
        enc = self.encoding
        objs: list[dict] = []
        nums: list[int] = []
        bad: list[tuple[int, str, str]] = []
        rn = 0
        try:
            with self.path.open("r", encoding=enc, newline="") as fh:
                for line in fh:
                    s = line.strip()
                    if not s:
                        continue
                    rn += 1
                    try:
                        obj = json.loads(s)
                    except json.JSONDecodeError as exc:
                        bad.append((rn, f"invalid JSON: {exc.msg}", s[:500]))
                        continue
                    if not isinstance(obj, dict):
                        bad.append((rn, f"not a JSON object: {type(obj).__name__}", s[:500]))
                        continue
                    objs.append(obj)
                    nums.append(rn)
                    if len(objs) >= 50_000:
                        yield self._to_batch(objs, nums, bad)
                        objs, nums, bad = [], [], []
        except UnicodeDecodeError as exc:
            raise ReadError(f"not valid {enc} text at byte {exc.start}") from None
        if objs or bad:
            yield self._to_batch(objs, nums, bad)

    @staticmethod
    def _to_batch(objs, nums, bad) -> RawBatch:
        keys = list(dict.fromkeys(k for o in objs for k in o))
        cols = [pa.array([_json_value_to_str(o.get(k)) for o in objs], STRING) for k in keys]
        return RawBatch([str(k) for k in keys], cols, pa.array(nums, pa.int64()), list(bad))


# ---------------------------------------------------------------------------------------- Parquet
def _arrow_to_str(arr: pa.Array) -> pa.Array:
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.cast(t.value_type)
        t = arr.type
    if pa.types.is_timestamp(t) and t.tz is not None:
        arr = pc.local_timestamp(arr.cast(pa.timestamp(t.unit, "Asia/Bangkok")))
        t = arr.type
    if pa.types.is_string(t):
        return arr
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return arr.cast(STRING)
    if pa.types.is_nested(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return pa.array([_json_value_to_str(v) for v in arr.to_pylist()], STRING)
    if pa.types.is_floating(t):
        return pa.array([_json_value_to_str(v) for v in arr.to_pylist()], STRING)
    return arr.cast(STRING)


class ParquetReader:
    format = "parquet"
    encoding = None

    def __init__(self, path: Path):
        self.path = path
        if path.stat().st_size == 0:
            raise ReadError("empty file (0 bytes)")
        with path.open("rb") as fh:
            head = fh.read(4)
        if head != b"PAR1":
            raise ReadError(
                f"wrong format: named .parquet but the content is {sniff_magic(head) or 'not Parquet'}"
            )
        try:
            self._pf = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ReadError(f"unreadable Parquet (truncated or corrupt): {exc}") from None
        self.header = list(self._pf.schema_arrow.names)

    @property
    def num_rows(self) -> int:
        return self._pf.metadata.num_rows

    def batches(self) -> Iterator[RawBatch]:
        row = 0
        try:
            for rb in self._pf.iter_batches(batch_size=BATCH_ROWS):
                n = rb.num_rows
                cols = [_arrow_to_str(c) for c in rb.columns]
                yield RawBatch(list(rb.schema.names), cols, pa.array(range(row + 1, row + n + 1), pa.int64()))
                row += n
        except (pa.ArrowInvalid, OSError) as exc:
            raise ReadError(f"unreadable Parquet after row {row}: {exc}") from None


def open_reader(path: Path, fmt: str, decl):
    if fmt == "csv":
        return CsvReader(path, delimiter=decl.csv_delimiter, encoding=decl.csv_encoding)
    if fmt == "xlsx":
        return XlsxReader(path, sheet=decl.xlsx_sheet, header_row=decl.xlsx_header_row)
    if fmt == "jsonl":
        return JsonlReader(path)
    if fmt == "parquet":
        return ParquetReader(path)
    raise ReadError(f"unsupported format {fmt!r}")
