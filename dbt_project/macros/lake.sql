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
    {{ return(adapter.dispatch('lake', 'crmloop')(entity)) }}
{%- endmacro %}

{% macro default__lake(entity) -%}
    read_parquet('{{ lake_dir() }}/{{ entity }}/*/*.parquet', hive_partitioning = true, union_by_name = true)
{%- endmacro %}

{% macro spark__lake(entity) -%}
    parquet.`{{ lake_dir() }}/{{ entity }}`
{%- endmacro %}
