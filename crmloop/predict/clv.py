"""BG/NBD (Fader, Hardie & Lee 2005) and Gamma-Gamma (Fader & Hardie 2013) in numpy/scipy.

A person is summarised as (x, t_x, T) in one time unit (the warehouse uses days): x repeat
purchases (purchase days after the first), t_x the time from the first to the last purchase,
T the time from the first purchase to the end of the observation; m_x the mean value of the
repeat purchases. Fits maximise the log-likelihood over log-parameters (L-BFGS-B) on the distinct
summaries weighted by how many people share them (a million people have far fewer distinct rows).
`lifetimes` is unmaintained (no release since 2020), hence this small implementation; it
reproduces the published CDNOW parameters (tests/predict/test_clv_cdnow.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import gammaln, hyp2f1

P_ALIVE_LEVEL = 0.5
"""The P(alive) level whose crossing date the warehouse records (`p_alive_half_on`)."""


@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    gamma: float


@dataclass(frozen=True)
class FitDiagnostics:
    model: str
    people: int
    distinct_rows: int
    log_likelihood: float
    iterations: int
    converged: bool
    message: str


def _compress(frame: pd.DataFrame, cols: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of `cols` and how many people share each."""
    g = frame.groupby(cols, sort=False).size().reset_index(name="_n")
    return g[cols].to_numpy(dtype=float), g["_n"].to_numpy(dtype=float)


def bgnbd_log_likelihood(params: BgNbdParams, x, t_x, T) -> np.ndarray:
    """Per-person log-likelihood of BG/NBD (FHL 2005, eq. 6)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(
            x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x), -np.inf
        )
    return a1 + a2 + np.logaddexp(a3, a4)


def _diagnostics(model: str, n: np.ndarray, res) -> FitDiagnostics:
    people = float(n.sum())
    return FitDiagnostics(
        model,
        int(people),
        len(n),
        -float(res.fun) * people,
        int(res.nit),
        bool(res.success),
        str(res.message),
    )


def _fit(neg_ll, start: np.ndarray, maxiter: int = 500):
    res = minimize(neg_ll, np.log(start), method="L-BFGS-B", options={"maxiter": maxiter})
    if not np.isfinite(res.fun):
        raise ValueError(f"the fit did not reach a finite likelihood: {res.message}")
    return res


def fit_bgnbd(summary: pd.DataFrame) -> tuple[BgNbdParams, FitDiagnostics]:
    """Maximum-likelihood BG/NBD on columns x, t_x, T (one row per person)."""
    if summary.empty:
        raise ValueError("BG/NBD: no customers to fit (no completed purchases in the warehouse)")
    if not (summary["x"] > 0).any():
        raise ValueError("BG/NBD: nobody bought twice: repeat behaviour cannot be fitted")
    rows, n = _compress(summary, ["x", "t_x", "T"])
    scale = float(np.mean(rows[:, 2])) or 1.0  # fit alpha on a unit-free scale, report it in the data's unit
    # eq. 6 evaluated on distinct values: the gamma terms depend on x only, the logs on T or t_x
    # only (a few thousand distinct values for a million people): the same sum, far fewer calls
    ux, ix = np.unique(rows[:, 0], return_inverse=True)
    uT, iT = np.unique(rows[:, 2], return_inverse=True)
    ut, it = np.unique(rows[:, 1], return_inverse=True)
    nx = np.bincount(ix, weights=n, minlength=len(ux))
    rep = rows[:, 0] > 0
    total = n.sum()

    def neg(logp):
        r, alpha, a, b = np.exp(logp)
        alpha = alpha * scale
        gx = (
            gammaln(r + ux) - gammaln(r) + r * np.log(alpha)
            + gammaln(a + b) + gammaln(b + ux) - gammaln(b) - gammaln(a + b + ux)
        )  # fmt: skip
        rx = (r + ux)[ix]
        a3 = -rx * np.log(alpha + uT)[iT]
        cx = np.log(a) - np.log(np.maximum(b + ux - 1, 1e-300))
        a4 = cx[ix[rep]] - rx[rep] * np.log(alpha + ut)[it[rep]]
        # log(e^a3 + e^a4) for people with a repeat purchase, a3 alone for the others (np.logaddexp
        # with -inf is some 50x slower than this)
        a3r = a3[rep]
        a3[rep] = np.maximum(a3r, a4) + np.log1p(np.exp(-np.abs(a3r - a4)))
        # (w * v).sum(), not np.dot: a BLAS call starts threads, slow on a busy machine
        return -(float((nx * gx).sum()) + float((n * a3).sum())) / total

    res = _fit(neg, np.array([1.0, 1.0, 1.0, 1.0]))
    r, alpha, a, b = np.exp(res.x)
    params = BgNbdParams(float(r), float(alpha * scale), float(a), float(b))
    return params, _diagnostics("bg_nbd", n, res)


def p_alive(params: BgNbdParams, x, t_x, T) -> np.ndarray:
    """P(still active | x, t_x, T) (FHL 2005, eq. 12; 1 for people without a repeat purchase)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_ratio = np.log(a) - np.log(b + x - 1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        out = 1.0 / (1.0 + np.exp(log_ratio))
    return np.where(x > 0, out, 1.0)


def p_alive_crossing_time(params: BgNbdParams, x, t_x, level: float = P_ALIVE_LEVEL) -> np.ndarray:
    """T at which P(alive) falls to `level` without another purchase (inverts eq. 12); NaN when x = 0."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, t_x = (np.asarray(v, dtype=float) for v in (x, t_x))
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.log((b + x - 1) / a * (1 - level) / level) / (r + x)
        t = (alpha + t_x) * np.exp(k) - alpha
    return np.where(x > 0, np.maximum(t, t_x), np.nan)


def expected_purchases(params: BgNbdParams, t, x, t_x, T) -> np.ndarray:
    """E[purchases in (T, T + t] | x, t_x, T] (FHL 2005, eq. 10)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    z = t / (alpha + T + t)
    head = (a + b + x - 1) / (a - 1)
    body = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        tail = np.where(x > 0, a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)
    return head * body / (1 + tail)


def expected_purchases_new(params: BgNbdParams, t) -> np.ndarray:
    """E[X(t)] for a person just starting (FHL 2005, eq. 9): the population curve."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    t = np.asarray(t, dtype=float)
    z = t / (alpha + t)
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))


def gamma_gamma_log_likelihood(params: GammaGammaParams, x, m_x) -> np.ndarray:
    """Per-person log-likelihood of the mean spend m_x over x purchases (Fader & Hardie 2013)."""
    p, q, g = params.p, params.q, params.gamma
    x, m_x = np.asarray(x, dtype=float), np.asarray(m_x, dtype=float)
    return (
        gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(g)
        + (p * x - 1) * np.log(m_x) + p * x * np.log(x) - (p * x + q) * np.log(g + m_x * x)
    )  # fmt: skip


def fit_gamma_gamma(summary: pd.DataFrame) -> tuple[GammaGammaParams, FitDiagnostics]:
    """Maximum-likelihood Gamma-Gamma on the people with x > 0 and m_x > 0 (columns x, m_x)."""
    rep = summary[(summary["x"] > 0) & (summary["m_x"] > 0)]
    if rep.empty:
        raise ValueError("Gamma-Gamma: nobody has a repeat purchase with a positive value")
    rows, n = _compress(rep, ["x", "m_x"])
    x, m_x = rows[:, 0], rows[:, 1]
    scale = float(np.average(m_x, weights=n))
    # the likelihood's sum regrouped: gamma terms per distinct x, the terms linear in p or q as
    # constant sums; only log(gamma + m_x x) is evaluated per row
    ux, ix = np.unique(x, return_inverse=True)
    nx = np.bincount(ix, weights=n, minlength=len(ux))
    total = n.sum()
    s_xlogm = float((n * x * np.log(m_x)).sum())
    s_logm = float((n * np.log(m_x)).sum())
    s_xlogx = float((n * x * np.log(x)).sum())
    mx = m_x * x

    def neg(logp):
        p, q, g = np.exp(logp)
        g = g * scale
        per_x = gammaln(p * ux + q) - gammaln(p * ux)
        ll = (
            float((nx * per_x).sum()) - total * gammaln(q) + total * q * np.log(g)
            + p * s_xlogm - s_logm + p * s_xlogx
            - float((n * (p * x + q) * np.log(g + mx)).sum())
        )  # fmt: skip
        return -ll / total

    res = _fit(neg, np.array([1.0, 2.0, 1.0]))
    p, q, g = np.exp(res.x)
    params = GammaGammaParams(float(p), float(q), float(g * scale))
    return params, _diagnostics("gamma_gamma", n, res)


def expected_spend(params: GammaGammaParams, x, m_x) -> np.ndarray:
    """E[spend per purchase | x, m_x]; the population mean for people without repeat purchases."""
    p, q, g = params.p, params.q, params.gamma
    x, m_x = np.asarray(x, dtype=float), np.asarray(m_x, dtype=float)
    pop = p * g / (q - 1) if q > 1 else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        cond = (g + m_x * x) * p / (p * x + q - 1)
    return np.where((x > 0) & (m_x > 0), cond, pop)


def discounted_purchases(
    bg: BgNbdParams,
    x,
    t_x,
    T,
    *,
    horizon: float,
    steps: int = 12,
    annual_discount_rate: float = 0.10,
    unit_per_year: float = 365.0,
) -> np.ndarray:
    """The expected purchases of each of `steps` equal periods of `horizon`, each discounted to
    today at `annual_discount_rate` by the end of its period, summed."""
    total = np.zeros(np.shape(np.asarray(x, dtype=float)))
    prev = np.zeros_like(total)
    for k in range(1, steps + 1):
        t = horizon * k / steps
        cum = expected_purchases(bg, t, x, t_x, T)
        total += (cum - prev) / (1 + annual_discount_rate) ** (t / unit_per_year)
        prev = cum
    return total
