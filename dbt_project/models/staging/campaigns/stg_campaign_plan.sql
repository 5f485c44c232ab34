{{ config(schema='staging', materialized='view') }}
{%- set columns = {'campaign_id': dbt.type_string(), 'campaign_name': dbt.type_string(), 'channel': dbt.type_string(), 'segment': dbt.type_string(), 'objective': dbt.type_string(), 'kpi_metric': dbt.type_string(), 'kpi_target': 'double', 'kpi_window_days': 'bigint', 'start_date': 'date', 'end_date': 'date', 'holdout_share': 'double'} %}
-- campaign_plan as produced by the campaign-state step and ingested: the plan in force on each send date
-- (load_date = send date).
select
    cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
    cast(campaign_name as {{ dbt.type_string() }}) as campaign_name,
    cast(channel as {{ dbt.type_string() }}) as channel,
    cast(segment as {{ dbt.type_string() }}) as segment,
    cast(objective as {{ dbt.type_string() }}) as objective,
    cast(kpi_metric as {{ dbt.type_string() }}) as kpi_metric,
    cast(kpi_target as double) as kpi_target,
    cast(kpi_window_days as int) as kpi_window_days,
    cast(start_date as date) as start_date,
    cast(end_date as date) as end_date,
    cast(holdout_share as double) as holdout_share,
    cast(load_date as date) as load_date
from {{ lake_or_empty('campaign_plan', columns) }}
where cast(load_date as date) <= {{ run_send_date() }}  -- the run as of D sends on D + 1
