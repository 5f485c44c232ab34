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
