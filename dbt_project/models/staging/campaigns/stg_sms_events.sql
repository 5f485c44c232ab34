{{ config(schema='staging', materialized='view') }}
{%- set columns = {'event_id': dbt.type_string(), 'message_sid': dbt.type_string(), 'to': dbt.type_string(), 'from': dbt.type_string(), 'status': dbt.type_string(), 'error_code': dbt.type_string(), 'occurred_at': 'timestamp', 'campaign_id': dbt.type_string(), 'send_id': dbt.type_string(), 'customer_id': dbt.type_string(), 'body': dbt.type_string(), 'received_at': 'timestamp'} %}
-- Twilio status callbacks and inbound messages (duplicates kept; int_sms_events dedupes).
select
    cast(event_id as {{ dbt.type_string() }}) as event_id,
    lower(cast(status as {{ dbt.type_string() }})) as status,
    cast({{ adapter.quote('from') }} as {{ dbt.type_string() }}) as from_number,
    cast(error_code as {{ dbt.type_string() }}) as error_code,
    occurred_at,
    cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
    cast(send_id as {{ dbt.type_string() }}) as send_id,
    cast(customer_id as {{ dbt.type_string() }}) as customer_id,
    cast(body as {{ dbt.type_string() }}) as body,
    _source_file, cast(_row_number as bigint) as _row_number,
    cast(load_date as date) as load_date
from {{ lake_or_empty('sms_events', columns) }}
where cast(load_date as date) <= {{ as_of() }}
