"""Data-quality gates as Dagster asset checks (the suites live in sources/quality and activations/audiences/gate.py).

Each gated asset gets one multi-asset check with two checks:
- `quality_error` (blocking, severity ERROR): fails when any ERROR expectation fails; Dagster
  then skips everything downstream of the asset in that run.
- `quality_warn` (non-blocking, severity WARN): fails when any WARN expectation fails.

Both carry the failing expectations (unexpected count and percent, sample bad values, the
expectation config) and a link to the GX Data Docs written under `<home>/data_docs/`.

    from orchestration.defs.quality import lake_quality_checks, audience_quality_checks
    Definitions(asset_checks=[*lake_quality_checks(), *audience_quality_checks()], ...)
"""

import json
import sys
import warnings
from collections.abc import Mapping
from datetime import date

import dagster as dg

from crmloop.settings import HomeLayout
from orchestration.defs.ingestion import ingestion_key, partition_status_observation
from orchestration.defs.resources import CrmSettings

ERROR_CHECK = "quality_error"
WARN_CHECK = "quality_warn"
AUDIENCE_KEY = dg.AssetKey(["activations", "campaign_audiences"])


def import_great_expectations() -> None:
    """Import great_expectations where Dagster runs a step, before the suites need it.

    A run launched from the Dagster UI executes in a process started by multiprocessing, whose
    `__main__` has neither `__spec__` nor `__file__`. great_expectations imports
    pyspark.sql.connect, which takes such a `__main__` for a doctest run and calls sys.exit(0)
    when its optional dependencies are missing: every quality check failed with "SystemExit: 0".
    For the import only, `__main__` gets a `__file__` (removed again after), so pyspark raises
    ImportError instead, which great_expectations handles."""
    if "great_expectations" in sys.modules:
        return
    main = sys.modules.get("__main__")
    patch = (
        main is not None
        and getattr(main, "__spec__", None) is None
        and not hasattr(main, "__file__")
        and not hasattr(sys, "ps1")
    )
    if patch:
        main.__file__ = sys.argv[0] if sys.argv and sys.argv[0] else "<dagster step>"
    try:
        with warnings.catch_warnings():
            # pyspark (which great_expectations imports for its optional Spark datasource) warns
            # that it does not fully support pandas 3: the quality suites run on pandas, never on
            # Spark, so there is nothing for a user to do; only that warning of that module goes
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"pyspark\.sql\.connect\.utils")
            import great_expectations  # noqa: F401
    finally:
        if patch:
            del main.__file__


def _md_cell(value: object, limit: int = 120) -> str:
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def failures_markdown(report, severity: str) -> str:
    fails = report.failures(severity)
    if not fails:
        return (
            f"All {sum(1 for o in report.outcomes if o.severity == severity)} {severity} expectations passed."
        )
    lines = [
        "| suite | expectation | unexpected | % | sample bad values | observed | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in fails:
        pct = "" if o.unexpected_percent is None else f"{o.unexpected_percent:.2f}"
        lines.append(
            "| "
            + " | ".join(
                _md_cell(x)
                for x in (
                    o.suite,
                    o.name,
                    "" if o.unexpected_count is None else o.unexpected_count,
                    pct,
                    ", ".join(map(str, o.sample_bad_values)) or (o.exception or ""),
                    "" if o.observed_value is None else o.observed_value,
                    o.note or "",
                )
            )
            + " |"
        )
    return "\n".join(lines)


def check_results(
    report, asset_key: dg.AssetKey, layout: HomeLayout, **extra_metadata
) -> list[dg.AssetCheckResult]:
    """The ERROR and WARN AssetCheckResults of one ValidationReport; `layout`: the home whose data
    docs the report wrote (its link is the `crmloop serve` URL)."""
    from crmloop.serve import served_url
    from crmloop.settings import serve_port
    from sources.quality import ERROR, WARN

    common: dict = {
        "target": report.target,
        "expectations_checked": len(report.outcomes),
        "validation_seconds": round(report.seconds, 3),
        **extra_metadata,
    }
    if report.docs_path is not None:
        common["data_docs"] = dg.MetadataValue.path(str(report.docs_path))
        common["data_docs_url"] = dg.MetadataValue.url(served_url(report.docs_path, layout, serve_port()))
    out = []
    for check_name, severity, dg_severity in (
        (ERROR_CHECK, ERROR, dg.AssetCheckSeverity.ERROR),
        (WARN_CHECK, WARN, dg.AssetCheckSeverity.WARN),
    ):
        fails = report.failures(severity)
        out.append(
            dg.AssetCheckResult(
                check_name=check_name,
                asset_key=asset_key,
                passed=not fails,
                severity=dg_severity,
                description=report.summary(severity),
                metadata={
                    **common,
                    "failed_expectations": len(fails),
                    "failures": dg.MetadataValue.md(failures_markdown(report, severity)),
                    "failures_json": dg.MetadataValue.json(
                        json.loads(json.dumps([o.as_dict() for o in fails]))
                    ),
                },
            )
        )
    return out


def _specs(asset_key: dg.AssetKey, partitions_def, what: str) -> list[dg.AssetCheckSpec]:
    # Partitioned checks (one verdict per day) are a Dagster preview feature that crmloop relies on
    # knowingly: its PreviewWarning (two per source at every load) is not something a user can act
    # on, so exactly that one is silenced here; constraints.txt pins dagster against patch changes.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
        )
        return _check_specs(asset_key, partitions_def, what)


def _check_specs(asset_key: dg.AssetKey, partitions_def, what: str) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            ERROR_CHECK,
            asset=asset_key,
            blocking=True,
            partitions_def=partitions_def,
            description=f"ERROR expectations of {what} (blocking: a failure stops everything downstream)",
        ),
        dg.AssetCheckSpec(
            WARN_CHECK,
            asset=asset_key,
            blocking=False,
            partitions_def=partitions_def,
            description=f"WARN expectations of {what} (reported, never blocking)",
        ),
    ]


def build_lake_check(
    source: str,
    entity: str,
    *,
    partitions_def: dg.PartitionsDefinition | None = None,
    produced_by: str | None = None,
) -> dg.AssetChecksDefinition:
    """GX checks of one ingested source: validates the run's partition (key = load date).

    `produced_by` (a declaration's): the source is the output of that step of the run, not a
    delivery: `campaign_state` files partition D under its send date D + 1, from its own folder."""
    if partitions_def is None:
        from orchestration.defs.partitions import daily_partitions

        partitions_def = daily_partitions()
    key = ingestion_key(source)

    @dg.multi_asset_check(
        specs=_specs(key, partitions_def, f"source {source} (lake entity {entity})"),
        name=f"lake_{source}_quality",
        description=f"great-expectations suites of {entity} for source {source}: schema, keys, value sets, "
        "ranges, formats, referential, volume against trailing partitions, freshness. A failed ERROR check "
        "also holds the partition out of every later warehouse build until new files pass or a person "
        "releases it (crmloop release)",
    )
    def _check(context: dg.AssetCheckExecutionContext, crm: CrmSettings):
        from sources.quality import validate_partition_for

        import_great_expectations()

        settings = crm.get()
        load_date, landing_dir = _checked_partition(settings, context.partition_key, produced_by)
        report = validate_partition_for(
            settings, source, entity, load_date, progress=context.log.info, as_of=load_date
        )
        context.log.info(report.summary())
        status = record_partition_status(settings, source, entity, load_date, report, landing_dir)
        yield from check_results(
            report,
            key,
            settings,
            partition=context.partition_key,
            entity=entity,
            source=source,
            partition_status=status,
        )

    return _check


def _checked_partition(settings, partition_key: str, produced_by: str | None):
    """(lake load date, folder its files were ingested from) of a check's partition."""
    if produced_by is None:
        return date.fromisoformat(partition_key), settings.landing_dir
    from activations.delivery.campaign_state import PRODUCER

    if produced_by == PRODUCER:
        from orchestration.defs.activation import send_date_for

        return send_date_for(partition_key), settings.campaign_state_dir
    raise ValueError(f"no lake check for sources produced by {produced_by!r}")


def record_partition_status(settings, source: str, entity: str, load_date: date, report, landing_dir) -> str:
    """The check's verdict (its files came from `landing_dir`) in the durable status store (sources/partition_status.py), so that a
    failed partition stays out of the warehouse in later runs too; returns the state for metadata."""
    from sources import partition_status as ps
    from sources.quality import ERROR

    fails = report.failures(ERROR)
    status = ps.record_check(
        settings.lake_dir,
        source,
        entity,
        load_date,
        passed=not fails,
        failures=[
            f"{o.suite}:{o.name}"
            + ("" if o.unexpected_count is None else f" ({o.unexpected_count} unexpected)")
            for o in fails
        ],
        landing_fingerprint=ps.landing_fingerprint(landing_dir, source, load_date),
    )
    if status is None:
        return "admitted"
    if status.state == ps.BLOCKED:
        return (
            f"blocked: held back from every warehouse build until new files for {load_date} pass "
            f"or a person runs `{status.release_command()}`"
        )
    if status.state == ps.RELEASED:
        return f"released by {status.released_by} at {status.released_at}: {status.release_reason}"
    return "admitted (an earlier block was cleared)"


def lake_quality_checks(
    sources: Mapping[str, str] | None = None, *, partitions_def: dg.PartitionsDefinition | None = None
) -> list[dg.AssetChecksDefinition]:
    """One check definition per source. `sources`: {source name: entity} (delivered sources);
    default: every declaration, those a step of the run produces (campaign_sends) included."""
    if sources is None:
        from sources import load_declarations

        decls = load_declarations(include_produced=True).values()
        return [
            build_lake_check(d.name, d.entity, partitions_def=partitions_def, produced_by=d.produced_by)
            for d in sorted(decls, key=lambda d: d.name)
        ]
    return [build_lake_check(s, e, partitions_def=partitions_def) for s, e in sorted(sources.items())]


def audience_quality_checks(
    asset_key: dg.AssetKey = AUDIENCE_KEY, *, partitions_def: dg.PartitionsDefinition | None = None
) -> list[dg.AssetChecksDefinition]:
    """GX checks of activations.campaign_audiences (read from the warehouse) vs the previous run's sizes.

    `partitions_def`: pass the audience asset's partitions (None = unpartitioned asset)."""

    @dg.multi_asset_check(
        specs=_specs(asset_key, partitions_def, "every campaign audience"),
        name="campaign_audiences_quality",
        description="per campaign × channel: no opted-out person, no duplicate recipient, a valid address "
        "for the channel, audience size within the band of the previous run's",
    )
    def _check(context: dg.AssetCheckExecutionContext, crm: CrmSettings):
        from activations.audiences.gate import validate_audiences_for

        import_great_expectations()

        settings = crm.get()
        extra: dict = {}
        send_date, sha = None, None
        if context.has_partition_key:
            from orchestration.defs.activation import recorded_snapshot_sha256, send_date_for

            send_date = send_date_for(context.partition_key)
            sha = recorded_snapshot_sha256(context.instance, context.partition_key)
            extra = {"partition": context.partition_key, "snapshot_sha256": sha or ""}
        report = validate_audiences_for(settings, send_date, progress=context.log.info, snapshot_sha256=sha)
        context.log.info(report.summary())
        yield from check_results(report, asset_key, settings, **extra)

    return [_check]


def report_release(status) -> None:
    """Record a person's release of a held-back partition in the Dagster instance ($DAGSTER_HOME):
    an observation of lake/<source> for that partition, with who, when and why."""
    observation = partition_status_observation(
        status,
        f"released by {status.released_by}: {status.release_reason}",
        released_by=status.released_by,
        released_at=status.released_at,
        release_reason=status.release_reason,
    )
    with dg.DagsterInstance.get() as instance:
        instance.report_runless_asset_event(observation)


def defs(partitions_def: dg.PartitionsDefinition) -> dg.Definitions:
    """The quality domain: the GX gates of every lake source and of the campaign audiences."""
    return dg.Definitions(
        asset_checks=[
            *lake_quality_checks(partitions_def=partitions_def),
            *audience_quality_checks(partitions_def=partitions_def),
        ]
    )
