-- Every source record that can be a person: customer records, plus (source_system, source_customer_id)
-- pairs that only appear on orders. rec_idx orders records by age (first seen), then by key, so
-- the smallest rec_idx of a component is its oldest record.
with customer_records as (
    select source_system, source_customer_id,
           coalesce(registered_at, updated_at) as first_seen_at,
           email, email_valid, phone, phone_is_mobile, loyalty_card_id
    from {{ ref('stg_customers') }}
),
order_only as (
    select f.source_system, f.source_customer_id, f.first_seen_at
    from {{ ref('int_record_order_facts') }} f
    left join customer_records c
      on c.source_system = f.source_system and c.source_customer_id = f.source_customer_id
    where f.fact = 'orders' and c.source_customer_id is null
),
all_records as (
    select source_system, source_customer_id, first_seen_at, email, email_valid, phone, phone_is_mobile,
           loyalty_card_id, true as has_customer_record
    from customer_records
    union all
    select source_system, source_customer_id, first_seen_at, cast(null as {{ dbt.type_string() }}), false,
           cast(null as {{ dbt.type_string() }}), false, cast(null as {{ dbt.type_string() }}), false
    from order_only
)
select
    row_number() over (order by case when first_seen_at is null then 1 else 0 end, first_seen_at,
                                source_system, source_customer_id) as rec_idx,
    *
from all_records
