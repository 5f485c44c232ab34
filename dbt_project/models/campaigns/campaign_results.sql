{{ config(schema='marts', materialized='table') }}
-- Campaign results per campaign × channel × send_date: the funnel, the KPI actual against its
-- target, and for a missed KPI a diagnosis of where the funnel drops (DOMAIN.md step 6).
-- Actuals: open_rate = unique_opens / delivered, click_rate = unique_clicks / delivered,
-- attend_rate = responded_attended / sent, apply_rate = responded_applied / sent,
-- purchase_rate = converted_sent / sent.
with f as (select * from {{ ref('int_campaign_funnel') }}),
rates as (
    select f.*,
           {{ safe_ratio('delivered', 'sent') }} as delivered_rate,
           {{ safe_ratio('unique_opens', 'delivered') }} as open_rate,
           {{ safe_ratio('unique_clicks', 'delivered') }} as click_rate,
           {{ safe_ratio('unique_clicks', 'unique_opens') }} as click_to_open_rate,
           {{ safe_ratio('responded_applied', 'unique_clicks') }} as apply_per_click_rate,
           case kpi_metric
               when 'open_rate' then {{ safe_ratio('unique_opens', 'delivered') }}
               when 'click_rate' then {{ safe_ratio('unique_clicks', 'delivered') }}
               when 'attend_rate' then {{ safe_ratio('responded_attended', 'sent') }}
               when 'apply_rate' then {{ safe_ratio('responded_applied', 'sent') }}
               when 'purchase_rate' then {{ safe_ratio('converted_sent', 'sent') }}
           end as kpi_actual
    from f
),
history as (
    -- the best actual of the same KPI metric on any channel of any earlier send date
    select r.campaign_id, r.channel, r.send_date, max(h.kpi_actual) as kpi_best_history
    from rates r
    join rates h on h.kpi_metric = r.kpi_metric and h.send_date < r.send_date and h.kpi_actual is not null
    group by r.campaign_id, r.channel, r.send_date
),
judged as (
    select r.*, h.kpi_best_history,
           case when r.kpi_actual is null then null else r.kpi_actual >= r.kpi_target end as kpi_met,
           case when r.kpi_actual is null then 'no data'
                when r.kpi_actual >= r.kpi_target then 'met' else 'missed' end as kpi_status
    from rates r
    left join history h on h.campaign_id = r.campaign_id and h.channel = r.channel and h.send_date = r.send_date
)
select
    campaign_id, channel, send_date, campaign_name, segment, objective,
    audience, holdout, suppressed, sent, failed, ambiguous, queued,
    delivered, bounced, unique_opens, unique_clicks, unsubscribed,
    responded_rsvp, responded_attended, responded_applied, responded_redeemed,
    converted_sent, revenue_sent, converted, revenue, converted_holdout, revenue_holdout,
    delivered_rate, open_rate, click_rate, click_to_open_rate, apply_per_click_rate,
    kpi_metric, kpi_target, kpi_window_days, kpi_actual, kpi_met, kpi_status, kpi_best_history,
    case
        when kpi_status <> 'missed' then null
        when kpi_best_history is not null
             and kpi_target > {{ var('campaign_unrealistic_factor', 2.0) }} * kpi_best_history
            then 'unrealistic KPI: the target is far above what any channel has achieved before'
        when channel in ('email', 'sms') and delivered_rate < {{ var('campaign_min_delivered_rate', 0.9) }}
            then 'list quality: a low share of the messages was delivered'
        when channel = 'email' and delivered > 0
             and (kpi_metric = 'open_rate' or open_rate < {{ var('campaign_min_open_rate', 0.15) }})
            then 'the subject line was unclear, so the open rate was low'
        when channel = 'email' and unique_opens > 0
             and (kpi_metric = 'click_rate' or click_to_open_rate < {{ var('campaign_min_click_to_open_rate', 0.1) }})
            then 'the email was too long: people opened it but few clicked'
        when kpi_metric = 'apply_rate' and channel = 'email' and unique_clicks > 0
             and apply_per_click_rate < {{ var('campaign_min_apply_per_click_rate', 0.5) }}
            then 'the application process was too complicated: people clicked but few applied'
        when responded_rsvp + responded_attended + responded_applied + responded_redeemed + converted_sent = 0
            then 'the campaign did not attract the target: the audience did not respond at all'
        else 'the campaign did not attract enough of the target'
    end as diagnosis
from judged
