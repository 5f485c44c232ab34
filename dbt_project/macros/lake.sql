{#
  The one way models read the Parquet lake (sources/README.md):
  <lake>/<entity>/load_date=YYYY-MM-DD/<source>-NNNN.parquet, load_date a hive partition key.
  Returns a relation expression (use it after FROM). load_date comes out as a DATE column.
#}
{% macro lake_dir() -%}
    {{ return(env_var('CRM_LAKE_DIR').rstrip('/')) }}
{%- endmacro %}

{% macro lake(entity) -%}
    {#- registers the dependency on source lake.<entity> (lineage); the relation itself is not queried -#}
    {%- set _ = source('lake', entity) -%}
    {%- set relation = adapter.dispatch('lake', 'crmloop')(entity) -%}
    {%- set held = lake_blocked(entity) -%}
    {%- if not held -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set conditions = [] -%}
    {%- for source_name, load_date in held -%}
        {%- do conditions.append("(_source = '" ~ source_name ~ "' and cast(load_date as date) = cast('" ~ load_date ~ "' as date))") -%}
    {%- endfor -%}
    {{ return("(select * from " ~ relation ~ " where not coalesce(" ~ conditions | join(' or ') ~ ", false))") }}
{%- endmacro %}

{#
  Partitions held back from the warehouse (sources/partition_status.py): env CRM_LAKE_BLOCKED lists
  `<entity>:<source>@<YYYY-MM-DD>`, comma-separated; a partition that failed an ERROR check stays
  out of every build until it is re-delivered and passes or a person releases it. Returns the
  (source, load_date) pairs of `entity`. Read only when executing, like as_of (a changed env var
  read at parse time makes dbt re-parse every file that read it).
#}
{% macro lake_blocked(entity) -%}
    {%- set raw = env_var('CRM_LAKE_BLOCKED', '') if execute else '' -%}
    {%- set held = [] -%}
    {%- for item in raw.split(',') if item.strip() -%}
        {%- set m = modules.re.match('^([A-Za-z0-9_][A-Za-z0-9_.-]*):([A-Za-z0-9_][A-Za-z0-9_.-]*)@(\d{4}-\d{2}-\d{2})$', item.strip()) -%}
        {%- if not m -%}
            {{ exceptions.raise_compiler_error("CRM_LAKE_BLOCKED: expected <entity>:<source>@<YYYY-MM-DD>, got " ~ item) }}
        {%- endif -%}
        {%- if m.group(1) == entity -%}
            {%- do held.append((m.group(2), m.group(3))) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(held) }}
{%- endmacro %}

{#
  True when the blocked set changed since the last successful warehouse build (env
  CRM_LAKE_ADMISSION_CHANGED=1, set by orchestration/defs/warehouse.py): incremental models that
  read the lake then recompute every row, so a released or cleared partition comes in and a newly
  blocked one goes out, whatever its load date.
#}
{% macro lake_admission_changed() -%}
    {{ return(execute and env_var('CRM_LAKE_ADMISSION_CHANGED', '') == '1') }}
{%- endmacro %}

{% macro default__lake(entity) -%}
    read_parquet('{{ lake_dir() }}/{{ entity }}/*/*.parquet', hive_partitioning = true, union_by_name = true)
{%- endmacro %}

{% macro spark__lake(entity) -%}
    parquet.`{{ lake_dir() }}/{{ entity }}`
{%- endmacro %}

{# pre-hook of an incremental model that reads the lake by load date: all rows go when the held-back
   partitions changed, and the model (which then selects everything) writes them again #}
{% macro lake_readmission_delete() -%}
    {%- if is_incremental() and lake_admission_changed() and target.type != 'spark' -%}
    delete from {{ this }}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}
