{{ config(schema='staging', materialized='view') }}
{%- set columns = {'campaign_id': string_type(), 'campaign_name': string_type(), 'channel': string_type(), 'segment': string_type(), 'objective': string_type(), 'kpi_metric': string_type(), 'kpi_target': 'double', 'kpi_window_days': 'bigint', 'start_date': 'date', 'end_date': 'date', 'holdout_share': 'double'} %}
-- campaign_plan as written by activations/results_export.py: the plan in force on each send date
-- (load_date = send date).
select
    cast(campaign_id as {{ string_type() }}) as campaign_id,
    cast(campaign_name as {{ string_type() }}) as campaign_name,
    cast(channel as {{ string_type() }}) as channel,
    cast(segment as {{ string_type() }}) as segment,
    cast(objective as {{ string_type() }}) as objective,
    cast(kpi_metric as {{ string_type() }}) as kpi_metric,
    cast(kpi_target as double) as kpi_target,
    cast(kpi_window_days as int) as kpi_window_days,
    cast(start_date as date) as start_date,
    cast(end_date as date) as end_date,
    cast(holdout_share as double) as holdout_share,
    cast(load_date as date) as load_date
from {{ lake_or_empty('campaign_plan', columns) }}
where cast(load_date as date) <= {{ run_send_date() }}  -- the run as of D sends on D + 1
