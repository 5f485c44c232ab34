{#
  int_record_order_facts and int_record_profile_facts are the incremental state of the order facts on
  DuckDB: per source record (source_system, source_customer_id), the aggregates of the orders whose
  latest delivery names that record (and of their latest order lines). The order and line deliveries
  themselves stay in the lake (staging views over the Parquet files); no 10M-row copy of them is
  kept. On Spark the models are plain tables.

  A daily run recomputes the *touched* records only, from all their deliveries in the lake:
    * records with an order delivery (item facts: or a line delivery or a product change) loaded in
      [cutoff, as_of], where cutoff = previous as_of - var('incremental_lookback_days') - every
      record that ever delivered one of those orders is touched, so an order moved to another
      record leaves the old one;
    * records with an order whose window membership changes between the previous as_of P and this
      as_of A: order date in (P, A] (it now counts), or (order facts) in
      (add_months(P, -W), add_months(A, -W)] for each rank window W (an order leaving the 3-year
      window changes spend_3y);
    * records whose newest delivery is at or after the cutoff (a re-delivered or removed partition).
  The pre-hooks write the touched keys to <this>__touched and delete their rows; the model appends
  their recomputed rows; the post-hooks record the run (as_of, rank windows) in <this>__state and
  drop <this>__touched. dbt runs hooks and model in one transaction.
  Everything is recomputed (rows deleted, then appended) when there is no state yet, when the as_of
  moves back (a re-run of an older day), when the rank windows in seeds/rank_rules.csv changed, or
  when the partitions held back from the warehouse changed (macros/lake.sql: lake_admission_changed).
  A full refresh gives the same rows (tests/dbt/test_dbt_build.py).
#}

{# windows: the model's state records the rank windows (the order facts: a change recomputes all) #}
{% macro touched_record_config(touch_hook, windows) -%}
    {%- if target.type == 'spark' -%}
        {{ return({'materialized': 'table'}) }}
    {%- endif -%}
    {{ return({'materialized': 'incremental', 'incremental_strategy': 'append',
               'pre_hook': ["{{ " ~ touch_hook ~ " }}", "{{ record_facts_delete(windows=" ~ windows ~ ") }}"],
               'post_hook': ["{{ record_facts_save_state(windows=" ~ windows ~ ") }}",
                             "drop table if exists {{ record_facts_sidecar('touched') }}"]}) }}
{%- endmacro %}

{# lines: the model reads order lines and products (int_record_profile_facts), not the rank windows #}
{% macro record_facts_config(lines) -%}
    {{ return(touched_record_config("record_facts_touch(lines=" ~ lines ~ ")", windows=not lines)) }}
{%- endmacro %}

{% macro record_facts_sidecar(name) -%}
    {{ return(this.incorporate(path={'identifier': this.identifier ~ '__' ~ name})) }}
{%- endmacro %}

{# the rank windows (months) of seeds/rank_rules.csv, as a sorted list of ints (none when the model
   does not track them: windows=false) #}
{% macro record_facts_windows(windows) -%}
    {%- if not windows or not execute -%}{{ return([]) }}{%- endif -%}
    {%- set rows = run_query("select distinct cast(window_months as integer) from " ~ ref('rank_rules') ~ " order by 1") -%}
    {{ return(rows.columns[0].values() | map('int') | list) }}
{%- endmacro %}

{#
  none: a full build (first build, --full-refresh, parse time, unit tests): compute every record.
  {'full': true}: the table exists but every record is recomputed (no state, as_of moved back,
  rank windows changed).
  {'full': false, 'prev': 'YYYY-MM-DD', 'cutoff': 'YYYY-MM-DD', 'windows': [...]}: touched records only.
#}
{% macro record_facts_plan(windows) -%}
    {%- if not (execute and this is not none and model.resource_type == 'model' and is_incremental()) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set state_rel = adapter.get_relation(database=this.database, schema=this.schema,
                                             identifier=this.identifier ~ '__state') -%}
    {%- if state_rel is none or lake_admission_changed() -%}
        {#- lake_admission_changed: a partition was released, cleared or blocked (macros/lake.sql) -#}
        {{ return({'full': true}) }}
    {%- endif -%}
    {%- set row = run_query("select cast(as_of as varchar), rank_windows, cast(cast(as_of as date) - to_days(cast("
                            ~ var('incremental_lookback_days') ~ " as integer)) as varchar), cast("
                            ~ as_of() ~ " >= cast(as_of as date) as varchar) from " ~ state_rel).rows -%}
    {%- set rank_windows = record_facts_windows(windows) -%}
    {%- if row | length != 1 or row[0][1] != (rank_windows | join(',')) or row[0][3] != 'true' -%}
        {{ return({'full': true}) }}
    {%- endif -%}
    {{ return({'full': false, 'prev': row[0][0], 'cutoff': row[0][2], 'windows': rank_windows}) }}
{%- endmacro %}

{# pre-hook 1: the touched record keys (an empty table on a full recompute). lines: the model reads
   order lines and products (their deliveries touch records; rank windows do not) #}
{% macro record_facts_touch(lines) -%}
    {%- set plan = record_facts_plan(windows=not lines) -%}
    {%- set asof = as_of() -%}
    create or replace table {{ record_facts_sidecar('touched') }} as
    {%- if plan is none or plan.full %}
    select source_system, source_customer_id from {{ ref('stg_orders') }} limit 0
    {%- else %}
    {%- set prev = "cast('" ~ plan.prev ~ "' as date)" %}
    {%- set cutoff = "cast('" ~ plan.cutoff ~ "' as date)" %}
    with changed_orders as (
        select source_system, order_id from {{ ref('stg_orders') }}
        where load_date >= {{ cutoff }} and load_date <= {{ asof }}
        {%- if lines %}
        union
        select source_system, order_id from {{ ref('stg_order_lines') }}
        where load_date >= {{ cutoff }} and load_date <= {{ asof }}
        union
        select source_system, order_id from {{ ref('stg_order_lines') }}
        where load_date <= {{ asof }}
          and product_id in (select product_id from {{ ref('stg_products') }} where load_date >= {{ cutoff }})
        {%- endif %}
        union
        select source_system, order_id from {{ ref('stg_orders') }}
        where load_date <= {{ asof }}
          and ((cast(ordered_at as date) > {{ prev }} and cast(ordered_at as date) <= {{ asof }})
          {%- for w in plan.windows %}
            or (cast(ordered_at as date) > {{ add_months(prev, -w) }}
                and cast(ordered_at as date) <= {{ add_months(asof, -w) }})
          {%- endfor %})
    )
    select o.source_system, o.source_customer_id from {{ ref('stg_orders') }} o
    where o.load_date <= {{ asof }} and o.source_customer_id is not null
      and (o.source_system, o.order_id) in (select source_system, order_id from changed_orders)
    union
    select source_system, source_customer_id from {{ this }}
    where fact = '{{ 'items' if lines else 'orders' }}' and last_load_date >= {{ cutoff }}
    {%- endif %}
{%- endmacro %}

{# pre-hook 2: delete the rows the model recomputes #}
{% macro record_facts_delete(windows) -%}
    {%- set plan = record_facts_plan(windows) -%}
    {%- if plan is none -%}
    select 1
    {%- elif plan.full -%}
    delete from {{ this }}
    {%- else -%}
    delete from {{ this }}
    where (source_system, source_customer_id) in (
        select source_system, source_customer_id from {{ record_facts_sidecar('touched') }})
    {%- endif -%}
{%- endmacro %}

{# post-hook: what the next run compares with #}
{% macro record_facts_save_state(windows) -%}
    create or replace table {{ record_facts_sidecar('state') }} as
    select {{ as_of() }} as as_of, '{{ record_facts_windows(windows) | join(",") }}' as rank_windows
{%- endmacro %}

{#
  The CTEs both record-facts models start from: `deliveries` (order rows up to as_of; on a touched
  run, every delivery of every order ever delivered under a touched record), `latest_orders` (the
  latest delivery per order) and `o` (latest orders naming a record - a touched one on a touched
  run - with order_date and counts = completed and ordered on or before as_of). cols: the order
  columns the model needs besides source_customer_id, ordered_at, status and load_date.
#}
{% macro record_orders_ctes(touched, cols) -%}
{%- set asof = as_of() -%}
{%- if touched %}
touched_orders as (  -- every order with a delivery naming a touched record
    select distinct source_system, order_id from {{ ref('stg_orders') }}
    where load_date <= {{ asof }}
      and (source_system, source_customer_id) in (
          select source_system, source_customer_id from {{ record_facts_sidecar('touched') }})
),
{%- endif %}
deliveries as (
    select source_system, order_id, source_customer_id, ordered_at, status, {{ cols | join(', ') }},
           load_date, _source_file, _row_number
    from {{ ref('stg_orders') }}
    where load_date <= {{ asof }} and order_id is not null
    {%- if touched %}
      and (source_system, order_id) in (select source_system, order_id from touched_orders)
    {%- endif %}
),
{{ latest_delivery('deliveries', ['source_system', 'order_id'],
                   ['source_customer_id', 'ordered_at', 'status'] + cols + ['load_date'], 'latest_orders') }},
o as (
    select source_system, order_id, source_customer_id, ordered_at, cast(ordered_at as date) as order_date,
           {{ cols | join(', ') }}, load_date,
           status = 'completed' and cast(ordered_at as date) <= {{ asof }} as counts
    from latest_orders
    where source_customer_id is not null
    {%- if touched %}
      and (source_system, source_customer_id) in (
          select source_system, source_customer_id from {{ record_facts_sidecar('touched') }})
    {%- endif %}
)
{%- endmacro %}

{#
  stg_customers (latest delivery per customer record) is incremental the same way on DuckDB: a run
  recomputes the records delivered in [cutoff, as_of] and those whose kept row was loaded at or
  after the cutoff (a re-delivered or removed partition), from all their deliveries; everything
  when the as_of moves back. A table on Spark.
#}
{% macro customers_latest_config() -%}
    {{ return(touched_record_config("customers_latest_touch()", windows=false)) }}
{%- endmacro %}

{% macro customers_latest_touch() -%}
    {%- set plan = record_facts_plan(windows=false) -%}
    create or replace table {{ record_facts_sidecar('touched') }} as
    {%- if plan is none or plan.full %}
    select cast(null as varchar) as source_system, cast(null as varchar) as source_customer_id limit 0
    {%- else %}
    select cast(source_system as varchar) as source_system, cast(source_customer_id as varchar) as source_customer_id
    from {{ lake('customers') }}
    where cast(load_date as date) >= cast('{{ plan.cutoff }}' as date) and cast(load_date as date) <= {{ as_of() }}
    union
    select source_system, source_customer_id from {{ this }} where load_date >= cast('{{ plan.cutoff }}' as date)
    {%- endif %}
{%- endmacro %}
