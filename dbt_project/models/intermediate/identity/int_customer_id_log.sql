{{ config(materialized='incremental', incremental_strategy='append', full_refresh=false, file_format='parquet') }}
-- The state that keeps customer_id stable: an append-only log of id assignments. A run appends a row
-- for every record that is new or whose id changed. Rules:
--   * a component whose records had ids keeps the id of its oldest record that had one (a record
--     added to a person keeps the person's id; when two people merge the older id survives);
--   * an id is kept by one component only (if a person splits, the part with the oldest record keeps it);
--   * otherwise the natural id (md5 of the component's oldest record).
-- full_refresh=false: --full-refresh never discards the id history.
with comp as (
    select * from {{ ref('int_identity_components') }}
),
{% if is_incremental() %}
prev_all as (
    select source_system, source_customer_id, customer_id, run_seq,
           row_number() over (partition by source_system, source_customer_id order by run_seq desc) as rn
    from {{ this }}
),
prev as (select source_system, source_customer_id, customer_id from prev_all where rn = 1),
this_run as (select coalesce(max(run_seq), 0) + 1 as run_seq from {{ this }}),
{% else %}
prev as (
    select cast(null as {{ dbt.type_string() }}) as source_system, cast(null as {{ dbt.type_string() }}) as source_customer_id,
           cast(null as {{ dbt.type_string() }}) as customer_id
    from comp where 1 = 0
),
this_run as (select 1 as run_seq),
{% endif %}
with_prev as (
    select c.*, p.customer_id as prev_id
    from comp c
    left join prev p on p.source_system = c.source_system and p.source_customer_id = c.source_customer_id
),
claims as (  -- which previous id each component could keep, by its oldest holder
    select component, prev_id, min(rec_idx) as holder_idx
    from with_prev where prev_id is not null
    group by component, prev_id
),
best_claim as (
    select component, prev_id, holder_idx,
           row_number() over (partition by component order by holder_idx) as rn_comp
    from claims
),
kept as (  -- one component per id: the one whose holder is oldest
    select component, prev_id as kept_id
    from (
        select component, prev_id,
               row_number() over (partition by prev_id order by holder_idx) as rn_id
        from best_claim where rn_comp = 1
    ) x
    where rn_id = 1
),
assigned as (
    select w.source_system, w.source_customer_id, w.prev_id,
           coalesce(k.kept_id, w.natural_id) as customer_id
    from with_prev w
    left join kept k on k.component = w.component
)
select
    a.source_system, a.source_customer_id, a.customer_id,
    a.prev_id as previous_customer_id,
    {{ as_of() }} as assigned_as_of,
    t.run_seq
from assigned a
cross join this_run t
where a.prev_id is null or a.prev_id <> a.customer_id
