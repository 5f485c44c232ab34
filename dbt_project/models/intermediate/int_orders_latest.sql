{{ config(**latest_incremental_config(['source_system', 'order_id'], 'stg_orders')) }}
-- One row per order (source_system, order_id): the latest delivery wins by
-- (load_date, _source_file, _row_number), so a refund or cancellation delivered later replaces the
-- completed row and an order delivered twice counts once.
-- Incremental by order on DuckDB (macros/latest_incremental.sql): a daily run re-ranks only the
-- orders touched by the new partitions.
{% set cutoff = latest_incremental_cutoff() %}
with ranked as (
    select o.*, row_number() over (
        partition by source_system, order_id
        order by load_date desc, _source_file desc, _row_number desc) as _rn
    from {{ ref('stg_orders') }} o
    where load_date <= {{ as_of() }} and order_id is not null
    {%- if cutoff is not none %}
      and (source_system, order_id) in ({{ latest_incremental_keys(ref('stg_orders'), ['source_system', 'order_id'], cutoff) }})
    {%- endif %}
)
select source_system, order_id, source_customer_id, ordered_at, cast(ordered_at as date) as order_date,
       channel, store_id, status, total_amount, currency, load_date
from ranked
where _rn = 1
