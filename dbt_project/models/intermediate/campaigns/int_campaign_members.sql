{{ config(schema='intermediate', materialized='table') }}
-- One row per audience member per campaign × channel × send_date with what happened to them:
-- provider events (by the send's send_id), responses and purchases within the KPI window.
-- KPI window of a send on day D with window_days W: dates D .. D + W - 1 (the send day counts).
-- Customers are compared by their current id: an id merged away since the send (customer_id_merges)
-- is replaced by the surviving one, on the sends and on the responses alike.
with sends as (
    select * from (
        select s.*, row_number() over (
            partition by campaign_id, customer_id, channel, send_date
            order by load_date desc, _source_file desc, _row_number desc) as _rn
        from {{ ref('stg_campaign_sends') }} s
    ) d where _rn = 1
),
plan as (
    select campaign_id, channel, load_date, kpi_window_days
    from {{ ref('stg_campaign_plan') }}
),
merges as (select merged_id, merged_into from {{ ref('customer_id_merges') }}),
members as (
    select s.campaign_id, s.customer_id, coalesce(m.merged_into, s.customer_id) as person_id,
           s.channel, s.send_date, s.holdout, s.outcome, s.reason, s.send_id, s.address_hash,
           coalesce(p.kpi_window_days, 30) as kpi_window_days,
           {{ add_days('s.send_date', 'coalesce(p.kpi_window_days, 30)') }} as window_end
    from sends s
    left join plan p on p.campaign_id = s.campaign_id and p.channel = s.channel and p.load_date = s.send_date
    left join merges m on m.merged_id = s.customer_id
),
email as (
    select send_id,
           max(case when event = 'delivered' then 1 else 0 end) as delivered,
           max(case when event in ('bounce', 'dropped') then 1 else 0 end) as bounced,
           max(case when event = 'open' then 1 else 0 end) as opened,
           max(case when event = 'click' then 1 else 0 end) as clicked,
           max(case when event in ('unsubscribe', 'group_unsubscribe', 'spamreport') then 1 else 0 end) as unsubscribed
    from {{ ref('int_email_events') }}
    where send_id is not null
    group by send_id
),
sms as (
    select send_id,
           max(case when status = 'delivered' then 1 else 0 end) as delivered,
           max(case when status in ('undelivered', 'failed') then 1 else 0 end) as bounced
    from {{ ref('int_sms_events') }}
    where send_id is not null
    group by send_id
),
sms_stops as (
    -- an opt-out keyword received from the number a message was sent to (matched by its hash)
    select {{ sha256_hex('from_number') }} as address_hash, cast(occurred_at as date) as stop_date
    from {{ ref('int_sms_events') }}
    where status = 'received' and from_number is not null
      and lower(trim(body)) in ('stop', 'stopall', 'unsubscribe', 'cancel', 'end', 'quit', 'หยุด', 'ยกเลิก')
),
sms_unsub as (
    select mb.send_id, 1 as unsubscribed
    from members mb
    join sms_stops st on st.address_hash = mb.address_hash
     and st.stop_date >= mb.send_date and st.stop_date < mb.window_end
    where mb.channel = 'sms'
    group by mb.send_id
),
responses as (
    select r.campaign_id, coalesce(m.merged_into, r.customer_id) as person_id, r.response,
           cast(r.occurred_at as date) as response_date
    from {{ ref('int_campaign_responses') }} r
    left join merges m on m.merged_id = r.customer_id
),
member_responses as (
    select mb.send_id,
           max(case when r.response = 'rsvp' then 1 else 0 end) as rsvp,
           max(case when r.response = 'attended' then 1 else 0 end) as attended,
           max(case when r.response = 'applied' then 1 else 0 end) as applied,
           max(case when r.response = 'redeemed' then 1 else 0 end) as redeemed
    from members mb
    join responses r on r.campaign_id = mb.campaign_id and r.person_id = mb.person_id
     and r.response_date >= mb.send_date and r.response_date < mb.window_end
    group by mb.send_id
),
recent_orders as (  -- the latest delivery of an order placed on or after a send is never older than
                   -- the day before the first send
    select source_system, order_id, source_customer_id, ordered_at, total_amount, status,
           load_date, _source_file, _row_number
    from {{ ref('stg_orders') }}
    where order_id is not null
      and load_date >= (select {{ add_days('min(send_date)', -1) }} from members)
),
candidate_orders as (  -- orders with a delivery dated on or after the first send: the only ones whose
                       -- latest delivery can fall in a window (a bulk history partition is mostly
                       -- older orders, which need no de-duplication here)
    select distinct source_system, order_id
    from recent_orders
    where cast(ordered_at as date) >= (select min(send_date) from members)
),
orders as (  -- purchases: the latest delivery of each candidate order (every delivery of it counts,
             -- whatever date it carries: a later delivery may move the order out of a window)
    select ci.customer_id as person_id, o.order_date, o.total_amount
    from (
        select r.source_system, r.source_customer_id, cast(r.ordered_at as date) as order_date, r.total_amount,
               r.status,
               row_number() over (partition by r.source_system, r.order_id
                                  order by r.load_date desc, r._source_file desc, r._row_number desc) as rn
        from recent_orders r
        join candidate_orders k on k.source_system = r.source_system and k.order_id = r.order_id
    ) o
    join {{ ref('customer_identity') }} ci
      on ci.source_system = o.source_system and ci.source_customer_id = o.source_customer_id
    where o.rn = 1 and o.status = 'completed'
),
member_orders as (
    select mb.send_id, count(*) as orders, sum(o.total_amount) as revenue
    from members mb
    join orders o on o.person_id = mb.person_id
     and o.order_date >= mb.send_date and o.order_date < mb.window_end
    group by mb.send_id
)
select
    mb.campaign_id, mb.customer_id, mb.person_id, mb.channel, mb.send_date, mb.holdout, mb.outcome,
    mb.reason, mb.send_id, mb.kpi_window_days, mb.window_end,
    case mb.channel when 'email' then coalesce(e.delivered, 0) when 'sms' then coalesce(s.delivered, 0) else 0 end as delivered,
    case mb.channel when 'email' then coalesce(e.bounced, 0) when 'sms' then coalesce(s.bounced, 0) else 0 end as bounced,
    case when mb.channel = 'email' then coalesce(e.opened, 0) else 0 end as opened,
    case when mb.channel = 'email' then coalesce(e.clicked, 0) else 0 end as clicked,
    case mb.channel when 'email' then coalesce(e.unsubscribed, 0) when 'sms' then coalesce(su.unsubscribed, 0) else 0 end
        as unsubscribed,
    coalesce(r.rsvp, 0) as rsvp,
    coalesce(r.attended, 0) as attended,
    coalesce(r.applied, 0) as applied,
    coalesce(r.redeemed, 0) as redeemed,
    case when o.orders > 0 then 1 else 0 end as converted,
    coalesce(o.revenue, 0.0) as revenue
from members mb
left join email e on e.send_id = mb.send_id and mb.channel = 'email'
left join sms s on s.send_id = mb.send_id and mb.channel = 'sms'
left join sms_unsub su on su.send_id = mb.send_id
left join member_responses r on r.send_id = mb.send_id
left join member_orders o on o.send_id = mb.send_id
