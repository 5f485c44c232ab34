-- Support tickets: latest delivery per ticket_id.
with ranked as (
    select
        cast(ticket_id as {{ dbt.type_string() }}) as ticket_id,
        cast(source_system as {{ dbt.type_string() }}) as source_system,
        cast(source_customer_id as {{ dbt.type_string() }}) as source_customer_id,
        lower(trim(email)) as email, opened_at, closed_at, lower(status) as status, category, subject,
        row_number() over (partition by ticket_id
                           order by cast(load_date as date) desc, _source_file desc, _row_number desc) as _rn
    from {{ lake('support_tickets') }}
    where cast(load_date as date) <= {{ as_of() }}
)
select ticket_id, source_system, source_customer_id, email, opened_at, closed_at, status, category, subject
from ranked where _rn = 1
