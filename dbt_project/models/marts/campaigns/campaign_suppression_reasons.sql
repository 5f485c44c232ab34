{{ config(schema='marts', materialized='table') }}
-- Why members of a send cohort received nothing, from the campaign state the run recorded
-- (lake campaign_sends, through int_campaign_members): one row per campaign × channel ×
-- send_date × reason. The holdout (the control group, reason 'holdout') and every suppression
-- under the reason activations/audiences/suppression.py counted it with (consent, the
-- suppression list, address validity, duplicate address, frequency cap), next to the cohort's
-- audience so a share can be read.
with m as (select * from {{ ref('int_campaign_members') }}),
cohorts as (
    select campaign_id, channel, send_date, cast(count(*) as bigint) as audience
    from m group by campaign_id, channel, send_date
),
left_out as (
    select campaign_id, channel, send_date,
           case when holdout then 'holdout' else coalesce(reason, 'unrecorded') end as reason
    from m
    where holdout or outcome = 'suppressed'
)
select l.campaign_id, l.channel, l.send_date, l.reason, cast(count(*) as bigint) as people, c.audience
from left_out l
join cohorts c on c.campaign_id = l.campaign_id and c.channel = l.channel and c.send_date = l.send_date
group by l.campaign_id, l.channel, l.send_date, l.reason, c.audience
