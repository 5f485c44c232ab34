{{ config(schema='intermediate', materialized='table') }}
-- One row per event_id: a redelivered event counts once (the first by load_date, _source_file, _row_number).
{{ first_delivery(ref('stg_sms_events'), 'event_id') }}
