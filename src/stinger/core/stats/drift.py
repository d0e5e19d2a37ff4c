"""How much a run differs from itself: its first half against its second, per verdict row.

Two separate runs differ by more than their within-run noise (the machine, the
endpoint's caches, the time of day), so `stinger compare` calls a difference a
regression only when it also exceeds what each run shows between its own halves.
The halves hold half the intervals each, so this figure carries sampling noise as
well as drift (about 1.6 standard errors of the row when nothing drifts): a
conservative bar, meant for a regression gate between runs, not for one A/B run
whose variants share their seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from stinger.core.stats.comparison import Comparison
from stinger.core.stats.intervals import _as_intervals, _merge, _quantiles
from stinger.core.stats.ranks import superiority

#: Fewer intervals than this and a run has no halves worth comparing: no drift figure.
MIN_HALF_INTERVALS = 2


def _halves(intervals) -> tuple[list, list] | None:
    iv = [(v, c) for v, c in _as_intervals(intervals, "intervals")]
    k = len(iv) // 2
    if k < MIN_HALF_INTERVALS:
        return None
    first, second = iv[:k], iv[len(iv) - k:]   # an odd middle interval sits out
    if not sum(int(c.sum()) for _, c in first) or not sum(int(c.sum()) for _, c in second):
        return None
    return first, second


def quantile_drift(intervals, qs: Sequence[float], scale: float = 1000.0) -> list[float] | None:
    """|q(second half) - q(first half)| for each q, in the stored unit / scale; None: too few intervals."""
    h = _halves(intervals)
    if h is None:
        return None
    qs_arr = np.asarray(list(qs), dtype=np.float64)
    g1, c1 = _merge(h[0])
    g2, c2 = _merge(h[1])
    q1 = _quantiles(g1, c1[None, :], qs_arr)[0]
    q2 = _quantiles(g2, c2[None, :], qs_arr)[0]
    return [float(x) for x in np.abs(q2 - q1) / scale]


def rank_drift(intervals) -> float | None:
    """|P(second half faster than first) - 0.5|: the Mann-Whitney row's drift; None: too few intervals."""
    h = _halves(intervals)
    if h is None:
        return None
    return abs(superiority(h[0], h[1]) - 0.5)


def rank_margin(intervals, shift: float) -> float:
    """How far from 0.5 the probability of superiority moves when every value of ``intervals`` is
    ``shift`` (stored unit) larger: the practical margin of the Mann-Whitney row, for a margin
    stated as a shift of the median."""
    merged = _merge(_as_intervals(intervals, "intervals"))
    moved = (merged[0] + round(shift), merged[1])
    return abs(0.5 - superiority(merged, moved))


@dataclass(frozen=True)
class Margin:
    """The practical margin of `stinger compare`: a share of the baseline's value (``relative``), or
    a time (``absolute_ms``, for rows in ms; rows in other units then keep only the drift)."""

    relative: float | None = None
    absolute_ms: float | None = None

    def of(self, baseline: float, time_unit: bool) -> float:
        """The margin of a row whose baseline value is ``baseline`` (row units)."""
        if self.absolute_ms is not None:
            return self.absolute_ms if time_unit else 0.0
        return abs(baseline) * (self.relative or 0.0)

    def text(self) -> str:
        if self.absolute_ms is not None:
            return f"{self.absolute_ms:g} ms"
        return f"{100 * (self.relative or 0.0):g} %"


def band_rows(rows: list[Comparison], a_intervals, b_intervals, margin: Margin, *, qs: Sequence[float],
              scale: float = 1000.0, time_unit: bool = True) -> list[Comparison]:
    """One metric's rows of two separate runs with their band: each row's ``margin`` (``margin`` of the
    baseline's value; for the Mann-Whitney row, the move of P that shifting the baseline by its p50
    row's margin makes) and ``drift`` (the larger of the two runs' half-to-half differences).

    ``rows``: the metric's quantile rows in the order of ``qs``, then its rank row if any.
    `core.verdict.verdict` then calls a row only when its interval clears the band.
    """
    drift_a, drift_b = quantile_drift(a_intervals, qs, scale), quantile_drift(b_intervals, qs, scale)
    out = []
    median_margin = None
    for r in rows:
        if r.is_rank:
            shift = median_margin if median_margin is not None else margin.of(r.a, time_unit)
            ra, rb = rank_drift(a_intervals), rank_drift(b_intervals)
            drift = max((d for d in (ra, rb) if d is not None), default=None)
            out.append(replace(r, margin=rank_margin(a_intervals, shift * scale), drift=drift))
            continue
        j = len(out)
        drift = max((d[j] for d in (drift_a, drift_b) if d is not None), default=None)
        m = margin.of(r.a, time_unit)
        if j < len(qs) and qs[j] == 0.5:
            median_margin = m
        out.append(replace(r, margin=m, drift=drift))
    return out
