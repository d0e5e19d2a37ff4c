"""`Comparison`: one row of the verdict table, and the helpers every test uses to build one.

Conventions: ``diff = b - a``; latencies in ms; proportions (error rate, accuracy)
in percent, so differences are percentage points; ``favours`` is the variant the
point estimate favours, ``better`` the one it favours *significantly*.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np


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
    kind: str = "other"  # a catalogue metric's name (latency, ttft, ...) | <name>_rank | error_rate | accuracy
    #                      | throughput | regression_error
    unit: str = ""
    favours: str | None = None  # "a" | "b" | None: which the point estimate favours
    n_a: int | None = None
    n_b: int | None = None
    level: float = 0.95
    # `stinger compare` of two separate runs: a difference counts only beyond +-max(margin, drift)
    # around "no difference" (row units; P units for Mann-Whitney): the practical margin asked for,
    # and what each run differed from itself between its halves (`core.stats.drift`)
    margin: float | None = None
    drift: float | None = None
    within_margin: bool = False   # significant after Holm, but inside that band: not called
    quantile: float | None = None   # a quantile row's q (0.95 for p95): its minimum sample is larger (`min_count`)
    # why no CI and no test were given: too few values in a variant (`too_few`; set by `core.verdict`)
    undecided: str | None = None

    @property
    def tolerance(self) -> float:
        """The half-width of the band around "no difference" a difference must clear (0: none)."""
        return max(self.margin or 0.0, self.drift or 0.0)

    @property
    def is_rank(self) -> bool:
        """A Mann-Whitney row: its diff is a probability, 0.5 = no difference."""
        return self.kind.endswith("_rank")
    # why this row's figures are not the variants' own: e.g. measured while a variant could not
    # keep up, or confounded by shared infrastructure (orchestrate/ab_confounds.py); marked in tables
    caveat: str | None = None

    def to_dict(self) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = float(v) if isinstance(v, np.floating) else int(v) if isinstance(v, np.integer) else v
            if f.name in ("ci_low", "ci_high") and isinstance(out[f.name], float) and math.isnan(out[f.name]):
                out[f.name] = None   # an undecided row's missing interval: JSON's null, not NaN
        return out


#: The fewest measured values per variant for which a row gets a CI and a significance call. Measured
#: (A/A runs of two equal log-normal samples, 300 per size, alpha 0.05; the per-request bootstrap of
#: `quantiles` and Mann-Whitney of `ranks`): the p50 row rejected 29 % of the time at n = 2 and 11 %
#: at n = 3, 2-4 % from n = 5; Mann-Whitney cannot reject at all below n = 4 (its smallest p is
#: 2 / C(2n, n)). 10 is twice what those need, so a CI from it is a range, not one or two values
#: (a single request makes its variant's resamples all equal: the interval is the other's spread alone).
MIN_PER_VARIANT = 10


def min_count(q: float | None = None) -> int:
    """The fewest values per variant a row needs: `MIN_PER_VARIANT`, and for a quantile row of q at least
    one value beyond the quantile, 1 / (1 - q) (20 for p95, 100 for p99). Measured as above: the p95 row
    rejected 13-16 % of A/A tests at n = 5-15 and 6 % at 20; the p99 row 11-16 % at 20-50 and 6 % at 100
    (the bootstrap of a quantile with no value beyond it resamples the maximum)."""
    if q is None or q <= 0.5:
        return MIN_PER_VARIANT
    return max(MIN_PER_VARIANT, math.ceil(1.0 / (1.0 - q) - 1e-9))


def too_few(r: Comparison) -> str | None:
    """Why the row has too few values for a CI and a test ("too few requests (n=1 and 5; at least 10
    each)"), else None. The one rule of `stinger ab` and `stinger compare`, every row kind with counts."""
    if r.n_a is None or r.n_b is None:
        return None
    need = min_count(r.quantile)
    if r.n_a >= need and r.n_b >= need:
        return None
    what = "requests" if r.kind in ("latency", "latency_rank", "error_rate", "goodput", "accuracy") else "values"
    return f"too few {what} (n={r.n_a:,} and {r.n_b:,}; at least {need:,} each)"


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
