{{ config(schema='staging', materialized='view') }}
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
from {{ lake('email_events') }}
where cast(load_date as date) <= {{ as_of() }}
