{{ config(schema='marts', materialized='table') }}
-- Treatment vs holdout conversion per campaign × send_date, the absolute lift and its 95%
-- confidence interval by Newcombe's hybrid score method (method 10: Wilson intervals of each
-- proportion combined), portable SQL (sqrt only).
with c as (select * from {{ ref('int_campaign_lift_counts') }}),
p as (
    select c.*,
           {{ safe_ratio('converted_treatment', 'n_treatment') }} as p_t,
           {{ safe_ratio('converted_holdout', 'n_holdout') }} as p_h,
           cast(nullif(n_treatment, 0) as double) as nt,
           cast(nullif(n_holdout, 0) as double) as nh
    from c
),
w as (
    -- Wilson score interval of each proportion (macros/campaigns.sql: wilson_bound)
    select p.*,
           {{ wilson_bound('p_t', 'nt', -1) }} as l_t,
           {{ wilson_bound('p_t', 'nt', 1) }} as u_t,
           {{ wilson_bound('p_h', 'nh', -1) }} as l_h,
           {{ wilson_bound('p_h', 'nh', 1) }} as u_h
    from p
),
ci as (
    select w.*,
           p_t - p_h as lift,
           p_t - p_h - sqrt((p_t - l_t) * (p_t - l_t) + (u_h - p_h) * (u_h - p_h)) as lift_ci_low,
           p_t - p_h + sqrt((u_t - p_t) * (u_t - p_t) + (p_h - l_h) * (p_h - l_h)) as lift_ci_high
    from w
)
select
    campaign_id, send_date,
    n_treatment, converted_treatment, revenue_treatment,
    n_holdout, converted_holdout, revenue_holdout,
    round(p_t, 6) as conversion_rate_treatment,
    round(p_h, 6) as conversion_rate_holdout,
    round(lift, 6) as lift,
    round(lift_ci_low, 6) as lift_ci_low,
    round(lift_ci_high, 6) as lift_ci_high,
    round({{ safe_ratio('lift', 'p_h') }}, 6) as relative_lift,
    case when n_treatment < {{ var('campaign_lift_min_group', 30) }} or n_holdout < {{ var('campaign_lift_min_group', 30) }}
              or lift is null
            then 'not significant'
         when lift_ci_low <= 0 and lift_ci_high >= 0 then 'not significant'
         else 'significant' end as significance,
    case when lift is null then 'no treatment or no holdout'
         when n_treatment < {{ var('campaign_lift_min_group', 30) }} or n_holdout < {{ var('campaign_lift_min_group', 30) }}
            then 'groups too small'
         when lift_ci_low <= 0 and lift_ci_high >= 0 then 'the interval contains 0'
         when lift > 0 then 'treatment converts more than holdout'
         else 'treatment converts less than holdout' end as significance_reason
from ci
