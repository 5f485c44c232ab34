-- Each linked record with its identity label (the smallest record of its component): label
-- propagation run to its fixed point, however many passes that takes (macros/identity.sql).
{{ config(materialized='table', post_hook="{{ identity_drop_work() }}") }}
{{ identity_labels(ref('int_identity_edges')) }}
