{{ config(schema='staging', materialized='view') }}
{%- set columns = {'response_id': dbt.type_string(), 'campaign_id': dbt.type_string(), 'customer_id': dbt.type_string(), 'email': dbt.type_string(), 'phone': dbt.type_string(), 'response': dbt.type_string(), 'occurred_at': 'timestamp'} %}
-- Campaign responses (RSVP, attended, applied, redeemed) as delivered (int_campaign_responses dedupes).
select
    cast(response_id as {{ dbt.type_string() }}) as response_id,
    cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
    cast(customer_id as {{ dbt.type_string() }}) as customer_id,
    lower(cast(response as {{ dbt.type_string() }})) as response,
    occurred_at,
    _source_file, cast(_row_number as bigint) as _row_number,
    cast(load_date as date) as load_date
from {{ lake_or_empty('campaign_responses', columns) }}
where cast(load_date as date) <= {{ as_of() }}
