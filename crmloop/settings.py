"""crmloop's one settings object.

Read once, at run time (never at import), from environment variables. The CLI sets the same
variables from its flags before it starts Dagster, so the CLI, `dagster dev` and the tests
all see one configuration.

| variable | default | meaning |
|---|---|---|
| CRM_LANDING_DIR | ./data/landing | where extracts arrive: <landing>/<source>/<YYYY-MM-DD>/<files> |
| CRM_HOME | ./.crm | everything a run keeps: lake, quarantine, warehouse, exports, reports, Dagster storage |
| CRM_AS_OF | yesterday in Asia/Bangkok | the business date a run builds |
| CRM_START_DATE | (the first landing date) | first daily partition; landing partitions before it are not ingested |
| CRM_ACTIVATION_MODE | sandbox | sandbox (outbox only) or live |
| CRM_PLAN | activations/plan/plan.yml | the communication plan |
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from activations.plan.spec import DEFAULT_PLAN_PATH

TIMEZONE = "Asia/Bangkok"
REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"


def default_as_of(now: datetime | None = None) -> date:
    """Yesterday in Asia/Bangkok."""
    now = now or datetime.now(ZoneInfo(TIMEZONE))
    return (now.astimezone(ZoneInfo(TIMEZONE)) - timedelta(days=1)).date()


class SettingsError(ValueError):
    """A setting that cannot be used: the message names it, says what is wrong and what is accepted."""


_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_day(raw: str, name: str) -> date:
    """A calendar day written YYYY-MM-DD, or a SettingsError naming `name` and the accepted form.

    (date.fromisoformat alone also takes 20261130 and 2026-W48-1; a run date is one spelling.)"""
    text = raw.strip()
    why = "not a date in the form YYYY-MM-DD"
    if _ISO_DAY.match(text):
        try:
            return date.fromisoformat(text)
        except ValueError as exc:  # e.g. 2026-13-01: "month must be in 1..12"
            why = f"not a calendar day ({exc})"
    raise SettingsError(f"{name} {raw!r} is {why}; write a day as YYYY-MM-DD, e.g. 2026-11-30")


def check_run_day(
    as_of: date, start_date: date | None, *, name: str = "--as-of", today: date | None = None
) -> None:
    """A run builds a finished business day: from CRM_START_DATE (when set) to yesterday (Asia/Bangkok).
    Without CRM_START_DATE the data sets the start: the preflight refuses a day before any landing."""
    last = today - timedelta(days=1) if today else default_as_of()
    first = f"{start_date} (CRM_START_DATE)" if start_date is not None else "the first landing date"
    accepted = f"accepted: {first} to {last} (yesterday, {TIMEZONE})"
    if as_of > last:
        raise SettingsError(f"{name} {as_of} is not a finished business day yet; {accepted}")
    if start_date is not None and as_of < start_date:
        raise SettingsError(f"{name} {as_of} is before CRM_START_DATE; {accepted}")


def _env_path(name: str, default: str) -> Path:
    return Path(os.environ.get(name) or default).expanduser().resolve()


def _env_number(name: str, default, kind):
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return kind(raw)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise SettingsError(f"{name}={raw!r} is not {what} (default {default})") from None


def _env_float(name: str, default: float) -> float:
    return _env_number(name, default, float)


def _env_int(name: str, default: int) -> int:
    return _env_number(name, default, int)


@dataclass(frozen=True)
class QualityThresholds:
    """Data-quality gate thresholds (documented in README, overridable by env)."""

    volume_band: float = 0.5  # today's rows must be within ±50% of the trailing median
    volume_trailing_days: int = 7
    volume_min_history: int = 3  # fewer trailing partitions than this: volume is not judged
    freshness_days: int = 2  # newest partition not older than this many days before as-of
    max_null_share: float = 0.2  # tolerated share of nulls in nullable contact columns
    max_duplicate_share: float = 0.02  # re-delivered order rows tolerated (both copies count)
    audience_band: float = 0.5  # audience size within ±50% of the previous run's
    max_invalid_share: float = (
        0.05  # tolerated share of badly formatted emails/mobiles, implausible birth dates
    )
    max_orphan_share: float = 0.01  # tolerated share of orders whose customer is in no customers partition
    max_quarantine_share: float = 0.05  # tolerated share of a partition's rows quarantined at ingestion
    future_tolerance_days: int = 1  # timestamps may be at most this many days after the checked date
    min_age_years: int = 10  # birth dates must be at least this many years before as-of

    @classmethod
    def from_env(cls) -> QualityThresholds:
        return cls(
            volume_band=_env_float("CRM_DQ_VOLUME_BAND", cls.volume_band),
            volume_trailing_days=_env_int("CRM_DQ_VOLUME_TRAILING_DAYS", cls.volume_trailing_days),
            volume_min_history=_env_int("CRM_DQ_VOLUME_MIN_HISTORY", cls.volume_min_history),
            freshness_days=_env_int("CRM_DQ_FRESHNESS_DAYS", cls.freshness_days),
            max_null_share=_env_float("CRM_DQ_MAX_NULL_SHARE", cls.max_null_share),
            max_duplicate_share=_env_float("CRM_DQ_MAX_DUPLICATE_SHARE", cls.max_duplicate_share),
            audience_band=_env_float("CRM_DQ_AUDIENCE_BAND", cls.audience_band),
            max_invalid_share=_env_float("CRM_DQ_MAX_INVALID_SHARE", cls.max_invalid_share),
            max_orphan_share=_env_float("CRM_DQ_MAX_ORPHAN_SHARE", cls.max_orphan_share),
            max_quarantine_share=_env_float("CRM_DQ_MAX_QUARANTINE_SHARE", cls.max_quarantine_share),
            future_tolerance_days=_env_int("CRM_DQ_FUTURE_TOLERANCE_DAYS", cls.future_tolerance_days),
            min_age_years=_env_int("CRM_DQ_MIN_AGE_YEARS", cls.min_age_years),
        )


@dataclass(frozen=True)
class Settings:
    landing_dir: Path
    home: Path
    as_of: date
    # CRM_START_DATE, None when unset: partitions then start at the first landing date
    # (orchestration/defs/partitions.py first_partition)
    start_date: date | None
    activation_mode: str = "sandbox"
    plan_path: Path = field(default=DEFAULT_PLAN_PATH)
    quality: QualityThresholds = field(default_factory=QualityThresholds)

    # Everything a run keeps lives under the home.
    @property
    def lake_dir(self) -> Path:
        return self.home / "lake"

    @property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def exports_dir(self) -> Path:
        return self.home / "exports"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"

    @property
    def approvals_path(self) -> Path:
        """Who approved which campaign content for live sends (activations/plan/approvals.py)."""
        return self.home / "approvals.jsonl"

    @property
    def snapshots_dir(self) -> Path:
        """Frozen audiences per send date: what the audience gate checked is what the channels send."""
        return self.home / "snapshots"

    @property
    def data_docs_dir(self) -> Path:
        return self.home / "data_docs"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def dbt_project_dir(self) -> Path:
        return DBT_PROJECT_DIR

    @property
    def dbt_target_dir(self) -> Path:
        """dbt's manifest and per-run artifacts and logs: under the home, never in the repo."""
        return self.home / "dbt_target"

    @classmethod
    def from_env(cls) -> Settings:
        as_of_raw = os.environ.get("CRM_AS_OF")
        start_raw = os.environ.get("CRM_START_DATE")
        mode = (os.environ.get("CRM_ACTIVATION_MODE") or "sandbox").lower()
        if mode not in ("sandbox", "live"):
            raise SettingsError(f"CRM_ACTIVATION_MODE must be 'sandbox' or 'live', not {mode!r}")
        return cls(
            landing_dir=_env_path("CRM_LANDING_DIR", "./data/landing"),
            home=_env_path("CRM_HOME", "./.crm"),
            as_of=parse_day(as_of_raw, "CRM_AS_OF") if as_of_raw else default_as_of(),
            start_date=parse_day(start_raw, "CRM_START_DATE") if start_raw else None,
            activation_mode=mode,
            plan_path=_env_path("CRM_PLAN", str(DEFAULT_PLAN_PATH)),
            quality=QualityThresholds.from_env(),
        )

    def dbt_env(self) -> dict[str, str]:
        """Environment for dbt: absolute paths, since dbt changes directory into the project."""
        return {
            "CRM_WAREHOUSE": str(self.warehouse_path),
            "CRM_LAKE_DIR": str(self.lake_dir),
            "DBT_PROFILES_DIR": str(self.dbt_project_dir),
            "DBT_TARGET_PATH": str(self.dbt_target_dir),
            "DBT_LOG_PATH": str(self.dbt_target_dir),
        }
