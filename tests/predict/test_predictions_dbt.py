"""customer_predictions / prediction_fits / customer_profiles built by dbt on a lake whose people
buy like BG/NBD customers (seeded), plus named people: none, one order, many orders (recent and
lapsed), two orders on one day, a refunded order. Also RFM scores of tied customers."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from bench.lake import write_empty_entities, write_partition
from tests.dbt.dbt_helpers import dbt_in_process, query
from tests.dbt.lake_fixtures import customer, order

AS_OF = "2025-06-30"
START = date(2023, 7, 1)


def _simulated(rng: np.random.Generator, n: int = 400) -> tuple[list[dict], list[dict]]:
    custs, orders = [], []
    end = date.fromisoformat(AS_OF)
    for i in range(n):
        cid = f"P{i:04d}"
        first = START + timedelta(days=int(rng.integers(0, 600)))
        custs.append(customer("pos", cid, f"{first} 09:00:00", email=f"{cid.lower()}@example.com"))
        lam, drop = rng.gamma(0.8, 1 / 40), rng.beta(1, 6)
        day, k = first, 0
        while day <= end:
            orders.append(order("pos", f"{cid}-{k}", cid, f"{day} 10:00:00", float(rng.gamma(3, 400))))
            k += 1
            if rng.random() < drop:
                break
            day = day + timedelta(days=max(1, int(rng.exponential(1 / lam))))
    return custs, orders


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    lake, warehouse = root / "lake", root / "wh" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    custs, orders = _simulated(np.random.default_rng(15))
    custs += [
        customer("crm", cid, "2023-01-01 09:00:00") for cid in ("NONE", "ONE", "MANY", "LAPSED", "SAMEDAY")
    ]
    # six identical customers (same recency, frequency, spend): ids that hash anywhere
    custs += [customer("tie", f"T{k}", "2023-01-01 09:00:00") for k in range(6)]
    orders += [order("tie", f"t{k}", f"T{k}", "2024-11-11 12:00:00", 2500.0) for k in range(6)]
    orders += [order("crm", "one-1", "ONE", "2025-03-01 12:00:00", 900.0)]
    recent = [date(2024, 7, 1) + timedelta(days=30 * k) for k in range(12)]
    orders += [order("crm", f"many-{k}", "MANY", f"{d} 12:00:00", 1500.0) for k, d in enumerate(recent)]
    lapsed = [date(2023, 7, 1) + timedelta(days=30 * k) for k in range(12)]
    orders += [order("crm", f"lapsed-{k}", "LAPSED", f"{d} 12:00:00", 1500.0) for k, d in enumerate(lapsed)]
    orders += [
        order("crm", "same-1", "SAMEDAY", "2025-05-01 09:00:00", 500.0),
        order("crm", "same-2", "SAMEDAY", "2025-05-01 18:00:00", 700.0),
        order("crm", "same-3", "SAMEDAY", "2025-06-01 18:00:00", 300.0, status="refunded"),
    ]
    write_partition(lake, "customers", "2025-06-29", custs, source="crm_customers")
    write_partition(lake, "orders", "2025-06-29", orders, source="pos_orders")
    write_empty_entities(lake)
    dbt_in_process(
        ["build", "--select", "+customer_profiles"],
        warehouse=warehouse,
        lake=lake,
        work=root / "w",
        as_of=AS_OF,
    )
    return warehouse


def _person(wh, source_id: str) -> dict:
    cols = [
        "purchase_days", "p_alive", "expected_purchases_30d", "expected_purchases_90d", "expected_purchases_365d",
        "expected_spend_per_order", "clv_12m", "p_alive_half_on",
    ]  # fmt: skip
    (row,) = query(
        wh,
        f"select {', '.join('p.' + c for c in cols)} from marts.customer_predictions p "
        "join marts.customer_identity i using (customer_id) "
        f"where i.source_system = 'crm' and i.source_customer_id = '{source_id}'",
    )
    return dict(zip(cols, row, strict=True))


def test_every_person_has_a_row_and_the_profile_carries_it(wh):
    (n_prof, n_pred, same) = query(
        wh,
        "select (select count(*) from marts.customer_profiles), (select count(*) from marts.customer_predictions), "
        "(select count(*) from marts.customer_profiles f join marts.customer_predictions p using (customer_id) "
        " where f.p_alive is not distinct from p.p_alive and f.clv_12m is not distinct from p.clv_12m)",
    )[0]
    assert n_prof == n_pred == same == 411


def test_bounds(wh):
    (lo, hi, neg) = query(
        wh,
        "select min(p_alive), max(p_alive), count(*) filter (where expected_purchases_30d < 0 or clv_12m < 0 "
        "or expected_purchases_90d < expected_purchases_30d or expected_purchases_365d < expected_purchases_90d) "
        "from marts.customer_predictions",
    )[0]
    assert 0 <= lo < 0.5 and hi == 1.0
    assert neg == 0


def test_a_person_with_no_order(wh):
    p = _person(wh, "NONE")
    assert p["purchase_days"] == 0
    assert p["p_alive"] is None and p["clv_12m"] is None


def test_a_person_with_one_order(wh):
    p = _person(wh, "ONE")
    assert p["purchase_days"] == 1
    assert p["p_alive"] == 1.0  # BG/NBD: no repeat purchase, no drop-out yet
    assert p["p_alive_half_on"] is None
    assert 0 < p["expected_purchases_30d"] < p["expected_purchases_365d"]


def test_many_orders_recent_against_lapsed(wh):
    many, lapsed = _person(wh, "MANY"), _person(wh, "LAPSED")
    assert many["purchase_days"] == lapsed["purchase_days"] == 12
    assert many["p_alive"] > 0.5 > lapsed["p_alive"]
    assert many["clv_12m"] > lapsed["clv_12m"] > 0
    # 12 purchases of 1500 each: Gamma-Gamma's estimate lies between the population mean and 1500
    assert many["expected_spend_per_order"] < 1500
    assert lapsed["p_alive_half_on"] <= date.fromisoformat(AS_OF) < many["p_alive_half_on"]


def test_purchases_count_per_day_and_refunds_do_not(wh):
    assert _person(wh, "SAMEDAY")["purchase_days"] == 1


def test_the_fit_and_its_holdout_check_are_kept(wh):
    cols = ["bg_r", "bg_alpha", "bg_a", "bg_b", "gg_p", "gg_q", "gg_gamma", "bg_converged", "holdout_people",
            "holdout_predicted", "holdout_actual", "holdout_deciles", "fit_error", "holdout_error"]  # fmt: skip
    rows = query(wh, f"select {', '.join(cols)} from marts.prediction_fits")
    assert len(rows) == 1
    f = dict(zip(cols, rows[0], strict=True))
    assert f["fit_error"] is None and f["holdout_error"] is None and f["bg_converged"]
    assert all(f[c] > 0 for c in cols[:7])
    deciles = json.loads(f["holdout_deciles"])
    assert sum(d["people"] for d in deciles) == f["holdout_people"]
    assert sum(d["actual"] for d in deciles) == f["holdout_actual"]
    # actual holdout repeat purchases, counted here from the lake's own orders
    (actual,) = query(
        wh,
        "select count(*) from intermediate.int_customer_purchase_days d where d.purchase_date > date '2025-03-31' "
        "and d.customer_id in (select customer_id from intermediate.int_customer_purchase_days "
        "group by customer_id having min(purchase_date) <= date '2025-03-31')",
    )[0]
    assert f["holdout_actual"] == actual


def test_tied_customers_get_the_same_rfm_scores(wh):
    # people with the same recency, frequency and spend: one score each, whatever their ids
    (split,) = query(
        wh,
        "select count(*) from (select days_since_last_order, orders_lifetime, spend_lifetime from marts.customer_profiles "
        "where orders_lifetime > 0 group by all having count(distinct (r_score, f_score, m_score)) > 1)",
    )[0]
    (ones,) = query(
        wh, "select count(distinct f_score) from marts.customer_profiles where orders_lifetime = 1"
    )[0]
    (tie_scores,) = query(
        wh,
        "select count(distinct (r_score, f_score, m_score)) from marts.customer_profiles p "
        "join marts.customer_identity i using (customer_id) where i.source_system = 'tie'",
    )[0]
    assert tie_scores == 1
    assert split == 0
    assert ones == 1


def test_the_holdout_check_reaches_dagster_metadata_with_a_chart(wh):
    from crmloop.settings import Settings
    from orchestration.defs.warehouse import PREDICTION_FITS, prediction_fit_observation

    home = wh.parent
    day = date.fromisoformat(AS_OF)
    settings = Settings(landing_dir=home / "landing", home=home, as_of=day, start_date=date(2023, 1, 1))
    obs = prediction_fit_observation(settings, day)
    assert obs.asset_key == PREDICTION_FITS and obs.partition == AS_OF
    (pred, actual) = query(wh, "select holdout_predicted, holdout_actual from marts.prediction_fits")[0]
    md = obs.metadata["holdout_check"].value
    assert f"{actual:,} actual" in md and len(re.findall(r"\n\| \d+ \|", md)) == 10  # a row per decile
    assert obs.metadata["holdout_actual"].value == actual
    png = Path(obs.metadata["holdout_chart"].value)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
