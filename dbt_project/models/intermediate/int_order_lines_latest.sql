-- One row per order line (source_system, order_id, line_no): the latest delivery wins.
select source_system, order_id, line_no, product_id, quantity, unit_price, warranty_until
from (
    select l.*, row_number() over (
        partition by source_system, order_id, line_no
        order by load_date desc, _source_file desc, _row_number desc) as _rn
    from {{ ref('stg_order_lines') }} l
    where load_date <= {{ as_of() }}
) x
where _rn = 1
