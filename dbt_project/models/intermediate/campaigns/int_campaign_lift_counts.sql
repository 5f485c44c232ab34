{{ config(schema='intermediate', materialized='table') }}
-- Per campaign × send_date: distinct people in treatment (not holdout) and holdout, and how many
-- of them converted (a completed purchase within the KPI window), whatever the channel.
with people as (
    select campaign_id, send_date, person_id,
           max(case when holdout then 1 else 0 end) as holdout,
           max(converted) as converted,
           max(revenue) as revenue
    from {{ ref('int_campaign_members') }}
    group by campaign_id, send_date, person_id
)
select campaign_id, send_date,
       cast(sum(1 - holdout) as bigint) as n_treatment,
       cast(sum(case when holdout = 0 then converted else 0 end) as bigint) as converted_treatment,
       sum(case when holdout = 0 then revenue else 0.0 end) as revenue_treatment,
       cast(sum(holdout) as bigint) as n_holdout,
       cast(sum(case when holdout = 1 then converted else 0 end) as bigint) as converted_holdout,
       sum(case when holdout = 1 then revenue else 0.0 end) as revenue_holdout
from people
group by campaign_id, send_date
