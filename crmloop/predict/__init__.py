"""The prediction stage: buy-till-you-die models fitted on the warehouse's purchase history.

`clv.py` holds BG/NBD (who is still active, how many purchases next) and Gamma-Gamma (spend per
order), fitted by maximum likelihood with numpy/scipy; `lifetimes` has had no release since 2020
(needs setuptools<82) and pymc-marketing needs Python >= 3.12, so the two likelihoods live here.
The dbt Python model `dbt_project/models/marts/predictions/customer_predictions.py` calls it.
"""
