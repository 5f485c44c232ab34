-- Movements from rank to rank between consecutive runs (as_of dates in the history).
-- from_rank is '(none)' for a person who was not in the previous run (new person or merged).
with runs as (
    select as_of, lag(as_of) over (order by as_of) as prev_as_of
    from (select distinct as_of from {{ ref('customer_rank_history') }}) d
),
cur as (
    select h.customer_id, h.rank, h.as_of, r.prev_as_of
    from {{ ref('customer_rank_history') }} h
    join runs r on r.as_of = h.as_of
    where r.prev_as_of is not null
)
select c.as_of, c.prev_as_of, coalesce(p.rank, '(none)') as from_rank, c.rank as to_rank,
       count(*) as customers
from cur c
left join {{ ref('customer_rank_history') }} p
  on p.customer_id = c.customer_id and p.as_of = c.prev_as_of
group by c.as_of, c.prev_as_of, coalesce(p.rank, '(none)'), c.rank
