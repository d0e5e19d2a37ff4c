"""Sizing an A/B test before it runs: requests per variant for a given effect, and the seconds that takes.

`plan_latency_seconds` plans for the tests the verdict runs (quantiles by joint
block bootstrap, Mann-Whitney, Holm over the verdict's rows), by simulation from
a baseline run's one-second intervals; `plan_sample_size` is the closed-form
formula (a t-test on the mean, two proportions) a caller passes Holm's
``alpha / m`` to.

The simulated effect is a shift of the whole distribution, or of its tail only
(``at=0.95``: every value at or above the baseline's p95 moves, the median does
not). Only the quantile rows can see a tail-only shift (Mann-Whitney hardly moves),
so a plan for it must size those rows: a whole-distribution plan promised 10 s for
a p95/p99 +28 ms regression that the verdict caught in 1 of 3 runs of 10 s. The
simulation runs the verdict's own functions, with the same p-value resolution
(`quantiles._z_of`: no floor from the resample count), so the plan and the test
agree on what a duration can resolve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps


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
    return math.ceil(n * max(1.0, design_effect) - 1e-9)


def plan_duration(n_per_variant: int, rate_per_variant: float) -> float:
    """Seconds of load needed to collect ``n_per_variant`` requests at ``rate_per_variant`` req/s."""
    if rate_per_variant <= 0 or n_per_variant < 0:
        raise ValueError(f"need rate > 0 and n >= 0, got {rate_per_variant} and {n_per_variant}")
    return n_per_variant / rate_per_variant


# ------------------------------------------------------------------ planning by simulation
#: The verdict's rows for latency and errors: p50, p95, p99, Mann-Whitney, error rate.
VERDICT_ROWS = 5


@dataclass(frozen=True)
class LatencyPlan:
    """The outcome of `plan_latency_seconds`: seconds per variant and the power simulated there."""

    seconds: int                   # one-second intervals per variant
    requests: int                  # expected requests per variant in that time
    power: float                   # simulated power at `seconds`
    sims: int                      # simulations behind `power`
    reached: bool                  # False: even `max_seconds` fell short of the asked power
    curve: tuple[tuple[int, float], ...]  # (seconds, simulated power) evaluated on the way


def _thin(intervals: list, share: float, rng) -> list:
    if share >= 1.0:
        return intervals
    return [(v, rng.binomial(c, share)) for v, c in intervals]


def _tail_start(intervals: list, at: float) -> int:
    """The baseline's ``at`` quantile (stored unit): a tail-only shift moves the values from there up."""
    from stinger.core.stats.intervals import _merge, _quantiles

    grid, counts = _merge(intervals)
    return int(_quantiles(grid, counts[None, :], np.array([at]))[0, 0])


def simulate_power(intervals, effect_ms: float, seconds: int, *, alpha: float = 0.05, share: float = 1.0,
                   error_rate: float = 0.0, m: int = VERDICT_ROWS, sims: int = 60, n_boot: int = 400,
                   rng=None, at: float | None = None, qs: tuple[float, ...] = (0.5, 0.95, 0.99),
                   rank: bool = True, scale: float = 1000.0) -> float:
    """Share of simulated A/B runs of ``seconds`` one-second intervals per variant in which the verdict's
    own latency tests call B (shifted by ``effect_ms``) slower, after Holm over ``m`` rows.

    ``at``: a tail-only shift (every value at or above the baseline's ``at`` quantile moves by the
    effect; None: every value). ``qs``/``rank``/``scale``: the rows of the metric planned for (latency's
    by default; a catalogue metric's `compare` and `rank`, and its stored unit per shown one).

    Each simulated run draws A's and B's seconds independently from the baseline
    run's ``intervals`` (one-second HDR histograms, thinned to ``share`` of their
    requests when the A/B test runs at a lower rate), adds the effect to B, and
    runs what the verdict runs: p50/p95/p99 by joint block bootstrap and
    Mann-Whitney with seconds as clusters, plus the error-rate row (Fisher, both
    at the baseline's ``error_rate``); ``m`` counts the rows Holm adjusts over.
    Drawing A and B from different seconds ignores the slowness a real split run's
    variants share, which the joint tests cancel: the estimate errs low
    (the plan long), never high.
    """
    from stinger.core.stats.multiplicity import holm
    from stinger.core.stats.quantiles import quantile_diffs
    from stinger.core.stats.ranks import mann_whitney

    rng = np.random.default_rng(rng)
    base = [(np.asarray(v, dtype=np.int64), np.asarray(c, dtype=np.int64)) for v, c in intervals]
    base = [(v, c) for v, c in base if c.sum() > 0]
    if len(base) < 2:
        raise ValueError("simulate_power needs >= 2 non-empty baseline intervals")
    shift = round(effect_ms * scale)
    start = 0 if at is None else _tail_start(base, at)
    hits = 0
    for _ in range(sims):
        a = _thin([base[i] for i in rng.integers(0, len(base), seconds)], share, rng)
        b = [(v + shift * (v >= start), c)
             for v, c in _thin([base[i] for i in rng.integers(0, len(base), seconds)], share, rng)]
        if sum(int(c.sum()) for _, c in a) == 0 or sum(int(c.sum()) for _, c in b) == 0:
            continue
        rows = quantile_diffs(a, b, qs, n_boot=n_boot, seed=int(rng.integers(1 << 31)), joint=True, scale=scale)
        if rank:
            rows.append(mann_whitney(a, b, joint=True, scale=scale))
        ps: list[float | None] = [r.p_value for r in rows]
        na, nb = sum(int(c.sum()) for _, c in a), sum(int(c.sum()) for _, c in b)
        ea, eb = rng.binomial(na, error_rate), rng.binomial(nb, error_rate)
        ps.append(float(sps.fisher_exact([[ea, na - ea], [eb, nb - eb]])[1]))
        ps += [1.0] * max(0, m - len(ps))   # further rows (accuracy): counted by Holm, no effect
        adjusted = holm(ps)
        if any(p is not None and p < alpha and r.favours == "a" for r, p in zip(rows, adjusted, strict=False)):
            hits += 1
    return hits / sims


def plan_latency_seconds(intervals, effect_ms: float, *, alpha: float = 0.05, power: float = 0.8,
                         share: float = 1.0, error_rate: float = 0.0, m: int = VERDICT_ROWS, sims: int = 60,
                         n_boot: int = 400, min_seconds: int = 10, max_seconds: int = 3600,
                         seed: int | None = 0, at: float | None = None, qs: tuple[float, ...] = (0.5, 0.95, 0.99),
                         rank: bool = True, scale: float = 1000.0) -> LatencyPlan:
    """The fewest one-second intervals per variant (never below ``min_seconds``, the verdict's own
    minimum for interval methods) at which `simulate_power` reaches ``power`` (``at``, ``qs``,
    ``rank``, ``scale``: as there).

    Doubles from ``min_seconds`` until the power is reached, then bisects between
    the last two sizes (a few steps: the simulated power is itself an estimate,
    to within about ±0.06 at 60 simulations).
    """
    if not effect_ms > 0:
        raise ValueError(f"effect_ms must be > 0, got {effect_ms}")
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power}")
    rng = np.random.default_rng(seed)
    per_second = float(np.mean([np.sum(c) for _, c in intervals])) * min(share, 1.0)
    curve: dict[int, float] = {}

    def power_at(k: int) -> float:
        if k not in curve:
            curve[k] = simulate_power(intervals, effect_ms, k, alpha=alpha, share=share, error_rate=error_rate,
                                      m=m, sims=sims, n_boot=n_boot, rng=rng, at=at, qs=qs, rank=rank,
                                      scale=scale)
        return curve[k]

    lo, hi = 0, max(2, int(min_seconds))
    while power_at(hi) < power:
        if hi >= max_seconds:
            return LatencyPlan(hi, round(hi * per_second), curve[hi], sims, False, tuple(sorted(curve.items())))
        lo, hi = hi, min(2 * hi, max_seconds)
    lo = max(lo, int(min_seconds) - 1)
    while hi - lo > max(1, hi // 8):
        mid = (lo + hi) // 2
        if power_at(mid) >= power:
            hi = mid
        else:
            lo = mid
    return LatencyPlan(hi, round(hi * per_second), curve[hi], sims, True, tuple(sorted(curve.items())))
