"""Ingest one landing partition of one source into the lake (and the quarantine).

`transform_batch` is the pure part (raw strings in, typed good rows + quarantined rows out);
`ingest_partition` does the I/O: hashing, reading, writing Parquet parts incrementally into a
staging folder, then replacing the source's files in the lake partition and its quarantine.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from crmloop.settings import iso_day
from sources.declarations import SourceDeclaration, header_key
from sources.lake import partition_dir, quarantine_partition_dir
from sources.normalise import clean, normalise
from sources.readers import (
    ParquetReader,
    RawBatch,
    ReadError,
    RestartFile,
    format_of,
    open_reader,
    sniff_magic,
)
from sources.schema import (
    NULLED_FIELDS,
    NULLED_SEPARATOR,
    QUARANTINE_SCHEMA,
    entity_schema,
    key_columns,
    nulls_bad_fields,
)

STRING = pa.string()
MAX_SAMPLES = 20
# Longest value a field may hold, in characters: Excel's own cell limit, so nothing a spreadsheet
# can export is refused; a longer value quarantines its row (`too_long:<col>`), never loads.
MAX_FIELD_CHARS = 32_767
REFUSED_LINK = "refused: symbolic link (not followed)"
REFUSED_SPECIAL = "refused: not a regular file"
REFUSED_OUTSIDE = "refused: resolves outside the landing zone"


@dataclass
class FileResult:
    path: str  # relative to the landing dir
    format: str | None = None
    encoding: str | None = None
    sha256: str | None = None
    rows_in: int = 0
    loaded: int = 0
    quarantined: int = 0
    rejected: int = 0  # data rows of a file rejected whole (rows_in = loaded + quarantined + rejected)
    error: str | None = None  # set when the file was rejected whole (or refused)
    duplicate_of: str | None = None  # set when identical bytes were already ingested in this partition
    unmapped_columns: list[str] = field(default_factory=list)


@dataclass
class IngestResult:
    source: str
    entity: str
    load_date: date
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_rejected: int = 0  # rows of files rejected whole
    files: list[FileResult] = field(default_factory=list)
    reason_counts: dict[str, int] = field(default_factory=dict)
    samples: list[dict] = field(default_factory=list)
    # values loaded as null because they failed to parse (sources.schema.NULLED_FIELDS), by
    # reason (most frequent first), and the first MAX_SAMPLES of them (file, row, reason, value)
    nulled_counts: dict[str, int] = field(default_factory=dict)
    nulled_samples: list[dict] = field(default_factory=list)
    lake_files: list[Path] = field(default_factory=list)
    quarantine_files: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def duplicate_files(self) -> list[str]:
        return [f.path for f in self.files if f.duplicate_of]

    @property
    def unreadable_files(self) -> list[str]:
        return [f.path for f in self.files if f.error]

    @property
    def rejected_files(self) -> dict[str, str]:
        """Every file rejected whole or refused, with its reason (path relative to the landing dir)."""
        return {f.path: f.error for f in self.files if f.error}

    @property
    def balanced(self) -> bool:
        """rows in = loaded + quarantined + rejected, in total and for every file."""
        return self.rows_in == self.rows_loaded + self.rows_quarantined + self.rows_rejected and all(
            f.rows_in == f.loaded + f.quarantined + f.rejected for f in self.files
        )


# ------------------------------------------------------------------------------------- pure part
def resolve_columns(decl: SourceDeclaration, names: list[str]) -> tuple[dict[str, int], list[str]]:
    """canonical column -> index of the file column that feeds it; and the unmapped headers.
    Aliases are tried in declared order; the first header that matches wins."""
    keys = [header_key(n) for n in names]
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    mapping: dict[str, int] = {}
    for col, spec in decl.columns.items():
        for a in spec.aliases:
            if a in first:
                mapping[col] = first[a]
                break
    used = set(mapping.values())
    unmapped = [n for i, n in enumerate(names) if i not in used and str(n).strip()]
    return mapping, unmapped


class NoHeaderError(ReadError):
    """The first row is not a header of the source's layout (so it is a data row)."""


def check_header(decl: SourceDeclaration, names: list[str]) -> None:
    """Raise ReadError when a file's header cannot be this source's layout."""
    mapping, _ = resolve_columns(decl, names)
    if not mapping:
        shown = ", ".join(repr(n) for n in names[:8])
        raise NoHeaderError(
            f"no header row: none of the first-row values ({shown}) is a declared column of {decl.name!r}"
        )
    missing = [c for c in decl.required_columns if c not in mapping]
    if missing:
        detail = "; ".join(f"{c} (accepted: {', '.join(decl.columns[c].aliases)})" for c in missing)
        raise ReadError(f"missing required column(s): {detail}")


@dataclass
class BatchOutcome:
    good: pa.Table  # entity schema
    bad: pa.Table  # QUARANTINE_SCHEMA
    first_reasons: list[str]  # one per bad row, for counting
    # values nulled in the good rows (sources.schema.NULLED_FIELDS): count per reason, and samples
    nulled_counts: Counter[str] = field(default_factory=Counter)
    nulled_samples: list[dict] = field(default_factory=list)


def _reason_array(mask: pa.Array, reason: str) -> pa.Array:
    return pc.if_else(mask, pa.scalar(reason, STRING), pa.scalar(None, STRING))


def transform_batch(decl: SourceDeclaration, batch: RawBatch, rel_file: str) -> BatchOutcome:
    """Normalise and validate one batch. Pure: no I/O."""
    schema = entity_schema(decl.entity)
    n = batch.num_rows
    mapping, _ = resolve_columns(decl, batch.names)
    out: dict[str, pa.Array] = {}
    reasons: list[pa.Array] = []
    values_at_fault: list[pa.Array] = []
    # entities that null and flag bad non-key values (sources.schema.NULLED_FIELDS): per such
    # column, the reason where its value was nulled, and the delivered value
    flags = nulls_bad_fields(decl.entity)
    keys = set(key_columns(decl.entity))
    nulled: list[pa.Array] = []
    nulled_raw: list[pa.Array] = []
    formulas: dict[int, dict[int, str]] = {}  # column index -> batch position -> formula
    for pos, idx, formula in batch.uncomputed:
        formulas.setdefault(idx, {})[pos] = formula
    for col, spec in decl.columns.items():
        raw = batch.columns[mapping[col]] if col in mapping else pa.nulls(n, STRING)
        special_reason, special_value = _field_faults(col, raw, formulas.get(mapping.get(col, -1), {}))
        if special_reason is not None:
            raw = pc.if_else(pc.is_valid(special_reason), pa.scalar(None, STRING), raw)
        raw = clean(raw)
        if spec.default is not None:
            raw = pc.fill_null(raw, spec.default)
        res = normalise(spec.normaliser, raw, mapping=spec.values, region=spec.region)
        present = pc.is_valid(raw)
        r = pa.nulls(n, STRING)
        if spec.min is not None or spec.max is not None:
            oob = pa.array([False] * n) if n == 0 else None
            if oob is None:
                lo = pc.less(res.values, spec.min) if spec.min is not None else None
                hi = pc.greater(res.values, spec.max) if spec.max is not None else None
                oob = lo if hi is None else (hi if lo is None else pc.or_(lo, hi))
                oob = pc.fill_null(oob, False)
            r = pc.if_else(oob, pa.scalar(f"out_of_range:{col}", STRING), r)
        invalid_reason = pa.scalar(f"invalid_{spec.normaliser}:{col}", STRING)
        values = res.values
        if flags and col not in keys and spec.on_invalid == "null":
            # a value that fails to parse (or is out of range, too long, an uncomputed formula)
            # is nulled and flagged; the row stays (only a missing required value quarantines)
            # (a phone that does not parse keeps its delivered text in <col>_raw: not lost, not listed)
            nulled_now = pc.and_(pc.fill_null(res.invalid, False), pc.is_null(res.values))
            if "_raw" in res.extra and col + "_raw" in schema.names:
                nulled_now = pa.array([False] * n, pa.bool_())
            nr = pc.if_else(nulled_now, invalid_reason, r)
            nv = pc.if_else(pc.is_valid(nr), raw, pa.scalar(None, STRING))
            if special_reason is not None:
                nr = pc.coalesce(special_reason, nr)
                nv = pc.coalesce(special_value, nv)
            values = pc.if_else(pc.is_valid(nr), pa.scalar(None, values.type), values)
            nulled.append(nr)
            nulled_raw.append(nv)
            r = pa.nulls(n, STRING)
            special_reason = special_value = None
        elif spec.on_invalid == "quarantine":
            r = pc.if_else(res.invalid, invalid_reason, r)
        if spec.required:
            r = pc.if_else(pc.invert(present), pa.scalar(f"missing:{col}", STRING), r)
        fault_value = pc.if_else(pc.is_valid(r), raw, pa.scalar(None, STRING))
        if special_reason is not None:
            r = pc.coalesce(special_reason, r)
            fault_value = pc.coalesce(special_value, fault_value)
        reasons.append(r)
        values_at_fault.append(fault_value)
        out[col] = values
        for suffix, arr in res.extra.items():
            if col + suffix in schema.names:
                out[col + suffix] = arr
    if reasons:
        first = pc.coalesce(*reasons)
        value = pc.coalesce(*values_at_fault)
        bad_mask = pc.is_valid(first)
    else:
        first = pa.nulls(n, STRING)
        value = first
        bad_mask = pa.array([False] * n)
    if flags:
        out[NULLED_FIELDS] = _joined(nulled, n)
    lineage = {
        "_source": pa.array([decl.name] * n, STRING) if n else pa.array([], STRING),
        "_source_file": pa.array([rel_file] * n, STRING) if n else pa.array([], STRING),
        "_row_number": batch.row_numbers,
    }
    arrays = []
    for f in schema:
        if f.name in out:
            arrays.append(out[f.name].cast(f.type))
        elif f.name in lineage:
            arrays.append(lineage[f.name])
        else:
            arrays.append(pa.nulls(n, f.type))
    table = pa.Table.from_arrays(arrays, schema=schema)
    nbad = pc.sum(bad_mask).as_py() or 0 if n else 0
    nulled_counts, nulled_samples = _nulled_summary(nulled, nulled_raw, bad_mask, batch.row_numbers, rel_file)
    if nbad == 0:
        good = table
        bad = QUARANTINE_SCHEMA.empty_table()
        first_reasons: list[str] = []
    else:
        good = table.filter(pc.invert(bad_mask))
        bad_idx = pc.indices_nonzero(bad_mask)
        first_reasons = pc.take(first, bad_idx).to_pylist()
        all_reasons = (
            pc.binary_join_element_wise(*[pc.take(r, bad_idx) for r in reasons], "; ", null_handling="skip")
            if len(reasons) > 1
            else pc.take(first, bad_idx)
        )
        raw_cols = [[_shorten(v) for v in c.take(bad_idx).to_pylist()] for c in batch.columns]
        raw_json = (
            [
                json.dumps(dict(zip(batch.names, vals, strict=True)), ensure_ascii=False)
                for vals in zip(*raw_cols, strict=True)
            ]
            if raw_cols
            else ["{}"] * nbad
        )
        bad = pa.Table.from_arrays(
            [
                pa.array([rel_file] * nbad, STRING),
                pc.take(batch.row_numbers, bad_idx),
                pc.take(first, bad_idx),
                pc.take(value, bad_idx),
                pa.array(raw_json, STRING),
                all_reasons,
            ],
            schema=QUARANTINE_SCHEMA,
        )
    if batch.bad_rows:
        extra = pa.Table.from_pylist(
            [
                {
                    "file": rel_file,
                    "row": rn,
                    "reason": "malformed_row",
                    "value": detail,
                    "raw": json.dumps({"_text": text}, ensure_ascii=False),
                    "reasons": f"malformed_row: {detail}",
                }
                for rn, detail, text in batch.bad_rows
            ],
            schema=QUARANTINE_SCHEMA,
        )
        bad = pa.concat_tables([bad, extra])
        first_reasons = first_reasons + ["malformed_row"] * len(batch.bad_rows)
    return BatchOutcome(good, bad, first_reasons, nulled_counts, nulled_samples)


def _joined(reasons: list[pa.Array], n: int) -> pa.Array:
    """Per row, the non-null `reasons` joined by NULLED_SEPARATOR; null where there is none."""
    if not reasons:
        return pa.nulls(n, STRING)
    if len(reasons) == 1:
        return reasons[0]
    # null_handling="skip" drops rows whose values are all null in pyarrow 26 (2 rows out of
    # [x, null, null, null]); join with "" for nulls, then drop the empty separators
    joined = pc.binary_join_element_wise(
        *reasons, NULLED_SEPARATOR, null_handling="replace", null_replacement=""
    )
    sep = re.escape(NULLED_SEPARATOR)
    joined = pc.replace_substring_regex(joined, f"^(?:{sep})+|(?:{sep})+$", "")
    joined = pc.replace_substring_regex(joined, f"(?:{sep}){{2,}}", NULLED_SEPARATOR)
    return pc.if_else(pc.equal(joined, ""), pa.scalar(None, STRING), joined)


def _nulled_summary(
    nulled: list[pa.Array], raw: list[pa.Array], bad_mask: pa.Array, row_numbers: pa.Array, rel_file: str
) -> tuple[Counter[str], list[dict]]:
    """The reasons of the values nulled in the rows that load (a quarantined row loads nothing),
    counted, and the first MAX_SAMPLES of them in row order (file, row, reason, value)."""
    counts: Counter[str] = Counter()
    if not nulled:
        return counts, []
    keep = pc.invert(bad_mask)
    kept = [pc.filter(r, keep) for r in nulled]
    for r in kept:
        for item in r.value_counts().to_pylist():
            if item["values"] is not None:
                counts[item["values"]] += item["counts"]
    if not counts:
        return counts, []
    any_nulled = pc.is_valid(kept[0])
    for r in kept[1:]:
        any_nulled = pc.or_(any_nulled, pc.is_valid(r))
    first = pc.indices_nonzero(any_nulled)[:MAX_SAMPLES]
    rows = pc.take(pc.filter(row_numbers, keep), first).to_pylist()
    reasons = [pc.take(r, first).to_pylist() for r in kept]
    values = [pc.take(pc.filter(v, keep), first).to_pylist() for v in raw]
    samples = [
        {"file": rel_file, "row": row, "reason": rs[i], "value": vs[i]}
        for i, row in enumerate(rows)
        for rs, vs in zip(reasons, values, strict=True)
        if rs[i] is not None
    ]
    return counts, samples[:MAX_SAMPLES]


def _shorten(value: str | None) -> str | None:
    """A raw value as the quarantine keeps it: whole, unless it is over MAX_FIELD_CHARS."""
    if value is None or len(value) <= MAX_FIELD_CHARS:
        return value
    return f"{value[:80]}… ({len(value):,} characters)"


def _field_faults(
    col: str, raw: pa.Array, formulas: dict[int, str]
) -> tuple[pa.Array | None, pa.Array | None]:
    """(reason, value) arrays for the faults a value has before normalising, or (None, None):
    `too_long:<col>` over MAX_FIELD_CHARS, `uncomputed_formula:<col>` for an XLSX formula cell
    without a cached value. Null where the value has no such fault."""
    n = len(raw)
    too_long = pc.fill_null(pc.greater(pc.utf8_length(raw), MAX_FIELD_CHARS), False) if n else None
    has_long = too_long is not None and pc.any(too_long).as_py()
    if not has_long and not formulas:
        return None, None
    reason: list[str | None] = [None] * n
    value: list[str | None] = [None] * n
    if has_long:
        for i in pc.indices_nonzero(too_long).to_pylist():
            v = raw[i].as_py()
            reason[i] = f"too_long:{col}"
            value[i] = f"{len(v):,} characters (limit {MAX_FIELD_CHARS:,}): {v[:80]}…"
    for i, formula in formulas.items():
        reason[i] = f"uncomputed_formula:{col}"
        value[i] = f"={formula} (a formula without a cached value: the workbook was never recalculated)"
    return pa.array(reason, STRING), pa.array(value, STRING)


# -------------------------------------------------------------------------------------------- I/O
def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


def landing_partitions(landing_dir: Path | str) -> dict[str, list[date]]:
    """source name -> sorted dates that have a `<landing>/<source>/<YYYY-MM-DD>/` folder."""
    landing_dir = Path(landing_dir)
    out: dict[str, list[date]] = {}
    if not landing_dir.is_dir():
        return out
    for src in sorted(p for p in landing_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        dates = [day for d in src.iterdir() if d.is_dir() and (day := iso_day(d.name)) is not None]
        if dates:
            out[src.name] = sorted(dates)
    return out


def landing_entries(landing_dir: Path, source: str, load_date: date) -> tuple[list[Path], dict[Path, str]]:
    """The regular files of `<landing>/<source>/<D>/**` (hidden names ignored), sorted; and what
    is refused, with the reason: a symbolic link (file or folder, never followed), anything that
    is not a regular file, anything resolving outside the landing zone."""
    root = Path(landing_dir)
    d = root / source / load_date.isoformat()
    for p in (root / source, d):
        if p.is_symlink():
            return [], {p: REFUSED_LINK}
    if not d.is_dir():
        return [], {}
    real_root = root.resolve()
    files: list[Path] = []
    refused: dict[Path, str] = {}
    for dirpath, dirnames, filenames in os.walk(d, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
        for name in list(dirnames):
            if (here / name).is_symlink():
                refused[here / name] = REFUSED_LINK
                dirnames.remove(name)
        for name in filenames:
            if name.startswith("."):
                continue
            p = here / name
            mode = p.lstat().st_mode
            if stat.S_ISLNK(mode):
                refused[p] = REFUSED_LINK
            elif not stat.S_ISREG(mode):
                refused[p] = REFUSED_SPECIAL
            elif not p.resolve().is_relative_to(real_root):
                refused[p] = REFUSED_OUTSIDE
            else:
                files.append(p)
    return sorted(files), refused


def landing_files(landing_dir: Path, source: str, load_date: date) -> list[Path]:
    """The files ingestion reads for one landing partition (see `landing_entries`)."""
    return landing_entries(landing_dir, source, load_date)[0]


def _looks_binary(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(65536)
    return sniff_magic(head) is not None or b"\x00" in head


def count_rows(path: Path, fmt: str | None, decl: SourceDeclaration) -> int | None:
    """Data rows of a file rejected whole, as far as it can be read (None: not at all)."""
    if fmt is None:
        return None
    try:
        reader = open_reader(path, fmt, decl)
        if isinstance(reader, ParquetReader):
            return reader.num_rows
        n = 0
        for batch in reader.batches():
            if isinstance(batch, RestartFile):
                n = 0
                continue
            n += batch.num_rows + len(batch.bad_rows)
        return n
    except Exception:  # noqa: BLE001 - unreadable for counting too
        pass
    if fmt == "csv" and not _looks_binary(path):
        # not decodable as declared: count its physical lines (header excluded, blank lines not rows)
        with path.open("rb") as fh:
            lines = sum(1 for line in fh if line.strip())
        return max(lines - 1, 0)
    return None


class _FileSink:
    """The lake part and quarantine rows of one landing file, written incrementally."""

    def __init__(self, lake_path: Path, q_path: Path, schema: pa.Schema):
        self.lake_path, self.q_path, self.schema = lake_path, q_path, schema
        self.lake: pq.ParquetWriter | None = None
        self.q: pq.ParquetWriter | None = None

    def write(self, outcome: BatchOutcome) -> None:
        if outcome.good.num_rows:
            if self.lake is None:
                self.lake = pq.ParquetWriter(self.lake_path, self.schema, compression="snappy")
            self.lake.write_table(outcome.good, row_group_size=1 << 20)
        if outcome.bad.num_rows:
            if self.q is None:
                self.q = pq.ParquetWriter(self.q_path, QUARANTINE_SCHEMA, compression="zstd")
            self.q.write_table(outcome.bad)

    def close(self) -> None:
        for w in (self.lake, self.q):
            if w is not None:
                w.close()

    def discard(self) -> None:
        self.close()
        self.lake = self.q = None
        for p in (self.lake_path, self.q_path):
            p.unlink(missing_ok=True)


def _own_parts(part_dir: Path, source: str) -> list[Path]:
    rx = re.compile(rf"^{re.escape(source)}-\d{{4}}\.parquet$")
    return (
        sorted(p for p in part_dir.glob(f"{source}-*.parquet") if rx.match(p.name))
        if part_dir.is_dir()
        else []
    )


def ingest_partition(
    decl: SourceDeclaration,
    *,
    landing_dir: Path | str,
    lake_dir: Path | str,
    quarantine_dir: Path | str,
    load_date: date,
    progress: Callable[[str], None] | None = None,
) -> IngestResult:
    """Ingest `<landing>/<source>/<load_date>/*` into `<lake>/<entity>/load_date=<D>/<source>-NNNN.parquet`
    and `<quarantine>/<source>/load_date=<D>/`, replacing what an earlier run wrote there.

    Accounting: rows_in == rows_loaded + rows_quarantined, per file and in total. A duplicate
    delivery (bytes identical to a file already taken in this partition) contributes 0 rows: it
    is listed in `files` with `duplicate_of` and nothing of it is loaded or quarantined. A file
    quarantined whole counts the rows read before the failure (often 0) as quarantined and is
    copied to `<quarantine>/.../files/` with its reason."""
    t0 = time.monotonic()
    landing_dir, lake_dir, quarantine_dir = Path(landing_dir), Path(lake_dir), Path(quarantine_dir)
    say = progress or (lambda _m: None)
    tag = f"{decl.name} {load_date}"
    schema = entity_schema(decl.entity)
    res = IngestResult(source=decl.name, entity=decl.entity, load_date=load_date)
    reasons: Counter[str] = Counter()
    nulled: Counter[str] = Counter()

    for finished in recover_commits(lake_dir, quarantine_dir):
        say(f"{finished}: finished the partition commit a killed run left half-done")
    part_dir = partition_dir(lake_dir, decl.entity, load_date)
    q_dir = quarantine_partition_dir(quarantine_dir, decl.name, load_date)
    run_id = f"{decl.name}-{load_date.isoformat()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging = lake_dir / ".staging" / run_id
    st_lake = staging / "lake"
    st_q = quarantine_dir / ".staging" / run_id  # beside its destination: committed by one rename
    st_lake.mkdir(parents=True)
    lock = _lock(staging)
    st_q.mkdir(parents=True)
    file_errors: list[dict] = []
    committing = False

    def sample(file: str, row, reason: str, value) -> None:
        if len(res.samples) < MAX_SAMPLES:
            res.samples.append({"file": file, "row": row, "reason": reason, "value": value})

    try:
        files, refused = landing_entries(landing_dir, decl.name, load_date)
        say(f"{tag}: {len(files)} file(s) in landing")
        for path, reason in sorted(refused.items()):
            rel = path.relative_to(landing_dir).as_posix()
            res.files.append(FileResult(path=rel, format=format_of(path), error=reason))
            file_errors.append({"file": rel, "reason": reason, "rows": 0, "sha256": None})
            sample(rel, None, f"refused_file: {reason}", None)
            say(f"{tag}: {rel}: {reason}")
        seen: dict[str, str] = {}
        for i, path in enumerate(files):
            rel = path.relative_to(landing_dir).as_posix()
            fr = FileResult(path=rel, format=format_of(path))
            res.files.append(fr)
            fr.sha256 = sha256_file(path)
            if fr.sha256 in seen:
                fr.duplicate_of = seen[fr.sha256]
                say(f"{tag}: {rel}: duplicate delivery of {fr.duplicate_of}, skipped")
                continue
            seen[fr.sha256] = rel
            sink = _FileSink(st_lake / f"part-{i:05d}.parquet", st_q / f"rows-{i:05d}.parquet", schema)
            local: Counter[str] = Counter()
            local_samples: list[dict] = []
            local_nulled: Counter[str] = Counter()
            nulled_samples: list[dict] = []
            try:
                if fr.format is None or fr.format not in decl.formats:
                    raise ReadError(
                        f"format not accepted: {path.suffix or '(no extension)'} "
                        f"(source {decl.name!r} accepts {', '.join(decl.formats)})"
                    )
                reader = open_reader(path, fr.format, decl)
                fr.encoding = reader.encoding
                if reader.header is not None:
                    check_header(decl, reader.header)
                    fr.unmapped_columns = resolve_columns(decl, reader.header)[1]
                next_report = 1_000_000
                for batch in reader.batches():
                    if isinstance(batch, RestartFile):
                        sink.discard()
                        fr.rows_in = fr.loaded = fr.quarantined = 0
                        local.clear()
                        local_samples.clear()
                        local_nulled.clear()
                        nulled_samples.clear()
                        say(f"{tag}: {rel}: malformed rows found, re-reading row by row")
                        continue
                    if reader.header is None and not fr.unmapped_columns:
                        fr.unmapped_columns = resolve_columns(decl, batch.names)[1]
                    outcome = transform_batch(decl, batch, rel)
                    sink.write(outcome)
                    nbad = outcome.bad.num_rows
                    fr.rows_in += batch.num_rows + len(batch.bad_rows)
                    fr.loaded += outcome.good.num_rows
                    fr.quarantined += nbad
                    local.update(outcome.first_reasons)
                    local_nulled.update(outcome.nulled_counts)
                    nulled_samples += outcome.nulled_samples[: MAX_SAMPLES - len(nulled_samples)]
                    if nbad and len(local_samples) < MAX_SAMPLES:
                        for row in outcome.bad.slice(0, MAX_SAMPLES - len(local_samples)).to_pylist():
                            local_samples.append(
                                {
                                    "file": rel,
                                    "row": row["row"],
                                    "reason": row["reason"],
                                    "value": row["value"],
                                }
                            )
                    if fr.rows_in >= next_report:
                        say(f"{tag}: {rel}: {fr.rows_in:,} rows read")
                        next_report += 1_000_000
                sink.close()
            except Exception as exc:  # a file that cannot be read is rejected whole; others go on
                reason = str(exc) if isinstance(exc, ReadError) else f"{type(exc).__name__}: {exc}"
                sink.discard()
                fr.error = reason
                counted = count_rows(path, fr.format, decl) if fr.format in decl.formats else None
                if counted is not None and isinstance(exc, NoHeaderError):
                    counted += 1  # the first row was data, not a header
                fr.rows_in = max(fr.rows_in, counted or 0)
                fr.loaded = fr.quarantined = 0
                fr.rejected = fr.rows_in
                local = Counter()
                local_nulled = Counter()
                nulled_samples = []
                local_samples = [
                    {"file": rel, "row": None, "reason": f"unreadable_file: {reason}", "value": None}
                ]
                dest = st_q / "files" / path.relative_to(landing_dir / decl.name / load_date.isoformat())
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)
                file_errors.append({"file": rel, "reason": reason, "rows": fr.rows_in, "sha256": fr.sha256})
                say(f"{tag}: {rel}: rejected whole ({fr.rows_in:,} rows): {reason}")
            else:
                say(
                    f"{tag}: {rel}: {fr.rows_in:,} rows, {fr.loaded:,} loaded, {fr.quarantined:,} quarantined"
                )
            reasons.update(local)
            for s in local_samples:
                sample(**s)
            nulled.update(local_nulled)
            res.nulled_samples += nulled_samples[: MAX_SAMPLES - len(res.nulled_samples)]
            res.rows_in += fr.rows_in
            res.rows_loaded += fr.loaded
            res.rows_quarantined += fr.quarantined
            res.rows_rejected += fr.rejected
        if file_errors:
            pq.write_table(
                pa.Table.from_pylist(
                    [
                        {
                            "file": e["file"],
                            "row": None,
                            "reason": "unreadable_file",
                            "value": e["reason"],
                            "raw": json.dumps(e, ensure_ascii=False),
                            "reasons": f"unreadable_file: {e['reason']}",
                        }
                        for e in file_errors
                    ],
                    schema=QUARANTINE_SCHEMA,
                ),
                st_q / "files.parquet",
            )
        committing = True
        _commit(decl, res, staging, st_q, part_dir, q_dir, schema)
        committing = False
    finally:
        if not committing:  # a commit that failed half-way keeps its staging for recover_commits
            shutil.rmtree(st_q, ignore_errors=True)
            shutil.rmtree(staging, ignore_errors=True)
        lock.close()
    res.reason_counts = dict(reasons.most_common())
    res.nulled_counts = dict(sorted(nulled.items(), key=lambda kv: (-kv[1], kv[0])))
    res.seconds = round(time.monotonic() - t0, 3)
    assert res.balanced, res
    say(
        f"{tag}: done: {res.rows_in:,} rows in, {res.rows_loaded:,} loaded, {res.rows_quarantined:,} quarantined, "
        f"{res.rows_rejected:,} in {len(res.rejected_files)} file(s) rejected whole, in {res.seconds:.1f}s"
    )
    return res


# ------------------------------------------------------------------------------------------ commit
# A source's partition is several files (its lake parts, its quarantine folder), so no single
# rename can replace it. The commit is a journal instead: `<lake>/.commits/<run>.json` lists every
# step (each one idempotent: delete the source's old parts, rename each staged part to its name,
# swap the quarantine folder); it is written (atomically) before the first step and removed after
# the last. A run killed in between leaves the journal and its staging; the next ingestion (of any
# source) finishes it before it reads anything (`recover_commits`). An flock on the staging folder
# tells a live run from a dead one.


def _lock(staging: Path):
    """Hold an exclusive flock on `<staging>/.lock` for as long as the returned file is open. The
    lock is taken on a private name first, so `.lock` is never seen unlocked while its run lives."""
    tmp = staging / f".lock-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    fh = tmp.open("a")
    fcntl.flock(fh, fcntl.LOCK_EX)
    os.replace(tmp, staging / ".lock")
    return fh


def _try_lock(staging: Path):
    """The lock of a staging folder if its run is dead (nobody holds it), else None."""
    path = staging / ".lock"
    if not path.exists():
        return None
    fh = path.open("a")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    return fh


def _apply(plan: dict) -> None:
    """Carry out a commit journal; every step may be repeated after a kill."""
    part_dir = Path(plan["part_dir"])
    part_dir.mkdir(parents=True, exist_ok=True)
    finals = {final for _, final in plan["parts"]}
    for old in [
        p for name in (plan["source"], *plan.get("replaces", [])) for p in _own_parts(part_dir, name)
    ]:
        if old.name not in finals:
            old.unlink(missing_ok=True)
    for staged, final in plan["parts"]:
        src, dest = Path(staged), part_dir / final
        if src.exists():
            os.replace(src, dest) if src.stat().st_dev == part_dir.stat().st_dev else shutil.move(src, dest)
    q_dir, q_staged = Path(plan["q_dir"]), plan["q_staged"]
    if q_staged is None:
        shutil.rmtree(q_dir, ignore_errors=True)
    elif Path(q_staged).exists():
        shutil.rmtree(q_dir, ignore_errors=True)
        q_dir.parent.mkdir(parents=True, exist_ok=True)
        os.replace(q_staged, q_dir)


def _commit(
    decl, res: IngestResult, staging: Path, st_q: Path, part_dir: Path, q_dir: Path, schema: pa.Schema
) -> None:
    """Replace the source's parts in the lake partition and its quarantine folder (journaled)."""
    new_parts = sorted((staging / "lake").glob("part-*.parquet"))
    if not new_parts:  # every declared entity keeps a typed partition for dbt
        empty = staging / "lake" / "part-empty.parquet"
        pq.write_table(schema.empty_table(), empty)
        new_parts = [empty]
    plan = {
        "source": decl.name,
        "replaces": list(decl.replaces_parts_of),
        "load_date": res.load_date.isoformat(),
        "staging": str(staging),
        "part_dir": str(part_dir),
        "parts": [[str(p), f"{decl.name}-{k:04d}.parquet"] for k, p in enumerate(new_parts)],
        "q_dir": str(q_dir),
        "q_staged": str(st_q) if any(st_q.iterdir()) else None,
    }
    journal = staging.parent.parent / ".commits" / f"{staging.name}.json"
    journal.parent.mkdir(parents=True, exist_ok=True)
    tmp = journal.with_suffix(".tmp")
    tmp.write_text(json.dumps(plan), encoding="utf-8")
    os.replace(tmp, journal)
    _apply(plan)
    journal.unlink()
    res.lake_files = [part_dir / final for _, final in plan["parts"]]
    if plan["q_staged"] is not None:
        res.quarantine_files = sorted(p for p in q_dir.rglob("*") if p.is_file())


def recover_commits(lake_dir: Path | str, quarantine_dir: Path | str | None = None) -> list[str]:
    """Finish every partition commit a killed ingestion left half-done, and remove dead runs'
    staging. Returns the `<source>@<date>` partitions it finished. Safe while other ingestions
    run: a live run's staging is locked and left alone."""
    lake_dir = Path(lake_dir)
    finished: list[str] = []
    journals = lake_dir / ".commits"
    pending: set[str] = set()
    for journal in sorted(journals.glob("*.json")) if journals.is_dir() else []:
        plan = json.loads(journal.read_text(encoding="utf-8"))
        staging = Path(plan["staging"])
        lock = _try_lock(staging)
        if lock is None:
            pending.add(staging.name)
            continue
        try:
            _apply(plan)
            journal.unlink()
            if plan["q_staged"]:
                shutil.rmtree(plan["q_staged"], ignore_errors=True)
            shutil.rmtree(staging, ignore_errors=True)
        finally:
            lock.close()
        finished.append(f"{plan['source']}@{plan['load_date']}")
    roots = [lake_dir / ".staging"] + ([Path(quarantine_dir) / ".staging"] if quarantine_dir else [])
    staging_root = roots[0]
    for st in sorted(staging_root.iterdir()) if staging_root.is_dir() else []:
        if st.name in pending:
            continue
        lock = _try_lock(st)
        if lock is None:
            continue  # a live run (or a folder without a lock: left as it is)
        try:
            for root in roots[1:]:
                shutil.rmtree(root / st.name, ignore_errors=True)
            (journals / f"{st.name}.tmp").unlink(missing_ok=True)  # a journal never written whole
            shutil.rmtree(st, ignore_errors=True)
        finally:
            lock.close()
    return finished
