{{ config(schema='staging', materialized='view') }}
{%- set columns = {'event_id': string_type(), 'message_sid': string_type(), 'to': string_type(), 'from': string_type(), 'status': string_type(), 'error_code': string_type(), 'occurred_at': 'timestamp', 'campaign_id': string_type(), 'send_id': string_type(), 'customer_id': string_type(), 'body': string_type(), 'received_at': 'timestamp'} %}
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
from {{ lake_or_empty('sms_events', columns) }}
where cast(load_date as date) <= {{ as_of() }}
