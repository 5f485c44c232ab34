{# Helpers for the models/*/campaigns folders (portable: DuckDB and Spark). #}

{# hex SHA-256 of a string (same as Python's hashlib.sha256(s.encode()).hexdigest()); kept here:
   dbt's own hash macro is md5 #}
{% macro sha256_hex(expr) -%}{{ return(adapter.dispatch('sha256_hex', 'crmloop')(expr)) }}{%- endmacro %}
{% macro default__sha256_hex(expr) -%}sha256({{ expr }}){%- endmacro %}
{% macro spark__sha256_hex(expr) -%}sha2({{ expr }}, 256){%- endmacro %}

{# x / y as double, null when y is null or 0 (dbt_utils' safe_divide; dbt has none built in) #}
{% macro safe_ratio(x, y) -%}
    case when {{ y }} is null or {{ y }} = 0 then null else cast({{ x }} as double) / cast({{ y }} as double) end
{%- endmacro %}

{# one row per key of `relation`, the first delivered (load_date, _source_file, _row_number
   ascending; a redelivered event counts once); rows without a key are left out; keeps _rn #}
{% macro first_delivery(relation, key) -%}
select * from (
    select r.*, row_number() over (partition by {{ key }} order by load_date, _source_file, _row_number) as _rn
    from {{ relation }} r
    where {{ key }} is not null
) d
where _rn = 1
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
         cast(null as {{ dbt.type_string() }}) as _source, cast(null as {{ dbt.type_string() }}) as _source_file,
         cast(null as bigint) as _row_number, cast(null as date) as load_date where 1 = 0)
    {%- endif -%}
{%- endmacro %}

{% macro spark__lake_or_empty(entity, columns) -%}
    {{ lake(entity) }}
{%- endmacro %}

{#
  The send date of the run as of as_of: the run of business day D happens on D + 1 and sends on
  D + 1 (the same rule as orchestration/defs/activation.py send_date_for; tests/campaigns
  test_dates checks that a run's own sends are in its results). Campaign state written by that
  run is in the lake partition load_date = D + 1, and "today" for a KPI window is D + 1.
#}
{% macro run_send_date() -%}{{ add_days(as_of(), 1) }}{%- endmacro %}

{#
  One bound of the Wilson score interval (95%) of a proportion p over n trials, sign -1 (low) or
  +1 (high): (p + z²/2n ± z·sqrt(p(1−p)/n + z²/4n²)) / (1 + z²/n). Portable SQL (sqrt only);
  null when n is null (pass nullif(n, 0)).
#}
{% macro wilson_bound(p, n, sign) -%}
    {%- set z = 'cast(1.959963984540054 as double)' -%}
    (({{ p }}) + {{ z }} * {{ z }} / (2.0 * ({{ n }}))
     {{ '-' if sign < 0 else '+' }} {{ z }} * sqrt(({{ p }}) * (1 - ({{ p }})) / ({{ n }}) + {{ z }} * {{ z }} / (4.0 * ({{ n }}) * ({{ n }}))))
    / (1 + {{ z }} * {{ z }} / ({{ n }}))
{%- endmacro %}

{# the first day of the week (Monday) or month of a date, as a date #}
{% macro period_start(grain, d) -%}cast({{ dbt.date_trunc(grain, 'cast(' ~ d ~ ' as timestamp)') }} as date){%- endmacro %}

{#
  What campaign_results says about a judged cohort: diagnosis_code → the sentence (docs/DOMAIN.md
  step 6's words, plus the two a holdout makes possible). One place: the model maps the code it
  chose to this text; tests assert on the codes.
#}
{% macro campaign_diagnoses() -%}
    {{ return({
        'list_quality': 'list quality: a low share of the messages was delivered',
        'unclear_subject': 'the subject line was unclear, so the open rate was low',
        'email_too_long': 'the email was too long: people opened it but few clicked',
        'application_process': 'the application process was too complicated: people clicked but few applied',
        'target_unrealistic_for_segment': 'missed the target but a significant lift: the target is unrealistic for this segment',
        'unrealistic_kpi': 'unrealistic KPI: the target is far above what any channel has achieved before',
        'did_not_respond': 'the campaign did not attract the target: the audience did not respond at all',
        'did_not_attract': 'the campaign did not attract the target: the funnel works but too few responded',
        'no_cause_found': 'no cause found in the funnel: no step is below its threshold and the shortfall is too small to tell from chance',
        'no_lift': 'met the target but no lift over the holdout: these people would have bought anyway',
    }) }}
{%- endmacro %}
