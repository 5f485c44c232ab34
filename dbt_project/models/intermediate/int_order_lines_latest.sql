{{ config(**latest_incremental_config(['source_system', 'order_id', 'line_no'], 'stg_order_lines')) }}
-- One row per order line (source_system, order_id, line_no): the latest delivery wins.
-- Incremental by line on DuckDB (macros/latest_incremental.sql).
{% set cutoff = latest_incremental_cutoff() %}
select source_system, order_id, line_no, product_id, quantity, unit_price, warranty_until, load_date
from (
    select l.*, row_number() over (
        partition by source_system, order_id, line_no
        order by load_date desc, _source_file desc, _row_number desc) as _rn
    from {{ ref('stg_order_lines') }} l
    where load_date <= {{ as_of() }} and order_id is not null
    {%- if cutoff is not none %}
      and (source_system, order_id, line_no) in ({{ latest_incremental_keys(ref('stg_order_lines'), ['source_system', 'order_id', 'line_no'], cutoff) }})
    {%- endif %}
) x
where _rn = 1
