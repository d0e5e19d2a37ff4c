"""A/B statistics: per-metric comparisons of two variants, planning, sequential tests.

This module owns the numbers behind an A/B verdict: each public comparison
returns one `Comparison` (a row of the verdict table) with both variants' values,
the difference B - A, a confidence interval, a p-value and the method used.
`stinger.core.verdict` turns a list of rows into the multi-metric decision.

Latency arrives as HDR histograms, one per 1-second interval, each a sparse
pair ``(values, counts)`` of int64 microseconds and counts (as
`Histogram.values_counts` gives). Requests close in time are correlated (a queue
builds up, a GC pause hits everyone in flight), so the unit of independent
information is the interval, not the request: every latency method resamples or
clusters by interval when each variant has at least `MIN_INTERVALS` intervals,
and otherwise falls back to per-request methods and says so in `method`.
``tests/core/test_stats.py`` shows the per-request bootstrap over-rejecting on
such data, which is why it is not the default.

Conventions: ``diff = b - a``; latencies in ms; proportions (error rate,
accuracy) in percent, so differences are percentage points; ``favours`` is the
variant the point estimate favours, ``better`` the one it favours *significantly*.

Pure numpy/scipy: no asyncio, no I/O.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy import stats as sps

__all__ = [
    "MIN_INTERVALS",
    "Comparison",
    "SequentialTest",
    "accuracy_paired",
    "accuracy_unpaired",
    "agreement",
    "design_effect",
    "error_rate_diff",
    "holm",
    "mann_whitney",
    "mean_diff",
    "plan_duration",
    "plan_sample_size",
    "quantile_diff",
    "quantile_diffs",
    "regression_error_diff",
    "throughput_diff",
]

Hist = tuple[np.ndarray, np.ndarray]

#: Fewer intervals than this per variant and the interval-level methods have too
#: few clusters for a stable variance; fall back to per-request methods.
MIN_INTERVALS = 10

_PER_REQUEST_CAVEAT = "assumes independent requests, so the CI may be too narrow"


@dataclass(frozen=True, slots=True)
class Comparison:
    """One row of the verdict table.

    ``significant``/``better`` are per-row (family of one) when a function
    returns; `stinger.core.verdict.verdict` recomputes them after Holm.
    """

    metric: str
    a: float
    b: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float | None
    p_adjusted: float | None
    significant: bool
    better: str | None
    method: str
    kind: str = "other"  # latency | latency_rank | error_rate | accuracy | throughput | regression_error
    unit: str = ""
    favours: str | None = None  # "a" | "b" | None: which the point estimate favours
    n_a: int | None = None
    n_b: int | None = None
    level: float = 0.95

    def to_dict(self) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = float(v) if isinstance(v, np.floating) else int(v) if isinstance(v, np.integer) else v
        return out


def _row(metric, a, b, diff, lo, hi, p, method, *, kind, unit, favours, n_a, n_b, level, significant=None):
    p = None if p is None or not math.isfinite(p) else float(min(max(p, 0.0), 1.0))
    if significant is None:
        significant = p is not None and p < 1.0 - level
    return Comparison(
        metric=metric, a=float(a), b=float(b), diff=float(diff), ci_low=float(lo), ci_high=float(hi),
        p_value=p, p_adjusted=p, significant=bool(significant),
        better=favours if significant else None, method=method, kind=kind, unit=unit,
        favours=favours, n_a=None if n_a is None else int(n_a), n_b=None if n_b is None else int(n_b),
        level=float(level),
    )


def _favour(diff: float, lower_is_better: bool) -> str | None:
    if not math.isfinite(diff) or diff == 0:
        return None
    return ("b" if diff < 0 else "a") if lower_is_better else ("b" if diff > 0 else "a")


def _check_level(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return level


# --------------------------------------------------------------------------- histograms

def _is_hist(x) -> bool:
    return (isinstance(x, tuple) and len(x) == 2
            and all(isinstance(e, np.ndarray) and e.ndim == 1 for e in x))


def _as_intervals(x, name: str) -> list[Hist]:
    """A histogram or a sequence of interval histograms -> list of (int64, int64) pairs."""
    raw = [x] if _is_hist(x) else list(x)
    out = []
    for i, h in enumerate(raw):
        v, c = (np.asarray(h[0], dtype=np.int64), np.asarray(h[1], dtype=np.int64))
        if v.shape != c.shape or v.ndim != 1:
            raise ValueError(f"{name}[{i}]: values and counts must be 1-D of equal length, got {v.shape} and {c.shape}")
        if np.any(c < 0):
            raise ValueError(f"{name}[{i}]: counts must be >= 0")
        out.append((v, c))
    if sum(int(c.sum()) for _, c in out) == 0:
        raise ValueError(f"{name}: no requests recorded")
    return out


def _merge(intervals: list[Hist]) -> Hist:
    values = np.concatenate([v for v, _ in intervals])
    counts = np.concatenate([c for _, c in intervals])
    grid, inverse = np.unique(values, return_inverse=True)
    return grid, np.bincount(inverse, weights=counts, minlength=grid.size).astype(np.int64)


def _count_matrix(intervals: list[Hist]) -> tuple[np.ndarray, sparse.csr_matrix]:
    """Grid of distinct values and a sparse (interval x value) count matrix.

    Sparse because a one-hour run has 3,600 intervals and thousands of distinct
    bucket values, while each interval touches only a few hundred of them.
    """
    values = np.concatenate([v for v, _ in intervals])
    counts = np.concatenate([c for _, c in intervals]).astype(np.float64)
    rows = np.repeat(np.arange(len(intervals)), [v.size for v, _ in intervals])
    grid, cols = np.unique(values, return_inverse=True)
    matrix = sparse.csr_matrix((counts, (rows, cols)), shape=(len(intervals), grid.size))
    return grid, matrix


def _ranks(q: np.ndarray, totals: np.ndarray) -> np.ndarray:
    # HdrHistogram's rank rule (as core/histogram.py): the first value whose
    # cumulative count reaches max(1, ceil(q * total)); q is stepped down one ulp
    # so that 0.999 * 1000 does not round up past rank 999.
    lowered = np.nextafter(np.asarray(q, dtype=np.float64), -np.inf)
    return np.maximum(np.ceil(np.multiply.outer(totals, lowered)), 1.0)


def _quantiles(grid: np.ndarray, counts: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """Quantiles of each row of a dense (replicates x grid) count matrix -> (replicates, len(qs))."""
    cumulative = np.cumsum(counts, axis=1)
    ranks = _ranks(qs, cumulative[:, -1])  # (replicates, len(qs))
    idx = np.empty(ranks.shape, dtype=np.int64)
    for j in range(ranks.shape[1]):
        idx[:, j] = (cumulative < ranks[:, j:j + 1]).sum(axis=1)
    return grid[np.minimum(idx, grid.size - 1)].astype(np.float64)


def _use_blocks(block: str, k_a: int, k_b: int) -> bool:
    if block == "auto":
        return k_a >= MIN_INTERVALS and k_b >= MIN_INTERVALS
    if block == "interval":
        if min(k_a, k_b) < 2:
            raise ValueError(f"block='interval' needs >= 2 intervals per variant, got {k_a} and {k_b}")
        return True
    if block == "request":
        return False
    raise ValueError(f"block must be 'auto', 'interval' or 'request', got {block!r}")


def _boot_quantiles(intervals, qs, n_boot, rng, by_interval) -> np.ndarray:
    """(n_boot, len(qs)) bootstrap replicates of the quantiles, in ms."""
    if not by_interval:
        return _boot_quantiles_per_request(intervals, qs, n_boot, rng)
    grid, matrix = _count_matrix(intervals)
    k = matrix.shape[0]
    merged = np.asarray(matrix.sum(axis=0)).ravel()
    out = np.empty((n_boot, len(qs)))
    chunk = max(1, min(n_boot, 2_000_000 // max(grid.size, 1)))  # bound the dense block's memory
    for start in range(0, n_boot, chunk):
        m = min(chunk, n_boot - start)
        # Each replicate draws k intervals with replacement; its histogram is
        # the weighted sum of interval rows (weights = times drawn).
        draws = rng.integers(0, k, size=(m, k)) + (np.arange(m) * k)[:, None]
        weights = np.bincount(draws.ravel(), minlength=m * k).reshape(m, k).astype(np.float64)
        counts = np.asarray((matrix.T @ weights.T).T)
        counts[counts.sum(axis=1) == 0, :] = merged  # all drawn intervals empty: keep the sample
        out[start:start + m] = _quantiles(grid, counts, qs)
    return out / 1000.0


def _boot_quantiles_per_request(intervals, qs, n_boot, rng) -> np.ndarray:
    """Per-request bootstrap of quantiles, drawn exactly without resampling N requests.

    The r-th order statistic of N draws from the empirical distribution F is
    F^-1(U) with U the r-th order statistic of N uniforms, U ~ Beta(r, N - r + 1).
    So the bootstrap distribution of each quantile costs n_boot Beta draws and a
    search, whatever N is (1e6 requests included).
    """
    grid, counts = _merge(intervals)
    cumulative = np.cumsum(counts)
    total = int(cumulative[-1])
    out = np.empty((n_boot, len(qs)))
    for j, rank in enumerate(_ranks(qs, np.array([float(total)]))[0]):
        u = rng.beta(rank, total - rank + 1, size=n_boot)
        idx = np.searchsorted(cumulative, u * total, side="left")
        out[:, j] = grid[np.minimum(idx, grid.size - 1)]
    return out / 1000.0


def quantile_diffs(a_intervals, b_intervals, qs: Sequence[float], *, n_boot: int = 2000,
                   level: float = 0.95, seed: int | None = 0, block: str = "auto") -> list[Comparison]:
    """`quantile_diff` for several quantiles from the same bootstrap resamples."""
    _check_level(level)
    qs_arr = np.asarray(list(qs), dtype=np.float64)
    if qs_arr.size == 0 or np.any((qs_arr <= 0) | (qs_arr >= 1)):
        raise ValueError(f"quantiles must be in (0, 1), got {list(qs)}")
    if n_boot < 100:
        raise ValueError(f"n_boot must be >= 100, got {n_boot}")
    a_iv, b_iv = _as_intervals(a_intervals, "a"), _as_intervals(b_intervals, "b")
    by_interval = _use_blocks(block, len(a_iv), len(b_iv))
    rng = np.random.default_rng(seed)
    ga, ca = _merge(a_iv)
    gb, cb = _merge(b_iv)
    point_a = _quantiles(ga, ca[None, :], qs_arr)[0] / 1000.0
    point_b = _quantiles(gb, cb[None, :], qs_arr)[0] / 1000.0
    # Variants are resampled independently. When A and B ran side by side and
    # share slow seconds, their intervals are positively correlated and this
    # overstates the variance of the difference: conservative, never optimistic.
    boot = (_boot_quantiles(b_iv, qs_arr, n_boot, rng, by_interval)
            - _boot_quantiles(a_iv, qs_arr, n_boot, rng, by_interval))
    if by_interval:
        method = (f"block bootstrap over {len(a_iv)} + {len(b_iv)} one-second intervals "
                  f"(requests correlated in time), expanded percentile CI, {n_boot} resamples")
    else:
        method = (f"per-request bootstrap, percentile CI, {n_boot} resamples (only {min(len(a_iv), len(b_iv))} "
                  f"intervals: {_PER_REQUEST_CAVEAT})")
    # Hesterberg's expanded percentile interval: the plain percentile interval
    # behaves like a z interval with a variance biased by (K-1)/K, so with few
    # clusters it is too narrow (A/A rejection ~0.08 at 10 intervals, measured).
    # Use the percentiles a t interval with the unbiased variance would need.
    if by_interval:
        k_min = min(len(a_iv), len(b_iv))
        stretch, df = math.sqrt(k_min / (k_min - 1)), len(a_iv) + len(b_iv) - 2
    else:
        stretch, df = 1.0, math.inf
    t_dist = sps.t(df) if math.isfinite(df) else sps.norm()
    tail = float(sps.norm.cdf(-stretch * t_dist.isf((1.0 - level) / 2.0)))
    rows = []
    for j, q in enumerate(qs_arr):
        d = boot[:, j]
        lo, hi = np.quantile(d, [tail, 1.0 - tail])
        # p-value: invert the (expanded) percentile interval, i.e. the smallest
        # 1 - level whose interval excludes 0, from the tail share
        # min(P*(d <= 0), P*(d >= 0)) (+1 smoothing so p is never 0); without
        # expansion this is 2 x that share. Chosen over a permutation test over
        # intervals because (1) permuting labels tests "A and B have the same
        # interval distribution", which a difference in spread or shape rejects
        # even when the p95s are equal, so it would not test this row's claim;
        # (2) the inversion keeps p and CI in agreement (p < 1 - level exactly
        # when the CI excludes 0, up to resampling noise), so the table never
        # shows a CI excluding 0 beside a large p; (3) it reuses the resamples.
        # Ties (d == 0, common with discrete buckets) count in both tails: conservative.
        below, above = int(np.sum(d <= 0)), int(np.sum(d >= 0))
        share = (min(below, above) + 1) / (n_boot + 1)
        p = min(1.0, 2.0 * float(t_dist.sf(sps.norm.isf(share) / stretch)))
        diff = point_b[j] - point_a[j]
        rows.append(_row(f"latency {_q_label(q)} (ms)", point_a[j], point_b[j], diff, lo, hi, p, method,
                         kind="latency", unit="ms", favours=_favour(diff, True),
                         n_a=int(ca.sum()), n_b=int(cb.sum()), level=level))
    return rows


def quantile_diff(a_intervals, b_intervals, q: float, *, n_boot: int = 2000, level: float = 0.95,
                  seed: int | None = 0, block: str = "auto") -> Comparison:
    """Difference B - A of the q-quantile of latency (ms), bootstrap CI and p-value.

    ``block``: "auto" resamples whole intervals when both variants have at least
    `MIN_INTERVALS` intervals, else single requests; "interval"/"request" force one.
    """
    return quantile_diffs(a_intervals, b_intervals, [q], n_boot=n_boot, level=level, seed=seed, block=block)[0]


def _q_label(q: float) -> str:
    return f"p{q * 100.0:g}"


# --------------------------------------------------------------------------- means

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


# --------------------------------------------------------------------------- Mann-Whitney

def mann_whitney(a, b, *, level: float = 0.95, block: str = "auto") -> Comparison:
    """Mann-Whitney U on weighted (value, count) latency data, no expansion to raw arrays.

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

    if by_interval:
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
    med_a = _quantiles(ga, ca[None, :], np.array([0.5]))[0, 0] / 1000.0
    med_b = _quantiles(gb, cb[None, :], np.array([0.5]))[0, 0] / 1000.0
    favours = None if ps == 0.5 else ("b" if ps > 0.5 else "a")
    return _row("latency P(B faster) (Mann-Whitney)", med_a, med_b, ps, max(0.0, ps - half),
                min(1.0, ps + half), p, method, kind="latency_rank", unit="", favours=favours,
                n_a=int(na), n_b=int(nb), level=level)


def _clustered_var(intervals: list[Hist], grid: np.ndarray, placement: np.ndarray, ps: float) -> float:
    """Obuchowski (1997): K/(K-1) sum_k (V_k - n_k ps)^2 / N^2, V_k = sum of placements in interval k."""
    n_k = np.array([c.sum() for _, c in intervals], dtype=np.float64)
    v_k = np.array([np.dot(placement[np.searchsorted(grid, v)], c) for v, c in intervals])
    k, n = len(intervals), n_k.sum()
    return float(k / (k - 1) * np.sum((v_k - n_k * ps) ** 2) / n**2)


# --------------------------------------------------------------------------- proportions

def _wilson(x: float, n: float, z: float) -> tuple[float, float]:
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _newcombe(xa: int, na: int, xb: int, nb: int, level: float) -> tuple[float, float]:
    """Newcombe's hybrid score interval (his method 10) for p_b - p_a, from Wilson intervals."""
    z = sps.norm.ppf(0.5 + level / 2.0)
    pa, pb = xa / na, xb / nb
    la, ua = _wilson(xa, na, z)
    lb, ub = _wilson(xb, nb, z)
    d = pb - pa
    return d - math.sqrt((pb - lb) ** 2 + (ua - pa) ** 2), d + math.sqrt((ub - pb) ** 2 + (pa - la) ** 2)


def _two_proportions(xa, na, xb, nb, level, metric, kind, lower_is_better) -> Comparison:
    _check_level(level)
    for name, x, n in (("a", xa, na), ("b", xb, nb)):
        if n <= 0 or not 0 <= x <= n:
            raise ValueError(f"{name}: need 0 <= count <= total and total > 0, got {x} of {n}")
    # Fisher's exact test: exact for any n, fast for millions (hypergeometric).
    # Boschloo is more powerful but its nuisance-parameter search costs seconds
    # at load-test sizes; Fisher's conservatism only costs power, never validity.
    _, p = sps.fisher_exact([[xa, na - xa], [xb, nb - xb]])
    lo, hi = _newcombe(xa, na, xb, nb, level)
    pa, pb = xa / na, xb / nb
    diff = pb - pa
    method = ("Fisher exact test; Newcombe (Wilson score) CI for the difference; "
              "requests treated as independent")
    return _row(metric, 100 * pa, 100 * pb, 100 * diff, 100 * lo, 100 * hi, p, method, kind=kind,
                unit="points", favours=_favour(diff, lower_is_better), n_a=na, n_b=nb, level=level)


def error_rate_diff(a_errors: int, a_total: int, b_errors: int, b_total: int, *,
                    level: float = 0.95) -> Comparison:
    """Error rate (%) of A and B, difference in percentage points, Fisher exact p-value."""
    return _two_proportions(a_errors, a_total, b_errors, b_total, level, "error rate (%)", "error_rate", True)


def accuracy_unpaired(a_correct: int, a_total: int, b_correct: int, b_total: int, *,
                      level: float = 0.95) -> Comparison:
    """Accuracy (%) of A and B on different requests (split mode): Fisher exact, Newcombe CI."""
    return _two_proportions(a_correct, a_total, b_correct, b_total, level, "accuracy (%)", "accuracy", False)


def accuracy_paired(a_correct: np.ndarray, b_correct: np.ndarray, *, level: float = 0.95) -> Comparison:
    """Accuracy (%) when both variants answered the same payloads: McNemar exact test.

    Only discordant pairs carry information: under H0 each is equally likely to
    favour A or B, so the count favouring B is Binomial(discordant, 1/2). The CI
    is Agresti & Min's (2005) Wald interval with 1/2 added to every cell, which
    keeps near-nominal coverage where the plain Wald interval collapses.
    """
    _check_level(level)
    a_ok, b_ok = np.asarray(a_correct, dtype=bool), np.asarray(b_correct, dtype=bool)
    if a_ok.shape != b_ok.shape or a_ok.ndim != 1 or a_ok.size == 0:
        raise ValueError(f"paired accuracy needs two equal-length, non-empty 1-D arrays, "
                         f"got {a_ok.shape} and {b_ok.shape}")
    n = a_ok.size
    only_b = int(np.sum(~a_ok & b_ok))
    only_a = int(np.sum(a_ok & ~b_ok))
    discordant = only_a + only_b
    p = 1.0 if discordant == 0 else sps.binomtest(only_b, discordant, 0.5).pvalue
    diff = (only_b - only_a) / n
    n01, n10, nn = only_b + 0.5, only_a + 0.5, n + 2.0
    d_adj = (n01 - n10) / nn
    se = math.sqrt(max((n01 + n10) / nn - d_adj**2, 0.0) / nn)
    half = sps.norm.ppf(0.5 + level / 2.0) * se
    method = f"McNemar exact (binomial on {discordant} discordant pairs); Agresti-Min CI"
    return _row("accuracy (%)", 100 * a_ok.mean(), 100 * b_ok.mean(), 100 * diff,
                100 * max(-1.0, d_adj - half), 100 * min(1.0, d_adj + half), p, method, kind="accuracy",
                unit="points", favours=_favour(diff, False), n_a=n, n_b=n, level=level)


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
            se, df = d.std(ddof=1) / math.sqrt(d.size), d.size - 1
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


# --------------------------------------------------------------------------- throughput

def throughput_diff(a_bracket: tuple[float, float], b_bracket: tuple[float, float]) -> Comparison:
    """Max sustainable throughput from two capacity searches, each a bracket (last pass, first fail).

    The true maximum T lies in [last pass, first fail) (first fail = inf when
    nothing failed), so B - A lies in [b_pass - a_fail, b_fail - a_pass]; ``a``,
    ``b``, ``diff`` use the last passing rates. One capacity search gives no
    sampling distribution, so there is no p-value: B is called better only when
    the brackets do not overlap (b_pass >= a_fail), i.e. B passed a rate at
    which A failed. Noise in a single pass/fail step is not accounted for.
    """
    a_lo, a_hi = (float(x) for x in a_bracket)
    b_lo, b_hi = (float(x) for x in b_bracket)
    for name, lo, hi in (("a", a_lo, a_hi), ("b", b_lo, b_hi)):
        if not (0 <= lo <= hi) or math.isnan(hi):
            raise ValueError(f"{name}_bracket must be (last pass, first fail) with 0 <= pass <= fail, got {(lo, hi)}")
    favours = "b" if b_lo >= a_hi else "a" if a_lo >= b_hi else None
    lean = _favour(b_lo - a_lo, False)
    method = (f"capacity brackets (last pass, first fail): A [{a_lo:g}, {a_hi:g}), B [{b_lo:g}, {b_hi:g}) req/s; "
              "interval of B - A from bracket arithmetic (not a statistical CI); "
              "significant only when the brackets do not overlap")
    return _row("max throughput (req/s)", a_lo, b_lo, b_lo - a_lo, b_lo - a_hi, b_hi - a_lo, None, method,
                kind="throughput", unit="req/s", favours=favours or lean, n_a=None, n_b=None,
                level=0.95, significant=favours is not None)


# --------------------------------------------------------------------------- multiplicity

def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values, in input order; None (and NaN) pass through as None.

    adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)) over the m present p-values
    sorted ascending. Controls the family-wise error rate under any dependence,
    which matters here: p50, p95 and the mean of one run are strongly correlated.
    """
    present = [i for i, p in enumerate(p_values) if p is not None and not math.isnan(p)]
    for i in present:
        if not 0.0 <= p_values[i] <= 1.0:
            raise ValueError(f"p-value {p_values[i]} at position {i} is not in [0, 1]")
    order = sorted(present, key=lambda i: p_values[i])
    out: list[float | None] = [None] * len(p_values)
    running, m = 0.0, len(order)
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(p_values[i])))
        out[i] = running
    return out


# --------------------------------------------------------------------------- planning

def plan_sample_size(*, baseline_sd_ms: float | None = None, baseline_rate: float | None = None,
                     min_effect: float, alpha: float = 0.05, power: float = 0.8, metric: str = "mean",
                     design_effect: float = 1.0) -> int:
    """Requests per variant to detect ``min_effect`` with a two-sided test at ``alpha``.

    metric="mean": two-sample t (z formula refined with t quantiles), effect and
    sd in ms. metric="proportion": baseline rate and effect as fractions; the
    two-proportion formula with Fleiss' continuity correction, matching the
    (conservative) Fisher test used by `error_rate_diff`/`accuracy_unpaired`.
    ``design_effect`` (see `design_effect`) multiplies n for correlated requests.
    """
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha and power must be in (0, 1), got {alpha} and {power}")
    delta = abs(float(min_effect))
    if delta == 0:
        raise ValueError("min_effect must be non-zero")
    if not design_effect > 0:
        raise ValueError(f"design_effect must be > 0, got {design_effect}")
    za, zb = sps.norm.ppf(1 - alpha / 2), sps.norm.ppf(power)
    if metric == "mean":
        if baseline_sd_ms is None or baseline_sd_ms <= 0:
            raise ValueError("metric='mean' needs baseline_sd_ms > 0")
        ratio = (baseline_sd_ms / delta) ** 2
        n = 2 * (za + zb) ** 2 * ratio
        for _ in range(50):  # fixed point with t quantiles (df = 2n - 2); converges in a few steps
            df = max(2 * math.ceil(n) - 2, 1)
            n_new = 2 * (sps.t.ppf(1 - alpha / 2, df) + sps.t.ppf(power, df)) ** 2 * ratio
            if abs(n_new - n) < 1e-6:
                break
            n = n_new
    elif metric == "proportion":
        if baseline_rate is None or not 0 <= baseline_rate <= 1:
            raise ValueError("metric='proportion' needs baseline_rate in [0, 1]")
        p1 = float(baseline_rate)
        # Plan for the alternative towards 0.5 (larger variance): the conservative side.
        p2 = p1 + delta if (p1 < 0.5 and p1 + delta <= 1) or p1 - delta < 0 else p1 - delta
        if not 0 <= p2 <= 1:
            raise ValueError(f"min_effect {delta} is impossible from baseline_rate {p1}")
        pbar = (p1 + p2) / 2
        n = (za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / delta**2
        n = n / 4 * (1 + math.sqrt(1 + 4 / (n * delta))) ** 2
    else:
        raise ValueError(f"metric must be 'mean' or 'proportion', got {metric!r}")
    # An estimated design effect below 1 (negative correlation within a second)
    # is noise, not a licence to plan fewer requests.
    return int(math.ceil(n * max(1.0, design_effect) - 1e-9))


def plan_duration(n_per_variant: int, rate_per_variant: float) -> float:
    """Seconds of load needed to collect ``n_per_variant`` requests at ``rate_per_variant`` req/s."""
    if rate_per_variant <= 0 or n_per_variant < 0:
        raise ValueError(f"need rate > 0 and n >= 0, got {rate_per_variant} and {n_per_variant}")
    return n_per_variant / rate_per_variant


# --------------------------------------------------------------------------- sequential

class _Moments:
    __slots__ = ("n", "mean", "m2")

    def __init__(self) -> None:
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    def add(self, x: np.ndarray) -> None:
        if x.size == 0:
            return
        n, mean = x.size, float(x.mean())
        m2 = float(np.sum((x - mean) ** 2))
        total = self.n + n
        delta = mean - self.mean
        # Chan et al.'s pairwise update: stable for long runs, unlike sum of squares.
        self.m2 += m2 + delta**2 * self.n * n / total
        self.mean += delta * n / total
        self.n = total

    @property
    def var(self) -> float:
        return self.m2 / (self.n - 1) if self.n > 1 else 0.0


class SequentialTest:
    """Always-valid test of B - A for a mean or a proportion: mixture SPRT (Johari et al. 2017/2022).

    Checking a fixed-n p-value after every batch and stopping at the first
    p < alpha inflates false positives far beyond alpha. The mSPRT instead
    compares, at every look, the Gaussian-mixture likelihood ratio
        Lambda_n = sqrt(V / (V + tau^2)) exp(tau^2 theta^2 / (2 V (V + tau^2)))
    (theta = mean_b - mean_a, V its plug-in variance) with 1/alpha. Under H0,
    Lambda_n is a martingale with mean 1, so by Ville's inequality it ever
    exceeds 1/alpha with probability <= alpha however often one looks;
    ``p_value`` = min over looks of 1/Lambda_n is the always-valid p-value.

    ``tau`` is the scale of effects worth detecting, in the metric's units (ms,
    or a fraction for proportions). None: 0.1 x the pooled sd when both arms
    first reach ``min_n`` (the sd carries no information about the difference
    under H0, so this does not spend alpha). No decision before ``min_n`` per
    arm, because the plug-in variance is only trustworthy after that.
    Observations are assumed independent: feed per-request values from a
    well-mixed stream, or per-interval means when requests are correlated.
    """

    def __init__(self, *, alpha: float = 0.05, tau: float | None = None, metric: str = "mean",
                 min_n: int = 100) -> None:
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        if metric not in ("mean", "proportion"):
            raise ValueError(f"metric must be 'mean' or 'proportion', got {metric!r}")
        if tau is not None and tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        self.alpha, self.tau, self.metric, self.min_n = alpha, tau, metric, max(int(min_n), 2)
        self._a, self._b = _Moments(), _Moments()
        self.p_value = 1.0
        self.decision = "continue"
        self._ci = (-math.inf, math.inf)

    @property
    def n_a(self) -> int:
        return self._a.n

    @property
    def n_b(self) -> int:
        return self._b.n

    @property
    def estimate(self) -> float:
        """Current B - A."""
        return self._b.mean - self._a.mean

    @property
    def interval(self) -> tuple[float, float]:
        """Always-valid (1 - alpha) confidence sequence for B - A (running intersection)."""
        return self._ci

    def _var(self, arm: _Moments) -> float:
        if self.metric == "proportion":
            return arm.mean * (1 - arm.mean)
        return arm.var

    def update(self, a_values: np.ndarray, b_values: np.ndarray) -> str:
        """Add a batch of observations for each arm (either may be empty); return the decision."""
        a = np.asarray(a_values, dtype=np.float64).ravel()
        b = np.asarray(b_values, dtype=np.float64).ravel()
        if self.metric == "proportion" and (np.any((a != 0) & (a != 1)) or np.any((b != 0) & (b != 1))):
            raise ValueError("metric='proportion' takes 0/1 (or bool) observations")
        self._a.add(a)
        self._b.add(b)
        if min(self._a.n, self._b.n) < self.min_n:
            return self.decision
        va, vb = self._var(self._a), self._var(self._b)
        v = va / self._a.n + vb / self._b.n
        if v <= 0:
            return self.decision
        if self.tau is None:
            pooled = ((self._a.n - 1) * va + (self._b.n - 1) * vb) / (self._a.n + self._b.n - 2)
            if pooled <= 0:
                return self.decision
            self.tau = 0.1 * math.sqrt(pooled)
        t2 = self.tau**2
        theta = self.estimate
        log_lr = 0.5 * math.log(v / (v + t2)) + t2 * theta**2 / (2 * v * (v + t2))
        self.p_value = min(self.p_value, math.exp(-log_lr)) if log_lr < 700 else 0.0
        half = math.sqrt(v * (v + t2) / t2 * (math.log((v + t2) / v) - 2 * math.log(self.alpha)))
        self._ci = (max(self._ci[0], theta - half), min(self._ci[1], theta + half))
        if self.p_value <= self.alpha:
            self.decision = "different"
        return self.decision
