-- One row per person: golden contact fields (most recent valid value wins, with its source),
-- demographics, purchase behaviour, web engagement, service, consent and reachability, RFM.
{% set asof = as_of() %}
with ident as (
    select customer_id, source_system, source_customer_id from {{ ref('customer_identity') }}
),
recs as (
    select i.customer_id, c.*, coalesce(c.updated_at, c.registered_at) as seen_at
    from {{ ref('stg_customers') }} c
    join ident i on i.source_system = c.source_system and i.source_customer_id = c.source_customer_id
),
pick_name as (
    select customer_id, first_name, last_name from (
        select customer_id, first_name, last_name,
               row_number() over (partition by customer_id order by seen_at desc, source_system, source_customer_id) as rn
        from recs where first_name is not null or last_name is not null) x where rn = 1
),
pick_email as (
    select customer_id, email, source_system as email_source from (
        select customer_id, email, source_system,
               row_number() over (partition by customer_id order by seen_at desc, source_system, source_customer_id) as rn
        from recs where email_valid and email is not null and not {{ is_placeholder_email('email') }}) x where rn = 1
),
pick_phone as (
    select customer_id, phone, source_system as phone_source from (
        select customer_id, phone, source_system,
               row_number() over (partition by customer_id order by seen_at desc, source_system, source_customer_id) as rn
        from recs where phone_is_mobile and phone is not null and not {{ is_placeholder_phone('phone') }}) x where rn = 1
),
pick_address as (
    select customer_id, address, district, province, postal_code, source_system as address_source from (
        select customer_id, address, district, province, postal_code, source_system,
               row_number() over (partition by customer_id order by seen_at desc, source_system, source_customer_id) as rn
        from recs where address is not null and trim(address) <> '') x where rn = 1
),
pick_province as (
    select customer_id, province from (
        select customer_id, province,
               row_number() over (partition by customer_id order by seen_at desc, source_system, source_customer_id) as rn
        from recs where province is not null) x where rn = 1
),
pick_demo as (
    select customer_id,
           max(case when rn_g = 1 then gender end) as gender,
           max(case when rn_b = 1 then birth_date end) as birth_date,
           max(case when rn_o = 1 then occupation end) as occupation
    from (
        select customer_id, gender, birth_date, occupation,
               row_number() over (partition by customer_id order by case when gender is null then 1 else 0 end, seen_at desc, source_system, source_customer_id) as rn_g,
               row_number() over (partition by customer_id order by case when birth_date is null then 1 else 0 end, seen_at desc, source_system, source_customer_id) as rn_b,
               row_number() over (partition by customer_id order by case when occupation is null then 1 else 0 end, seen_at desc, source_system, source_customer_id) as rn_o
        from recs) x
    group by customer_id
),
orders as (select * from {{ ref('int_orders') }} where counts),
buying as (
    select customer_id,
           min(ordered_at) as first_order_at,
           max(ordered_at) as last_order_at,
           count(*) as orders_lifetime,
           round(sum(total_amount), 2) as spend_lifetime,
           round(sum(total_amount) / count(*), 2) as avg_order_value,
           round(sum(items) * 1.0 / count(*), 2) as items_per_order,
           case when count(*) > 1
                then round({{ days_between('min(ordered_at)', 'max(ordered_at)') }} * 1.0 / (count(*) - 1), 1) end
               as mean_days_between_orders,
           round(avg(case when {{ is_weekend('ordered_at') }} then 1.0 else 0.0 end), 3) as weekend_share,
           round(avg(case when hour(ordered_at) >= 18 then 1.0 else 0.0 end), 3) as evening_share
    from orders
    group by customer_id
),
mode_channel as (
    select customer_id, channel as preferred_channel from (
        select customer_id, channel, row_number() over (partition by customer_id order by count(*) desc, channel) as rn
        from orders where channel is not null group by customer_id, channel) x where rn = 1
),
mode_store as (
    select customer_id, store_id as preferred_store from (
        select customer_id, store_id, row_number() over (partition by customer_id order by count(*) desc, store_id) as rn
        from orders where store_id is not null group by customer_id, store_id) x where rn = 1
),
mode_season as (
    -- Thai seasons: hot (Mar-May), rainy (Jun-Oct), cool (Nov-Feb)
    select customer_id, season as favourite_season from (
        select customer_id, season, row_number() over (partition by customer_id order by count(*) desc, season) as rn
        from (select customer_id,
                     case when month(ordered_at) between 3 and 5 then 'hot'
                          when month(ordered_at) between 6 and 10 then 'rainy' else 'cool' end as season
              from orders) s
        group by customer_id, season) x where rn = 1
),
top_category as (
    select customer_id, category as top_category from (
        select o.customer_id, p.category,
               row_number() over (partition by o.customer_id order by sum(l.quantity) desc, p.category) as rn
        from orders o
        join {{ ref('int_order_lines_latest') }} l on l.source_system = o.source_system and l.order_id = o.order_id
        join {{ ref('stg_products') }} p on p.product_id = l.product_id
        where p.category is not null
        group by o.customer_id, p.category) x where rn = 1
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
    left join (select distinct email, min(customer_id) as customer_id from recs
               where email_valid group by email having count(distinct customer_id) = 1) e on e.email = c.email
    left join (select distinct phone, min(customer_id) as customer_id from recs
               where phone is not null group by phone having count(distinct customer_id) = 1) p on p.phone = c.phone
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
        n.first_name, n.last_name,
        em.email, em.email_source, ph.phone, ph.phone_source,
        em.email is not null as has_valid_email,
        ph.phone is not null as has_valid_mobile,
        ad.address is not null as has_postal_address,
        ad.address, ad.district, coalesce(ad.province, pv.province) as province, ad.postal_code, ad.address_source,
        d.gender, d.birth_date, d.occupation,
        case when d.birth_date is null then 'unknown'
             when {{ days_between('d.birth_date', asof) }} < 25 * 365.25 then 'under_25'
             when {{ days_between('d.birth_date', asof) }} < 35 * 365.25 then '25-34'
             when {{ days_between('d.birth_date', asof) }} < 45 * 365.25 then '35-44'
             when {{ days_between('d.birth_date', asof) }} < 55 * 365.25 then '45-54'
             when {{ days_between('d.birth_date', asof) }} < 65 * 365.25 then '55-64'
             else '65_plus' end as age_band,
        b.first_order_at, b.last_order_at,
        case when b.last_order_at is not null then {{ days_between('b.last_order_at', asof) }} end as days_since_last_order,
        coalesce(b.orders_lifetime, 0) as orders_lifetime, coalesce(b.spend_lifetime, 0) as spend_lifetime,
        b.avg_order_value, b.items_per_order, b.mean_days_between_orders, b.weekend_share, b.evening_share,
        mc.preferred_channel, ms.preferred_store, tc.top_category, se.favourite_season,
        w.last_login_at, coalesce(w.sessions_30d, 0) as sessions_30d, coalesce(w.sessions_90d, 0) as sessions_90d,
        coalesce(w.page_views_30d, 0) as page_views_30d, coalesce(w.page_views_90d, 0) as page_views_90d,
        ts.top_search_term_1, ts.top_search_term_2, ts.top_search_term_3,
        coalesce(t.tickets_12m, 0) as tickets_12m, coalesce(t.open_tickets, 0) as open_tickets,
        coalesce(c.consent_email, 'unknown') as consent_email,
        coalesce(c.consent_sms, 'unknown') as consent_sms,
        coalesce(c.consent_phone, 'unknown') as consent_phone,
        coalesce(c.consent_dm, 'unknown') as consent_dm,
        coalesce(c.consent_ads, 'unknown') as consent_ads
    from ranks r
    left join pick_name n on n.customer_id = r.customer_id
    left join pick_email em on em.customer_id = r.customer_id
    left join pick_phone ph on ph.customer_id = r.customer_id
    left join pick_address ad on ad.customer_id = r.customer_id
    left join pick_province pv on pv.customer_id = r.customer_id
    left join pick_demo d on d.customer_id = r.customer_id
    left join buying b on b.customer_id = r.customer_id
    left join mode_channel mc on mc.customer_id = r.customer_id
    left join mode_store ms on ms.customer_id = r.customer_id
    left join mode_season se on se.customer_id = r.customer_id
    left join top_category tc on tc.customer_id = r.customer_id
    left join web_agg w on w.customer_id = r.customer_id
    left join top_search ts on ts.customer_id = r.customer_id
    left join tickets t on t.customer_id = r.customer_id
    left join consent c on c.customer_id = r.customer_id
),
rfm as (
    select customer_id,
           6 - ntile(5) over (order by days_since_last_order, customer_id) as r_score,
           ntile(5) over (order by orders_lifetime, customer_id) as f_score,
           ntile(5) over (order by spend_lifetime, customer_id) as m_score
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
         else 'need_attention' end as rfm_segment
from base b
left join rfm f on f.customer_id = b.customer_id
