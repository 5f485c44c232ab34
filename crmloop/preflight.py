"""What a run checks before it starts Dagster: something to work on, and a plan it can use.

A run that has nothing to work on fails loudly instead of building empty marts and exporting
empty files. `crmloop run` calls `preflight` before anything is ingested; the Dagster ingestion
assets call `nothing_landed` so that a scheduled or UI run fails the same way.

    from crmloop.preflight import RunRefused, check_plan, landing_work
    work = landing_work(settings)  # RunRefused with one sentence naming what is missing
    work.warnings                  # e.g. landing partitions older than CRM_START_DATE, not ingested
    check_plan(settings)           # RunRefused with PlanError's line-numbered message
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from crmloop.settings import Settings


class RunRefused(Exception):
    """The run cannot do anything useful; the message says what is missing, and where."""


@dataclass
class Work:
    """What a run as of `as_of` has to work on, by declared source: dates with landing files."""

    as_of: date
    dates: dict[str, list[date]] = field(default_factory=dict)  # on or after CRM_START_DATE
    before_start: dict[str, list[date]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _days(dates: list[date]) -> str:
    if len(dates) <= 3:
        return ", ".join(d.isoformat() for d in dates)
    return f"{dates[0]} … {dates[-1]} ({len(dates)} days)"


def _delivered(landing_dir: Path, source: str, dates: list[date]) -> list[date]:
    """The dates whose landing folder holds at least one file (an empty folder delivers nothing)."""
    from sources.ingest import landing_files

    return [d for d in dates if landing_files(landing_dir, source, d)]


def _missing_landing(landing_dir: Path) -> str | None:
    if not landing_dir.exists():
        return f"landing zone {landing_dir} does not exist (--landing / CRM_LANDING_DIR): nothing to ingest"
    if not landing_dir.is_dir():
        return f"landing zone {landing_dir} is not a directory (--landing / CRM_LANDING_DIR)"
    return None


def landing_work(settings: Settings, sources: list[str] | None = None) -> Work:
    """Inventory the landing zone for a run as of settings.as_of; RunRefused when it holds nothing
    for that day (the landing zone missing or empty, no partition dated as_of, or only partitions
    before CRM_START_DATE). Partitions before CRM_START_DATE become a warning naming them."""
    from sources import landing_partitions, load_declarations

    landing, as_of, start = settings.landing_dir, settings.as_of, settings.start_date
    if problem := _missing_landing(landing):
        raise RunRefused(problem)
    declared = sorted(sources if sources is not None else load_declarations())
    found = landing_partitions(landing)
    work = Work(as_of=as_of)
    for source in declared:
        delivered = _delivered(landing, source, found.get(source, []))
        if early := [d for d in delivered if start is not None and d < start]:
            work.before_start[source] = early
        if kept := [d for d in delivered if start is None or d >= start]:
            work.dates[source] = kept
    unknown = sorted(set(found) - set(declared))
    if unknown:
        work.warnings.append(
            f"landing folder(s) {', '.join(unknown)} in {landing} match no declared source, not ingested"
        )
    named = "; ".join(f"{s} {_days(ds)}" for s, ds in sorted(work.before_start.items()))
    if work.before_start:
        work.warnings.append(f"landing partitions before CRM_START_DATE {start} are not ingested: {named}")
    if not work.dates and not work.before_start:
        raise RunRefused(
            f"landing zone {landing} is empty: no <source>/<YYYY-MM-DD>/ folder with files for any "
            f"declared source ({', '.join(declared)})"
        )
    usable = sorted({d for ds in work.dates.values() for d in ds if d <= as_of})
    if not usable:
        if work.before_start and not work.dates:
            earliest = min(d for ds in work.before_start.values() for d in ds)
            raise RunRefused(
                f"nothing to work on: every landing partition in {landing} is before CRM_START_DATE "
                f"{start} ({named}); set CRM_START_DATE to {earliest} or earlier"
            )
        first = min(d for ds in work.dates.values() for d in ds)
        raise RunRefused(
            f"nothing to work on for {as_of}: no landing partition on or before it in {landing} "
            f"(the earliest is {first})"
        )
    if usable[-1] != as_of:
        raise RunRefused(
            f"nothing landed for {as_of}: no declared source has files in {landing}/<source>/{as_of}/ "
            f"(the latest landing partition before it is {usable[-1]})"
        )
    return work


def nothing_landed(landing_dir: Path, day: date, sources: list[str]) -> str | None:
    """Why a run of `day` has nothing to ingest (None when some declared source delivered files)."""
    if problem := _missing_landing(landing_dir):
        return problem
    from sources.ingest import landing_files

    if any(landing_files(landing_dir, s, day) for s in sources):
        return None
    return f"nothing landed for {day}: no declared source has files in {landing_dir}/<source>/{day}/"


def check_plan(settings: Settings) -> None:
    """The plan must load before anything is ingested (its PlanError names file, line and reason)."""
    from activations.plan.spec import PlanError, load_plan

    try:
        load_plan(settings.plan_path)
    except PlanError as exc:
        raise RunRefused(str(exc)) from None
