-- Edges between records that share an identifier (normalised email, mobile number, loyalty card).
-- Placeholders and identifiers used by more than var('identity_max_records_per_identifier') records
-- are shared/junk and never merge people. Each identifier links its records to its smallest record
-- (a star, not a clique). The edge list is symmetric, with a self-loop per linked record; records
-- without edges are their own component and skip the propagation passes.
with identifiers as (
    select rec_idx, 'email' as id_type, email as id_value
    from {{ ref('int_identity_records') }}
    where email_valid and not {{ is_placeholder_email('email') }}
    union all
    select rec_idx, 'phone', phone
    from {{ ref('int_identity_records') }}
    where phone_is_mobile and not {{ is_placeholder_phone('phone') }}
    union all
    select rec_idx, 'card', loyalty_card_id
    from {{ ref('int_identity_records') }}
    where loyalty_card_id is not null
      and not {{ regex_match('loyalty_card_id', '^(0+|-+|x+|X+|n/?a|N/?A|none|null)$') }}
),
usage as (
    select id_type, id_value, count(distinct rec_idx) as n_records, min(rec_idx) as hub
    from identifiers
    group by id_type, id_value
),
star as (
    select distinct i.rec_idx as a, u.hub as b
    from identifiers i
    join usage u on u.id_type = i.id_type and u.id_value = i.id_value
    where u.n_records between 2 and {{ var('identity_max_records_per_identifier') }}
      and i.rec_idx <> u.hub
)
select a as src, b as dst from star
union all
select b as src, a as dst from star
union all
select node as src, node as dst from (select a as node from star union select b as node from star) linked
