-- One row per person and purchase day: the person's counted orders (completed, ordered on or before
-- as_of, the latest delivery of each order: the same rule as int_record_order_facts) of that day.
-- BG/NBD counts repeat purchases per day (several orders on one day are one purchase), so this is
-- the input of marts/predictions (crmloop/predict/summary.py turns it into x, t_x, T, m_x).
with
{{ record_orders_ctes(false, ['total_amount']) }},
ident as (select customer_id, source_system, source_customer_id from {{ ref('customer_identity') }})
select i.customer_id, o.order_date as purchase_date, count(*) as orders, round(sum(o.total_amount), 2) as spend
from o
join ident i on i.source_system = o.source_system and i.source_customer_id = o.source_customer_id
where o.counts
group by i.customer_id, o.order_date
