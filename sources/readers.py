"""Readers: one landing file → batches of raw string columns with 1-based data row numbers.

Every value leaves a reader as a string (or null), exactly as delivered; typing happens in the
normalisers. A file that cannot be read raises `ReadError` with a reason that names the problem.
"""

from __future__ import annotations

import codecs
import collections
import csv
import io
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from xml.etree import ElementTree

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
def _number_text(v: float) -> str | None:
    """A number as text: `12.0` → `12`, `1.5E3` → `1500`, `45658.5` and `1e-07` as Python prints them."""
    if math.isnan(v) or math.isinf(v):
        return None
    return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)


def _cell_text(v) -> str | None:
    """One python-calamine cell as text; empty and whitespace-only cells (and error cells, which
    calamine reads as empty) are no value."""
    if isinstance(v, str):
        return v if v.strip() else None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return _number_text(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, date):  # calamine's name for a date-formatted whole serial: midnight of that day
        return v.isoformat() + " 00:00:00"
    if isinstance(v, time):
        return v.isoformat()
    return str(v)  # timedelta: a duration format ([h]:mm)


_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_FORMULA_TAG = re.compile(rb"<(?:\w+:)?f[\s>/]")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _sheet_part(zf, sheet_index: int) -> str | None:
    """The zip member of the workbook's n-th sheet, from `xl/workbook.xml` and its relationships."""
    wb = ElementTree.fromstring(zf.read("xl/workbook.xml"))
    sheets = [el for el in wb.iter() if _local(el.tag) == "sheet"]
    rid = next((v for k, v in sheets[sheet_index].attrib.items() if _local(k) == "id"), None)
    rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    target = next((el.get("Target") for el in rels if el.get("Id") == rid), None)
    if not target:
        return None
    return target.lstrip("/") if target.startswith("/") else "xl/" + target


def _uncomputed_formulas(path: Path, sheet_index: int) -> dict[int, list[tuple[int, str]]]:
    """`{sheet row: [(0-based column, formula text)]}` for the formula cells that hold no cached value
    (the writer never ran Excel's calculation). python-calamine 0.9 reads such a cell as empty and
    exposes no formulas, so a sheet whose XML holds a formula element is read once more with the
    stdlib's streaming XML parser; a sheet without one costs a byte scan."""
    import zipfile

    from openpyxl.utils.cell import column_index_from_string, coordinate_from_string

    with zipfile.ZipFile(path) as zf:
        part = _sheet_part(zf, sheet_index)
        if part is None:
            return {}
        with zf.open(part) as src:
            carry = b""
            while chunk := src.read(4 << 20):
                if _FORMULA_TAG.search(carry + chunk):
                    break
                carry = chunk[-16:]
            else:
                return {}
        found: dict[int, list[tuple[int, str]]] = {}
        row, col = 0, -1
        with zf.open(part) as src:
            for event, el in ElementTree.iterparse(src, events=("start", "end")):
                name = _local(el.tag)
                if event == "start":
                    if name == "row":
                        row = int(el.get("r") or row + 1)
                        col = -1
                    elif name == "c":
                        ref = el.get("r")
                        col = column_index_from_string(coordinate_from_string(ref)[0]) - 1 if ref else col + 1
                    continue
                if name == "c":
                    f = el.find(f"{_MAIN_NS}f")
                    v = el.find(f"{_MAIN_NS}v")
                    if f is not None and (v is None or not v.text):
                        found.setdefault(row, []).append((col, f.text or ""))
                    el.clear()
                elif name == "row":
                    el.clear()
        return found


class XlsxReader:
    """XLSX through python-calamine (calamine, in Rust): the sheet by name or 0-based index, the
    header on `header_row`. Cells become text: numbers as written (`812345678`, `45658.5`),
    date-formatted cells as ISO (`2025-01-02 09:00:00`), text cells as stored (`0001`, Thai).
    Fully empty rows are skipped but keep their place in the numbering:
    `_row_number` = sheet row − header row."""

    format = "xlsx"
    encoding = None

    def __init__(self, path: Path, *, sheet=None, header_row: int = 1):
        import zipfile
        import zlib

        from python_calamine import CalamineError, load_workbook

        self.path = path
        with path.open("rb") as fh:
            head = fh.read(8)
        if not head:
            raise ReadError("empty file (0 bytes)")
        magic = sniff_magic(head)
        if magic != "xlsx":
            raise ReadError(
                f"wrong format: named .xlsx but the content is {magic or 'not an Excel workbook'}"
            )
        try:
            wb = load_workbook(path)
        except (CalamineError, ValueError, OSError) as exc:
            raise ReadError(f"unreadable workbook (truncated or corrupt): {exc}") from None
        names = list(wb.sheet_names)
        if not names:
            raise ReadError("unreadable workbook: it has no sheets")
        if sheet is None:
            index = 0
        elif isinstance(sheet, int) and 0 <= sheet < len(names):
            index = sheet
        elif isinstance(sheet, str) and sheet in names:
            index = names.index(sheet)
        else:
            raise ReadError(f"sheet {sheet!r} not found (sheets: {', '.join(names)})")
        self.sheet_name = names[index]
        try:
            ws = wb.get_sheet_by_index(index)
            self._uncomputed = _uncomputed_formulas(path, index)
        except (
            CalamineError, ValueError, KeyError, IndexError, OSError, EOFError, ElementTree.ParseError,
            zipfile.BadZipFile, zlib.error,
        ) as exc:  # fmt: skip
            raise ReadError(f"unreadable workbook (truncated or corrupt sheet): {exc}") from None
        finally:
            wb.close()
        self.header_row = header_row
        # iter_rows yields every sheet row from row 1, its cells from the first used column on
        self._first_col = ws.start[1] if ws.start else 0
        self._rows = enumerate(ws.iter_rows(), 1)
        header = None
        for rn, cells in self._rows:
            if rn == header_row:
                header = [_cell_text(v) for v in cells]
                break
        if not header or not any(header):
            raise ReadError(f"no header row (row {header_row} of sheet {self.sheet_name!r} is empty)")
        while header[-1] is None:
            header.pop()
        self.header = [""] * self._first_col + [(h or "").strip() for h in header]

    def batches(self) -> Iterator[RawBatch]:
        n, first = len(self.header), self._first_col
        cols: list[list[str | None]] = [[] for _ in range(n)]
        nums: list[int] = []
        uncomputed: list[tuple[int, int, str]] = []
        for rn, cells in self._rows:
            values = [None] * first + [_cell_text(v) for v in cells[: n - first]]
            values += [None] * (n - len(values))
            formulas = [(i, f) for i, f in self._uncomputed.get(rn, ()) if i < n]
            if not formulas and not any(values):
                continue  # empty sheet rows are not rows
            for i, f in formulas:
                uncomputed.append((len(nums), i, f))
            for i in range(n):
                cols[i].append(values[i])
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
