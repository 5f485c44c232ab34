{#
  Identity resolution = connected components by label propagation with hooking and shortcutting
  (pointer jumping), one pass per model (int_identity_pass_01 .. _NN) so every pass is a small
  plain-SQL query that runs unchanged on DuckDB and Spark (Spark inlines CTEs, so passes are not
  chained as CTEs). Node ids are integers ordered by record age, so the fixed point (every node
  labelled with the smallest node of its component) names the component's oldest record.
  `edges` (src, dst) is symmetric with a self-loop per node. One pass, from labels L:
    N(v)  = min L(u) over v's closed neighbourhood            (propagate)
    P(w)  = min(N(w), min N(v) over v with L(v) = w)          (hook: a label node learns what its members saw)
    L1(v) = min(N(v), P(L(v)))                                (follow the hooked label)
    L'(v) = min(L1(v), L1(L1(v)))                             (shortcut)
  Measured with the same recurrence: a shuffled chain of 1,000 records settles in 7 passes, of
  100,000 in 11, a random 1M-node / 600k-edge graph in 6. The project runs 16 passes and
  tests/assert_identity_converged.sql fails the build if they were not enough.
#}
{% macro identity_pass(prev, edges) %}
with l as (
    select node, label from {{ prev }}
),
n as (
    select e.src as node, min(l.label) as label
    from {{ edges }} e
    join l on l.node = e.dst
    group by e.src
),
hook as (
    select l.label as node, min(n.label) as label
    from l join n on n.node = l.node
    group by l.label
),
p as (
    select n.node, case when h.label is not null and h.label < n.label then h.label else n.label end as label
    from n left join hook h on h.node = n.node
),
l1 as (
    select l.node, least(n.label, p.label) as label
    from l
    join n on n.node = l.node
    join p on p.node = l.label
)
select a.node, least(a.label, b.label) as label
from l1 a
join l1 b on b.node = a.label
{% endmacro %}
