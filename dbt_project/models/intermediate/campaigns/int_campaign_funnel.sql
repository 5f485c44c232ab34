{{ config(schema='intermediate', materialized='table') }}
-- Counts per campaign × channel × send_date, with the plan (KPI) in force on that send date.
-- Funnel counts (delivered .. redeemed, converted_sent, revenue_sent) are over members whose
-- message was sent; converted / revenue over the whole treatment group (audience - holdout);
-- converted_holdout / revenue_holdout over the holdout.
with m as (select * from {{ ref('int_campaign_members') }}),
agg as (
    select campaign_id, channel, send_date,
           cast(count(*) as bigint) as audience,
           cast(sum(case when holdout then 1 else 0 end) as bigint) as holdout,
           cast(sum(case when outcome = 'suppressed' then 1 else 0 end) as bigint) as suppressed,
           cast(sum(case when outcome = 'sent' then 1 else 0 end) as bigint) as sent,
           cast(sum(case when outcome = 'failed' then 1 else 0 end) as bigint) as failed,
           cast(sum(case when outcome = 'ambiguous' then 1 else 0 end) as bigint) as ambiguous,
           cast(sum(case when outcome = 'queued' then 1 else 0 end) as bigint) as queued,
           cast(sum(case when outcome = 'sent' then delivered else 0 end) as bigint) as delivered,
           cast(sum(case when outcome = 'sent' then bounced else 0 end) as bigint) as bounced,
           cast(sum(case when outcome = 'sent' then opened else 0 end) as bigint) as unique_opens,
           cast(sum(case when outcome = 'sent' then clicked else 0 end) as bigint) as unique_clicks,
           cast(sum(case when outcome = 'sent' then unsubscribed else 0 end) as bigint) as unsubscribed,
           cast(sum(case when outcome = 'sent' then rsvp else 0 end) as bigint) as responded_rsvp,
           cast(sum(case when outcome = 'sent' then attended else 0 end) as bigint) as responded_attended,
           cast(sum(case when outcome = 'sent' then applied else 0 end) as bigint) as responded_applied,
           cast(sum(case when outcome = 'sent' then redeemed else 0 end) as bigint) as responded_redeemed,
           cast(sum(case when outcome = 'sent' then converted else 0 end) as bigint) as converted_sent,
           sum(case when outcome = 'sent' then revenue else 0.0 end) as revenue_sent,
           cast(sum(case when not holdout then converted else 0 end) as bigint) as converted,
           sum(case when not holdout then revenue else 0.0 end) as revenue,
           cast(sum(case when holdout then converted else 0 end) as bigint) as converted_holdout,
           sum(case when holdout then revenue else 0.0 end) as revenue_holdout
    from m
    group by campaign_id, channel, send_date
)
select a.*,
       p.campaign_name, p.segment, p.objective, p.kpi_metric, p.kpi_target, p.kpi_window_days
from agg a
left join {{ ref('stg_campaign_plan') }} p
  on p.campaign_id = a.campaign_id and p.channel = a.channel and p.load_date = a.send_date
