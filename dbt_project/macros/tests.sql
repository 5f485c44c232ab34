{#
  Generic data tests dbt has no built-in for (its own are unique, not_null, accepted_values,
  relationships; these two are dbt_utils', which cannot be installed here: no package hub, and
  fetched package code is not committed).
#}
{#
  latest_only: the name of a column holding the as_of a row was computed for (incremental tables
  that recompute some keys a run, after deleting them): only the rows of the newest as_of are
  checked - the rows a run wrote - instead of the whole table every day.
#}
{% test unique_combination(model, columns, latest_only=none) %}
select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
{%- if latest_only %}
where {{ latest_only }} = (select max({{ latest_only }}) from {{ model }})
{%- endif %}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}

{% test accepted_range(model, column_name, min_value=none, max_value=none) %}
select {{ column_name }} from {{ model }}
where {{ column_name }} is not null and (
  {%- if min_value is not none %} {{ column_name }} < {{ min_value }}{% else %} false{% endif %} or
  {%- if max_value is not none %} {{ column_name }} > {{ max_value }}{% else %} false{% endif %})
{% endtest %}

{#
  nulled_fields (sources.schema.NULLED_FIELDS): `<reason>:<column>` flags, `; `-separated, of the
  values ingestion loaded as null because they failed to parse. Fails on a row whose flag names
  one of `columns` while that column holds a value (a flag that does not match the data).
#}
{% test nulled_where_flagged(model, column_name, columns) %}
select {{ column_name }} from {{ model }}
where {{ column_name }} is not null and (
  {%- for c in columns %}
  ({{ dbt.concat([column_name, "';'"]) }} like '%:{{ c }};%' and {{ c }} is not null){% if not loop.last %} or{% endif %}
  {%- endfor %})
{% endtest %}
