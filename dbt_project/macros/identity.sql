{#
  Label propagation with shortcutting (pointer jumping), unrolled into `n` passes of plain SQL
  so it runs unchanged on DuckDB and Spark. `start` has (node, label); `edges` has (src, dst)
  symmetric, with a self-loop for every node. Node ids are integers ordered by record age, so the
  fixed point (every node labelled with the smallest node of its component) is the oldest record.
  One pass:  N(v) = min label over v's closed neighbourhood;  L'(v) = min(N(v), N(N(v))).
  On a chain the distance covered doubles every pass (d' = 2d + 2): 1,000 records need 9 passes.
  Convergence is asserted by tests/assert_identity_converged.sql.
#}
{% macro identity_passes(start, edges, n) %}
with l0 as (
    select node, label from {{ start }}
){% for i in range(1, n + 1) %},
n{{ i }} as (
    select e.src as node, min(l.label) as label
    from {{ edges }} e
    join l{{ i - 1 }} l on l.node = e.dst
    group by e.src
),
l{{ i }} as (
    select a.node, least(a.label, b.label) as label
    from n{{ i }} a
    join n{{ i }} b on b.node = a.label
){% endfor %}
select node, label from l{{ n }}
{% endmacro %}
