"""One module per domain: ingestion, warehouse (dbt), quality, activation, automation."""

from __future__ import annotations

import dagster as dg

from crmloop.settings import Settings


def build_definitions() -> dg.Definitions:
    from orchestration.defs import activation, automation, ingestion, preview, quality, warehouse
    from orchestration.defs.resources import CrmSettings

    settings = Settings.from_env()
    daily_job, ingest_job = automation.jobs()
    return dg.Definitions(
        assets=[
            *ingestion.ingestion_assets(),
            *warehouse.warehouse_assets(settings),
            *activation.external_tables,
            activation.campaign_audiences,
            activation.channels,
            activation.campaign_state,
            activation.campaign_report,
        ],
        asset_checks=[*quality.lake_quality_checks(), *quality.audience_quality_checks()],
        jobs=[daily_job, ingest_job, preview.preview_campaigns, preview.approve_campaign],
        # In-process, as `crmloop run` executes. With the default multiprocess executor each step
        # runs in a forkserver process whose `__main__` has no __file__, so pyspark.sql.connect
        # (imported by great_expectations) takes itself for a doctest run and calls sys.exit(0):
        # every quality check of a run launched from the Dagster UI failed with "SystemExit: 0".
        # Steps writing DuckDB are serialised by the pool anyway, and a process per step costs
        # seconds of imports each on a small machine.
        executor=dg.in_process_executor,
        schedules=[automation.daily_schedule(daily_job)],
        sensors=[automation.landing_sensor],
        resources={
            "crm": CrmSettings(),
            "dbt": warehouse.dbt_resource(settings),
            "providers": activation.provider_secrets(),
        },
    )
