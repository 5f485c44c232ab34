-- Orders of people: latest status per order, with customer_id and items per order.
-- counts = completed (cancelled and refunded orders do not count towards spend or orders).
with lines as (
    select source_system, order_id, sum(quantity) as items
    from {{ ref('int_order_lines_latest') }}
    group by source_system, order_id
)
select
    i.customer_id, o.source_system, o.order_id, o.ordered_at, o.order_date, o.channel, o.store_id,
    o.status, o.total_amount, o.status = 'completed' as counts,
    coalesce(l.items, 0) as items
from {{ ref('int_orders_latest') }} o
join {{ ref('customer_identity') }} i
  on i.source_system = o.source_system and i.source_customer_id = o.source_customer_id
left join lines l on l.source_system = o.source_system and l.order_id = o.order_id
where o.order_date <= {{ as_of() }}
