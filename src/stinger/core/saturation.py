"""Saturation: did a variant keep up with the load it was offered?

An A/B verdict on latency assumes each variant answered the load it was given.
A variant past its capacity instead builds a queue: its latency measures how long
the queue grew in the run (seconds, rising), not how fast its model is, and a
calm "no significant difference" on such figures misleads (issue 15: 45 %
achieved, p95 7.6 s). This module owns the rule, pure and table-tested, over one
variant's per-second series in the measured window:

- **falling behind**: in the second half of the window it completed (OK) less
  than `MIN_COMPLETION` of the requests scheduled in that half, *and* its latency
  grew over the window by at least `MIN_GROWTH` (ms of latency per ms of run;
  Theil-Sen slope of the per-second p50). A FIFO queue fed at rate r and served
  at c < r grows its latency at exactly 1 - c/r, so this reads "achieved at most
  95 % of offered, for the queue's reason". The growth condition keeps apart an
  endpoint that fails fast (few OK, flat latency) and one with a latency longer
  than the window's first half (its first answers arrive late, then it keeps up);
- **turned away**: at least `MIN_DROPPED` of its scheduled requests were dropped
  at the in-flight bound (`--on-limit drop`): answers came too slowly to free it.

Neither applies when the generator was the bottleneck (the run's generator
self-check, `monitors/generator.py`): then the requests were late leaving, and
the endpoint is not to blame. Fewer than `MIN_SECONDS` seconds: not judged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_COMPLETION = 0.90   # OK answers / scheduled in the window's second half below this ...
MIN_GROWTH = 0.05       # ... while latency grows at least this fast (ms per ms of run)
MIN_DROPPED = 0.05      # or this share of the scheduled requests dropped at the in-flight bound
MIN_SECONDS = 3


@dataclass(frozen=True, slots=True)
class Saturation:
    saturated: bool
    judged: bool
    reason: str
    completion: float | None = None       # OK / scheduled, second half of the window
    growth: float | None = None           # latency slope, ms per ms of run (Theil-Sen over per-second p50)
    dropped_share: float | None = None

    def to_dict(self) -> dict:
        return {"saturated": self.saturated, "judged": self.judged, "reason": self.reason,
                "completion": None if self.completion is None else round(self.completion, 4),
                "latency_growth": None if self.growth is None else round(self.growth, 4),
                "dropped_share": None if self.dropped_share is None else round(self.dropped_share, 4)}


def _slope(t: np.ndarray, y: np.ndarray) -> float:
    """Theil-Sen: the median of the pairwise slopes (robust to one odd second)."""
    ok = np.isfinite(y)
    t, y = t[ok], y[ok]
    if len(t) < 2:
        return 0.0
    i, j = np.triu_indices(len(t), k=1)
    dt = t[j] - t[i]
    keep = dt > 0
    return float(np.median((y[j] - y[i])[keep] / dt[keep])) if keep.any() else 0.0


def saturation(t_s: Sequence[float], scheduled: Sequence[float], ok: Sequence[float], dropped: Sequence[float],
               p50_ms: Sequence[float], *, generator_bound: bool = False) -> Saturation:
    """Judge one variant from its per-second series over the measured window (aligned: the second's
    start in s, requests scheduled, OK answers ended, requests dropped, latency p50 in ms or NaN)."""
    t = np.asarray(t_s, dtype=np.float64)
    sched = np.asarray(scheduled, dtype=np.float64)
    oks = np.asarray(ok, dtype=np.float64)
    drops = np.asarray(dropped, dtype=np.float64)
    p50 = np.asarray(p50_ms, dtype=np.float64)
    if not (len(t) == len(sched) == len(oks) == len(drops) == len(p50)):
        raise ValueError("the series must be aligned (one value per second each)")
    if generator_bound:
        return Saturation(False, False, "not judged: the generator, not the endpoint, fell behind")
    if len(t) < MIN_SECONDS or sched.sum() <= 0:
        return Saturation(False, False, f"not judged: fewer than {MIN_SECONDS} seconds with requests")
    half = len(t) // 2
    late_sched = float(sched[half:].sum())
    completion = float(oks[half:].sum()) / late_sched if late_sched > 0 else math.nan
    growth = _slope(t, p50) / 1000.0
    dropped_share = float(drops.sum()) / float(sched.sum())
    kw = {"completion": None if math.isnan(completion) else completion, "growth": growth,
          "dropped_share": dropped_share}
    if dropped_share >= MIN_DROPPED:
        return Saturation(True, True, f"{100 * dropped_share:.0f} % of its requests were dropped at the in-flight "
                                      f"bound", **kw)
    if completion < MIN_COMPLETION and growth >= MIN_GROWTH:
        return Saturation(True, True, f"it answered {100 * completion:.0f} % of the requests offered in the second "
                                      f"half of the run while its latency grew by {1000 * growth:,.0f} ms a second",
                          **kw)
    return Saturation(False, True, "kept up", **kw)
