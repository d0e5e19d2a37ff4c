"""Mann-Whitney on weighted latency histograms: P(B faster), clustered by interval when it can be."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from stinger.core.stats.comparison import Comparison, _check_level, _row
from stinger.core.stats.intervals import _PER_REQUEST_CAVEAT, Hist, _as_intervals, _merge, _quantiles, _use_blocks


def superiority(a, b) -> float:
    """P(B < A) + 0.5 P(B = A) of two histograms (or lists of interval histograms): the
    probability of superiority `mann_whitney` estimates, without its test."""
    ga, ca = _merge(_as_intervals(a, "a"))
    gb, cb = _merge(_as_intervals(b, "b"))
    grid = np.union1d(ga, gb)
    ta, tb = np.zeros(grid.size), np.zeros(grid.size)
    ta[np.searchsorted(grid, ga)] = ca
    tb[np.searchsorted(grid, gb)] = cb
    return float(np.dot(ta, np.cumsum(tb) - tb + 0.5 * tb) / (ta.sum() * tb.sum()))


def mann_whitney(a, b, *, level: float = 0.95, block: str = "auto", joint: bool = False,
                 metric: str = "latency", kind: str = "latency", scale: float = 1000.0) -> Comparison:
    """Mann-Whitney U on weighted (value, count) latency data, no expansion to raw arrays
    (``metric``/``kind``/``scale``: another catalogue metric's label, name and stored unit per shown one).

    ``a``/``b``: one histogram ``(values, counts)`` or a list of interval
    histograms. ``diff`` is the probability of superiority
    P(B < A) + 0.5 P(B = A) (0.5 = no difference; > 0.5 means B tends to be
    faster), *not* b - a; ``a``/``b`` are the medians in ms, for reading.

    With enough intervals per variant the test uses Obuchowski's clustered
    variance of the AUC-type estimator (placement values summed per interval),
    valid when requests are correlated in time; otherwise the classic tie-
    corrected normal approximation with continuity correction (identical to
    ``scipy.stats.mannwhitneyu(..., method="asymptotic")`` on expanded data) and
    a DeLong CI, both of which assume independent requests.

    ``joint=True`` (A's and B's intervals are the same seconds, aligned by
    position, as in split and paired runs): each second is one cluster holding
    both variants' requests, so the variance is the clustered variance of the
    per-second sums of both variants' centred placements. A slow second raises
    A's placements and lowers B's, and the two cancel instead of adding up.
    """
    _check_level(level)
    a_iv, b_iv = _as_intervals(a, "a"), _as_intervals(b, "b")
    by_interval = _use_blocks(block, len(a_iv), len(b_iv))
    ga, ca = _merge(a_iv)
    gb, cb = _merge(b_iv)
    na, nb = float(ca.sum()), float(cb.sum())
    grid = np.union1d(ga, gb)
    ta = np.zeros(grid.size)
    tb = np.zeros(grid.size)
    ta[np.searchsorted(grid, ga)] = ca
    tb[np.searchsorted(grid, gb)] = cb
    a_below, b_below = np.cumsum(ta) - ta, np.cumsum(tb) - tb
    # Placement of each value among the other variant, ties counting one half.
    place_in_b = (b_below + 0.5 * tb) / nb          # for an A request: P(B < v) + .5 P(B = v)
    place_in_a = (na - a_below - ta + 0.5 * ta) / na  # for a B request: P(A > w) + .5 P(A = w)
    u_a = float(np.dot(ta, b_below + 0.5 * tb))     # #(a > b) + .5 #ties == scipy's U for x=a
    ps = u_a / (na * nb)

    if joint and len(a_iv) != len(b_iv):
        raise ValueError(f"joint=True needs A and B aligned on the same seconds, got {len(a_iv)} and {len(b_iv)}")
    if by_interval and joint:
        da = _centred_sums(a_iv, grid, place_in_b, ps) / na
        db = _centred_sums(b_iv, grid, place_in_a, ps) / nb
        k = len(a_iv)
        var = float(k / (k - 1) * np.sum((da + db) ** 2))
        se = math.sqrt(var)
        dist = sps.t(k - 1)
        p = 2.0 * dist.sf(abs(ps - 0.5) / se) if se > 0 else (1.0 if ps == 0.5 else 0.0)
        method = (f"Mann-Whitney, diff = P(B<A) + 0.5 P(B=A) (0.5 = no difference); clustered variance over "
                  f"{k} one-second intervals shared by both variants (Obuchowski, seconds as clusters)")
    elif by_interval:
        va = _clustered_var(a_iv, grid, place_in_b, ps)
        vb = _clustered_var(b_iv, grid, place_in_a, ps)
        se = math.sqrt(va + vb)
        # t with Welch-Satterthwaite df over intervals, not z: with tens of
        # clusters the variance estimate is itself noisy (as in `mean_diff`).
        df = (va + vb) ** 2 / (va**2 / (len(a_iv) - 1) + vb**2 / (len(b_iv) - 1)) if se > 0 else 1.0
        dist = sps.t(df)
        p = 2.0 * dist.sf(abs(ps - 0.5) / se) if se > 0 else (1.0 if ps == 0.5 else 0.0)
        method = (f"Mann-Whitney, diff = P(B<A) + 0.5 P(B=A) (0.5 = no difference); clustered variance over "
                  f"{len(a_iv)} + {len(b_iv)} one-second intervals (Obuchowski; requests correlated in time)")
    else:
        n = na + nb
        t = ta + tb
        tie_term = float(np.sum(t**3 - t)) / (n * (n - 1)) if n > 1 else 0.0
        sigma = math.sqrt(na * nb / 12.0 * ((n + 1) - tie_term))
        z = (abs(u_a - na * nb / 2.0) - 0.5) / sigma if sigma > 0 else 0.0
        p = min(1.0, 2.0 * sps.norm.sf(z)) if sigma > 0 else 1.0
        # DeLong: variance of the placement values in each sample.
        va = np.dot(ta, (place_in_b - ps) ** 2) / max(na - 1, 1) / na
        vb = np.dot(tb, (place_in_a - ps) ** 2) / max(nb - 1, 1) / nb
        se = math.sqrt(va + vb)
        dist = sps.norm()
        method = (f"Mann-Whitney U, tie-corrected normal approximation, diff = P(B<A) + 0.5 P(B=A) "
                  f"(0.5 = no difference), DeLong CI; {_PER_REQUEST_CAVEAT}")
    half = dist.ppf(0.5 + level / 2.0) * se
    med_a = _quantiles(ga, ca[None, :], np.array([0.5]))[0, 0] / scale
    med_b = _quantiles(gb, cb[None, :], np.array([0.5]))[0, 0] / scale
    favours = None if ps == 0.5 else ("b" if ps > 0.5 else "a")
    return _row(f"{metric} P(B faster) (Mann-Whitney)", med_a, med_b, ps, max(0.0, ps - half),
                min(1.0, ps + half), p, method, kind=f"{kind}_rank", unit="", favours=favours,
                n_a=int(na), n_b=int(nb), level=level)


def _centred_sums(intervals: list[Hist], grid: np.ndarray, placement: np.ndarray, ps: float) -> np.ndarray:
    """Per interval k: V_k - n_k ps, V_k the sum of the placements of its requests."""
    n_k = np.array([c.sum() for _, c in intervals], dtype=np.float64)
    v_k = np.array([np.dot(placement[np.searchsorted(grid, v)], c) if v.size else 0.0 for v, c in intervals])
    return v_k - n_k * ps


def _clustered_var(intervals: list[Hist], grid: np.ndarray, placement: np.ndarray, ps: float) -> float:
    """Obuchowski (1997): K/(K-1) sum_k (V_k - n_k ps)^2 / N^2, V_k = sum of placements in interval k."""
    n_k = np.array([c.sum() for _, c in intervals], dtype=np.float64)
    v_k = np.array([np.dot(placement[np.searchsorted(grid, v)], c) for v, c in intervals])
    k, n = len(intervals), n_k.sum()
    return float(k / (k - 1) * np.sum((v_k - n_k * ps) ** 2) / n**2)
