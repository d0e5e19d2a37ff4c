"""The breakdown rows while the run goes on: per backend, per URL, per turn, per origin, so far.

A snapshot cannot copy every row's histogram: with 64 backends x 2 variants that is 128 histograms
of 23,552 buckets each, tens of milliseconds on the merge path twice a second (`bench/live_rows.py`).
Instead the merge path hands each flush's group rows (`GroupRecord`s: sparse, never changed after)
to a `LiveBreakdown` through `Breakdown.tap`, an append under a small lock, and a snapshot carries a
`BreakdownView`: how many flushes were handed over by then and a copy of the origins' counts (a few
numbers per origin). On the output thread, `BreakdownView.groups()` folds the flushes handed over up
to its snapshot into the live side's own `Breakdown` and builds the groups with `core.breakdown.groups`,
the very builder of summary.json's `breakdown` (same rows, same shapes): once per view, only when an
output asks for it, and only once a group exists (a run without one never taps the merge path).
Only an output with `wants_breakdown` (the dashboard) makes the run keep one (`for_outputs`); such an
output calls `groups()` or, when it has no use for the rows now, `keep_up()` on each view it is given,
so what was handed over never piles up; should it pile up all the same (that output failed and is no longer
called), past `_MAX_PENDING` group rows the live side lets go: no more views, the merge path untapped.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from stinger.core.breakdown import Breakdown, groups
from stinger.core.records import GroupRecord

_MAX_PENDING = 200_000      # group rows handed over and not folded yet (~1,500 flushes of 128 labels)


def for_outputs(outputs: list, **params: Any) -> LiveBreakdown | None:
    """A live breakdown when one of these outputs wants its rows (`wants_breakdown`), else None."""
    return LiveBreakdown(**params) if any(getattr(o, "wants_breakdown", False) for o in outputs) else None


class LiveBreakdown:
    """The live side's copy of a run's breakdown, fed by the merge path (`take` on it, `groups` off it).

    `served_by`, `urls`: as `core.breakdown.groups` takes them (`orchestrate.summary.breakdown_params`);
    `warmup`: s before the measured window (an origin's achieved rate is over what was measured so far)."""

    def __init__(self, *, served_by: Any = None, urls: Mapping[str, Mapping[str, str]] | None = None,
                 warmup: float = 0.0) -> None:
        self.params: dict[str, Any] = {"served_by": served_by, "urls": urls}
        self.warmup = float(warmup or 0.0)
        self._lock = threading.Lock()
        self._pending: list[tuple[GroupRecord, ...]] = []
        self._handed = 0                      # flushes handed over by the merge path
        self._folded = 0                      # of them, folded into `mirror` (the output thread)
        self.mirror: Breakdown | None = None
        self._tapped: Breakdown | None = None
        self._rows_pending = 0                # group rows in `_pending`
        self._gave_up = False

    def take(self, metrics: Any, elapsed: float) -> BreakdownView | None:
        """On the merge path (under the merger's lock): this snapshot's view, or None while the run has
        no group at all. The first view copies what was merged before it; every later one costs a
        copy of the origins' counts."""
        b: Breakdown = metrics.breakdown
        origins = getattr(metrics, "origins", None)
        if self._gave_up:
            return None
        if self.mirror is None:
            if not b and not origins:
                return None
            self.mirror = b.copy()
            b.tap = self._hand
            self._tapped = b
        return BreakdownView(self, self._handed, origins.copy() if origins else None,
                             max(0.0, elapsed - self.warmup))

    def detach(self) -> None:
        """The run is over: the merge path hands nothing more (and keeps no reference to this)."""
        if self._tapped is not None:
            self._tapped.tap = None
            self._tapped = None
        with self._lock:
            self._pending.clear()

    def _hand(self, flush: tuple[GroupRecord, ...]) -> None:
        with self._lock:
            self._pending.append(flush)
            self._handed += 1
            self._rows_pending += len(flush)
            if self._rows_pending <= _MAX_PENDING:
                return
            self._pending.clear()   # nobody folds them: let go rather than hold the run's rows twice
            self._rows_pending = 0
            self._gave_up = True
        if self._tapped is not None:
            self._tapped.tap = None

    def fold(self, upto: int) -> Breakdown:
        """The live copy with every flush handed over before `upto` added (off the merge path)."""
        assert self.mirror is not None   # a view exists only once `take` made the copy
        with self._lock:
            n = max(0, min(upto - self._folded, len(self._pending)))
            todo, self._pending[:n] = self._pending[:n], []
            self._folded += n
            self._rows_pending -= sum(len(f) for f in todo)
        for flush in todo:
            self.mirror.add(flush)
        return self.mirror


class BreakdownView:
    """What a snapshot carries of the breakdown: `groups()` builds its rows on first ask (the output thread)."""

    __slots__ = ("_built", "_live", "_origins", "_upto", "_window_s")

    def __init__(self, live: LiveBreakdown, upto: int, origins: Any, window_s: float) -> None:
        self._live = live
        self._upto = upto
        self._origins = origins
        self._window_s = window_s
        self._built: dict[str, Any] | None = None

    def keep_up(self) -> None:
        """Fold what was handed over without building rows (an output with no use for them now)."""
        self._live.fold(self._upto)

    def groups(self) -> dict[str, Any]:
        """summary.json's `breakdown` groups as of this snapshot ({} when none has a row yet)."""
        if self._built is None:
            data, _warnings = groups(self._live.fold(self._upto), self._origins, **self._live.params,
                                     window_s=self._window_s)
            self._built = data
        return self._built
