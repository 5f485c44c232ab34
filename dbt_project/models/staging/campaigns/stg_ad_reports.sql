{{ config(schema='staging', materialized='view') }}
{%- set columns = {'platform': dbt.type_string(), 'campaign_id': dbt.type_string(), 'audience_id': dbt.type_string(), 'date': 'date', 'impressions': 'bigint', 'clicks': 'bigint', 'spend': 'double', 'conversions': 'double', 'matched_users': 'bigint', 'uploaded_users': 'bigint'} %}
-- Ad-platform reports (Meta and Google formats, mapped to one layout by sources/).
select
    cast(platform as {{ dbt.type_string() }}) as platform,
    cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
    cast(audience_id as {{ dbt.type_string() }}) as audience_id,
    cast({{ adapter.quote('date') }} as date) as report_date,
    cast(impressions as bigint) as impressions,
    cast(clicks as bigint) as clicks,
    cast(spend as double) as spend,
    cast(conversions as double) as conversions,
    cast(matched_users as bigint) as matched_users,
    cast(uploaded_users as bigint) as uploaded_users,
    _source_file, cast(_row_number as bigint) as _row_number,
    cast(load_date as date) as load_date
from {{ lake_or_empty('ad_reports', columns) }}
where cast(load_date as date) <= {{ as_of() }}
