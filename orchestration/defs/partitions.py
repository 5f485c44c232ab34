"""The one partitioning of crmloop: a business day in Asia/Bangkok.

Partition D of an ingestion asset is landing partition D; partition D of a warehouse or
activation asset is everything built *as of* D.

The first partition is where the data starts: `CRM_START_DATE` when it is set, else the first
landing date of any declared source (else the as-of date, when nothing has landed yet). It is
evaluated when the definitions are loaded (`orchestration.definitions`, a `@dg.definitions`
function), never at import, so a reload of the code location (or the next `crmloop run`) follows
new data.
"""

from __future__ import annotations

import warnings
from datetime import date

import dagster as dg

from crmloop.settings import TIMEZONE, Settings


def first_partition(settings: Settings) -> date:
    """The first business day with a partition (see the module docstring)."""
    if settings.start_date is not None:
        return settings.start_date
    from sources import landing_partitions, load_declarations

    declared = load_declarations()
    dates = [
        d for source, ds in landing_partitions(settings.landing_dir).items() if source in declared for d in ds
    ]
    return min(dates, default=settings.as_of)


def daily_partitions(settings: Settings | None = None) -> dg.DailyPartitionsDefinition:
    """Daily partitions from `first_partition(settings)` (settings read now when not given)."""
    settings = settings or Settings.from_env()
    return dg.DailyPartitionsDefinition(start_date=first_partition(settings).isoformat(), timezone=TIMEZONE)


# knowingly: `backfill_policy` on @asset is a beta parameter; its warning at every load is not
# something a user can act on (only this message is ignored, nothing else of Dagster's)
warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy` of function", category=dg.BetaWarning)
ONE_DAY_PER_RUN = dg.BackfillPolicy.multi_run(max_partitions_per_run=1)
"""Every partitioned asset's backfill policy: each run builds one business day (dbt reads its day
as CRM_AS_OF, a send date is one day), so a backfill is one run per day, in order. One policy for
all, so the daily job resolves without Dagster's warning about varying policies."""
