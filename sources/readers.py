"""Readers: one landing file → batches of raw string columns with 1-based data row numbers.

Every value leaves a reader as a string (or null), exactly as delivered; typing happens in the
normalisers. A file that cannot be read raises `ReadError` with a reason that names the problem.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
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
        ncols = len(self.header)
        try:
            with self.path.open("r", encoding=self.encoding, newline="") as fh:
                rd = csv.reader(fh, delimiter=self.delimiter)
                next(rd, None)
                rows: list[list[str]] = []
                nums: list[int] = []
                bad: list[tuple[int, str, str]] = []
                rn = 0
                for rec in rd:
                    rn += 1
                    if len(rec) != ncols:
                        if len(rec) == 0 or (len(rec) == 1 and rec[0] == "" and ncols > 1):
                            rn -= 1  # blank line: not a row
                            continue
                        bad.append(
                            (
                                rn,
                                f"wrong column count: expected {ncols}, got {len(rec)}",
                                self.delimiter.join(rec),
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


class XlsxReader:
    format = "xlsx"
    encoding = None

    def __init__(self, path: Path, *, sheet=None, header_row: int = 1):
        import zipfile

        import openpyxl

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
            self._wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
            raise ReadError(f"unreadable workbook (truncated or corrupt): {exc}") from None
        try:
            if sheet is None:
                self._ws = self._wb.worksheets[0]
            elif isinstance(sheet, int):
                self._ws = self._wb.worksheets[sheet]
            else:
                self._ws = self._wb[sheet]
        except (IndexError, KeyError):
            raise ReadError(f"sheet {sheet!r} not found (sheets: {', '.join(self._wb.sheetnames)})") from None
        self.header_row = header_row
        self._rows = self._ws.iter_rows(min_row=header_row, values_only=True)
        try:
            header = next(self._rows, None)
        except Exception as exc:  # openpyxl surfaces zip/XML damage lazily
            raise ReadError(f"unreadable workbook (truncated or corrupt): {exc}") from None
        if header is None or not any(c is not None and str(c).strip() for c in header):
            raise ReadError(f"no header row (row {header_row} of sheet {self._ws.title!r} is empty)")
        self.header = [("" if c is None else str(c)).strip() for c in header]

    def batches(self) -> Iterator[RawBatch]:
        n = len(self.header)
        rows: list[list[str | None]] = []
        nums: list[int] = []
        rn = 0
        try:
            for r in self._rows:
                rn += 1
                vals = [cell_to_str(v) for v in r[:n]]
                if not any(v is not None for v in vals):
                    continue  # empty sheet rows are not rows
                if len(vals) < n:
                    vals += [None] * (n - len(vals))
                rows.append(vals)
                nums.append(rn)
                if len(rows) >= 50_000:
                    yield self._to_batch(rows, nums)
                    rows, nums = [], []
        except ReadError:
            raise
        except Exception as exc:
            raise ReadError(f"unreadable workbook after data row {rn}: {exc}") from None
        finally:
            self._wb.close()
        if rows:
            yield self._to_batch(rows, nums)

    def _to_batch(self, rows, nums) -> RawBatch:
        cols = [pa.array([r[i] for r in rows], STRING) for i in range(len(self.header))]
        return RawBatch(list(self.header), cols, pa.array(nums, pa.int64()))


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
