{{ config(schema='intermediate', materialized='table') }}
-- Counts per campaign × channel × send_date, with the plan (KPI) in force on that send date.
-- Funnel counts (delivered .. redeemed, converted_sent, revenue_sent) are over members whose
-- message was sent; converted / revenue over the whole treatment group (audience - holdout);
-- converted_holdout / revenue_holdout over the holdout.
with m as (select * from {{ ref('int_campaign_members') }}),
agg as (
    select campaign_id, channel, send_date,
           count(*) as audience,
           sum(case when holdout then 1 else 0 end) as holdout,
           sum(case when outcome = 'suppressed' then 1 else 0 end) as suppressed,
           sum(case when outcome = 'sent' then 1 else 0 end) as sent,
           sum(case when outcome = 'failed' then 1 else 0 end) as failed,
           sum(case when outcome = 'ambiguous' then 1 else 0 end) as ambiguous,
           sum(case when outcome = 'queued' then 1 else 0 end) as queued,
           sum(case when outcome = 'sent' then delivered else 0 end) as delivered,
           sum(case when outcome = 'sent' then bounced else 0 end) as bounced,
           sum(case when outcome = 'sent' then opened else 0 end) as unique_opens,
           sum(case when outcome = 'sent' then clicked else 0 end) as unique_clicks,
           sum(case when outcome = 'sent' then unsubscribed else 0 end) as unsubscribed,
           sum(case when outcome = 'sent' then rsvp else 0 end) as responded_rsvp,
           sum(case when outcome = 'sent' then attended else 0 end) as responded_attended,
           sum(case when outcome = 'sent' then applied else 0 end) as responded_applied,
           sum(case when outcome = 'sent' then redeemed else 0 end) as responded_redeemed,
           sum(case when outcome = 'sent' then converted else 0 end) as converted_sent,
           sum(case when outcome = 'sent' then revenue else 0.0 end) as revenue_sent,
           sum(case when not holdout then converted else 0 end) as converted,
           sum(case when not holdout then revenue else 0.0 end) as revenue,
           sum(case when holdout then converted else 0 end) as converted_holdout,
           sum(case when holdout then revenue else 0.0 end) as revenue_holdout
    from m
    group by campaign_id, channel, send_date
)
select a.*,
       p.campaign_name, p.segment, p.objective, p.kpi_metric, p.kpi_target, p.kpi_window_days
from agg a
left join {{ ref('stg_campaign_plan') }} p
  on p.campaign_id = a.campaign_id and p.channel = a.channel and p.load_date = a.send_date
