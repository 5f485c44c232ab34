"""Dagster freshness policies from crmloop's one freshness setting, so the UI shows a stale asset.

The setting is `QualityThresholds.freshness_days` (`CRM_DQ_FRESHNESS_DAYS`, read through
`Settings`; per source also `CRM_DQ_<SOURCE>_FRESHNESS_DAYS` or its declaration's `quality:`):
the same threshold the `freshness.newest_partition` expectation of each lake source checks on
the data. Here it bounds the time since the asset's last materialization
(`dg.FreshnessPolicy.time_window`): a lake source (and a daily mart) that nothing has
materialized for `freshness_days` days is marked FAIL in the UI.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from crmloop.settings import Settings


def freshness_policy(days: int) -> dg.FreshnessPolicy:
    """Fail when the asset's last materialization is more than `days` days old."""
    return dg.FreshnessPolicy.time_window(fail_window=timedelta(days=days))


def source_freshness(settings: Settings, decl) -> dg.FreshnessPolicy:
    """The policy of one lake source: its own freshness threshold (sources.quality.thresholds)."""
    from sources.quality.thresholds import thresholds_for

    return freshness_policy(thresholds_for(settings.quality, decl).freshness_days)


def marts_freshness(settings: Settings) -> dg.FreshnessPolicy:
    """The policy of the daily marts: the threshold every source shares (`CRM_DQ_FRESHNESS_DAYS`)."""
    return freshness_policy(settings.quality.freshness_days)
