{{ config(schema='staging', materialized='view') }}
{%- set columns = {'event_id': dbt.type_string(), 'email': dbt.type_string(), 'event': dbt.type_string(), 'occurred_at': 'timestamp', 'campaign_id': dbt.type_string(), 'send_id': dbt.type_string(), 'customer_id': dbt.type_string(), 'url': dbt.type_string(), 'reason': dbt.type_string(), 'bounce_type': dbt.type_string(), 'sg_message_id': dbt.type_string(), 'received_at': 'timestamp'} %}
-- SendGrid events as landed by the webhook receiver (duplicates kept; int_email_events dedupes).
select
    cast(event_id as {{ dbt.type_string() }}) as event_id,
    lower(cast(event as {{ dbt.type_string() }})) as event,
    occurred_at,
    cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
    cast(send_id as {{ dbt.type_string() }}) as send_id,
    cast(customer_id as {{ dbt.type_string() }}) as customer_id,
    cast(bounce_type as {{ dbt.type_string() }}) as bounce_type,
    _source_file, cast(_row_number as bigint) as _row_number,
    cast(load_date as date) as load_date
from {{ lake_or_empty('email_events', columns) }}
where cast(load_date as date) <= {{ as_of() }}
