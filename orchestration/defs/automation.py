"""Jobs, the 02:00 Asia/Bangkok schedule and the landing sensor.

The schedule and the sensor launch whole-day runs of the daily job, inside which a failed
blocking check (the lake and audience gates) stops everything downstream. Dagster's blocking only
acts within a run, so an asset given a declarative `automation_condition` would be materialized
in runs of its own, after a gate failed in another run, unless its condition requires
`AutomationCondition.all_deps_blocking_checks_passed()`; no asset has one today, and
tests/orchestration/test_automation.py fails on any that omits it.
"""

from __future__ import annotations

import hashlib
import json

import dagster as dg

from crmloop.settings import Settings
from orchestration.defs.partitions import daily_partitions
from sources import landing_partitions, load_declarations

DAILY_JOB = "daily_run"
INGEST_JOB = "ingest_only"


def jobs(partitions_def: dg.PartitionsDefinition | None = None) -> list[dg.UnresolvedAssetJobDefinition]:
    partitions_def = partitions_def or daily_partitions()
    return [
        dg.define_asset_job(
            DAILY_JOB,
            selection=dg.AssetSelection.all(),
            partitions_def=partitions_def,
            description="One business day: ingest landing partition D, build the warehouse as of D, "
            "gate on data quality, activate the plan, report.",
        ),
        dg.define_asset_job(
            INGEST_JOB,
            selection=dg.AssetSelection.groups("ingestion"),
            partitions_def=partitions_def,
            description="Ingest one landing partition into the lake (used for catch-up of older partitions).",
        ),
    ]


def daily_schedule(job: dg.UnresolvedAssetJobDefinition):
    # Partition D runs at 02:00 Asia/Bangkok on D+1 (the partitions' own time zone).
    return dg.build_schedule_from_partitioned_job(
        job, hour_of_day=2, minute_of_hour=0, name="daily_0200_bangkok"
    )


def landing_fingerprint(settings: Settings, day: str) -> str:
    """A stable fingerprint of what has landed for one date (names and sizes of every file)."""
    digest = hashlib.sha256()
    for source_dir in sorted(p for p in settings.landing_dir.iterdir() if p.is_dir()):
        part = source_dir / day
        if part.is_dir():
            for f in sorted(part.rglob("*")):
                if f.is_file():
                    digest.update(f"{source_dir.name}/{f.relative_to(part)}:{f.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


@dg.sensor(
    name="new_landing_partition",
    job_name=DAILY_JOB,
    minimum_interval_seconds=60,
    description="Starts the daily run for a date when a new landing partition (or new files in one) appears. "
    "Corrected files for an older, held-back partition are only ingested and checked again (its "
    "lake/<source> assets): the next daily run then builds with it, no old day is re-sent.",
)
def landing_sensor(context: dg.SensorEvaluationContext):
    from orchestration.defs.ingestion import ingestion_key
    from sources.partition_status import redelivered

    settings = Settings.from_env()
    if not settings.landing_dir.is_dir():
        return dg.SkipReason(f"no landing directory at {settings.landing_dir}")
    seen = json.loads(context.cursor) if context.cursor else {}
    partition_keys = set(daily_partitions(settings).get_partition_keys())
    dates = sorted({d.isoformat() for ds in landing_partitions(settings.landing_dir).values() for d in ds})
    recheck: dict[str, list[str]] = {}
    for status in redelivered(settings.lake_dir, settings.landing_dir, load_declarations()):
        recheck.setdefault(status.load_date.isoformat(), []).append(status.source)
    requests = []
    for day in dates:
        if day not in partition_keys:
            continue
        fp = landing_fingerprint(settings, day)
        if seen.get(day) != fp:
            seen[day] = fp
            if day in recheck and day != dates[-1]:
                keys = [ingestion_key(s) for s in sorted(recheck[day])]
                requests.append(dg.RunRequest(run_key=f"{day}-{fp}", partition_key=day, asset_selection=keys))
            else:
                requests.append(dg.RunRequest(run_key=f"{day}-{fp}", partition_key=day))
    context.update_cursor(json.dumps(seen))
    return requests or dg.SkipReason("no new landing partition")


def defs(partitions_def: dg.PartitionsDefinition) -> dg.Definitions:
    """The automation domain: the daily and ingest-only jobs, the 02:00 schedule, the landing sensor."""
    daily_job, ingest_job = jobs(partitions_def)
    return dg.Definitions(
        jobs=[daily_job, ingest_job], schedules=[daily_schedule(daily_job)], sensors=[landing_sensor]
    )
