{{ config(schema='staging', materialized='view') }}
{%- set columns = {'response_id': string_type(), 'campaign_id': string_type(), 'customer_id': string_type(), 'email': string_type(), 'phone': string_type(), 'response': string_type(), 'occurred_at': 'timestamp'} %}
-- Campaign responses (RSVP, attended, applied, redeemed) as delivered (int_campaign_responses dedupes).
select
    cast(response_id as {{ string_type() }}) as response_id,
    cast(campaign_id as {{ string_type() }}) as campaign_id,
    cast(customer_id as {{ string_type() }}) as customer_id,
    lower(cast(response as {{ string_type() }})) as response,
    occurred_at,
    _source_file, cast(_row_number as bigint) as _row_number,
    cast(load_date as date) as load_date
from {{ lake_or_empty('campaign_responses', columns) }}
where cast(load_date as date) <= {{ as_of() }}
