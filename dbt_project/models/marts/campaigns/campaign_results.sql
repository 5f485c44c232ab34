{{ config(schema='marts', materialized='table') }}
-- Campaign results per send cohort (campaign × channel × send_date): the funnel, the KPI actual
-- against its target, the cohort's KPI window (in progress until it closes, then met / missed)
-- and for a judged cohort a diagnosis that reads the funnel and the holdout (docs/DOMAIN.md step 6).
-- Actuals: open_rate = unique_opens / delivered, click_rate = unique_clicks / delivered,
-- attend_rate = responded_attended / sent, apply_rate = responded_applied / sent,
-- purchase_rate = converted_sent / sent. "Today" is the run's send date (as_of + 1).
{%- set diagnoses = campaign_diagnoses() %}
{%- set min_group = var('campaign_lift_min_group', 30) %}
with f as (select * from {{ ref('int_campaign_funnel') }}),
lift as (
    select campaign_id, send_date, n_treatment, n_holdout, lift, lift_ci_low, lift_ci_high, significance
    from {{ ref('campaign_lift') }}
),
counts as (
    select f.*,
           coalesce(f.kpi_window_days, 30) as window_days,
           case f.kpi_metric
               when 'open_rate' then f.unique_opens
               when 'click_rate' then f.unique_clicks
               when 'attend_rate' then f.responded_attended
               when 'apply_rate' then f.responded_applied
               when 'purchase_rate' then f.converted_sent
           end as kpi_numerator,
           case when f.kpi_metric in ('open_rate', 'click_rate') then f.delivered
                when f.kpi_metric in ('attend_rate', 'apply_rate', 'purchase_rate') then f.sent
           end as kpi_denominator
    from f
),
rates as (
    select c.*,
           {{ safe_ratio('delivered', 'sent') }} as delivered_rate,
           {{ safe_ratio('unique_opens', 'delivered') }} as open_rate,
           {{ safe_ratio('unique_clicks', 'delivered') }} as click_rate,
           {{ safe_ratio('unique_clicks', 'unique_opens') }} as click_to_open_rate,
           {{ safe_ratio('responded_applied', 'unique_clicks') }} as apply_per_click_rate,
           {{ safe_ratio('kpi_numerator', 'kpi_denominator') }} as kpi_actual,
           cast(nullif(kpi_denominator, 0) as double) as kpi_n,
           {{ add_days('send_date', 'window_days - 1') }} as kpi_window_last_day,
           -- the window is closed when the data of its last day is in: as_of >= its last day
           {{ add_days('send_date', 'window_days - 1') }} <= {{ as_of() }} as kpi_window_closed,
           least({{ dbt.datediff('send_date', run_send_date(), 'day') }} + 1, window_days) as kpi_window_day
    from counts c
),
bounded as (
    select r.*,
           {{ wilson_bound('kpi_actual', 'kpi_n', -1) }} as kpi_actual_ci_low,
           {{ wilson_bound('kpi_actual', 'kpi_n', 1) }} as kpi_actual_ci_high,
           -- a funnel step is evidence of a cause only when its 95% interval lies below its
           -- threshold: one open of one delivery is not "an unclear subject line"
           {{ wilson_bound('delivered_rate', 'cast(nullif(sent, 0) as double)', 1) }} as delivered_rate_ci_high,
           {{ wilson_bound('open_rate', 'cast(nullif(delivered, 0) as double)', 1) }} as open_rate_ci_high,
           {{ wilson_bound('click_to_open_rate', 'cast(nullif(unique_opens, 0) as double)', 1) }}
               as click_to_open_rate_ci_high,
           {{ wilson_bound('apply_per_click_rate', 'cast(nullif(unique_clicks, 0) as double)', 1) }}
               as apply_per_click_rate_ci_high,
           -- no data = nothing was sent; a cohort whose denominator is still 0 (no delivery event
           -- yet) is in progress with no actual; once closed, no actual counts as 0
           case when coalesce(r.sent, 0) = 0 then 'no data'
                when not r.kpi_window_closed then 'in progress'
                when coalesce(r.kpi_actual, 0) >= r.kpi_target then 'met'
                else 'missed' end as kpi_state
    from rates r
),
history as (
    -- the best judged actual of the same KPI metric on any channel of any earlier send date
    select r.campaign_id, r.channel, r.send_date, max(h.kpi_actual) as kpi_best_history
    from bounded r
    join bounded h on h.kpi_metric = r.kpi_metric and h.send_date < r.send_date
     and h.kpi_state in ('met', 'missed')
    group by r.campaign_id, r.channel, r.send_date
),
judged as (
    select b.*, h.kpi_best_history,
           l.lift, l.lift_ci_low, l.lift_ci_high, l.significance as lift_significance,
           coalesce(l.n_treatment >= {{ min_group }} and l.n_holdout >= {{ min_group }} and l.lift is not null, false)
               as lift_measurable,
           b.kpi_actual_ci_high < b.kpi_target
               and b.kpi_actual < b.kpi_target * (1 - {{ var('campaign_min_shortfall', 0.1) }}) as kpi_clearly_missed
    from bounded b
    left join history h on h.campaign_id = b.campaign_id and h.channel = b.channel and h.send_date = b.send_date
    left join lift l on l.campaign_id = b.campaign_id and l.send_date = b.send_date
),
diagnosed as (
    select j.*,
        case
            -- met, and the holdout shows the campaign caused no lift: significantly negative, or not
            -- significant with an interval that rules out a lift of campaign_min_lift or more
            when kpi_state = 'met' and lift_measurable
                 and ((lift_significance = 'significant' and lift < 0)
                      or (lift_significance <> 'significant' and lift_ci_high < {{ var('campaign_min_lift', 0.05) }}))
                then 'no_lift'
            when kpi_state <> 'missed' then null
            when channel in ('email', 'sms')
                 and delivered_rate_ci_high < {{ var('campaign_min_delivered_rate', 0.9) }}
                then 'list_quality'
            when channel = 'email' and delivered > 0
                 and (open_rate_ci_high < {{ var('campaign_min_open_rate', 0.15) }}
                      or (kpi_metric = 'open_rate' and kpi_clearly_missed))
                then 'unclear_subject'
            when channel = 'email' and unique_opens > 0
                 and (click_to_open_rate_ci_high < {{ var('campaign_min_click_to_open_rate', 0.1) }}
                      or (kpi_metric = 'click_rate' and kpi_clearly_missed))
                then 'email_too_long'
            when kpi_metric = 'apply_rate' and channel = 'email' and unique_clicks > 0
                 and apply_per_click_rate_ci_high < {{ var('campaign_min_apply_per_click_rate', 0.5) }}
                then 'application_process'
            when lift_measurable and lift_significance = 'significant' and lift > 0
                then 'target_unrealistic_for_segment'
            when kpi_clearly_missed and kpi_best_history is not null
                 and kpi_target > {{ var('campaign_unrealistic_factor', 2.0) }}
                                  * greatest(kpi_best_history, coalesce(kpi_actual, 0))
                then 'unrealistic_kpi'
            when kpi_clearly_missed
                 and responded_rsvp + responded_attended + responded_applied + responded_redeemed + converted_sent = 0
                then 'did_not_respond'
            when kpi_clearly_missed then 'did_not_attract'
            else 'no_cause_found'
        end as diagnosis_code
    from judged j
)
select
    campaign_id, channel, send_date, campaign_name, segment, objective,
    audience, holdout, suppressed, sent, failed, ambiguous, queued,
    delivered, bounced, unique_opens, unique_clicks, unsubscribed,
    responded_rsvp, responded_attended, responded_applied, responded_redeemed, converted_sent,
    delivered_rate, open_rate, click_rate, click_to_open_rate, apply_per_click_rate,
    kpi_metric, kpi_target, kpi_window_days, kpi_numerator, kpi_denominator, kpi_actual,
    round(kpi_actual_ci_low, 6) as kpi_actual_ci_low, round(kpi_actual_ci_high, 6) as kpi_actual_ci_high,
    {{ as_of() }} as observed_through, kpi_window_last_day, kpi_window_day, kpi_window_closed,
    kpi_state,
    case when kpi_state = 'in progress'
            then 'in progress (day ' || cast(kpi_window_day as {{ dbt.type_string() }}) || ' of '
                 || cast(window_days as {{ dbt.type_string() }}) || ')'
         else kpi_state end as kpi_status,
    case when kpi_state in ('met', 'missed') then kpi_state = 'met' end as kpi_met,
    kpi_best_history, lift, lift_significance,
    diagnosis_code,
    case diagnosis_code
        {%- for code, text in diagnoses.items() %}
        when '{{ code }}' then '{{ text }}'
        {%- endfor %}
    end as diagnosis
from diagnosed
