{{ config(**incremental_config('as_of')) }}
-- Each person's rank for every as_of a run built; re-running an as_of replaces its rows.
select customer_id, rank, spend_3y, orders_3y, as_of
from {{ ref('customer_ranks') }}
