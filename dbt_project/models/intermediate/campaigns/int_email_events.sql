{{ config(schema='intermediate', materialized='table') }}
-- One row per event_id: a redelivered event counts once (the first by load_date, _source_file, _row_number).
select * from (
    select e.*, {{ first_delivered('event_id') }} as _rn
    from {{ ref('stg_email_events') }} e
    where event_id is not null
) d
where _rn = 1
