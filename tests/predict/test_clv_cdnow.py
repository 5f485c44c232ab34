"""BG/NBD and Gamma-Gamma reproduce the published CDNOW figures (the sample's provenance: README.md)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crmloop.predict import clv

DATA = Path(__file__).parent / "cdnow_sample_summary.csv"


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(DATA).rename(columns={"zbar": "m_x"})


def test_the_sample_is_the_published_one(cdnow):
    assert len(cdnow) == 2357
    assert int((cdnow["x"] > 0).sum()) == 946


def test_bgnbd_reproduces_fader_hardie_lee_2005(cdnow):
    params, diag = clv.fit_bgnbd(cdnow)
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in published.items():
        assert getattr(params, name) == pytest.approx(value, rel=0.01), name
    assert diag.log_likelihood == pytest.approx(-9582.4, abs=0.1)  # the paper's LL
    assert diag.people == 2357


def test_bgnbd_conditional_expectation_of_the_papers_example():
    # FHL 2005, section 5: x = 2, t_x = 30.43, T = 38.86 expects 1.226 purchases in the next 39 weeks
    params = clv.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
    assert clv.expected_purchases(params, 39, [2], [30.43], [38.86])[0] == pytest.approx(1.226, abs=0.002)


def test_gamma_gamma_reproduces_fader_hardie_2013(cdnow):
    params, diag = clv.fit_gamma_gamma(cdnow)
    published = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    for name, value in published.items():
        assert getattr(params, name) == pytest.approx(value, rel=0.01), name
    assert diag.people == 946


def test_p_alive_bounds_and_one_order_people():
    params = clv.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
    pa = clv.p_alive(params, [0, 1, 5, 5], [0, 10, 38, 2], [38, 38, 38, 38])
    assert pa[0] == 1.0  # BG/NBD: nobody drops out before a repeat purchase
    assert np.all((pa > 0) & (pa <= 1))
    assert pa[2] > pa[3]  # same purchases, the later last purchase is more likely alive


def test_the_crossing_time_gives_the_level():
    params = clv.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
    x, t_x = np.array([1.0, 3.0, 8.0]), np.array([5.0, 20.0, 30.0])
    T = clv.p_alive_crossing_time(params, x, t_x)
    assert np.allclose(clv.p_alive(params, x, t_x, T), clv.P_ALIVE_LEVEL)
    assert np.isnan(clv.p_alive_crossing_time(params, [0.0], [0.0])[0])


def test_gamma_gamma_expected_spend_shrinks_towards_the_population_mean():
    gg = clv.GammaGammaParams(p=6.25, q=3.74, gamma=15.44)
    pop = 6.25 * 15.44 / (3.74 - 1)
    one, many = clv.expected_spend(gg, [1, 50], [100.0, 100.0])
    assert pop < one < many < 100.0
    assert clv.expected_spend(gg, [0], [0.0])[0] == pytest.approx(pop)


def test_discounting_lowers_the_expected_purchases_and_none_is_the_plain_expectation():
    bg = clv.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
    args = ([2], [30.43], [38.86])
    plain = clv.discounted_purchases(bg, *args, horizon=52, annual_discount_rate=0.0, unit_per_year=52)
    disc = clv.discounted_purchases(bg, *args, horizon=52, annual_discount_rate=0.10, unit_per_year=52)
    assert plain[0] == pytest.approx(clv.expected_purchases(bg, 52, *args)[0])
    # each month's purchases discounted at most by a year's rate, at least by one month's
    assert plain[0] / 1.10 < disc[0] < plain[0] / 1.10 ** (1 / 12)


def test_fits_refuse_nothing_to_work_on():
    with pytest.raises(ValueError, match="no customers"):
        clv.fit_bgnbd(pd.DataFrame({"x": [], "t_x": [], "T": []}))
    with pytest.raises(ValueError, match="nobody bought twice"):
        clv.fit_bgnbd(pd.DataFrame({"x": [0, 0], "t_x": [0, 0], "T": [5, 9]}))


def test_the_regrouped_likelihoods_equal_the_per_person_sums(cdnow):
    # the fits evaluate the likelihood on distinct values; the reported optimum is the plain sum
    bg, bg_diag = clv.fit_bgnbd(cdnow)
    per_person = clv.bgnbd_log_likelihood(bg, cdnow["x"], cdnow["t_x"], cdnow["T"]).sum()
    assert bg_diag.log_likelihood == pytest.approx(per_person, rel=1e-9)
    gg, gg_diag = clv.fit_gamma_gamma(cdnow)
    rep = cdnow[cdnow["x"] > 0]
    assert gg_diag.log_likelihood == pytest.approx(
        clv.gamma_gamma_log_likelihood(gg, rep["x"], rep["m_x"]).sum(), rel=1e-9
    )


def test_a_crossing_beyond_any_calendar_is_null_not_an_error():
    """A fit on little data can put the day P(alive) falls below 0.5 millennia ahead (here a ≈ 0):
    that person's p_alive_half_on is null, like someone with no repeat purchase, and the others'
    dates are unchanged (the published CDNOW fit gives them)."""
    import pandas as pd

    from crmloop.predict import summary as S

    people = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "x": [1.0, 3.0, 0.0],
            "t_x": [10.0, 100.0, 0.0],
            "T": [200.0, 300.0, 50.0],
            "m_x": [100.0, 200.0, 0.0],
            "first_purchase": pd.to_datetime(["2025-01-01", "2024-06-01", "2025-03-01"]),
        }
    )
    gg = clv.GammaGammaParams(p=6.25, q=3.74, gamma=15.44)
    odd = S.predict(
        S.Fit(clv.BgNbdParams(r=0.24, alpha=4.4, a=1e-6, b=50), gg), people, annual_discount_rate=0.1
    )
    assert pd.isna(odd["p_alive_half_on"][0])  # year 65796 before: ValueError
    assert pd.isna(odd["p_alive_half_on"][2])  # no repeat purchase
    bg = clv.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
    cdnow = S.predict(S.Fit(bg, gg), people, annual_discount_rate=0.1)
    # each date is the first day on which P(alive) (eq. 12, without another purchase) is below 0.5
    for i in (0, 1):
        day = (pd.Timestamp(cdnow["p_alive_half_on"][i]) - people["first_purchase"][i]).days
        x, t_x = people["x"][i], people["t_x"][i]
        assert clv.p_alive(bg, x, t_x, day) < 0.5 <= clv.p_alive(bg, x, t_x, day - 1)
