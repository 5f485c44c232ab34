-- Every customer_id that was merged away, and the id it was merged into (the older, surviving id).
with log as (select * from {{ ref('int_customer_id_log') }}),
current_ids as (select distinct customer_id from {{ ref('customer_identity') }})
select l.previous_customer_id as merged_id, min(l.customer_id) as merged_into, min(l.assigned_as_of) as merged_as_of
from log l
left join current_ids c on c.customer_id = l.previous_customer_id
where l.previous_customer_id is not null and l.previous_customer_id <> l.customer_id and c.customer_id is null
group by l.previous_customer_id
