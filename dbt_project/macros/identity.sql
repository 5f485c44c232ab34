{#
  Identity resolution = connected components by label propagation with hooking and shortcutting
  (pointer jumping). Node ids are integers ordered by record age, so the fixed point (every node
  labelled with the smallest node of its component) names the component's oldest record.
  `edges` (src, dst) is symmetric with a self-loop per node. One pass, from labels L:
    N(v)  = min L(u) over v's closed neighbourhood            (propagate)
    P(w)  = min(N(w), min N(v) over v with L(v) = w)          (hook: a label node learns what its members saw)
    L1(v) = min(N(v), P(L(v)))                                (follow the hooked label)
    L'(v) = min(L1(v), L1(L1(v)))                             (shortcut)
  `identity_labels` runs passes until no edge joins two labels (then every component carries one
  label, its smallest node: labels only fall and are always nodes of the component), however many
  that takes: a shuffled chain of 1,000 records settles in 7 passes, of 100,000 in 11, a random
  1M-node / 600k-edge graph in 6. var('identity_max_passes') caps the loop; reaching it fails the
  build, naming the edges still crossing two labels. Each pass is one small plain-SQL table (the
  same text on DuckDB and Spark, which inlines CTEs: passes are materialised, not chained).
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


{# The starting labels: every linked node is its own label. #}
{% macro identity_start(edges) -%}
    (select distinct src as node, src as label from {{ edges }}) start_labels
{%- endmacro %}

{% macro identity_work_relation(suffix) -%}
    {{ return(this.incorporate(path={"identifier": this.identifier ~ "__pass_" ~ suffix}, type="table")) }}
{%- endmacro %}

{#
  The final labels, for the model that calls it (a table). At execution the passes run here, each
  into a work table next to the model (`<model>__pass_a` / `_b`, dropped by the post-hook
  identity_drop_work), and the model selects the last one. At parse time, and in a unit test (whose
  inputs exist only inside the test's query), the SQL is one pass from the starting labels.
#}
{% macro identity_labels(edges) %}
{%- if not execute or model.resource_type == 'unit_test' -%}
    {{ identity_pass(identity_start(edges), edges) }}
{%- else -%}
    {%- set cap = var('identity_max_passes') | int -%}
    {%- set work = [identity_work_relation('a'), identity_work_relation('b')] -%}
    {%- do identity_drop_work() -%}
    {%- set state = namespace(current=work[0], passes=0, crossing=-1) -%}
    {%- do run_query(get_create_table_as_sql(False, state.current, identity_pass(identity_start(edges), edges))) -%}
    {%- for i in range(cap) if state.crossing != 0 -%}
        {%- if i > 0 -%}
            {%- set nxt = work[i % 2] -%}
            {%- do run_query(get_create_table_as_sql(False, nxt, identity_pass(state.current, edges))) -%}
            {%- do adapter.drop_relation(state.current) -%}
            {%- set state.current = nxt -%}
        {%- endif -%}
        {%- set state.passes = i + 1 -%}
        {%- set state.crossing = run_query(identity_crossing_edges(state.current, edges, count_only=true)).columns[0].values()[0] | int -%}
    {%- endfor -%}
    {%- if state.crossing != 0 -%}
        {%- set sample = run_query(identity_crossing_edges(state.current, edges) ~ " order by e.src, e.dst limit 5") -%}
        {%- do exceptions.raise_compiler_error(
            "identity labels did not settle in " ~ cap ~ " passes (var identity_max_passes): "
            ~ state.crossing ~ " edges still join two labels, e.g. (src, dst, src_label, dst_label) "
            ~ sample.rows | map('list') | list | string ~ ". Raise identity_max_passes.") -%}
    {%- endif -%}
    {{ log("identity labels settled in " ~ state.passes ~ " passes", info=true) }}
    -- labels settled in {{ state.passes }} passes (macros/identity.sql: identity_labels)
    select node, label from {{ state.current }}
{%- endif -%}
{% endmacro %}

{# Edges joining two different labels: none once the labels are the components. #}
{% macro identity_crossing_edges(labels, edges, count_only=false) -%}
    select {% if count_only %}count(*){% else %}e.src, e.dst, a.label as src_label, b.label as dst_label{% endif %}
    from {{ edges }} e
    join {{ labels }} a on a.node = e.src
    join {{ labels }} b on b.node = e.dst
    where a.label <> b.label
{%- endmacro %}

{% macro identity_drop_work() %}
    {%- for suffix in ['a', 'b'] -%}
        {%- do adapter.drop_relation(identity_work_relation(suffix)) -%}
    {%- endfor -%}
{% endmacro %}
