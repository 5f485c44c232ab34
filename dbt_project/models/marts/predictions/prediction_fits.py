"""One row per fit (as_of): BG/NBD and Gamma-Gamma parameters and diagnostics, and the calibration /
holdout check (fit on all but the last N weeks, predict them). The math: crmloop/predict/.

Earlier fits are kept (the table re-reads its previous rows; a rerun of an as_of replaces its row).
With refit_every_days > 1, a run within that many days of the last fit reuses its parameters.
"""

from datetime import date, timedelta

import pandas as pd

from crmloop.predict import summary as ps


def _previous(session, this) -> pd.DataFrame:
    name = str(this)
    parts = [p.strip('"') for p in name.split(".")]
    exists = session.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [parts[-2], parts[-1]],
    ).fetchall()[0][0]
    return session.sql(f"select * from {name}").df() if exists else pd.DataFrame()


def model(dbt, session):
    dbt.config(materialized="table")
    refit_days = int(dbt.config.get("refit_every_days"))
    holdout_weeks = int(dbt.config.get("holdout_weeks"))
    people = dbt.ref("customer_ranks").df()
    if people.empty:
        raise ValueError("prediction_fits: customer_ranks is empty: nothing to fit on")
    as_of = pd.to_datetime(people["as_of"]).max().date()
    previous = _previous(session, dbt.this)
    if not previous.empty:
        previous["as_of"] = pd.to_datetime(previous["as_of"]).dt.date
        previous = previous[previous["as_of"] != as_of]
        recent = previous[
            previous["refitted"]
            & (previous["as_of"] < as_of)
            & (previous["as_of"] > as_of - timedelta(days=refit_days))
        ]
        if not recent.empty:  # the cadence: reuse the latest fit's parameters
            row = recent.sort_values("as_of").iloc[-1].to_dict()
            row.update(as_of=as_of, refitted=False, params_from=row["as_of"])
            return pd.concat([previous, pd.DataFrame([row])], ignore_index=True)
    days = dbt.ref("int_customer_purchase_days")
    row = {"as_of": as_of, "refitted": True, "params_from": as_of, "fitted_on": date.today()}
    row.update(ps.fit_row(days, as_of, holdout_weeks))
    return (
        pd.concat([previous, pd.DataFrame([row])], ignore_index=True)
        if not previous.empty
        else pd.DataFrame([row])
    )
