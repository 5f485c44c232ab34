{{ config(**customers_latest_config()) }}
-- A table, not a view: identity, profiles and their tests all read it. Incremental on DuckDB: a run
-- recomputes the records delivered since the previous as_of (macros/record_facts.sql).
{%- set plan = record_facts_plan(windows=false) %}
{%- set touched = plan is not none and not plan.full %}
-- One row per source record (source_system, source_customer_id): the latest delivery wins,
-- by (load_date, _source_file, _row_number). Only partitions up to as_of are seen.
with src as (
    select
        cast(source_system as {{ dbt.type_string() }}) as source_system,
        cast(source_customer_id as {{ dbt.type_string() }}) as source_customer_id,
        first_name, last_name,
        lower(trim(email)) as email,
        coalesce(email_valid, false) as email_valid,
        phone, phone_raw,
        coalesce(phone_is_mobile, false) as phone_is_mobile,
        gender, cast(birth_date as date) as birth_date, occupation,
        address, district, province, postal_code, country,
        nullif(trim(loyalty_card_id), '') as loyalty_card_id,
        registered_at, updated_at,
        nulled_fields,
        _source, _source_file, _row_number,
        cast(load_date as date) as load_date
    from {{ lake('customers') }}
    where cast(load_date as date) <= {{ as_of() }}
      and source_customer_id is not null and source_system is not null
    {%- if touched %}
      and (cast(source_system as {{ dbt.type_string() }}), cast(source_customer_id as {{ dbt.type_string() }})) in (
          select source_system, source_customer_id from {{ record_facts_sidecar('touched') }})
    {%- endif %}
),
{{ latest_delivery('src', ['source_system', 'source_customer_id'],
                   ['first_name', 'last_name', 'email', 'email_valid', 'phone', 'phone_raw', 'phone_is_mobile',
                    'gender', 'birth_date', 'occupation', 'address', 'district', 'province', 'postal_code',
                    'country', 'loyalty_card_id', 'registered_at', 'updated_at', 'nulled_fields', '_source', '_source_file',
                    '_row_number', 'load_date'], 'latest') }}
select
    source_system, source_customer_id, first_name, last_name, email, email_valid, phone, phone_raw,
    phone_is_mobile, gender, birth_date, occupation, address, district, province, postal_code, country,
    loyalty_card_id, registered_at, updated_at, nulled_fields, _source, _source_file, _row_number, load_date
from latest
