-- Every order row as delivered: a view over the lake (no copy). Filters on load_date prune whole
-- partitions, so a daily run reads the new partitions; the latest status per order is taken in
-- int_record_order_facts (and int_campaign_members for purchases after a send).
select
    cast(source_system as {{ dbt.type_string() }}) as source_system,
    cast(order_id as {{ dbt.type_string() }}) as order_id,
    cast(source_customer_id as {{ dbt.type_string() }}) as source_customer_id,
    ordered_at, channel, store_id, lower(status) as status,
    cast(total_amount as double) as total_amount, currency,
    _source_file, cast(_row_number as bigint) as _row_number,
    cast(load_date as date) as load_date
from {{ lake('orders') }}
where cast(load_date as date) <= {{ as_of() }}
