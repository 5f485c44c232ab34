{{ config(**incremental_config('load_date')) }}
{{ config(pre_hook=["{{ lake_readmission_delete() }}"]) }}
-- Web events (login, page_view, search), incremental by load_date; everything again when the
-- partitions held back from the warehouse changed.
select
    cast(event_id as {{ dbt.type_string() }}) as event_id,
    cast(source_system as {{ dbt.type_string() }}) as source_system,
    cast(source_customer_id as {{ dbt.type_string() }}) as source_customer_id,
    lower(trim(email)) as email,
    lower(event_type) as event_type,
    occurred_at, url,
    lower(trim(search_term)) as search_term,
    cast(load_date as date) as load_date
from {{ lake('web_events') }}
where cast(load_date as date) <= {{ as_of() }}
{% if is_incremental() and not lake_admission_changed() %}
  and cast(load_date as date) >= (
      select coalesce({{ add_days('max(load_date)', -var('incremental_lookback_days')) }}, cast('1900-01-01' as date))
      from {{ this }})
{% endif %}
