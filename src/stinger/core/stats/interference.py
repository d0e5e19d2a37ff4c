"""Interference: is a variant slower while another variant's request is in flight?

Two variants that share a worker, a GPU or a host make each other wait. Every A/B
run records, per variant and second, the latency (and server time) of its OK
requests and, a second time, of those sent while a request of another variant was
in flight (`latency_ov`, `server_ov` in `core.catalogue`); the ones sent alone are
the difference. This module compares the two groups of one variant: p50 and p95
of overlapped - alone with a block-bootstrap CI over the run's seconds (both groups
live in the same seconds, so they are resampled jointly, as an A/B's variants are:
`quantiles.quantile_diffs(joint=True)`), and the rule that calls it *found*:

    found  <=>  for latency or server time, the p50 of the overlapped requests is
                significantly higher than that of the ones sent alone (its CI,
                at level 1 - alpha / tests, lies above 0) by a practical margin
                (at least MARGIN_MS and MARGIN_SHARE of the alone p50)

judged only when each group has MIN_EACH requests. The p95 rows are reported, not
judged (one decision per metric keeps the false calls near alpha).

Pure numpy/scipy: no asyncio, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stinger.core.stats.intervals import Hist
from stinger.core.stats.quantiles import quantile_diffs

MIN_EACH = 20          # requests in each group (alone, overlapped) before anything is judged
MARGIN_MS = 1.0        # practical margin: the overlapped p50 is at least this much higher ...
MARGIN_SHARE = 0.10    # ... and at least this share of the alone p50
QUANTILES = (0.5, 0.95)

_EMPTY: Hist = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))


@dataclass(frozen=True, slots=True)
class Effect:
    """One quantile of one metric: alone vs overlapped (ms), overlapped - alone with its CI."""

    metric: str            # "latency" | "server time"
    quantile: float
    alone: float
    overlapped: float
    diff: float
    ci_low: float
    ci_high: float
    level: float
    p_value: float | None

    def to_dict(self) -> dict:
        return {"metric": self.metric, "quantile": self.quantile, "alone_ms": _r(self.alone),
                "overlapped_ms": _r(self.overlapped), "diff_ms": _r(self.diff), "ci_low_ms": _r(self.ci_low),
                "ci_high_ms": _r(self.ci_high), "level": round(self.level, 6), "p_value": self.p_value}


@dataclass(frozen=True, slots=True)
class Interference:
    """One variant's interference: the group sizes, the effects, and the call."""

    alone: int
    overlapped: int
    effects: tuple[Effect, ...]
    found: bool
    reason: str            # why it was found, or why nothing was judged

    @property
    def share(self) -> float:
        """The share of the variant's OK requests sent while another variant's was in flight."""
        n = self.alone + self.overlapped
        return self.overlapped / n if n else 0.0

    def effect(self, metric: str, quantile: float = 0.5) -> Effect | None:
        return next((e for e in self.effects if e.metric == metric and e.quantile == quantile), None)

    def to_dict(self) -> dict:
        return {"found": self.found, "alone": self.alone, "overlapped": self.overlapped,
                "overlapped_share": round(self.share, 4), "reason": self.reason,
                "effects": [e.to_dict() for e in self.effects]}


def _r(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 3)


def subtract(total: Hist, part: Hist) -> Hist:
    """The histogram `total` minus `part` (a subset of the same requests, so the same buckets)."""
    tv, tc = np.asarray(total[0], dtype=np.int64), np.asarray(total[1], dtype=np.int64)
    pv, pc = np.asarray(part[0], dtype=np.int64), np.asarray(part[1], dtype=np.int64)
    if not pv.size:
        return tv, tc
    grid, inverse = np.unique(np.concatenate([tv, pv]), return_inverse=True)
    counts = np.bincount(inverse, weights=np.concatenate([tc, -pc]), minlength=grid.size)
    if np.any(counts < -0.5):
        raise ValueError("the overlapped histogram is not part of the total one (a count would go negative)")
    keep = counts > 0.5
    return grid[keep], np.rint(counts[keep]).astype(np.int64)


def _count(intervals: Sequence[Hist]) -> int:
    return int(sum(int(np.asarray(c).sum()) for _, c in intervals))


def _effects(name: str, alone: list[Hist], overlapped: list[Hist], level: float, seed: int | None,
             n_boot: int) -> tuple[Effect, ...]:
    rows = quantile_diffs(alone, overlapped, QUANTILES, level=level, seed=seed, n_boot=n_boot, joint=True)
    return tuple(Effect(metric=name, quantile=q, alone=r.a, overlapped=r.b, diff=r.diff, ci_low=r.ci_low,
                        ci_high=r.ci_high, level=level, p_value=r.p_value) for q, r in zip(QUANTILES, rows, strict=True))


def interference(latency: Sequence[Hist], latency_overlapped: Sequence[Hist],
                 server: Sequence[Hist] | None = None, server_overlapped: Sequence[Hist] | None = None, *,
                 alpha: float = 0.05, seed: int | None = 0, n_boot: int = 2000) -> Interference:
    """One variant's interference from its per-second histograms (us), aligned on the same seconds:
    all OK requests' latency and those sent with another variant in flight (an empty histogram
    where a second had none); the same for server time when the run has one."""
    if len(latency) != len(latency_overlapped):
        raise ValueError(f"latency and latency_overlapped must be the same seconds, got {len(latency)} and "
                         f"{len(latency_overlapped)}")
    metrics = [("latency", list(latency), list(latency_overlapped))]
    if server is not None and server_overlapped is not None and _count(server):
        if len(server) != len(server_overlapped):
            raise ValueError("server and server_overlapped must be the same seconds")
        metrics.append(("server time", list(server), list(server_overlapped)))
    split = []
    for name, total, over in metrics:
        over = [h if _count([h]) else _EMPTY for h in over]
        alone = [subtract(t, o) for t, o in zip(total, over, strict=True)]
        split.append((name, alone, over))
    n_over = _count(split[0][2])
    n_alone = _count(split[0][1])
    if n_over < MIN_EACH or n_alone < MIN_EACH:
        return Interference(alone=n_alone, overlapped=n_over, effects=(), found=False,
                            reason=f"not judged: {n_alone:,} requests sent alone and {n_over:,} with another "
                                   f"variant in flight (needs {MIN_EACH} of each)")
    judged = [(name, alone, over) for name, alone, over in split
              if _count(alone) >= MIN_EACH and _count(over) >= MIN_EACH]
    level = 1.0 - alpha / len(judged)
    effects: list[Effect] = []
    reasons = []
    for name, alone, over in judged:
        got = _effects(name, alone, over, level, seed, n_boot)
        effects.extend(got)
        p50 = got[0]
        margin = max(MARGIN_MS, MARGIN_SHARE * p50.alone)
        if p50.ci_low > 0 and p50.diff >= margin:
            reasons.append(f"{name} p50 {p50.diff:+.1f} ms with another variant in flight "
                           f"({100 * level:g} % CI {p50.ci_low:.1f} to {p50.ci_high:.1f} ms; margin {margin:.1f} ms)")
    found = bool(reasons)
    reason = "; ".join(reasons) if found else "no significant slow-down beyond the margin with another variant in flight"
    return Interference(alone=n_alone, overlapped=n_over, effects=tuple(effects), found=found, reason=reason)
