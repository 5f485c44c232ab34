"""One row per person (the companion of customer_profiles): P(alive), expected purchases in the
next 30/90/365 days, expected spend per order, clv_12m (discounted) and the day P(alive) falls
below 0.5, from the fit of this as_of in prediction_fits. The math: crmloop/predict/."""

import numpy as np
import pandas as pd

from crmloop.predict import clv
from crmloop.predict import summary as ps


def model(dbt, session):
    dbt.config(materialized="table")
    rate = float(dbt.config.get("annual_discount_rate"))
    people = dbt.ref("customer_ranks").df()[["customer_id", "as_of"]]
    as_of = pd.to_datetime(people["as_of"]).max().date()
    fits = dbt.ref("prediction_fits").df()
    fits = fits[pd.to_datetime(fits["as_of"]).dt.date == as_of]
    if fits.empty:
        raise ValueError(f"customer_predictions: prediction_fits has no row for {as_of}")
    row = fits.iloc[0]
    summary = ps.summarise(dbt.ref("int_customer_purchase_days"), as_of)
    if pd.isna(row["bg_r"]):  # no fit possible (prediction_fits.fit_error says why): null predictions
        pred = pd.DataFrame({"customer_id": summary["customer_id"]})
        for col in ps.PREDICTED_COLUMNS:
            pred[col] = np.nan
        pred["p_alive_half_on"] = pd.NaT
        fit_as_of = None
    else:
        fit = ps.Fit(
            bg=clv.BgNbdParams(r=row["bg_r"], alpha=row["bg_alpha"], a=row["bg_a"], b=row["bg_b"]),
            gg=clv.GammaGammaParams(p=row["gg_p"], q=row["gg_q"], gamma=row["gg_gamma"]),
        )
        pred = ps.predict(fit, summary, annual_discount_rate=rate)
        fit_as_of = pd.to_datetime(row["params_from"]).date()
    pred["purchase_days"] = (summary["x"].to_numpy() + 1).astype("int64")
    out = people.merge(pred, on="customer_id", how="left")
    out["purchase_days"] = out["purchase_days"].fillna(0).astype("int64")
    out["p_alive_half_on"] = pd.to_datetime(out["p_alive_half_on"]).dt.date
    out["fit_as_of"] = fit_as_of
    out["fit_as_of"] = pd.to_datetime(out["fit_as_of"]).dt.date
    return out
