-- Consent events as delivered (opt_in / opt_out per channel; channel `all` applies to every channel).
-- A provider's event (a SendGrid unsubscribe, a Twilio STOP/START message: `provider_event_id`)
-- counts once, at its first receipt: a replayed or redelivered copy is dropped here, so it cannot
-- take a later `recorded_at` than a consent change that followed it (customer_profiles picks the
-- latest by `recorded_at`). Rows without a provider id (consent files) are all kept.
with delivered as (
    select
        cast(source_system as {{ dbt.type_string() }}) as source_system,
        cast(source_customer_id as {{ dbt.type_string() }}) as source_customer_id,
        lower(trim(email)) as email, phone,
        lower(channel) as channel, lower(status) as status, recorded_at,
        cast(provider_event_id as {{ dbt.type_string() }}) as provider_event_id, received_at,
        _source_file, cast(_row_number as bigint) as _row_number,
        cast(load_date as date) as load_date,
        row_number() over (
            partition by provider_event_id
            order by recorded_at, cast(load_date as date), _source_file, _row_number
        ) as receipt_no
    from {{ lake('consents') }}
    where cast(load_date as date) <= {{ as_of() }}
)
select source_system, source_customer_id, email, phone, channel, status, recorded_at,
       provider_event_id, received_at, _source_file, _row_number, load_date
from delivered
where provider_event_id is null or receipt_no = 1
