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
