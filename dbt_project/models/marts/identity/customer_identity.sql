-- One row per source record with its person's stable customer_id (latest assignment in the id log).
-- merged_from_customer_id / merged_into: set when this record's former id was merged away into
-- customer_id (the older id survives); null otherwise.
with latest as (
    select source_system, source_customer_id, customer_id, previous_customer_id, assigned_as_of,
           row_number() over (partition by source_system, source_customer_id order by run_seq desc) as rn
    from {{ ref('int_customer_id_log') }}
),
current_ids as (
    select distinct l.customer_id
    from latest l
    join {{ ref('int_identity_components') }} c
      on c.source_system = l.source_system and c.source_customer_id = l.source_customer_id
    where l.rn = 1
)
select
    l.customer_id,
    l.source_system,
    l.source_customer_id,
    case when l.previous_customer_id is not null and ci.customer_id is null then l.previous_customer_id end
        as merged_from_customer_id,
    case when l.previous_customer_id is not null and ci.customer_id is null then l.customer_id end
        as merged_into,
    l.assigned_as_of,
    c.first_seen_at
from latest l
join {{ ref('int_identity_components') }} c
  on c.source_system = l.source_system and c.source_customer_id = l.source_customer_id
left join current_ids ci on ci.customer_id = l.previous_customer_id
where l.rn = 1
