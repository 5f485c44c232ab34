-- One row per person: the first rule of seeds/rank_rules.csv (top-down, by rule_order) that matches.
-- spend_3y / orders_3y: completed orders (latest status per order) in the window of the first rule,
-- the window being (as_of - window_months, as_of]. A person's orders are the sum over their source
-- records (int_record_order_facts: one `window` row per record and rank window, one `orders` row).
with rules as (
    select rule_order, rank, rule_condition, min_spend, min_orders, window_months
    from {{ ref('rank_rules') }}
),
windows as (select distinct window_months from rules),
ident as (select customer_id, source_system, source_customer_id from {{ ref('customer_identity') }}),
people as (select distinct customer_id from ident),
person_facts as (
    select i.customer_id, f.fact, f.fact_key, sum(f.amount) as spend, sum(f.orders) as orders
    from {{ ref('int_record_order_facts') }} f
    join ident i on i.source_system = f.source_system and i.source_customer_id = f.source_customer_id
    where f.fact in ('window', 'orders')
    group by i.customer_id, f.fact, f.fact_key
),
per_window as (
    select p.customer_id, w.window_months,
           coalesce(x.spend, 0) as spend, coalesce(x.orders, 0) as orders, coalesce(e.orders, 0) as orders_ever
    from people p
    cross join windows w
    left join person_facts x
      on x.customer_id = p.customer_id and x.fact = 'window'
     and x.fact_key = cast(w.window_months as {{ dbt.type_string() }})
    left join person_facts e on e.customer_id = p.customer_id and e.fact = 'orders'
),
matched as (  -- the first matching rule per person (top-down by rule_order)
    select pw.customer_id, min(r.rule_order) as rule_order
    from per_window pw
    join rules r on r.window_months = pw.window_months
    where case r.rule_condition
            when 'spend_or_orders' then (r.min_spend is not null and pw.spend >= r.min_spend)
                                      or (r.min_orders is not null and pw.orders >= r.min_orders)
            when 'spend_and_orders' then (r.min_spend is null or pw.spend >= r.min_spend)
                                      and (r.min_orders is null or pw.orders >= r.min_orders)
            when 'purchased_ever' then pw.orders_ever > 0
            when 'always' then true
            else false end
    group by pw.customer_id
),
first_window as (
    select window_months from rules order by rule_order limit 1
)
select m.customer_id, r.rank, m.rule_order,
       round(pw.spend, 2) as spend_3y, pw.orders as orders_3y,
       {{ as_of() }} as as_of
from matched m
join rules r on r.rule_order = m.rule_order
join per_window pw on pw.customer_id = m.customer_id
join first_window fw on fw.window_months = pw.window_months
