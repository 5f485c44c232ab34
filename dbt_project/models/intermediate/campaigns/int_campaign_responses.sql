{{ config(schema='intermediate', materialized='table') }}
-- One row per response_id (the first delivery by load_date, _source_file, _row_number).
{{ first_delivery(ref('stg_campaign_responses'), 'response_id') }}
