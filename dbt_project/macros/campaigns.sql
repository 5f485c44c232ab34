{# Helpers for models/campaigns (portable: DuckDB and Spark). #}

{# hex SHA-256 of a string (same as Python's hashlib.sha256(s.encode()).hexdigest()) #}
{% macro sha256_hex(expr) -%}{{ return(adapter.dispatch('sha256_hex', 'crmloop')(expr)) }}{%- endmacro %}
{% macro default__sha256_hex(expr) -%}sha256({{ expr }}){%- endmacro %}
{% macro spark__sha256_hex(expr) -%}sha2({{ expr }}, 256){%- endmacro %}

{# x / y as double, null when y is null or 0 #}
{% macro safe_ratio(x, y) -%}
    case when {{ y }} is null or {{ y }} = 0 then null else cast({{ x }} as double) / cast({{ y }} as double) end
{%- endmacro %}

{# the first row per key: order by load_date, _source_file, _row_number (ascending = first delivered) #}
{% macro first_delivered(key) -%}
    row_number() over (partition by {{ key }} order by load_date, _source_file, _row_number)
{%- endmacro %}

{#
  lake_or_empty(entity, columns): like lake(entity), but when the entity has no partition yet
  (before the first export / the first provider feedback) an empty relation with the given typed
  columns (+ _source_file, _row_number, load_date) instead of a "no files found" error, so a
  whole-project `dbt build` works on a lake without campaign data. DuckDB checks with glob() at
  run time; on Spark the entity must exist (export_campaign_state and ingestion always write a
  typed partition, empty if need be).
#}
{% macro lake_or_empty(entity, columns) -%}
    {{ return(adapter.dispatch('lake_or_empty', 'crmloop')(entity, columns)) }}
{%- endmacro %}

{% macro default__lake_or_empty(entity, columns) -%}
    {%- set pattern = lake_dir() ~ '/' ~ entity ~ '/*/*.parquet' -%}
    {%- set present = (not execute) or (run_query("select count(*) from glob('" ~ pattern ~ "')").columns[0].values()[0] > 0) -%}
    {%- if present -%}
        {{ lake(entity) }}
    {%- else -%}
        {%- set _ = source('lake', entity) -%}
        (select {% for name, typ in columns.items() %}cast(null as {{ typ }}) as {{ adapter.quote(name) }}, {% endfor -%}
         cast(null as {{ string_type() }}) as _source, cast(null as {{ string_type() }}) as _source_file,
         cast(null as bigint) as _row_number, cast(null as date) as load_date where 1 = 0)
    {%- endif -%}
{%- endmacro %}

{% macro spark__lake_or_empty(entity, columns) -%}
    {{ lake(entity) }}
{%- endmacro %}
