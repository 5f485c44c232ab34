"""One module per domain: ingestion, warehouse (dbt), quality, activation, automation."""

from __future__ import annotations

import dagster as dg

from crmloop.settings import Settings


def build_definitions() -> dg.Definitions:
    from orchestration.defs import activation, automation, ingestion, quality, warehouse
    from orchestration.defs.resources import CrmSettings

    settings = Settings.from_env()
    daily_job, ingest_job = automation.jobs()
    return dg.Definitions(
        assets=[
            *ingestion.ingestion_assets(),
            *warehouse.warehouse_assets(settings),
            activation.campaign_audiences,
            activation.channels,
            activation.campaign_state,
            activation.campaign_report,
        ],
        asset_checks=[*quality.lake_quality_checks(), *quality.audience_quality_checks()],
        jobs=[daily_job, ingest_job],
        schedules=[automation.daily_schedule(daily_job)],
        sensors=[automation.landing_sensor],
        resources={
            "crm": CrmSettings(),
            "dbt": warehouse.dbt_resource(settings),
            "providers": activation.provider_secrets(),
        },
    )
