{{ config(schema='intermediate', materialized='table') }}
-- One row per response_id (the first delivery by load_date, _source_file, _row_number).
select * from (
    select r.*, {{ first_delivered('response_id') }} as _rn
    from {{ ref('stg_campaign_responses') }} r
    where response_id is not null
) d
where _rn = 1
