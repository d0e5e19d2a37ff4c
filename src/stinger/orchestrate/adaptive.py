"""`stinger capacity --adaptive`: the capacity search in ONE run, ramping through live load changes and then
holding at the load found.

The policy is `core.capacity.AdaptiveRamp` (pure: which level next, how long it settles, the hold); this
module runs it inside one `run_spec`. The run starts at the first level; a `RunControl` raises or lowers
its rate (open model) or users (closed model) at named run-clock instants (`scale.control`: every worker
applies a change at the same instant, and each is a load-change event). The judge is the coordinator's
`stop_when` hook, called about once a second with the merged metrics under the merger's lock: when a
level's window has ended (plus a grace for late records) it builds the window's summary from the
per-interval cells the run already merges (the requests that ended in the window: their latency
histograms, kinds, counts) and the goodput counters' change over the window, judges the SLOs on it, as a
step's summary is judged, and feeds the verdict to the policy, which names the next level. When the
policy is done (the hold judged too) it asks the run to stop cleanly.

A level's window starts and ends on whole intervals of the run clock, so it is a whole number of cells.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from stinger.core.capacity import AdaptiveRamp, CapacitySearch, Level, StepResult
from stinger.core.slo import judge

if TYPE_CHECKING:
    from stinger.core.metrics import RunMetrics
    from stinger.orchestrate.capacity import CapacityOptions
    from stinger.orchestrate.planning import RunPlan

_LEAD = 0.5    # s between a verdict and the next level's instant: every worker hears of it first
_PAUSE_RATE = 0.01   # req/s while an open-model run pauses (a rate must be > 0): a request or none
_GRACE = 0.5   # s after a window's end before it is judged: the last records of its requests arrive


def window_summary(m: RunMetrics, variant: str, start: float, end: float, good: tuple[int, int, int, int]) -> dict:
    """One variant's summary (summary.json's shape) of the requests that ended in [start, end) of the run
    clock: the cells of those intervals merged, and `good` = (good, good tokens, ok, failed) counted over
    the same window (the goodput counters are not kept per cell)."""
    import numpy as np

    from stinger.core import goodput as gp
    from stinger.core.metrics import HISTS, VariantMetrics, summarize

    src = m.variants[variant]
    vm = VariantMetrics(variant, None)
    iv = m.interval
    for i in range(round(start / iv), round(end / iv)):
        if i not in src.cells:
            continue
        c = src.cells[i]
        vm.kinds += np.asarray(c.kinds, dtype=np.int64)
        vm.counters["scheduled"] += c.scheduled
        vm.counters["dropped"] += c.dropped
        vm.ok_window += c.ok_window
        vm.bytes_in += c.bytes_in
        for name in HISTS:
            if name in c.hists:
                vm.totals[name].merge(c.histogram(name))
    out = summarize(vm, (start, end))
    if m.goodput:
        achieved = out["throughput"]["achieved_rps"]
        out["goodput"] = gp.summarize(m.goodput, good[0], good[1], good[2], good[3], achieved)
    return out


def _counts(m: RunMetrics, variant: str) -> tuple[int, int, int, int]:
    vm = m.variants[variant]
    return vm.good, vm.good_tokens, vm.ok, vm.failed


class _Judge:
    """The coordinator's `stop_when`: times each level, judges its window, moves the load (see the module
    docstring). Never stops the run itself: it asks `control.stop()` when the policy is over."""

    def __init__(self, ramp: AdaptiveRamp, control, opts: CapacityOptions, slos: list, variant: str,
                 on_row) -> None:
        self.ramp, self.control, self.opts, self.slos, self.variant = ramp, control, opts, slos, variant
        self.on_row = on_row
        self.level: Level | None = ramp.next_level()
        self.at = 0.0   # the run-clock instant the current level was set (the run starts at the first)
        self._snap: list[tuple[float, tuple[int, int, int, int]]] = []
        self._changes = 0   # load changes asked for so far (each applied one is an event of the control's)

    def _bounds(self, iv: float) -> tuple[float, float]:
        assert self.level is not None
        start = math.ceil((self.at + self.level.settle_s) / iv - 1e-9) * iv
        return start, start + max(iv, math.ceil(self.level.window_s / iv - 1e-9) * iv)

    def __call__(self, m: RunMetrics, t: float) -> bool:
        if self.level is None:
            return False
        if self._changes and len(self.control.events) >= self._changes:
            # the instant the run named for the change: later than asked when its lead is longer
            self.at = max(self.at, float(self.control.events[self._changes - 1]["t"]))
        start, end = self._bounds(m.interval)
        if len(self._snap) == 0 and t >= start:
            self._snap.append((t, _counts(m, self.variant)))
        if len(self._snap) == 1 and t >= end:
            self._snap.append((t, _counts(m, self.variant)))
        if t < end + _GRACE or len(self._snap) < 2:
            return False
        self._judge(m, t, start, end)
        return False

    def _judge(self, m: RunMetrics, t: float, start: float, end: float) -> None:
        from stinger.orchestrate.capacity import _cool_down_time, _marginal_share, _row

        level = self.level
        assert level is not None
        (_, a), (_, b) = self._snap
        vs = window_summary(m, self.variant, start, end, (b[0] - a[0], b[1] - a[1], b[2] - a[2], b[3] - a[3]))
        failed = tuple(r.slo.text for r in judge(self.slos, vs) if not r.passed)
        marginal = not failed and not level.hold and _marginal_share(self.slos, vs)
        result = StepResult(target=level.target, passed=not failed, failed=failed, summary=vs, marginal=marginal)
        row = _row(result, {}, vs)
        row.update(retest=self.ramp.search.phase == "confirm" and not level.hold, marginal=marginal, hold=level.hold,
                   level_at_s=round(self.at, 3), window_s=[round(start, 3), round(end, 3)],
                   settle_s=round(level.settle_s, 3), client_bound=False)
        if level.hold:
            row["duration_s"] = round(end - start, 3)
        self.ramp.record(result, drain_s=_cool_down_time(vs) - 0.5 if failed else 0.0)
        self.on_row(row)
        nxt = self.ramp.next_level()
        if nxt is None:
            self.level = None
            self.control.stop()
            return
        if nxt.target == level.target and nxt.settle_s == 0:
            # the same load goes on: its next window follows this one, its counts from this one's end
            self.at, self._snap = end, self._snap[1:]
            self.level = nxt
            return
        self._snap = []
        self.at = round(t + _LEAD, 3)   # its window starts at the next whole interval after the settle
        if nxt.pause_s > 0:   # the load off while the backlog drains (the step search's cool-down)
            self._set(_PAUSE_RATE if self.opts.mode == "rate" else 0)
            self.at = round(self.at + nxt.pause_s, 3)
        if nxt.target != level.target or nxt.pause_s > 0:
            self._set(nxt.target)
        self.level = nxt

    def _set(self, target: float) -> None:
        self._changes += 1
        if self.opts.mode == "rate":
            self.control.set_rate(float(target), at=self.at)
        else:
            self.control.set_users(int(target), at=self.at)


def ramp_run(search: CapacitySearch, plan: RunPlan, opts: CapacityOptions, slos: list, rows: list[dict[str, Any]],
             outputs: list, signals) -> tuple[dict[str, Any] | None, list[dict], dict[str, Any]]:
    """Run the adaptive search in one run; append a row per judged window to `rows` (the hold's is
    returned, not appended). Returns (the hold's row or None, the load-change events, the run's facts)."""
    from stinger.orchestrate.capacity import _step_load
    from stinger.orchestrate.run import run_spec
    from stinger.outputs.base import tell
    from stinger.scale.control import RunControl

    ramp = AdaptiveRamp(search, warmup_s=opts.step_warmup, window_s=opts.step_duration, hold_s=opts.hold)
    refused: list[str] = []
    control = RunControl(on_refused=refused.append)
    held: list[dict[str, Any]] = []

    def on_row(row: dict[str, Any]) -> None:
        if row.get("hold"):
            held.append(row)
        else:
            rows.append(row)
        tell(outputs, "capacity_step", {**row, "step": len(rows) + len(held), "cool_down_s": 0.0})

    judge_ = _Judge(ramp, control, opts, slos, next(iter(plan.spec.all_variants())).name, on_row)
    # the run's bound: every window at its longest (a drain is capped at 15 s) and the hold, then a margin;
    # the judge ends it long before, when the policy is over
    per = opts.step_warmup + opts.step_duration + 15.0 + _LEAD + _GRACE + 2.0
    bound = search.max_steps * per + opts.hold + per
    load = _step_load(plan.spec, opts, search.start, 0).model_copy(update={"duration": bound})
    import time

    t0 = time.monotonic()
    report = run_spec(plan.for_step(load), outputs=[], stop_when=judge_, control=control)
    facts = {"wall_s": round(time.monotonic() - t0, 3),
             "interrupted": bool(report.outcome.interrupted), "refused": refused,
             "unfinished": judge_.level is not None and not signals.received}
    if judge_.level is not None:   # the run ended before the policy did (a signal, an abort): say where
        facts["stopped_at"] = judge_.level.target
    return (held[0] if held else None), list(report.summary.get("events") or []), facts
