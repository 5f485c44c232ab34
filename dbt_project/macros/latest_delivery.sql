{#
  CTEs `<name>__multi` and `<name>`: the latest delivery per key of the relation `deliveries`
  (columns: keys, cols, load_date, _source_file, _row_number), by (load_date, _source_file,
  _row_number) descending. Most keys are delivered once: only keys delivered more than once go
  through the window (sorting every row by a file name is most of the cost of a 10M-row dedupe).
  Used by stg_customers and the record facts (macros/record_facts.sql).
#}
{% macro latest_delivery(deliveries, keys, cols, name) -%}
{{ name }}__multi as (
    select {{ keys | join(', ') }} from {{ deliveries }}
    group by {{ keys | join(', ') }}
    having count(*) > 1
),
{{ name }} as (
    select {% for c in keys + cols %}d.{{ c }}{{ ', ' if not loop.last }}{% endfor %}
    from {{ deliveries }} d
    left join {{ name }}__multi m on {% for k in keys %}{{ 'and ' if not loop.first }}m.{{ k }} = d.{{ k }} {% endfor %}
    where m.{{ keys[-1] }} is null
    union all
    select {{ (keys + cols) | join(', ') }} from (
        select d.*, row_number() over (partition by {% for k in keys %}d.{{ k }}{{ ', ' if not loop.last }}{% endfor %}
                                       order by d.load_date desc, d._source_file desc, d._row_number desc) as _rn
        from {{ deliveries }} d
        join {{ name }}__multi m on {% for k in keys %}{{ 'and ' if not loop.first }}m.{{ k }} = d.{{ k }} {% endfor %}
    ) x
    where _rn = 1
)
{%- endmacro %}
