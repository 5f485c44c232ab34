{{ config(**record_facts_config(lines=false)) }}
-- Order facts per source record (source_system, source_customer_id), from the latest delivery of
-- every order (load_date, _source_file, _row_number: a later refund or cancellation replaces the
-- completed row, an order delivered twice counts once). One row per record and fact:
--   orders             every record with an order: counted orders (completed, ordered on or before
--                      as_of), spend, first/last order, weekend and evening orders
--   window  <months>   counted orders and spend in (as_of - months, as_of], per rank window
-- Channel, store, season, items and categories (for profiles) are in int_record_profile_facts.
-- Identity-independent: a person is the sum of their records (customer_ranks, customer_profiles).
-- Incremental on DuckDB: a daily run recomputes only the touched records (macros/record_facts.sql).
{%- set plan = record_facts_plan(windows=true) %}
{%- set touched = plan is not none and not plan.full %}
{%- set asof = as_of() %}
with
{{ record_orders_ctes(touched, ['total_amount']) }},
per_window as (  -- one pass over the orders: lifetime figures and, per rank window, the window's
    select o.source_system, o.source_customer_id, w.window_months,
           count(case when o.counts then 1 end) as orders,
           coalesce(sum(case when o.counts then o.total_amount end), 0) as amount,
           min(case when o.counts then o.ordered_at end) as first_order_at,
           max(case when o.counts then o.ordered_at end) as last_order_at,
           count(case when o.counts and {{ is_weekend('o.ordered_at') }} then 1 end) as weekend_orders,
           count(case when o.counts and hour(o.ordered_at) >= 18 then 1 end) as evening_orders,
           min(o.ordered_at) as first_seen_at, max(o.load_date) as last_load_date,
           count(case when o.counts and o.order_date > {{ add_months(asof, '-w.window_months') }} then 1 end)
               as window_orders,
           sum(case when o.counts and o.order_date > {{ add_months(asof, '-w.window_months') }}
                    then o.total_amount end) as window_amount,
           min(case when o.counts and o.order_date > {{ add_months(asof, '-w.window_months') }}
                    then o.ordered_at end) as window_first_order_at,
           max(case when o.counts and o.order_date > {{ add_months(asof, '-w.window_months') }}
                    then o.ordered_at end) as window_last_order_at
    from o
    cross join (select distinct window_months from {{ ref('rank_rules') }}) w
    group by o.source_system, o.source_customer_id, w.window_months
),
lifetime as (  -- the lifetime figures are the same in every window's row: take the first window's
    select * from per_window
    where window_months = (select min(window_months) from {{ ref('rank_rules') }})
),
facts as (
    -- first_seen_at (any order) and last_load_date (newest delivery) are on the `orders` row only
    select source_system, source_customer_id, 'orders' as fact, cast(null as {{ dbt.type_string() }}) as fact_key,
           orders, amount, first_order_at, last_order_at, weekend_orders, evening_orders,
           first_seen_at, last_load_date
    from lifetime
    union all
    select source_system, source_customer_id, 'window', cast(window_months as {{ dbt.type_string() }}),
           window_orders, window_amount, window_first_order_at, window_last_order_at, 0, 0, null, null
    from per_window
    where window_orders > 0
)
select source_system, source_customer_id, fact, fact_key, orders, amount, first_order_at, last_order_at,
       weekend_orders, evening_orders, first_seen_at, last_load_date, {{ asof }} as computed_as_of
from facts
