"""One daily-partitioned asset per declared source: landing partition D → lake partition D."""

from datetime import date

import dagster as dg

from crmloop.preflight import nothing_landed
from crmloop.settings import Settings
from orchestration.defs.freshness import source_freshness
from orchestration.defs.partitions import ONE_DAY_PER_RUN, daily_partitions
from orchestration.defs.resources import CrmSettings
from sources import ingest_partition, load_declarations
from sources.lake import partition_dir

INGESTION_GROUP = "ingestion"


def ingestion_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(["lake", source])


def partition_status_observation(status, description: str, **metadata) -> dg.AssetObservation:
    """What the Dagster UI shows on lake/<source> for one partition's status
    (sources/partition_status.py): its state and why it failed, plus `metadata`."""
    return dg.AssetObservation(
        asset_key=ingestion_key(status.source),
        partition=status.load_date.isoformat(),
        description=description,
        metadata={"partition_status": status.state, "failed": status.reason, **metadata},
    )


def _reasons_markdown(result) -> str:
    if not result.reason_counts:
        return "No row was quarantined."
    lines = ["| reason | rows |", "|---|---|"]
    lines += [
        f"| {reason} | {count} |"
        for reason, count in sorted(result.reason_counts.items(), key=lambda kv: -kv[1])
    ]
    if result.samples:
        lines += ["", *_sample_table(result.samples)]
    return "\n".join(lines)


def _sample_table(samples: list[dict]) -> list[str]:
    """The first ten samples (file, row, reason, value) as Markdown table lines."""
    lines = ["| file | row | reason | value |", "|---|---|---|---|"]
    for s in samples[:10]:
        value = str(s.get("value", ""))[:60].replace("|", "\\|")
        lines.append(f"| {s.get('file')} | {s.get('row')} | {s.get('reason')} | {value} |")
    return lines


def _nulled_markdown(result) -> str:
    """The values ingestion loaded as null because they failed to parse (sources.schema.NULLED_FIELDS):
    per column and reason a count, then the first ones with file, row, reason and value."""
    if not result.nulled_counts:
        return "No field was nulled."
    lines = ["| column | reason | rows |", "|---|---|---|"]
    for flag, count in result.nulled_counts.items():
        reason, _, column = flag.partition(":")
        lines.append(f"| {column} | {reason} | {count} |")
    return "\n".join([*lines, "", *_sample_table(result.nulled_samples)])


def _nulled_by_column(result) -> dict[str, int]:
    out: dict[str, int] = {}
    for flag, count in result.nulled_counts.items():
        column = flag.partition(":")[2]
        out[column] = out.get(column, 0) + count
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def ingestion_metadata(result, lake_dir, log) -> dict:
    """The metadata of one ingested partition (an IngestResult) after checking its accounting:
    a dg.Failure when rows in != loaded + quarantined + rejected. Every lake writer's asset
    (each source's, the campaign state's) reports through this."""
    name, load_date = result.source, result.load_date
    if not result.balanced:
        raise dg.Failure(
            f"row accounting broken for {name} {load_date}: {result.rows_in} in != "
            f"{result.rows_loaded} loaded + {result.rows_quarantined} quarantined + {result.rows_rejected} rejected"
        )
    log.info(
        f"{name} {load_date}: {result.rows_in} rows in, {result.rows_loaded} loaded, "
        f"{result.rows_quarantined} quarantined, {result.rows_rejected} rejected, {len(result.files)} files"
    )
    if result.nulled_counts:
        log.warning(
            f"{name} {load_date}: fields nulled at ingestion (the rows loaded): "
            + ", ".join(f"{flag} {count}" for flag, count in result.nulled_counts.items())
        )
    return {
        "rows_in": result.rows_in,
        "rows_loaded": result.rows_loaded,
        "rows_quarantined": result.rows_quarantined,
        "rows_rejected": result.rows_rejected,
        # {file: reason} of every file rejected whole or refused, for the run summary
        "rejected_files": dg.MetadataValue.json(result.rejected_files),
        "top_quarantine_reasons": dg.MetadataValue.json(dict(list(result.reason_counts.items())[:5])),
        "files": len(result.files),
        "dagster/row_count": result.rows_loaded,
        "quarantine_reasons": dg.MetadataValue.md(_reasons_markdown(result)),
        # non-key values that failed to parse, loaded as null (the row kept), per column
        "nulled_fields_by_column": dg.MetadataValue.json(_nulled_by_column(result)),
        "nulled_fields": dg.MetadataValue.md(_nulled_markdown(result)),
        "lake_path": dg.MetadataValue.path(str(partition_dir(lake_dir, result.entity, load_date))),
    }


def build_ingestion_asset(
    decl, partitions_def: dg.PartitionsDefinition | None = None, settings: Settings | None = None
) -> dg.AssetsDefinition:
    settings = settings or Settings.from_env()

    @dg.asset(
        key=ingestion_key(decl.name),
        partitions_def=partitions_def or daily_partitions(),
        backfill_policy=ONE_DAY_PER_RUN,
        group_name=INGESTION_GROUP,
        kinds={"python", "parquet"},
        description=f"Landing files of source `{decl.name}` normalised into lake entity `{decl.entity}` "
        f"(typed Parquet, bad rows quarantined with file, row and reason).",
        metadata={"entity": decl.entity},
        freshness_policy=source_freshness(settings, decl),
    )
    def _ingest(context: dg.AssetExecutionContext, crm: CrmSettings) -> dg.MaterializeResult:
        settings = crm.get()
        load_date = date.fromisoformat(context.partition_key)
        # a run with nothing to work on fails loudly (as `crmloop run` refuses it) instead of
        # loading 0 files everywhere and building empty marts
        if problem := nothing_landed(settings.landing_dir, load_date, sorted(load_declarations())):
            raise dg.Failure(problem)

        def progress(message: str) -> None:
            context.log.info(message)

        result = ingest_partition(
            decl,
            landing_dir=settings.landing_dir,
            lake_dir=settings.lake_dir,
            quarantine_dir=settings.quarantine_dir,
            load_date=load_date,
            progress=progress,
        )
        return dg.MaterializeResult(metadata=ingestion_metadata(result, settings.lake_dir, context.log))

    return _ingest


def ingestion_assets(
    partitions_def: dg.PartitionsDefinition | None = None, settings: Settings | None = None
) -> list[dg.AssetsDefinition]:
    settings = settings or Settings.from_env()
    partitions_def = partitions_def or daily_partitions(settings)
    return [
        build_ingestion_asset(decl, partitions_def, settings)
        for decl in sorted(load_declarations().values(), key=lambda d: d.name)
    ]


def defs(partitions_def: dg.PartitionsDefinition, settings: Settings | None = None) -> dg.Definitions:
    """The ingestion domain: one asset per declared source (its checks are in quality.py)."""
    return dg.Definitions(assets=ingestion_assets(partitions_def, settings))


def sources_by_entity() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for decl in load_declarations().values():
        out.setdefault(decl.entity, []).append(decl.name)
    return {k: sorted(v) for k, v in out.items()}
