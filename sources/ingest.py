"""Ingest one landing partition of one source into the lake (and the quarantine).

`transform_batch` is the pure part (raw strings in, typed good rows + quarantined rows out);
`ingest_partition` does the I/O: hashing, reading, writing Parquet parts incrementally into a
staging folder, then replacing the source's files in the lake partition and its quarantine.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
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

from sources.declarations import SourceDeclaration, header_key
from sources.normalise import clean, normalise
from sources.readers import RawBatch, ReadError, RestartFile, format_of, open_reader
from sources.schema import QUARANTINE_SCHEMA, entity_schema

STRING = pa.string()
MAX_SAMPLES = 20
_DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class FileResult:
    path: str  # relative to the landing dir
    format: str | None = None
    encoding: str | None = None
    sha256: str | None = None
    rows_in: int = 0
    loaded: int = 0
    quarantined: int = 0
    error: str | None = None  # set when the file was quarantined whole
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
    files: list[FileResult] = field(default_factory=list)
    reason_counts: dict[str, int] = field(default_factory=dict)
    samples: list[dict] = field(default_factory=list)
    lake_files: list[Path] = field(default_factory=list)
    quarantine_files: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def duplicate_files(self) -> list[str]:
        return [f.path for f in self.files if f.duplicate_of]

    @property
    def unreadable_files(self) -> list[str]:
        return [f.path for f in self.files if f.error]


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


def check_header(decl: SourceDeclaration, names: list[str]) -> None:
    """Raise ReadError when a file's header cannot be this source's layout."""
    mapping, _ = resolve_columns(decl, names)
    if not mapping:
        shown = ", ".join(repr(n) for n in names[:8])
        raise ReadError(
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
    for col, spec in decl.columns.items():
        raw = batch.columns[mapping[col]] if col in mapping else pa.nulls(n, STRING)
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
        if spec.on_invalid == "quarantine":
            r = pc.if_else(res.invalid, pa.scalar(f"invalid_{spec.normaliser}:{col}", STRING), r)
        if spec.required:
            r = pc.if_else(pc.invert(present), pa.scalar(f"missing:{col}", STRING), r)
        reasons.append(r)
        values_at_fault.append(pc.if_else(pc.is_valid(r), raw, pa.scalar(None, STRING)))
        out[col] = res.values
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
        raw_cols = [c.take(bad_idx).to_pylist() for c in batch.columns]
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
    return BatchOutcome(good, bad, first_reasons)


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
        dates = []
        for d in src.iterdir():
            if d.is_dir() and _DATE_DIR.match(d.name):
                try:
                    dates.append(date.fromisoformat(d.name))
                except ValueError:
                    continue
        if dates:
            out[src.name] = sorted(dates)
    return out


def landing_files(landing_dir: Path, source: str, load_date: date) -> list[Path]:
    d = Path(landing_dir) / source / load_date.isoformat()
    if not d.is_dir():
        return []
    return sorted(
        p
        for p in d.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(d).parts)
    )


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

    part_dir = lake_dir / decl.entity / f"load_date={load_date.isoformat()}"
    q_dir = quarantine_dir / decl.name / f"load_date={load_date.isoformat()}"
    staging = (
        lake_dir / ".staging" / f"{decl.name}-{load_date.isoformat()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    )
    st_lake, st_q = staging / "lake", staging / "quarantine"
    st_lake.mkdir(parents=True)
    st_q.mkdir(parents=True)
    file_errors: list[dict] = []

    def sample(file: str, row, reason: str, value) -> None:
        if len(res.samples) < MAX_SAMPLES:
            res.samples.append({"file": file, "row": row, "reason": reason, "value": value})

    try:
        files = landing_files(landing_dir, decl.name, load_date)
        say(f"{tag}: {len(files)} file(s) in landing")
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
            except Exception as exc:  # a file that cannot be read is quarantined whole; others go on
                reason = str(exc) if isinstance(exc, ReadError) else f"{type(exc).__name__}: {exc}"
                sink.discard()
                fr.error = reason
                fr.loaded = 0
                fr.quarantined = fr.rows_in
                local = Counter({"unreadable_file": fr.rows_in}) if fr.rows_in else Counter()
                local_samples = [
                    {"file": rel, "row": None, "reason": f"unreadable_file: {reason}", "value": None}
                ]
                dest = st_q / "files" / path.relative_to(landing_dir / decl.name / load_date.isoformat())
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)
                file_errors.append(
                    {"file": rel, "reason": reason, "rows_read": fr.rows_in, "sha256": fr.sha256}
                )
                say(f"{tag}: {rel}: quarantined whole: {reason}")
            else:
                say(
                    f"{tag}: {rel}: {fr.rows_in:,} rows, {fr.loaded:,} loaded, {fr.quarantined:,} quarantined"
                )
            reasons.update(local)
            for s in local_samples:
                sample(**s)
            res.rows_in += fr.rows_in
            res.rows_loaded += fr.loaded
            res.rows_quarantined += fr.quarantined
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
        _commit(decl, res, staging, part_dir, q_dir, schema)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    res.reason_counts = dict(reasons.most_common())
    res.seconds = round(time.monotonic() - t0, 3)
    assert res.rows_in == res.rows_loaded + res.rows_quarantined
    say(
        f"{tag}: done: {res.rows_in:,} rows in, {res.rows_loaded:,} loaded, {res.rows_quarantined:,} quarantined "
        f"in {res.seconds:.1f}s"
    )
    return res


def _commit(decl, res: IngestResult, staging: Path, part_dir: Path, q_dir: Path, schema: pa.Schema) -> None:
    """Replace the source's parts in the lake partition and its quarantine folder."""
    part_dir.mkdir(parents=True, exist_ok=True)
    for old in _own_parts(part_dir, decl.name):
        old.unlink()
    new_parts = sorted((staging / "lake").glob("part-*.parquet"))
    if not new_parts:
        empty = part_dir / f"{decl.name}-0000.parquet"
        pq.write_table(schema.empty_table(), empty)
        res.lake_files.append(empty)
    for k, p in enumerate(new_parts):
        dest = part_dir / f"{decl.name}-{k:04d}.parquet"
        os.replace(p, dest) if p.stat().st_dev == part_dir.stat().st_dev else shutil.move(p, dest)
        res.lake_files.append(dest)
    if q_dir.exists():
        shutil.rmtree(q_dir)
    st_q = staging / "quarantine"
    if any(st_q.iterdir()):
        q_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(st_q), str(q_dir))
        res.quarantine_files = sorted(p for p in q_dir.rglob("*") if p.is_file())
