"""Ranks computed from the generated order files (not from the generator's internals) match the plan."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from crmloop.rank_rules import assign_ranks, window_months

from .conftest import AS_OF
from .readback import read_orders

TABLE = {"VIP": (2000, 110e6), "Regular": (5000, 120e6), "New": (20000, 70e6), "Prospect": (8000, 0.0)}


def _ranks_from_files(g) -> pd.DataFrame:
    o = read_orders(g)
    valid = o["ts"].notna() & o["amount"].notna() & o["source_customer_id"].notna()
    o = o[valid].sort_values(["partition", "file", "row"])
    latest = o.drop_duplicates("order_id", keep="last")
    start = pd.Timestamp(AS_OF) - pd.DateOffset(months=window_months())  # the seed's rank window
    end = pd.Timestamp(AS_OF + timedelta(days=1))
    done = latest[latest["status"] == "completed"]
    who = g.records.set_index("source_customer_id")["person_id"]
    done = done.assign(person_id=done["source_customer_id"].map(who))
    assert done["person_id"].notna().all(), "every valid order must belong to a known source record"
    win = done[(done["ts"] >= start) & (done["ts"] < end)]
    per = win.groupby("person_id").agg(
        orders=("order_id", "size"), spend=("amount", "sum"), last=("ts", "max")
    )
    people = g.people.set_index("person_id")[["expected_rank", "latent_rank", "lapsed_regular"]].join(per)
    people["orders"] = people["orders"].fillna(0)
    people["spend"] = people["spend"].fillna(0.0)
    ever = people.index.isin(set(done["person_id"]))
    rank = assign_ranks(people["spend"], people["orders"], ever)  # the seed's rule set
    return people.assign(rank=rank)


def test_ranks_from_files_match_truth_and_the_example_table(calibrated):
    people = _ranks_from_files(calibrated)
    n = len(people)
    assert n == 5000
    assert (people["rank"] == people["expected_rank"]).all()
    assert (people["expected_rank"] == people["latent_rank"]).all()
    counts = people["rank"].value_counts()
    sales = people.groupby("rank")["spend"].sum()
    total_table = sum(c for c, _ in TABLE.values())
    for rank, (count, amount) in TABLE.items():
        share = counts.get(rank, 0) / n
        assert abs(share - count / total_table) < 0.02, (rank, share)
        if amount:
            per_person = sales[rank] / counts[rank]
            assert abs(per_person / (amount / count) - 1) < 0.1, (rank, per_person)
    assert counts.get("Dormant", 0) <= 0.01 * n


def test_most_regulars_have_not_bought_within_a_year(calibrated):
    people = _ranks_from_files(calibrated)
    reg = people[people["rank"] == "Regular"]
    year_ago = pd.Timestamp(AS_OF - timedelta(days=365))
    lapsed = (reg["last"] < year_ago).mean()
    assert 0.55 <= lapsed <= 0.65
    assert (reg["lapsed_regular"] == (reg["last"] < year_ago)).all()
    # at the example scale that is ~3,000 of 5,000 Regulars
    assert abs(lapsed * 5000 - 3000) < 250


def test_sales_scale_in_summary(calibrated):
    s = calibrated.summary
    vip_avg = s.sales_by_rank["VIP"] / s.people_by_rank["VIP"]
    assert 45_000 < vip_avg < 65_000
    assert s.people_by_rank["Prospect"] == round(5000 * 8000 / 35000)
