{{ config(schema='staging', materialized='view') }}
{%- set columns = {'event_id': string_type(), 'email': string_type(), 'event': string_type(), 'occurred_at': 'timestamp', 'campaign_id': string_type(), 'send_id': string_type(), 'customer_id': string_type(), 'url': string_type(), 'reason': string_type(), 'bounce_type': string_type(), 'sg_message_id': string_type(), 'received_at': 'timestamp'} %}
-- SendGrid events as landed by the webhook receiver (duplicates kept; int_email_events dedupes).
select
    cast(event_id as {{ string_type() }}) as event_id,
    lower(cast(event as {{ string_type() }})) as event,
    occurred_at,
    cast(campaign_id as {{ string_type() }}) as campaign_id,
    cast(send_id as {{ string_type() }}) as send_id,
    cast(customer_id as {{ string_type() }}) as customer_id,
    cast(bounce_type as {{ string_type() }}) as bounce_type,
    _source_file, cast(_row_number as bigint) as _row_number,
    cast(load_date as date) as load_date
from {{ lake_or_empty('email_events', columns) }}
where cast(load_date as date) <= {{ as_of() }}
