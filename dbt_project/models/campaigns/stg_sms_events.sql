{{ config(schema='staging', materialized='view') }}
-- Twilio status callbacks and inbound messages (duplicates kept; int_sms_events dedupes).
select
    cast(event_id as {{ string_type() }}) as event_id,
    lower(cast(status as {{ string_type() }})) as status,
    cast({{ adapter.quote('from') }} as {{ string_type() }}) as from_number,
    cast(error_code as {{ string_type() }}) as error_code,
    occurred_at,
    cast(campaign_id as {{ string_type() }}) as campaign_id,
    cast(send_id as {{ string_type() }}) as send_id,
    cast(customer_id as {{ string_type() }}) as customer_id,
    cast(body as {{ string_type() }}) as body,
    _source_file, cast(_row_number as bigint) as _row_number,
    cast(load_date as date) as load_date
from {{ lake('sms_events') }}
where cast(load_date as date) <= {{ as_of() }}
