{{ config(schema='marts', materialized='table') }}
-- Ad-platform match rate per sync (platform × campaign × audience × report date), from the
-- platform's own numbers: matched_users / uploaded_users. A report row delivered again counts once
-- (the latest delivery by load_date, _source_file, _row_number wins).
select platform, campaign_id, audience_id, report_date,
       uploaded_users, matched_users,
       {{ safe_ratio('matched_users', 'uploaded_users') }} as match_rate,
       impressions, clicks, spend, conversions
from (
    select r.*, row_number() over (
        partition by platform, campaign_id, audience_id, report_date
        order by load_date desc, _source_file desc, _row_number desc) as _rn
    from {{ ref('stg_ad_reports') }} r
) d
where _rn = 1
