"""The one partitioning of crmloop: a business day in Asia/Bangkok.

Partition D of an ingestion asset is landing partition D; partition D of a warehouse or
activation asset is everything built *as of* D.
"""

from __future__ import annotations

from functools import cache

import dagster as dg

from crmloop.settings import TIMEZONE, Settings


@cache
def daily_partitions() -> dg.DailyPartitionsDefinition:
    settings = Settings.from_env()
    return dg.DailyPartitionsDefinition(start_date=settings.start_date.isoformat(), timezone=TIMEZONE)
