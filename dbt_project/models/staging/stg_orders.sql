{{ config(**incremental_config('load_date')) }}
-- Every order row as delivered (incremental by load_date: a daily run reads the new partitions).
-- The latest status per order is taken in int_orders.
select
    cast(source_system as {{ string_type() }}) as source_system,
    cast(order_id as {{ string_type() }}) as order_id,
    cast(source_customer_id as {{ string_type() }}) as source_customer_id,
    ordered_at, channel, store_id, lower(status) as status,
    cast(total_amount as double) as total_amount, currency,
    _source_file, cast(_row_number as bigint) as _row_number,
    cast(load_date as date) as load_date
from {{ lake('orders') }}
where cast(load_date as date) <= {{ as_of() }}
{% if is_incremental() %}
  and cast(load_date as date) >= (
      select coalesce({{ add_days('max(load_date)', -var('incremental_lookback_days')) }}, cast('1900-01-01' as date))
      from {{ this }})
{% endif %}
