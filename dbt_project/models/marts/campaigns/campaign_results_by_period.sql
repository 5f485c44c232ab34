{{ config(schema='marts', materialized='table') }}
-- Send cohorts rolled up by week (Monday) and by month, per campaign × channel: the funnel and
-- the KPI numerator / denominator summed over the period's send dates, the KPI actual of those
-- sums, and the state: in progress until every cohort of the period has a closed window.
-- The per-day grain is campaign_results itself. The KPI (metric, target) is that of the
-- period's latest send date.
with r as (select * from {{ ref('campaign_results') }}),
periods as (
    {%- for grain in ['week', 'month'] %}
    {{ 'union all' if not loop.first }}
    select '{{ grain }}' as grain, {{ period_start(grain, 'send_date') }} as period_start, r.*
    from r
    {%- endfor %}
),
agg as (
    select grain, period_start, campaign_id, channel,
           cast(count(*) as bigint) as send_days,
           cast(sum(case when kpi_window_closed then 1 else 0 end) as bigint) as send_days_closed,
           min(send_date) as first_send_date, max(send_date) as last_send_date,
           cast(sum(audience) as bigint) as audience, cast(sum(holdout) as bigint) as holdout,
           cast(sum(suppressed) as bigint) as suppressed, cast(sum(sent) as bigint) as sent,
           cast(sum(delivered) as bigint) as delivered, cast(sum(unique_opens) as bigint) as unique_opens,
           cast(sum(unique_clicks) as bigint) as unique_clicks,
           cast(sum(responded_attended) as bigint) as responded_attended,
           cast(sum(responded_applied) as bigint) as responded_applied,
           cast(sum(converted_sent) as bigint) as converted_sent,
           cast(sum(kpi_numerator) as bigint) as kpi_numerator,
           cast(sum(kpi_denominator) as bigint) as kpi_denominator
    from periods
    group by grain, period_start, campaign_id, channel
),
latest as (
    select p.grain, p.period_start, p.campaign_id, p.channel, p.kpi_metric, p.kpi_target
    from periods p
    join agg a on a.grain = p.grain and a.period_start = p.period_start and a.campaign_id = p.campaign_id
     and a.channel = p.channel and a.last_send_date = p.send_date
),
judged as (
    select a.*, l.kpi_metric, l.kpi_target,
           {{ safe_ratio('a.kpi_numerator', 'a.kpi_denominator') }} as kpi_actual
    from agg a
    join latest l on l.grain = a.grain and l.period_start = a.period_start and l.campaign_id = a.campaign_id
     and l.channel = a.channel
)
select grain, period_start, campaign_id, channel, send_days, send_days_closed, first_send_date, last_send_date,
       audience, holdout, suppressed, sent, delivered, unique_opens, unique_clicks, responded_attended,
       responded_applied, converted_sent, kpi_metric, kpi_target, kpi_numerator, kpi_denominator, kpi_actual,
       case when kpi_actual is null then 'no data'
            when send_days_closed < send_days then 'in progress'
            when kpi_actual >= kpi_target then 'met' else 'missed' end as kpi_state,
       case when kpi_actual is null then 'no data'
            when send_days_closed < send_days
                then 'in progress (' || cast(send_days_closed as {{ dbt.type_string() }}) || ' of '
                     || cast(send_days as {{ dbt.type_string() }}) || ' send days closed)'
            when kpi_actual >= kpi_target then 'met' else 'missed' end as kpi_status
from judged
