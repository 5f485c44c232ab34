{{ config(schema='staging', materialized='view') }}
{%- set columns = {'campaign_id': string_type(), 'customer_id': string_type(), 'channel': string_type(), 'send_date': 'date', 'holdout': 'boolean', 'outcome': string_type(), 'reason': string_type(), 'send_id': string_type(), 'address_hash': string_type()} %}
-- campaign_sends as written by activations/results_export.py (one file per send date).
select
    cast(campaign_id as {{ string_type() }}) as campaign_id,
    cast(customer_id as {{ string_type() }}) as customer_id,
    cast(channel as {{ string_type() }}) as channel,
    cast(send_date as date) as send_date,
    cast(holdout as boolean) as holdout,
    cast(outcome as {{ string_type() }}) as outcome,
    cast(reason as {{ string_type() }}) as reason,
    cast(send_id as {{ string_type() }}) as send_id,
    cast(address_hash as {{ string_type() }}) as address_hash,
    _source_file, cast(_row_number as bigint) as _row_number,
    cast(load_date as date) as load_date
from {{ lake_or_empty('campaign_sends', columns) }}
where cast(load_date as date) <= {{ run_send_date() }}  -- the run as of D sends on D + 1
