-- One row per person: golden contact fields (most recent valid value wins, with its source),
-- demographics, purchase behaviour (and the next-best category: int_next_best_category), web
-- engagement (and the best send hour: int_best_send_hour), service, consent and reachability, RFM,
-- predictions (marts/predictions/customer_predictions: P(alive), expected purchases, CLV).
{% set asof = as_of() %}
with ident as (
    select customer_id, source_system, source_customer_id from {{ ref('customer_identity') }}
),
recs as (
    select i.customer_id, c.*, coalesce(c.updated_at, c.registered_at) as seen_at
    from {{ ref('stg_customers') }} c
    join ident i on i.source_system = c.source_system and i.source_customer_id = c.source_customer_id
),
ranked_recs as (  -- each person's records, most recent first; ok_*: the record has a usable value
    select r.*,
           row_number() over (partition by customer_id order by seen_at desc, source_system, source_customer_id) as rn,
           first_name is not null or last_name is not null as ok_name,
           email_valid and email is not null and not {{ is_placeholder_email('email') }} as ok_email,
           phone_is_mobile and phone is not null and not {{ is_placeholder_phone('phone') }} as ok_phone,
           address is not null and trim(address) <> '' as ok_address
    from recs r
),
firsts as (  -- per field, the most recent record that has it
    select customer_id,
           min(case when ok_name then rn end) as rn_name,
           min(case when ok_email then rn end) as rn_email,
           min(case when ok_phone then rn end) as rn_phone,
           min(case when ok_address then rn end) as rn_address,
           min(case when province is not null then rn end) as rn_province,
           min(case when gender is not null then rn end) as rn_gender,
           min(case when birth_date is not null then rn end) as rn_birth_date,
           min(case when occupation is not null then rn end) as rn_occupation
    from ranked_recs
    group by customer_id
),
picked as (  -- golden fields: most recent valid value wins (one window for all of them)
    select f.customer_id,
           max(case when r.rn = f.rn_name then r.first_name end) as first_name,
           max(case when r.rn = f.rn_name then r.last_name end) as last_name,
           max(case when r.rn = f.rn_email then r.email end) as email,
           max(case when r.rn = f.rn_email then r.source_system end) as email_source,
           max(case when r.rn = f.rn_phone then r.phone end) as phone,
           max(case when r.rn = f.rn_phone then r.source_system end) as phone_source,
           max(case when r.rn = f.rn_address then r.address end) as address,
           max(case when r.rn = f.rn_address then r.district end) as district,
           max(case when r.rn = f.rn_address then r.province end) as address_province,
           max(case when r.rn = f.rn_address then r.postal_code end) as postal_code,
           max(case when r.rn = f.rn_address then r.source_system end) as address_source,
           max(case when r.rn = f.rn_province then r.province end) as any_province,
           max(case when r.rn = f.rn_gender then r.gender end) as gender,
           max(case when r.rn = f.rn_birth_date then r.birth_date end) as birth_date,
           max(case when r.rn = f.rn_occupation then r.occupation end) as occupation,
           min(r.registered_at) as registered_at  -- the earliest registration of any of the person's records
    from firsts f
    join ranked_recs r on r.customer_id = f.customer_id
    group by f.customer_id
),
order_rows as (  -- one row per source record with orders: its order facts and item figures
    select i.customer_id, f.orders, f.amount, f.first_order_at, f.last_order_at, f.weekend_orders,
           f.evening_orders, coalesce(p.items, 0) as items,
           p.top_channel, p.top_store, p.top_season, p.top_category
    from {{ ref('int_record_order_facts') }} f
    join ident i on i.source_system = f.source_system and i.source_customer_id = f.source_customer_id
    left join {{ ref('int_record_profile_facts') }} p
      on p.fact = 'items' and p.source_system = f.source_system and p.source_customer_id = f.source_customer_id
    where f.fact = 'orders'
),
buying as (  -- counted orders: completed, ordered on or before as_of (ratios need at least one)
    select customer_id,
           count(*) as n_records,
           min(first_order_at) as first_order_at,
           max(last_order_at) as last_order_at,
           sum(orders) as orders_lifetime,
           round(sum(amount), 2) as spend_lifetime,
           case when sum(orders) > 0 then round(sum(amount) / sum(orders), 2) end as avg_order_value,
           case when sum(orders) > 0 then round(sum(items) * 1.0 / sum(orders), 2) end as items_per_order,
           case when sum(orders) > 1
                then round({{ dbt.datediff('min(first_order_at)', 'max(last_order_at)', 'day') }} * 1.0 / (sum(orders) - 1), 1) end
               as mean_days_between_orders,
           case when sum(orders) > 0 then round(sum(weekend_orders) * 1.0 / sum(orders), 3) end as weekend_share,
           case when sum(orders) > 0 then round(sum(evening_orders) * 1.0 / sum(orders), 3) end as evening_share
    from order_rows
    group by customer_id
),
multi_records as (  -- records of people with orders under more than one record
    select i.customer_id, i.source_system, i.source_customer_id
    from ident i
    join buying b on b.customer_id = i.customer_id and b.n_records > 1
),
mode_counts as (
    select m.customer_id, f.fact, f.fact_key, sum(case when f.fact = 'category' then f.items else f.orders end) as n
    from {{ ref('int_record_profile_facts') }} f
    join multi_records m on m.source_system = f.source_system and m.source_customer_id = f.source_customer_id
    where f.fact in ('channel', 'store', 'season', 'category')
    group by m.customer_id, f.fact, f.fact_key
),
modes as (
    -- the most frequent channel, store, season (orders) and category (items); ties: the smallest value.
    -- One record: its own top values; several: their counts added up.
    select customer_id, top_channel as preferred_channel, top_store as preferred_store,
           top_season as favourite_season, top_category as top_category
    from order_rows
    where customer_id in (select customer_id from buying where n_records = 1)
    union all
    select c.customer_id,
           min(case when c.fact = 'channel' then c.fact_key end),
           min(case when c.fact = 'store' then c.fact_key end),
           min(case when c.fact = 'season' then c.fact_key end),
           min(case when c.fact = 'category' then c.fact_key end)
    from mode_counts c
    join (select customer_id, fact, max(n) as n from mode_counts group by customer_id, fact) m
      on m.customer_id = c.customer_id and m.fact = c.fact and m.n = c.n
    group by c.customer_id
),
web as (
    select e.*, i.customer_id
    from {{ ref('stg_web_events') }} e
    join ident i on i.source_system = e.source_system and i.source_customer_id = e.source_customer_id
    where cast(e.occurred_at as date) <= {{ asof }}
),
web_agg as (
    select customer_id,
           max(case when event_type = 'login' then occurred_at end) as last_login_at,
           count(distinct case when cast(occurred_at as date) > {{ add_days(asof, -30) }} then cast(occurred_at as date) end) as sessions_30d,
           count(distinct case when cast(occurred_at as date) > {{ add_days(asof, -90) }} then cast(occurred_at as date) end) as sessions_90d,
           sum(case when event_type = 'page_view' and cast(occurred_at as date) > {{ add_days(asof, -30) }} then 1 else 0 end) as page_views_30d,
           sum(case when event_type = 'page_view' and cast(occurred_at as date) > {{ add_days(asof, -90) }} then 1 else 0 end) as page_views_90d
    from web group by customer_id
),
top_search as (
    select customer_id,
           max(case when rn = 1 then search_term end) as top_search_term_1,
           max(case when rn = 2 then search_term end) as top_search_term_2,
           max(case when rn = 3 then search_term end) as top_search_term_3
    from (
        select customer_id, search_term, row_number() over (partition by customer_id order by count(*) desc, search_term) as rn
        from web where event_type = 'search' and search_term is not null and search_term <> ''
        group by customer_id, search_term) x
    group by customer_id
),
tickets as (
    select i.customer_id,
           sum(case when cast(t.opened_at as date) > {{ add_months(asof, -12) }} then 1 else 0 end) as tickets_12m,
           sum(case when t.status = 'open' then 1 else 0 end) as open_tickets
    from {{ ref('stg_support_tickets') }} t
    join ident i on i.source_system = t.source_system and i.source_customer_id = t.source_customer_id
    where cast(t.opened_at as date) <= {{ asof }}
    group by i.customer_id
),
consent_events as (
    -- linked to a person by source record, else by email, else by mobile number
    select distinct coalesce(i.customer_id, e.customer_id, p.customer_id) as customer_id,
           c.channel, c.status, c.recorded_at, c._source_file, c._row_number, c.load_date
    from {{ ref('stg_consents') }} c
    left join ident i on i.source_system = c.source_system and i.source_customer_id = c.source_customer_id
    left join (select email, min(customer_id) as customer_id from recs
               where email_valid and email in (select email from {{ ref('stg_consents') }})
               group by email having count(distinct customer_id) = 1) e on e.email = c.email
    left join (select phone, min(customer_id) as customer_id from recs
               where phone is not null and phone in (select phone from {{ ref('stg_consents') }})
               group by phone having count(distinct customer_id) = 1) p on p.phone = c.phone
    where c.status in ('opt_in', 'opt_out') and cast(c.recorded_at as date) <= {{ asof }}
),
consent_latest as (
    select customer_id, ch.channel, status from (
        select e.customer_id, ch.channel, e.status,
               row_number() over (partition by e.customer_id, ch.channel
                                  order by e.recorded_at desc, e.load_date desc, e._source_file desc, e._row_number desc) as rn
        from consent_events e
        join (select 'email' as channel union all select 'sms' union all select 'phone'
              union all select 'dm' union all select 'ads') ch
          on e.channel = ch.channel or e.channel = 'all'
        where e.customer_id is not null) ch
    where rn = 1
),
consent as (
    select customer_id,
           max(case when channel = 'email' then status end) as consent_email,
           max(case when channel = 'sms' then status end) as consent_sms,
           max(case when channel = 'phone' then status end) as consent_phone,
           max(case when channel = 'dm' then status end) as consent_dm,
           max(case when channel = 'ads' then status end) as consent_ads
    from consent_latest group by customer_id
),
ranks as (select * from {{ ref('customer_ranks') }}),
base as (
    select
        r.customer_id, r.as_of, r.rank, r.spend_3y, r.orders_3y,
        pk.first_name, pk.last_name,
        pk.email, pk.email_source, pk.phone, pk.phone_source,
        pk.email is not null as has_valid_email,
        pk.phone is not null as has_valid_mobile,
        pk.address is not null as has_postal_address,
        pk.address, pk.district, coalesce(pk.address_province, pk.any_province) as province, pk.postal_code,
        pk.address_source,
        pk.gender, pk.birth_date, pk.occupation,
        case when pk.birth_date is null then 'unknown'
             when {{ dbt.datediff('pk.birth_date', asof, 'day') }} < 25 * 365.25 then 'under_25'
             when {{ dbt.datediff('pk.birth_date', asof, 'day') }} < 35 * 365.25 then '25-34'
             when {{ dbt.datediff('pk.birth_date', asof, 'day') }} < 45 * 365.25 then '35-44'
             when {{ dbt.datediff('pk.birth_date', asof, 'day') }} < 55 * 365.25 then '45-54'
             when {{ dbt.datediff('pk.birth_date', asof, 'day') }} < 65 * 365.25 then '55-64'
             else '65_plus' end as age_band,
        pk.registered_at, b.first_order_at, b.last_order_at,
        case when b.last_order_at is not null then {{ dbt.datediff('b.last_order_at', asof, 'day') }} end as days_since_last_order,
        coalesce(b.orders_lifetime, 0) as orders_lifetime, coalesce(b.spend_lifetime, 0) as spend_lifetime,
        b.avg_order_value, b.items_per_order, b.mean_days_between_orders, b.weekend_share, b.evening_share,
        mo.preferred_channel, mo.preferred_store, mo.top_category, mo.favourite_season,
        nb.next_best_category, nb.next_best_category_source,
        w.last_login_at, coalesce(w.sessions_30d, 0) as sessions_30d, coalesce(w.sessions_90d, 0) as sessions_90d,
        coalesce(w.page_views_30d, 0) as page_views_30d, coalesce(w.page_views_90d, 0) as page_views_90d,
        ts.top_search_term_1, ts.top_search_term_2, ts.top_search_term_3,
        sh.best_send_hour, sh.best_send_hour_source,
        coalesce(t.tickets_12m, 0) as tickets_12m, coalesce(t.open_tickets, 0) as open_tickets,
        coalesce(c.consent_email, 'unknown') as consent_email,
        coalesce(c.consent_sms, 'unknown') as consent_sms,
        coalesce(c.consent_phone, 'unknown') as consent_phone,
        coalesce(c.consent_dm, 'unknown') as consent_dm,
        coalesce(c.consent_ads, 'unknown') as consent_ads
    from ranks r
    left join picked pk on pk.customer_id = r.customer_id
    left join buying b on b.customer_id = r.customer_id
    left join modes mo on mo.customer_id = r.customer_id
    left join {{ ref('int_next_best_category') }} nb on nb.customer_id = r.customer_id
    left join web_agg w on w.customer_id = r.customer_id
    left join top_search ts on ts.customer_id = r.customer_id
    left join {{ ref('int_best_send_hour') }} sh on sh.customer_id = r.customer_id
    left join tickets t on t.customer_id = r.customer_id
    left join consent c on c.customer_id = r.customer_id
),
rfm as (
    -- scores rank on the value, never on the row: 1 + floor(5 x the share of buyers with a strictly
    -- worse value) (percent_rank), at most 5, so customers with equal values get the same score
    -- (every one-order customer has F = 1). R: fewer days since the last order is better.
    select customer_id,
           least(5, 1 + cast(floor(5 * percent_rank() over (order by days_since_last_order desc)) as int)) as r_score,
           least(5, 1 + cast(floor(5 * percent_rank() over (order by orders_lifetime)) as int)) as f_score,
           least(5, 1 + cast(floor(5 * percent_rank() over (order by spend_lifetime)) as int)) as m_score
    from base where orders_lifetime > 0
)
select
    b.*,
    b.has_valid_email and b.consent_email <> 'opt_out' as email_reachable,
    b.has_valid_mobile and b.consent_sms <> 'opt_out' as sms_reachable,
    b.has_valid_mobile and b.consent_phone <> 'opt_out' as phone_reachable,
    b.has_postal_address and b.consent_dm <> 'opt_out' as dm_reachable,
    (b.has_valid_email or b.has_valid_mobile) and b.consent_ads <> 'opt_out' as ads_reachable,
    f.r_score, f.f_score, f.m_score,
    case when f.customer_id is null then 'no_purchase'
         when f.r_score >= 4 and f.f_score >= 4 then 'champions'
         when f.f_score >= 4 then 'loyal'
         when f.r_score >= 4 and f.f_score = 1 then 'new'
         when f.r_score >= 4 then 'potential_loyalist'
         when f.r_score <= 2 and f.f_score >= 3 then 'at_risk'
         when f.r_score <= 2 then 'hibernating'
         else 'need_attention' end as rfm_segment,
    {%- if target.type != 'spark' %}
    pr.p_alive, pr.expected_purchases_30d, pr.expected_purchases_90d, pr.expected_purchases_365d,
    pr.expected_spend_per_order, pr.clv_12m, pr.p_alive_half_on
    {%- else %}  {# dbt-spark runs Python models only on Databricks: the prediction columns stay null #}
    {%- for c in ['p_alive', 'expected_purchases_30d', 'expected_purchases_90d', 'expected_purchases_365d',
                  'expected_spend_per_order', 'clv_12m'] %}
    cast(null as double) as {{ c }},
    {%- endfor %}
    cast(null as date) as p_alive_half_on
    {%- endif %}
from base b
left join rfm f on f.customer_id = b.customer_id
{%- if target.type != 'spark' %}
left join {{ ref('customer_predictions') }} pr on pr.customer_id = b.customer_id  -- marts/predictions (BG/NBD, Gamma-Gamma)
{%- endif %}
