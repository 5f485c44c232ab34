-- The example rank table per as_of: customers and sales (spend in the window) per rank.
select h.as_of, h.rank, r.rule_order, count(*) as customers, round(sum(h.spend_3y), 2) as sales
from {{ ref('customer_rank_history') }} h
left join {{ ref('rank_rules') }} r on r.rank = h.rank
group by h.as_of, h.rank, r.rule_order
