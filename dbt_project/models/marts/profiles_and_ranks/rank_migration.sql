{{ config(**incremental_config('as_of')) }}
-- Movements from rank to rank between consecutive runs (as_of dates in the history).
-- from_rank is '(none)' for a person who was not in the previous run (new person or merged).
-- Incremental by as_of: a run recomputes its own as_of and the next as_of in the history (whose
-- previous run it is when an older as_of is re-run), not the whole history; a full refresh
-- recomputes every as_of.
with runs as (
    select as_of, lag(as_of) over (order by as_of) as prev_as_of
    from (select distinct as_of from {{ ref('customer_rank_history') }}) d
),
targets as (
    select as_of, prev_as_of from runs
    where prev_as_of is not null
    {%- if is_incremental() %}
      and (as_of = {{ as_of() }} or prev_as_of = {{ as_of() }})
    {%- endif %}
),
cur as (
    select h.customer_id, h.rank, h.as_of, t.prev_as_of
    from {{ ref('customer_rank_history') }} h
    join targets t on t.as_of = h.as_of
)
select c.as_of, c.prev_as_of, coalesce(p.rank, '(none)') as from_rank, c.rank as to_rank,
       count(*) as customers
from cur c
left join {{ ref('customer_rank_history') }} p
  on p.customer_id = c.customer_id and p.as_of = c.prev_as_of
group by c.as_of, c.prev_as_of, coalesce(p.rank, '(none)'), c.rank
