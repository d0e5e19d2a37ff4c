"""Difference of mean latency (Welch t on interval-clustered variances) and the design effect."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from stinger.core.stats.comparison import Comparison, _check_level, _favour, _row
from stinger.core.stats.intervals import _PER_REQUEST_CAVEAT, Hist, _as_intervals, _merge, _use_blocks


def _cluster_sums(intervals: list[Hist]) -> tuple[np.ndarray, np.ndarray]:
    n = np.array([c.sum() for _, c in intervals], dtype=np.float64)
    s = np.array([np.dot(v.astype(np.float64), c) for v, c in intervals]) / 1000.0
    return n, s


def _mean_var(intervals: list[Hist], by_interval: bool) -> tuple[float, float, float, int]:
    """Mean (ms), variance of the mean, degrees of freedom, n requests."""
    n_k, s_k = _cluster_sums(intervals)
    n = n_k.sum()
    mean = s_k.sum() / n
    if by_interval:
        # Cluster-robust (ratio-estimator) variance: intervals are the
        # independent units; K/(K-1) is the usual small-sample correction.
        k = len(intervals)
        var = k / (k - 1) * np.sum((s_k - n_k * mean) ** 2) / n**2
        return mean, var, k - 1, int(n)
    v, c = _merge(intervals)
    dev = v / 1000.0 - mean
    var = np.dot(dev * dev, c) / max(n - 1, 1) / n
    return mean, var, max(int(n) - 1, 1), int(n)


def mean_diff(a_intervals, b_intervals, *, level: float = 0.95, block: str = "auto") -> Comparison:
    """Difference B - A of mean latency (ms): Welch t with interval-clustered variances.

    The analytic counterpart of `quantile_diff` for the mean, and the test that
    `plan_sample_size(metric="mean")` plans for.
    """
    _check_level(level)
    a_iv, b_iv = _as_intervals(a_intervals, "a"), _as_intervals(b_intervals, "b")
    by_interval = _use_blocks(block, len(a_iv), len(b_iv))
    ma, va, dfa, na = _mean_var(a_iv, by_interval)
    mb, vb, dfb, nb = _mean_var(b_iv, by_interval)
    diff, se = mb - ma, math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / dfa + vb**2 / dfb) if va + vb > 0 else float(dfa + dfb)
    if se > 0:
        p = 2.0 * sps.t.sf(abs(diff) / se, df)
        half = sps.t.ppf(0.5 + level / 2.0, df) * se
    else:
        p, half = (1.0 if diff == 0 else 0.0), 0.0
    if by_interval:
        method = (f"Welch t on interval-clustered variances ({len(a_iv)} + {len(b_iv)} one-second intervals; "
                  f"requests correlated in time)")
    else:
        method = f"Welch t over requests (only {min(len(a_iv), len(b_iv))} intervals: {_PER_REQUEST_CAVEAT})"
    return _row("latency mean (ms)", ma, mb, diff, diff - half, diff + half, p, method, kind="latency",
                unit="ms", favours=_favour(diff, True), n_a=na, n_b=nb, level=level)


def design_effect(intervals) -> float:
    """Variance inflation of the mean latency from correlation within intervals.

    Ratio of the interval-clustered variance of the mean to the independent-
    requests variance (1 = no correlation). Feed a baseline run's value to
    `plan_sample_size(design_effect=...)`.
    """
    iv = _as_intervals(intervals, "intervals")
    if len(iv) < 2:
        raise ValueError("design_effect needs >= 2 intervals")
    _, v_cluster, _, _ = _mean_var(iv, True)
    _, v_iid, _, _ = _mean_var(iv, False)
    return float(v_cluster / v_iid) if v_iid > 0 else 1.0
