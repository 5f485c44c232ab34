-- One row per person: the hour of the day (0-23, Asia/Bangkok) they usually buy or visit, the
-- hour a campaign with `send_time: personal` sends to them (activations/audiences/send_times.py).
-- Events over the whole history up to as_of, all the person's records added up: every counted
-- order (completed, ordered on or before as_of, latest delivery per order: macros/record_facts.sql)
-- and every web visit, a web visit being an hour of a day with web events (a burst of page views
-- counts once, like one order). Timestamps in the lake are Bangkok wall-clock (sources/normalise.py),
-- so the hour is read off as it is. The person's hour is their most frequent one (ties: the
-- earliest hour). With fewer than var('best_send_hour_min_events') events the person gets the
-- population's hour instead (the most frequent hour over everyone's events; ties: the earliest;
-- var('best_send_hour_default') when nobody has any event): source 'fallback', else 'personal'.
{%- set asof = as_of() %}
with
{{ record_orders_ctes(false, ['total_amount']) }},
ident as (select distinct customer_id, source_system, source_customer_id from {{ ref('customer_identity') }}),
people as (select distinct customer_id from ident),
order_hours as (
    select i.customer_id, hour(o.ordered_at) as hour_of_day, count(*) as n
    from o
    join ident i on i.source_system = o.source_system and i.source_customer_id = o.source_customer_id
    where o.counts
    group by i.customer_id, hour(o.ordered_at)
),
web_hours as (  -- web visits: distinct (day, hour) with an event
    select customer_id, hour_of_day, count(*) as n from (
        select distinct i.customer_id, cast(e.occurred_at as date) as visit_day, hour(e.occurred_at) as hour_of_day
        from {{ ref('stg_web_events') }} e
        join ident i on i.source_system = e.source_system and i.source_customer_id = e.source_customer_id
        where cast(e.occurred_at as date) <= {{ asof }}) v
    group by customer_id, hour_of_day
),
events as (
    select customer_id, hour_of_day, sum(n) as n from (
        select customer_id, hour_of_day, n from order_hours
        union all
        select customer_id, hour_of_day, n from web_hours) u
    group by customer_id, hour_of_day
),
per_person as (
    select customer_id, hour_of_day, n_events from (
        select customer_id, hour_of_day, sum(n) over (partition by customer_id) as n_events,
               row_number() over (partition by customer_id order by n desc, hour_of_day) as rn
        from events) x
    where rn = 1
),
population as (  -- one row: the most frequent hour over everyone's events, else the default
    select coalesce(max(hour_of_day), {{ var('best_send_hour_default') }}) as hour_of_day from (
        select hour_of_day, row_number() over (order by sum(n) desc, hour_of_day) as rn
        from events group by hour_of_day) x
    where rn = 1
)
select p.customer_id,
       cast(case when coalesce(pp.n_events, 0) >= {{ var('best_send_hour_min_events') }} then pp.hour_of_day
                 else pop.hour_of_day end as int) as best_send_hour,
       case when coalesce(pp.n_events, 0) >= {{ var('best_send_hour_min_events') }} then 'personal'
            else 'fallback' end as best_send_hour_source,
       cast(coalesce(pp.n_events, 0) as bigint) as send_hour_events,
       cast(pp.hour_of_day as int) as modal_hour,
       cast(pop.hour_of_day as int) as population_hour
from people p
left join per_person pp on pp.customer_id = p.customer_id
cross join population pop
