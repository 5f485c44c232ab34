{{ config(**record_facts_config(lines=true)) }}
-- Profile facts per source record (source_system, source_customer_id): the counted orders
-- (completed, ordered on or before as_of; latest delivery per order) whose latest delivery names the
-- record, with the latest delivery of each of their lines (by source_system, order_id, line_no).
-- One row per record and fact:
--   items              every record with an order: items (quantity), counted orders with lines, value
--                      of those lines (quantity x unit price), and the record's top channel, store,
--                      season (orders) and category (items) - a person with one record needs no more
--   category <value>   the same per product category (stg_products, latest delivery per product)
--   channel/store/season <value>   counted orders (spend, items) per value
-- Incremental on DuckDB like int_record_order_facts (macros/record_facts.sql); line and product
-- deliveries touch records too.
{%- set plan = record_facts_plan(windows=false) %}
{%- set touched = plan is not none and not plan.full %}
{%- set asof = as_of() %}
with
{{ record_orders_ctes(touched, ['channel', 'store_id', 'total_amount']) }},
line_deliveries as (
    select source_system, order_id, line_no, product_id, quantity, unit_price, load_date, _source_file, _row_number
    from {{ ref('stg_order_lines') }}
    where load_date <= {{ asof }} and order_id is not null
    {%- if touched %}
      and (source_system, order_id) in (select source_system, order_id from o)
    {%- endif %}
),
{{ latest_delivery('line_deliveries', ['source_system', 'order_id', 'line_no'],
                   ['product_id', 'quantity', 'unit_price', 'load_date'], 'lines') }},
order_items as (
    select source_system, order_id, sum(quantity) as items, sum(quantity * unit_price) as line_value,
           max(load_date) as lines_load_date
    from lines
    group by source_system, order_id
),
oi as (
    select o.*, coalesce(i.items, 0) as items, coalesce(i.line_value, 0) as line_value,
           i.order_id is not null as has_lines,
           case when i.lines_load_date > o.load_date then i.lines_load_date else o.load_date end as newest_load_date
    from o
    left join order_items i on i.source_system = o.source_system and i.order_id = o.order_id
),
mix as (  -- counted orders per record, channel, store and season (fewer rows than orders)
    select source_system, source_customer_id, channel, store_id,
           -- Thai seasons: hot (Mar-May), rainy (Jun-Oct), cool (Nov-Feb)
           case when month(ordered_at) between 3 and 5 then 'hot'
                when month(ordered_at) between 6 and 10 then 'rainy' else 'cool' end as season,
           count(*) as orders, sum(total_amount) as amount, sum(items) as items
    from oi
    where counts
    group by 1, 2, 3, 4, 5
),
facts as (
    -- every record with an order has an `items` row; last_load_date (newest order or line delivery)
    -- is on it only
    select source_system, source_customer_id, 'items' as fact, cast(null as {{ dbt.type_string() }}) as fact_key,
           count(case when counts and has_lines then 1 end) as orders,
           coalesce(sum(case when counts then line_value end), 0) as amount,
           coalesce(sum(case when counts then items end), 0) as items,
           max(newest_load_date) as last_load_date
    from oi
    group by source_system, source_customer_id
    union all
    select oi.source_system, oi.source_customer_id, 'category', p.category,
           count(distinct oi.order_id), sum(l.quantity * l.unit_price), sum(l.quantity), null
    from oi
    join lines l on l.source_system = oi.source_system and l.order_id = oi.order_id
    join {{ ref('stg_products') }} p on p.product_id = l.product_id
    where oi.counts and p.category is not null
    group by oi.source_system, oi.source_customer_id, p.category
    {%- for dim, col in [('channel', 'channel'), ('store', 'store_id'), ('season', 'season')] %}
    union all
    select source_system, source_customer_id, '{{ dim }}', {{ col }}, sum(orders), sum(amount), sum(items), null
    from mix where {{ col }} is not null
    group by source_system, source_customer_id, {{ col }}
    {%- endfor %}
),
dist_n as (
    select source_system, source_customer_id, fact, fact_key,
           case when fact = 'category' then items else orders end as n
    from facts
    where fact <> 'items'
),
tops as (  -- the record's most frequent value per fact (ties: the smallest), pivoted
    select d.source_system, d.source_customer_id,
           min(case when d.fact = 'channel' then d.fact_key end) as top_channel,
           min(case when d.fact = 'store' then d.fact_key end) as top_store,
           min(case when d.fact = 'season' then d.fact_key end) as top_season,
           min(case when d.fact = 'category' then d.fact_key end) as top_category
    from dist_n d
    join (select source_system, source_customer_id, fact, max(n) as n from dist_n
          group by source_system, source_customer_id, fact) m
      on m.source_system = d.source_system and m.source_customer_id = d.source_customer_id
     and m.fact = d.fact and m.n = d.n
    group by d.source_system, d.source_customer_id
)
select f.source_system, f.source_customer_id, f.fact, f.fact_key, f.orders, f.amount, f.items, f.last_load_date,
       t.top_channel, t.top_store, t.top_season, t.top_category, {{ asof }} as computed_as_of
from facts f
left join tops t
  on f.fact = 'items' and t.source_system = f.source_system and t.source_customer_id = f.source_customer_id
