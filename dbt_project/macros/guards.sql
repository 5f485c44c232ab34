{#
  The mart volume guard: a post-hook of every table in models/marts/identity and
  models/marts/profiles_and_ranks (dbt_project.yml). A rebuild
  that leaves a mart empty, or more than `mart_max_shrink` smaller than its previous build, fails
  the model with an error naming the mart, both row counts and the threshold. The hook runs inside
  the model's transaction, after the new table took the mart's name and before the commit: on
  DuckDB the failure rolls the swap back, so the previous table stays as it was, and dbt skips
  every model downstream (Dagster: the warehouse step fails, nothing is sent or exported).
  Threshold: env CRM_DQ_MART_MAX_SHRINK, else var('mart_max_shrink') (0.5 = at most 50 % fewer
  rows); 1 turns the guard off for a run whose drop is intended. The first build of a mart (no
  previous table) and incremental marts (customer_rank_history, rank_migration: they only add or
  replace as_of slices) are not judged. On Spark (no transaction, no backup table) the guard is
  not applied.
#}
{% macro mart_volume_guard() -%}
    {%- if execute and target.type != 'spark' and config.get('materialized') == 'table' -%}
        {%- set raw = env_var('CRM_DQ_MART_MAX_SHRINK', '') or (var('mart_max_shrink') | string) -%}
        {%- set shrink = raw | float(-1) -%}
        {%- if shrink < 0 or shrink > 1 -%}
            {{ exceptions.raise_compiler_error("CRM_DQ_MART_MAX_SHRINK must be a share between 0 and 1, got " ~ raw) }}
        {%- endif -%}
        {%- set backup = make_backup_relation(this, 'table') -%}
        {%- set exists = run_query("select count(*) from information_schema.tables where table_catalog = '"
                                   ~ this.database ~ "' and table_schema = '" ~ this.schema
                                   ~ "' and table_name = '" ~ backup.identifier ~ "'").columns[0].values()[0] -%}
        {%- if exists > 0 and shrink < 1 -%}
            {%- set before = run_query("select count(*) from " ~ backup).columns[0].values()[0] -%}
            {%- set after = run_query("select count(*) from " ~ this).columns[0].values()[0] -%}
            {%- if before > 0 and (after == 0 or after < before * (1 - shrink)) -%}
                {{ exceptions.raise_compiler_error(
                    "mart volume guard: " ~ this.schema ~ "." ~ this.identifier ~ " would go from " ~ before
                    ~ " rows to " ~ after ~ " (" ~ ((after - before) * 100.0 / before) | round(1) ~ " %; at most "
                    ~ (shrink * 100) | round(1) ~ " % fewer allowed by CRM_DQ_MART_MAX_SHRINK). The previous table is "
                    ~ "kept and nothing downstream is built. Check what the run read (missing or held-back "
                    ~ "partitions, an empty landing zone); if the drop is intended, run again with CRM_DQ_MART_MAX_SHRINK=1.") }}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
    select 1
{%- endmacro %}
