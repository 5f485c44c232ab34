"""Data-quality suites for lake partitions (great-expectations 1.x on pandas batches).

    from sources.quality import validate_partition
    report = validate_partition("pos_orders", "orders", date(2025, 1, 2),
                                lake_dir=settings.lake_dir, docs_dir=settings.data_docs_dir,
                                thresholds=settings.quality)
    report.passed("ERROR"), report.failures("WARN"), report.docs_path, report.summary()

One call validates one partition of one source (bounded memory: only that source's files in
that partition, only the columns the suites read). Cross-partition facts come from Parquet
footers (volume, freshness) and a read-only DuckDB scan (orders whose customer is unknown).
The expectations themselves live in `sources.quality.suites`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd

from crmloop.settings import QualityThresholds, Settings
from sources.quality.engine import (
    ERROR,
    WARN,
    Batch,
    Expect,
    ExpectationOutcome,
    ValidationReport,
    validate,
)
from sources.quality.lake import (
    LakeError,
    file_schemas,
    nulled_field_counts,
    nulled_fields_note,
    partition_stats,
    quarantine_counts,
    read_columns,
    rejected_files,
    schema_frame,
    source_files,
    unknown_customer_ids,
)
from sources.quality.suites import (
    SUBJECT_COLUMN,
    SUBJECT_SOURCES,
    files_suite,
    judge_shares,
    needed_columns,
    partitions_suite,
    quarantine_suite,
    required_columns,
    rows_suite,
    schema_suite,
    volume_bounds,
)

__all__ = [
    "ERROR",
    "WARN",
    "Batch",
    "Expect",
    "ExpectationOutcome",
    "LakeError",
    "ValidationReport",
    "partition_batches",
    "validate",
    "validate_partition",
    "validate_partition_for",
]


def partition_batches(
    source: str,
    entity: str,
    load_date: date,
    *,
    lake_dir: Path,
    thresholds: QualityThresholds,
    as_of: date | None = None,
    quarantine_dir: Path | None = None,
    produced: bool = False,
) -> list[Batch]:
    """The (schema, rows, partitions) batches of one source partition, ready for `validate()`.

    With `quarantine_dir`, also a `files` batch: every landing file ingestion rejected whole
    (unreadable, a required column missing) fails `files.none_rejected` (ERROR); and a
    `quarantine` batch: the share of rows quarantined at ingestion over `max_quarantine_share`
    (Wilson bound, like every share gate) fails `rows.quarantined_share` (ERROR).

    `produced`: an entity the pipeline writes itself (a declaration with `produced_by`): its size
    follows the plan, not a delivery, so volume is not judged against trailing partitions, and
    an empty partition is a run that wrote nothing, so it counts for freshness."""
    as_of = as_of or load_date
    q = thresholds
    prefix = f"{entity}.{source}"
    batches: list[Batch] = []

    stats = partition_stats(lake_dir, entity, source, up_to=max(as_of, load_date))
    # Freshness counts the partitions that brought rows: ingestion writes an empty partition for a
    # day when nothing landed, which must not make a source that stopped delivering look fresh.
    # A source that never brought any (feedback before the first campaign) keeps its empty ones.
    # A produced entity writes its partition in every run: an empty one is fresh.
    arrived = stats if produced else ([s for s in stats if s.rows > 0] or stats)
    inventory = pd.DataFrame(
        {
            "load_date": [s.load_date.isoformat() for s in arrived],
            "rows": [s.rows for s in arrived],
            "age_days": [(as_of - s.load_date).days for s in arrived],
        },
        columns=["load_date", "rows", "age_days"],
    )
    if not arrived:
        inventory = inventory.astype({"load_date": object, "rows": "int64", "age_days": "int64"})

    files = source_files(lake_dir, entity, source, load_date)
    if files:
        schemas = file_schemas(files)
        wanted = [c for c, _ in required_columns(entity)]
        batches.append(Batch(f"{prefix}.schema", schema_frame(files, schemas, wanted), schema_suite(entity)))

        trailing = [s.rows for s in stats if s.load_date < load_date][-q.volume_trailing_days :]
        bounds = None if produced else volume_bounds(trailing, q.volume_band, q.volume_min_history)
        referential = entity == "orders"
        exps = rows_suite(entity, as_of=as_of, thresholds=q, volume_bounds=bounds, referential=referential)
        columns = needed_columns(exps)
        frame = read_columns(files, schemas, columns)
        present = set(frame.columns)
        if referential and {"source_system", "source_customer_id"} <= present:
            unknown = unknown_customer_ids(lake_dir, files, load_date)
            keys = list(zip(frame["source_system"], frame["source_customer_id"], strict=True))
            frame["_unknown_customer_id"] = pd.Series(
                [cid if (sys_, cid) in unknown else None for sys_, cid in keys],
                index=frame.index,
                dtype=object,
            )
            present.add("_unknown_customer_id")
        if SUBJECT_COLUMN in {c for e in exps for c in e.columns}:
            subject = pd.Series([None] * len(frame), index=frame.index, dtype=object)
            for col in SUBJECT_SOURCES:
                if col in present:
                    subject = subject.where(subject.notna(), frame[col].astype(object))
            frame[SUBJECT_COLUMN] = subject.where(subject.notna(), None)
            present.add(SUBJECT_COLUMN)
        # expectations on absent columns are reported once, by the schema suite
        usable = [e for e in exps if set(e.columns) <= present]
        usable, notes = judge_shares(usable, frame)
        if "nulled_fields.share" in notes:
            counted = nulled_fields_note(nulled_field_counts(files))
            notes["nulled_fields.share"] = f"{counted}; {notes['nulled_fields.share']}"
        if produced:
            notes["volume.within_band"] = (
                "written by the pipeline itself (its size follows the plan): not judged"
            )
        elif bounds is None:
            notes["volume.within_band"] = (
                f"{len(trailing)} trailing partition(s), fewer than {q.volume_min_history}: volume not checked"
            )
        else:
            notes["volume.within_band"] = f"trailing rows {trailing}, allowed {bounds[0]}..{bounds[1]}"
        batches.append(Batch(f"{prefix}.rows", frame, usable, notes))

    if quarantine_dir is not None:
        rejected = rejected_files(quarantine_dir, source, load_date)
        batches.append(Batch(f"{prefix}.files", rejected, files_suite()))
        reasons = quarantine_counts(quarantine_dir, source, load_date)
        quarantined = sum(reasons.values())
        loaded = sum(s.rows for s in stats if s.load_date == load_date)
        rows_in = loaded + quarantined
        top = ", ".join(f"{r} {c:,}" for r, c in list(reasons.items())[:5]) or "none"
        batches.append(
            Batch(
                f"{prefix}.quarantine",
                pd.DataFrame({"quarantined": [quarantined]}),
                quarantine_suite(q.max_quarantine_share, rows_in),
                {
                    "rows.quarantined_share": f"{quarantined:,} of {rows_in:,} rows quarantined"
                    f"{f' ({quarantined / rows_in:.1%})' if rows_in else ''}; top reasons: {top}"
                },
            )
        )

    newest = arrived[-1].load_date.isoformat() if arrived else "none"
    batches.append(
        Batch(
            f"{prefix}.partitions",
            inventory,
            partitions_suite(q),
            {"freshness.newest_partition": f"newest partition {newest}, as-of {as_of.isoformat()}"},
        )
    )
    return batches


def validate_partition(
    source: str,
    entity: str,
    load_date: date,
    *,
    lake_dir: Path,
    docs_dir: Path | None,
    thresholds: QualityThresholds | None = None,
    as_of: date | None = None,
    progress: Callable[[str], None] | None = None,
    quarantine_dir: Path | None = None,
    produced: bool = False,
) -> ValidationReport:
    """Validate partition `load_date` of `source` (which feeds lake entity `entity`).

    `as_of` (default: `load_date`) is the date timestamps must not exceed and freshness is
    measured against. Writes GX Data Docs under `docs_dir` (None: none) and returns the report.
    `quarantine_dir` (ingestion's): files rejected whole fail the partition (see partition_batches).
    """
    q = thresholds or QualityThresholds()
    batches = partition_batches(
        source,
        entity,
        load_date,
        lake_dir=lake_dir,
        thresholds=q,
        as_of=as_of,
        quarantine_dir=quarantine_dir,
        produced=produced,
    )
    report = validate(
        batches, target=f"{source}@{load_date.isoformat()}", docs_dir=docs_dir, progress=progress
    )
    if not source_files(lake_dir, entity, source, load_date) and progress:
        progress(f"{source}@{load_date}: no lake files for this partition; only freshness was checked")
    return report


def validate_partition_for(
    settings: Settings,
    source: str,
    entity: str,
    load_date: date,
    progress: Callable[[str], None] | None = None,
    as_of: date | None = None,
) -> ValidationReport:
    """`validate_partition` with the lake, Data Docs folder and quarantine of `settings`, and the
    thresholds that apply to `source` (precedence: `sources.quality.thresholds`)."""
    from sources.declarations import load_declarations
    from sources.quality.thresholds import thresholds_for

    decl = load_declarations(include_produced=True).get(source)
    thresholds = thresholds_for(settings.quality, decl)
    return validate_partition(
        source,
        entity,
        load_date,
        lake_dir=settings.lake_dir,
        docs_dir=settings.data_docs_dir,
        thresholds=thresholds,
        as_of=as_of,
        progress=progress,
        quarantine_dir=settings.quarantine_dir,
        produced=decl is not None and decl.produced_by is not None,
    )
