-- Every order line as delivered: a view over the lake (no copy; load_date filters prune partitions).
select
    cast(source_system as {{ dbt.type_string() }}) as source_system,
    cast(order_id as {{ dbt.type_string() }}) as order_id,
    cast(line_no as bigint) as line_no,
    cast(product_id as {{ dbt.type_string() }}) as product_id,
    cast(quantity as bigint) as quantity,
    cast(unit_price as double) as unit_price,
    cast(warranty_until as date) as warranty_until,
    _source_file, cast(_row_number as bigint) as _row_number,
    cast(load_date as date) as load_date
from {{ lake('order_lines') }}
where cast(load_date as date) <= {{ as_of() }}
