"""One module per domain: ingestion, quality, warehouse (dbt), activation, automation, preview.

Each domain module has a `defs(...)` returning its own `dg.Definitions`; `build_definitions`
merges them. Nothing here runs at import: the environment is read, the partitions' first day
found and the dbt manifest prepared only when `build_definitions()` is called (by the
`@dg.definitions` function of `orchestration.definitions` when Dagster loads the code location,
or by `crmloop run`).
"""

from __future__ import annotations

import dagster as dg

from crmloop.settings import Settings


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    from orchestration.defs import activation, automation, ingestion, preview, quality, warehouse
    from orchestration.defs.partitions import daily_partitions
    from orchestration.defs.resources import CrmSettings

    settings = settings or Settings.from_env()
    parts = daily_partitions(settings)
    return dg.Definitions.merge(
        ingestion.defs(parts, settings),
        quality.defs(parts),
        warehouse.defs(settings, parts),
        activation.defs(parts, settings),
        automation.defs(parts),
        preview.defs(),
        dg.Definitions(
            resources={"crm": CrmSettings()},
            # In-process, as `crmloop run` executes. With the default multiprocess executor each
            # step runs in a process started by multiprocessing (forkserver), whose `__main__` has
            # no __file__; pyspark.sql.connect (imported by great_expectations) then takes itself
            # for a doctest run and calls sys.exit(0) (upstream: pyspark/sql/connect/utils.py,
            # check_dependencies: "The main module is not initialized at all at this point. We
            # must be running doctests."): every quality check of a run launched from the Dagster
            # UI failed with "SystemExit: 0" (quality.import_great_expectations guards the import).
            # Steps writing DuckDB are serialised by the pool anyway, and a process per step
            # costs seconds of imports each on a small machine.
            executor=dg.in_process_executor,
        ),
    )
