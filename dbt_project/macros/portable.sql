{# Small SQL helpers of this project; dbt's own cross-database macros (dbt.dateadd, dbt.datediff,
   dbt.type_string, ...) are used directly wherever dbt has one. #}

{#
  The run's business date: --vars as_of, else env CRM_AS_OF, else yesterday. The env var is read
  only when executing: dbt re-parses every file that read a changed env var at parse time, and the
  whole project when --vars change, so a daily run that passes CRM_AS_OF (as Dagster and the bench
  do) keeps dbt's partial parsing instead of paying a full parse every day.
#}
{% macro as_of() -%}
    {%- set v = var('as_of', '') -%}
    {%- if not v and execute -%}{%- set v = env_var('CRM_AS_OF', '') -%}{%- endif -%}
    {%- if not v -%}
        {%- set v = (modules.datetime.date.today() - modules.datetime.timedelta(days=1)).isoformat() -%}
    {%- endif -%}
    {%- if not modules.re.match('^\d{4}-\d{2}-\d{2}$', v | string) -%}
        {{ exceptions.raise_compiler_error("var as_of must be YYYY-MM-DD, got " ~ v) }}
    {%- endif -%}
    cast('{{ v }}' as date)
{%- endmacro %}

{#
  Dates n months / days after d. dbt's own dateadd (dbt-adapters, dispatched per engine) gives a
  timestamp; every caller compares or stores a date, so the two helpers cast it back.
#}
{% macro add_months(d, n) -%}cast({{ dbt.dateadd('month', n, d) }} as date){%- endmacro %}
{% macro add_days(d, n) -%}cast({{ dbt.dateadd('day', n, d) }} as date){%- endmacro %}

{# 1 = Saturday or Sunday. Kept here: dbt has no day-of-week macro. #}
{% macro is_weekend(ts) -%}{{ return(adapter.dispatch('is_weekend', 'crmloop')(ts)) }}{%- endmacro %}
{% macro default__is_weekend(ts) -%}(isodow({{ ts }}) in (6, 7)){%- endmacro %}
{% macro spark__is_weekend(ts) -%}(dayofweek({{ ts }}) in (1, 7)){%- endmacro %}

{# Kept here: dbt has no regular-expression macro. #}
{% macro regex_match(expr, pattern) -%}{{ return(adapter.dispatch('regex_match', 'crmloop')(expr, pattern)) }}{%- endmacro %}
{% macro default__regex_match(expr, pattern) -%}regexp_matches({{ expr }}, '{{ pattern }}'){%- endmacro %}
{% macro spark__regex_match(expr, pattern) -%}({{ expr }} rlike '{{ pattern }}'){%- endmacro %}

{# md5-based stable person id: 'C' + 20 hex chars of md5(source_system|source_customer_id) #}
{% macro person_id(source_system, source_customer_id) -%}
    concat('C', substr(md5(concat({{ source_system }}, '|', {{ source_customer_id }})), 1, 20))
{%- endmacro %}

{# incremental configuration that works on both engines #}
{% macro incremental_config(partition_col) -%}
    {%- if target.type == 'spark' -%}
        {{ return({'materialized': 'incremental', 'incremental_strategy': 'insert_overwrite', 'partition_by': [partition_col], 'file_format': 'parquet'}) }}
    {%- else -%}
        {{ return({'materialized': 'incremental', 'incremental_strategy': 'delete+insert', 'unique_key': partition_col}) }}
    {%- endif -%}
{%- endmacro %}

{# identifier is a placeholder (never merges people) #}
{% macro is_placeholder_email(col) -%}
    ({{ col }} is null
    {%- for p in var('placeholder_email_patterns') %} or {{ col }} like '{{ p }}'{% endfor %})
{%- endmacro %}

{% macro is_placeholder_phone(col) -%}
    {#- all digits after the country code the same (+66000000000, +66999999999) or too short -#}
    ({{ col }} is null or length({{ col }}) < 11
     or {{ regex_match("substr(" ~ col ~ ", 4)", '^(0+|1+|2+|3+|4+|5+|6+|7+|8+|9+|123456789)$') }})
{%- endmacro %}
