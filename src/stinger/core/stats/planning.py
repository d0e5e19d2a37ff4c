"""Sizing an A/B test before it runs: requests per variant for a given effect, and the seconds that takes."""

from __future__ import annotations

import math

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
