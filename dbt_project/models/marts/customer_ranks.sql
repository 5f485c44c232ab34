-- One row per person: the first rule of seeds/rank_rules.csv (top-down, by rule_order) that matches.
-- spend_3y / orders_3y: completed orders (latest status per order) in the window of the first rule,
-- the window being (as_of - window_months, as_of].
with rules as (
    select rule_order, rank, rule_condition, min_spend, min_orders, window_months
    from {{ ref('rank_rules') }}
),
windows as (select distinct window_months from rules),
people as (select distinct customer_id from {{ ref('customer_identity') }}),
completed as (select customer_id, order_date, total_amount from {{ ref('int_orders') }} where counts),
per_window as (
    select p.customer_id, w.window_months,
           coalesce(sum(case when c.order_date > {{ add_months(as_of(), '-w.window_months') }} then c.total_amount end), 0) as spend,
           count(case when c.order_date > {{ add_months(as_of(), '-w.window_months') }} then 1 end) as orders,
           count(c.order_date) as orders_ever
    from people p
    cross join windows w
    left join completed c on c.customer_id = p.customer_id
    group by p.customer_id, w.window_months
),
matched as (
    select pw.customer_id, r.rule_order, r.rank, pw.spend, pw.orders,
           row_number() over (partition by pw.customer_id order by r.rule_order) as rn
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
),
first_window as (
    select window_months from rules order by rule_order limit 1
)
select m.customer_id, m.rank, m.rule_order,
       round(pw.spend, 2) as spend_3y, pw.orders as orders_3y,
       {{ as_of() }} as as_of
from matched m
join per_window pw on pw.customer_id = m.customer_id
join first_window fw on fw.window_months = pw.window_months
where m.rn = 1
