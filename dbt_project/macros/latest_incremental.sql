{#
  "Latest row per key" models (int_orders_latest, int_order_lines_latest) are incremental by key on
  DuckDB: a daily run recomputes only the keys touched by recently loaded partitions instead of
  re-ranking every delivery of every order. On Spark they stay tables (Spark is the scale-out path).

  cutoff = least(newest load_date already in the table - incremental_lookback_days, as_of + 1 day).
  Staging may have new or replaced rows only at or after the cutoff (it re-reads partitions from its
  own newest load_date - lookback, never below this table's newest load_date - lookback), and rows
  here past as_of (an older as_of re-run) are at or after the cutoff too. A run:
    1. pre-hook: records in <this>__stale the keys of rows here at or after the cutoff whose
       delivery (key, load_date) is no longer in staging at or before as_of;
    2. recomputes the keys with a staging row at or after the cutoff, or stale, from all their
       staging rows with load_date <= as_of (the latest wins), replacing them by unique key
       (delete+insert);
    3. post-hook: deletes the stale rows that step 2 did not replace (a key with no delivery left
       at or before as_of) and drops <this>__stale.
  A full refresh computes every key from scratch: the same rows (tests/dbt/test_dbt_build.py).
#}

{% macro latest_incremental_config(unique_key, staging) -%}
    {%- if target.type == 'spark' -%}
        {{ return({'materialized': 'table'}) }}
    {%- else -%}
        {%- set keys = unique_key | join(',') -%}
        {{ return({'materialized': 'incremental', 'incremental_strategy': 'delete+insert',
                   'unique_key': unique_key,
                   'pre_hook': ["{{ latest_incremental_pre('" ~ staging ~ "', '" ~ keys ~ "') }}"],
                   'post_hook': ["{{ latest_incremental_post('" ~ staging ~ "', '" ~ keys ~ "') }}",
                                 "drop table if exists {{ latest_incremental_stale() }}"]}) }}
    {%- endif -%}
{%- endmacro %}

{% macro latest_incremental_stale() -%}
    {{ return(this.incorporate(path={'identifier': this.identifier ~ '__stale'})) }}
{%- endmacro %}

{# the cutoff date (YYYY-MM-DD) of an incremental run; none on a full build or at parse time #}
{% macro latest_incremental_cutoff() -%}
    {%- if execute and this is not none and model.resource_type == 'model' and is_incremental() -%}
        {%- set sql -%}
            select cast(least(
                coalesce(cast(max(load_date) - to_days(cast({{ var('incremental_lookback_days') }} as integer)) as date),
                         cast('1900-01-01' as date)),
                cast({{ as_of() }} + 1 as date)) as varchar)
            from {{ this }}
        {%- endset -%}
        {{ return(run_query(sql).columns[0].values()[0] | string) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}

{# keys (key_cols comma-separated) of rows here at or after the cutoff whose delivery is gone #}
{% macro latest_incremental_missing(staging, key_cols, cutoff) -%}
    select {{ key_cols }} from {{ this }} t
    where t.load_date >= cast('{{ cutoff }}' as date)
      and not exists (
        select 1 from {{ staging }} s
        where s.load_date = t.load_date and s.load_date <= {{ as_of() }}
          {%- for k in key_cols.split(',') %} and s.{{ k }} = t.{{ k }}{% endfor %})
{%- endmacro %}

{# the filter of an incremental run: keys to recompute (use as `where (k1, k2) in (...)`) #}
{% macro latest_incremental_keys(staging, key_cols, cutoff) -%}
    select {{ key_cols | join(', ') }} from {{ staging }} where load_date >= cast('{{ cutoff }}' as date)
    union
    select {{ key_cols | join(', ') }} from {{ latest_incremental_stale() }}
{%- endmacro %}

{% macro latest_incremental_pre(staging, key_cols) -%}
    {%- set cutoff = latest_incremental_cutoff() -%}
    create or replace table {{ latest_incremental_stale() }} as
    {%- if cutoff is not none %}
    {{ latest_incremental_missing(ref(staging), key_cols, cutoff) }}
    {%- else %}
    select {{ key_cols }} from {{ ref(staging) }} limit 0
    {%- endif -%}
{%- endmacro %}

{% macro latest_incremental_post(staging, key_cols) -%}
    delete from {{ this }} t
    where exists (
        select 1 from {{ latest_incremental_stale() }} k
        where {% for k in key_cols.split(',') %}{{ 'and ' if not loop.first }}k.{{ k }} = t.{{ k }} {% endfor %})
      and not exists (
        select 1 from {{ ref(staging) }} s
        where s.load_date = t.load_date and s.load_date <= {{ as_of() }}
          {%- for k in key_cols.split(',') %} and s.{{ k }} = t.{{ k }}{% endfor %})
{%- endmacro %}
