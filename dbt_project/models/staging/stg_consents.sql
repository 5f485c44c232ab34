-- Consent events as delivered (opt_in / opt_out per channel; channel `all` applies to every channel).
select
    cast(source_system as {{ string_type() }}) as source_system,
    cast(source_customer_id as {{ string_type() }}) as source_customer_id,
    lower(trim(email)) as email, phone,
    lower(channel) as channel, lower(status) as status, recorded_at,
    _source_file, cast(_row_number as bigint) as _row_number,
    cast(load_date as date) as load_date
from {{ lake('consents') }}
where cast(load_date as date) <= {{ as_of() }}
