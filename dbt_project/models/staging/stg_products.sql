-- Product catalogue: latest delivery per product_id (load_date: the day of that delivery).
with ranked as (
    select
        cast(product_id as {{ dbt.type_string() }}) as product_id, name, category, cast(price as double) as price,
        cast(load_date as date) as load_date,
        row_number() over (partition by product_id
                           order by cast(load_date as date) desc, _source_file desc, _row_number desc) as _rn
    from {{ lake('products') }}
    where cast(load_date as date) <= {{ as_of() }}
)
select product_id, name, category, price, load_date from ranked where _rn = 1
