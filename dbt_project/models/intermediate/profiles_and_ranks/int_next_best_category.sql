-- One row per person: the product category they are most likely to buy next and have not bought.
-- Association: category-level co-purchase rules among buyers (people with a counted order line of
-- a known category; int_record_profile_facts, a person is the sum of their records): for categories
-- A and B, support = share of buyers who bought both, confidence = P(B | A), lift = confidence / P(B).
-- A rule counts when at least var('next_best_min_rule_buyers') buyers bought both and lift > 1 (it
-- beats popularity). A person's pick: of the categories they have not bought, the one with the
-- highest confidence given a category they have; ties: higher lift, more buyers, then the smallest
-- category. Popularity fallback (no qualifying rule, no orders, no categorised lines): the most
-- bought category (by buyers) they have not bought; ties: the smallest category. Null only when
-- the person has bought every category anyone bought. `popular_category` is that fallback for
-- everyone (the baseline bench/next_best.py measures the association against).
with
ident as (select distinct customer_id, source_system, source_customer_id from {{ ref('customer_identity') }}),
people as (select distinct customer_id from ident),
bought as (  -- person x category with at least one counted order line
    select distinct i.customer_id, f.fact_key as category
    from {{ ref('int_record_profile_facts') }} f
    join ident i on i.source_system = f.source_system and i.source_customer_id = f.source_customer_id
    where f.fact = 'category' and f.fact_key is not null
),
n_bought as (select customer_id, count(*) as n_categories from bought group by customer_id),
buyers as (select count(distinct customer_id) as n from bought),
popularity as (  -- buyers per category, 1 = the most bought
    select category, n_buyers,
           row_number() over (order by n_buyers desc, category) as popularity_rank
    from (select category, count(*) as n_buyers from bought group by category) c
),
rules as (  -- co-purchase rules A -> B (A <> B)
    select p.antecedent, p.consequent, p.n_both,
           cast(p.n_both as double) / a.n_buyers as confidence,  -- double on both engines (Spark: no decimal rounding)
           (cast(p.n_both as double) / a.n_buyers) / (cast(c.n_buyers as double) / t.n) as lift
    from (select x.category as antecedent, y.category as consequent, count(*) as n_both
          from bought x
          join bought y on y.customer_id = x.customer_id and y.category <> x.category
          group by x.category, y.category) p
    join popularity a on a.category = p.antecedent
    join popularity c on c.category = p.consequent
    cross join buyers t
    where p.n_both >= {{ var('next_best_min_rule_buyers') }}
),
association as (  -- the person's best rule towards a category they have not bought
    select customer_id, category from (
        select b.customer_id, r.consequent as category,
               row_number() over (partition by b.customer_id
                                  order by r.confidence desc, r.lift desc, r.n_both desc, r.consequent,
                                           r.antecedent) as rn
        from bought b
        join rules r on r.antecedent = b.category and r.lift > 1
        left join bought h on h.customer_id = b.customer_id and h.category = r.consequent
        where h.customer_id is null) x
    where rn = 1
),
popular as (  -- the most popular category not bought: among the top (categories bought + 1)
    select customer_id, category from (
        select p.customer_id, c.category,
               row_number() over (partition by p.customer_id order by c.popularity_rank) as rn
        from people p
        left join n_bought n on n.customer_id = p.customer_id
        join popularity c on c.popularity_rank <= coalesce(n.n_categories, 0) + 1
        left join bought h on h.customer_id = p.customer_id and h.category = c.category
        where h.customer_id is null) x
    where rn = 1
)
select p.customer_id,
       coalesce(a.category, pop.category) as next_best_category,
       case when a.category is not null then 'association'
            when pop.category is not null then 'popularity' end as next_best_category_source,
       pop.category as popular_category,
       coalesce(n.n_categories, 0) as categories_bought
from people p
left join association a on a.customer_id = p.customer_id
left join popular pop on pop.customer_id = p.customer_id
left join n_bought n on n.customer_id = p.customer_id
