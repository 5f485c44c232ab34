"""From purchase days to the models' inputs and outputs: per-person summaries, predictions, the
calibration / holdout check. Plain pandas/numpy (the dbt Python models in
dbt_project/models/marts/predictions/ call these; bench/predict.py times them at 1M people).

Time is in days. A person's summary as of day E (FHL 2005's notation): x = purchase days after the
first one, t_x = days from the first to the last purchase day, T = days from the first purchase
day to E, m_x = mean spend of the repeat purchase days (Gamma-Gamma's input; 0 when x = 0).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd

from crmloop.predict import clv

HORIZONS_DAYS = (30, 90, 365)
"""The expected-purchase horizons of customer_predictions (expected_purchases_<N>d)."""
CLV_HORIZON_DAYS = 365
"""clv_12m: twelve monthly steps over a year, discounted."""
PREDICTED_COLUMNS = (
    "p_alive",
    *(f"expected_purchases_{h}d" for h in HORIZONS_DAYS),
    "expected_spend_per_order",
    "clv_12m",
)
"""The numeric columns of customer_predictions (customer_profiles carries them, plus p_alive_half_on)."""


SUMMARY_SQL = """
select customer_id,
       count(*) - 1 as x,
       date_diff('day', min(purchase_date), max(purchase_date)) as t_x,
       date_diff('day', min(purchase_date), {end}) as "T",
       case when count(*) > 1 then (sum(spend) - arg_min(spend, purchase_date)) / (count(*) - 1) else 0 end as m_x,
       min(purchase_date) as first_purchase
from days
where purchase_date <= {end}
group by customer_id
order by customer_id
"""


HALF_ON_MAX_DAYS = 100 * 365
"""p_alive_half_on further than this after the first purchase is null (beyond any campaign's horizon)."""


def _day(d: date) -> str:
    return f"date '{date.fromisoformat(d.isoformat()).isoformat()}'"  # a real date, never text from outside


def summarise(days: duckdb.DuckDBPyRelation, end: date) -> pd.DataFrame:
    """One row per person with a purchase day on or before `end`: x, t_x, T, m_x, first_purchase.
    `days`: int_customer_purchase_days (customer_id, purchase_date, spend) as a DuckDB relation
    (DuckDB aggregates a million people's days in well under a second; pandas takes many)."""
    out = days.query("days", SUMMARY_SQL.format(end=_day(end))).df()
    for c in ("x", "t_x", "T", "m_x"):
        out[c] = out[c].astype(float)
    return out


@dataclass(frozen=True)
class Fit:
    bg: clv.BgNbdParams
    gg: clv.GammaGammaParams
    bg_diag: clv.FitDiagnostics | None = None  # None: parameters read back from prediction_fits
    gg_diag: clv.FitDiagnostics | None = None


def fit(summary: pd.DataFrame) -> Fit:
    bg, bg_diag = clv.fit_bgnbd(summary)
    gg, gg_diag = clv.fit_gamma_gamma(summary)
    return Fit(bg, gg, bg_diag, gg_diag)


def predict(f: Fit, summary: pd.DataFrame, *, annual_discount_rate: float) -> pd.DataFrame:
    """Per person of `summary`: p_alive, expected purchases per horizon, expected spend per order,
    clv_12m (discounted) and p_alive_half_on (the day P(alive) falls below P_ALIVE_LEVEL without
    another purchase; null for people without a repeat purchase, whom BG/NBD keeps alive)."""
    x, t_x, T, m_x = (summary[c].to_numpy(dtype=float) for c in ("x", "t_x", "T", "m_x"))
    out = pd.DataFrame({"customer_id": summary["customer_id"].to_numpy()})
    # BG/NBD's outputs depend on (x, t_x, T) only: computed once per distinct triple
    triples = pd.DataFrame({"x": x, "t_x": t_x, "T": T})
    inv = triples.groupby(["x", "t_x", "T"], sort=False).ngroup().to_numpy()  # hashing: no sort of rows
    _, first_of = np.unique(inv, return_index=True)
    ux, ut, uT = x[first_of], t_x[first_of], T[first_of]
    out["p_alive"] = clv.p_alive(f.bg, ux, ut, uT)[inv]
    for h in HORIZONS_DAYS:
        out[f"expected_purchases_{h}d"] = clv.expected_purchases(f.bg, h, ux, ut, uT)[inv]
    spend = clv.expected_spend(f.gg, x, m_x)
    out["expected_spend_per_order"] = spend
    disc = clv.discounted_purchases(
        f.bg, ux, ut, uT, horizon=CLV_HORIZON_DAYS, annual_discount_rate=annual_discount_rate
    )
    out["clv_12m"] = disc[inv] * spend  # CLV = discounted expected purchases x expected spend per purchase
    cross = clv.p_alive_crossing_time(f.bg, x, t_x)
    # a crossing more than HALF_ON_MAX_DAYS away (a fit on little data can put it millennia
    # ahead, past any calendar) is "not in any horizon that matters": null, like no crossing
    cross = np.where(np.isfinite(cross) & (cross <= HALF_ON_MAX_DAYS), cross, np.nan)
    first = pd.to_datetime(summary["first_purchase"])
    half = first + pd.to_timedelta(np.ceil(cross), unit="D")  # NaN -> NaT
    out["p_alive_half_on"] = half.dt.date
    return out


def fit_record(f: Fit) -> dict:
    """The parameters and diagnostics of a fit as one flat row (marts.prediction_fits)."""
    assert f.bg_diag is not None and f.gg_diag is not None, "a fresh fit has diagnostics"
    return {
        **{f"bg_{k}": v for k, v in asdict(f.bg).items()},
        **{f"gg_{k}": v for k, v in asdict(f.gg).items()},
        "bg_log_likelihood": f.bg_diag.log_likelihood,
        "bg_people": f.bg_diag.people,
        "bg_converged": f.bg_diag.converged,
        "gg_log_likelihood": f.gg_diag.log_likelihood,
        "gg_people": f.gg_diag.people,
        "gg_converged": f.gg_diag.converged,
    }


FIT_COLUMNS = (
    "bg_r", "bg_alpha", "bg_a", "bg_b", "gg_p", "gg_q", "gg_gamma", "bg_log_likelihood", "bg_people",
    "bg_converged", "gg_log_likelihood", "gg_people", "gg_converged",
)  # fmt: skip
HOLDOUT_COLUMNS = (
    "holdout_cutoff", "holdout_weeks", "holdout_people", "holdout_predicted", "holdout_actual", "holdout_deciles",
)  # fmt: skip


def fit_row(days: pd.DataFrame, as_of: date, holdout_weeks: int) -> dict:
    """One prediction_fits row: the fit as of `as_of` and its holdout check. A fit the data cannot
    support (nobody bought twice yet) leaves its parameters null and says why in fit_error, and the
    same for the holdout check in holdout_error: the predictions are then null, never invented."""
    row: dict = dict.fromkeys(FIT_COLUMNS + HOLDOUT_COLUMNS)
    row["fit_error"] = row["holdout_error"] = None
    try:
        row.update(fit_record(fit(summarise(days, as_of))))
    except ValueError as err:
        row["fit_error"] = str(err)
    try:
        row.update(holdout_check(days, as_of, holdout_weeks).record())
    except ValueError as err:
        row["holdout_error"] = f"holdout fit on the purchases before the last {holdout_weeks} weeks: {err}"
    return row


@dataclass(frozen=True)
class Holdout:
    cutoff: date
    weeks: int
    people: int
    predicted: float
    actual: int
    deciles: list[dict]

    def record(self) -> dict:
        return {
            "holdout_cutoff": self.cutoff,
            "holdout_weeks": self.weeks,
            "holdout_people": self.people,
            "holdout_predicted": self.predicted,
            "holdout_actual": self.actual,
            "holdout_deciles": json.dumps(self.deciles),
        }


def holdout_check(days: pd.DataFrame, as_of: date, weeks: int) -> Holdout:
    """Fit on the purchase days up to as_of - `weeks` weeks, predict the repeat purchase days of the
    last `weeks` weeks per person who had bought by then; compare with what they did, in total and
    per decile of the prediction (decile 10 = the people predicted to buy most)."""
    cutoff = as_of - timedelta(weeks=weeks)
    cal = summarise(days, cutoff)
    f = fit(cal)
    horizon = (as_of - cutoff).days
    pred = clv.expected_purchases(f.bg, horizon, cal["x"], cal["t_x"], cal["T"])
    later = days.query(
        "days",
        f"select customer_id, count(*) as n from days where purchase_date > {_day(cutoff)} "
        f"and purchase_date <= {_day(as_of)} group by customer_id",
    ).df()
    actual = later.set_index("customer_id")["n"].reindex(cal["customer_id"], fill_value=0).to_numpy()
    # deciles of the prediction: rank on the value, so equal predictions share a decile
    order = pd.Series(pred).rank(method="min", pct=True).to_numpy()
    decile = np.minimum(np.ceil(order * 10).astype(int), 10)
    deciles = []
    for k in range(1, 11):
        m = decile == k
        deciles.append(
            {
                "decile": k,
                "people": int(m.sum()),
                "predicted": round(float(pred[m].sum()), 2),
                "actual": int(actual[m].sum()),
            }
        )
    return Holdout(cutoff, weeks, len(cal), round(float(pred.sum()), 2), int(actual.sum()), deciles)
