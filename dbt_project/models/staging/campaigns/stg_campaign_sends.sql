{{ config(schema='staging', materialized='view') }}
{%- set columns = {'campaign_id': dbt.type_string(), 'customer_id': dbt.type_string(), 'channel': dbt.type_string(), 'send_date': 'date', 'holdout': 'boolean', 'outcome': dbt.type_string(), 'reason': dbt.type_string(), 'send_id': dbt.type_string(), 'address_hash': dbt.type_string()} %}
-- campaign_sends as produced by the campaign-state step and ingested (one partition per send date).
select
    cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
    cast(customer_id as {{ dbt.type_string() }}) as customer_id,
    cast(channel as {{ dbt.type_string() }}) as channel,
    cast(send_date as date) as send_date,
    cast(holdout as boolean) as holdout,
    cast(outcome as {{ dbt.type_string() }}) as outcome,
    cast(reason as {{ dbt.type_string() }}) as reason,
    cast(send_id as {{ dbt.type_string() }}) as send_id,
    cast(address_hash as {{ dbt.type_string() }}) as address_hash,
    _source_file, cast(_row_number as bigint) as _row_number,
    cast(load_date as date) as load_date
from {{ lake_or_empty('campaign_sends', columns) }}
where cast(load_date as date) <= {{ run_send_date() }}  -- the run as of D sends on D + 1
