"""Comparing what two models predicted: agreement on the same payloads, and regression error (MAE/RMSE)."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from stinger.core.stats.comparison import Comparison, _check_level, _favour, _row


def agreement(a_pred: np.ndarray, b_pred: np.ndarray) -> float:
    """Fraction of payloads on which A and B predicted the same (paired mode).

    Rows of 2-D predictions agree when every element does. NaN when empty.
    """
    a, b = np.asarray(a_pred), np.asarray(b_pred)
    if a.shape != b.shape:
        raise ValueError(f"predictions must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return float("nan")
    same = a == b
    if same.ndim > 1:
        same = same.reshape(same.shape[0], -1).all(axis=1)
    return float(np.mean(same))


def regression_error_diff(a_err: np.ndarray, b_err: np.ndarray, *, paired: bool, metric: str = "mae",
                          level: float = 0.95) -> Comparison:
    """MAE or RMSE of A and B from per-payload errors (prediction - truth); lower is better.

    MAE: paired t on |e_B| - |e_A| (paired) or Welch t. RMSE: z-test with a
    delta-method standard error on sqrt(mean e^2) (with the A/B covariance when
    paired). Payloads, unlike latencies, are distinct inputs: treated as independent.
    """
    _check_level(level)
    ea, eb = np.asarray(a_err, dtype=np.float64).ravel(), np.asarray(b_err, dtype=np.float64).ravel()
    if paired and ea.shape != eb.shape:
        raise ValueError(f"paired errors must have equal length, got {ea.size} and {eb.size}")
    if min(ea.size, eb.size) < 2:
        raise ValueError("need at least 2 errors per variant")
    if metric == "mae":
        xa, xb = np.abs(ea), np.abs(eb)
        va_, vb_ = xa.mean(), xb.mean()
        diff = vb_ - va_
        if paired:
            d = xb - xa
            se, df = d.std(ddof=1) / math.sqrt(d.size), float(d.size - 1)
            how = "paired t on |error| differences"
        else:
            sa, sb = xa.var(ddof=1) / xa.size, xb.var(ddof=1) / xb.size
            se = math.sqrt(sa + sb)
            df = (sa + sb) ** 2 / (sa**2 / (xa.size - 1) + sb**2 / (xb.size - 1)) if sa + sb > 0 else 1.0
            how = "Welch t on |error|"
        dist = sps.t(df)
    elif metric == "rmse":
        qa, qb = ea**2, eb**2
        ma, mb = qa.mean(), qb.mean()
        va_, vb_ = math.sqrt(ma), math.sqrt(mb)
        diff = vb_ - va_
        ga, gb = (-0.5 / va_ if va_ > 0 else 0.0), (0.5 / vb_ if vb_ > 0 else 0.0)
        var = ga**2 * qa.var(ddof=1) / qa.size + gb**2 * qb.var(ddof=1) / qb.size
        if paired:
            var += 2 * ga * gb * np.cov(qa, qb)[0, 1] / qa.size
        se = math.sqrt(max(var, 0.0))
        dist = sps.norm()
        how = "z-test, delta-method SE of RMSE" + (" (paired)" if paired else "")
    else:
        raise ValueError(f"metric must be 'mae' or 'rmse', got {metric!r}")
    if se > 0:
        p = 2.0 * dist.sf(abs(diff) / se)
        half = dist.ppf(0.5 + level / 2.0) * se
    else:
        p, half = (1.0 if diff == 0 else 0.0), 0.0
    return _row(metric.upper(), va_, vb_, diff, diff - half, diff + half, p, how, kind="regression_error",
                unit="", favours=_favour(diff, True), n_a=ea.size, n_b=eb.size, level=level)
