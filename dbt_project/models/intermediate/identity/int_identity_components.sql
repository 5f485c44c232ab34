-- Each record with its component (= rec_idx of the component's oldest record) and the component's
-- natural id: md5 of that oldest record's key (identical on DuckDB and Spark).
with comp as (
    select r.rec_idx, r.source_system, r.source_customer_id, r.first_seen_at,
           coalesce(l.label, r.rec_idx) as component  -- records without edges are alone
    from {{ ref('int_identity_records') }} r
    left join {{ ref('int_identity_labels') }} l on l.node = r.rec_idx
)
select c.rec_idx, c.source_system, c.source_customer_id, c.first_seen_at, c.component,
       {{ person_id('o.source_system', 'o.source_customer_id') }} as natural_id
from comp c
join {{ ref('int_identity_records') }} o on o.rec_idx = c.component
