"""The capacity search, as a pure state machine fed step results.

This module owns the *policy* of finding the highest load an endpoint sustains
within its SLOs; it runs nothing. The orchestration asks `next_target()`, runs a
short load step at that rate (or user count), judges the SLOs and feeds a
`StepResult` to `record()`, until `next_target()` returns None. Keeping the
policy pure lets it be tested against simulated endpoints of known capacity in
microseconds.

The search, in three phases:

1. grow: start, start·g, start·g², ... until a step fails (or `max_target`
   passes, which ends the search: the endpoint is at least that good);
2. shrink, only if the very first step failed: start/g, start/g², ... down to
   `min_target` until a step passes (none does: "failed at start");
3. bisect between the best pass and the first fail until
   (first_fail - best_pass) / best_pass <= precision.

It assumes monotonicity (passing at x implies passing below x). Real endpoints
are noisy near their limit; the bracket is what was observed, not a proof.

Confirming failures (`confirm=N`): on a busy machine noise makes a step look
worse, never better (a stall of the server or of the generator adds latency and
costs throughput; nothing removes them), so a pass is believed at once while a
failure is re-tested at the same target up to N times before it counts. Any
passing re-test turns the step into a pass, and the two disagreeing results
are kept (`disagreements`) so the report can say that the limit was noisy
there. Without it, one stall in one step halves the capacity found. The
re-tests are steps like any other (they count towards `max_steps`). A failure
marked `clear` (the caller's judgment that no stall explains it: saturated in
every second of its window) counts at once, so growing far past the capacity
costs no re-test.

A share SLO (`goodput>=95%`) is the exception to "noise only makes a step look
worse": its share is a count of requests, and near its bound sampling alone moves
it either way. A pass within that noise of the bound (`marginal`, the caller's
judgment) is re-tested like a failure (it uses the `confirm` budget), and it
counts as a pass only when the re-test passes too; a failing re-test counts as
the step's failure at once (both kept as a disagreement). Without it a search on
goodput stopped on a lucky 95 % step that then held 73 %.

A failed step during which the machine was busy and the generator's own
requests left late (`inconclusive`) measured the machine, not the endpoint:
it is neither a pass nor a fail and is run again, up to `busy_retries` times
in a row, after which the search stops with "machine busy" and the best pass
so far stands as a lower bound.

A step during which a load worker was lost (`lost`: killed, crashed, silent
past its deadline) sent only part of its schedule, so its verdict is no one's:
neither a pass nor a fail. It is run again, up to `lost_retries` times (default
once); when the worker is lost again the search stops with "worker lost" and
the best pass so far stands as a lower bound (the command exits 3).

A step whose generator was the bottleneck (`client_bound`) says nothing about
the endpoint, so it is neither a pass nor a fail. It is a ceiling on what this
generator can measure (a higher target would lag as much or more): the search
goes on below it, between the best pass and the ceiling. A real failure there
brackets the capacity as usual ("converged"); if every step passes up to the
ceiling within `precision`, the search stops with "generator-bound" and the
best pass stands as a lower bound. A client-bound step before any pass stops
at once (nothing below it was measured yet to bisect from).

Also here: the knee of a latency curve (Kneedle), which SLO kind limited a
step, and cost per million inferences.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stinger.errors import UsageError

__all__ = [
    "AdaptiveRamp",
    "CapacitySearch",
    "Level",
    "StepResult",
    "cost_per_million",
    "find_knee",
    "limiting_factor",
    "stability",
]

STOP_REASONS = ("converged", "max_target reached", "failed at start", "generator-bound", "machine busy", "max_steps",
                "worker lost")


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step of the search: the target it ran at and the verdict of its SLOs."""

    target: float
    passed: bool
    failed: tuple[str, ...] = ()
    summary: dict[str, Any] = field(default_factory=dict, compare=False)
    client_bound: bool = False
    # a failure no stall explains (e.g. saturated in every second of its window): counted without a re-test
    clear: bool = False
    # failed while the machine was busy and the generator's requests left late: says nothing of the endpoint
    inconclusive: bool = False
    # a load worker was lost during the step: part of its schedule was never sent, so it judged nothing
    lost: bool = False
    # a pass within the sampling noise of a share SLO's bound (goodput): believed only if a re-test passes too
    marginal: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "passed": self.passed,
            "failed": list(self.failed),
            "client_bound": self.client_bound,
            "limiting": limiting_factor(self),
        }


class CapacitySearch:
    """Grow geometrically, then bisect; see the module docstring.

    integer=True searches whole numbers (concurrent users): targets are
    rounded, each step moves by at least 1, and the search converges when the
    bracket is within `precision` or one apart, whichever comes first (so
    precision=0 finds the exact integer).
    """

    def __init__(
        self,
        *,
        start: float = 10.0,
        growth: float = 2.0,
        precision: float = 0.05,
        max_target: float = 1e6,
        min_target: float = 1.0,
        max_steps: int = 30,
        integer: bool = False,
        confirm: int = 0,
        busy_retries: int = 2,
        lost_retries: int = 1,
    ) -> None:
        for name, v in (("start", start), ("max_target", max_target), ("min_target", min_target)):
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise UsageError(f"capacity {name} must be a number > 0, got {v!r}")
        if not isinstance(growth, (int, float)) or not math.isfinite(growth) or growth <= 1:
            raise UsageError(f"capacity growth must be > 1 (e.g. 2 doubles each step), got {growth!r}")
        if not isinstance(precision, (int, float)) or not math.isfinite(precision) or precision < 0 or (
            precision == 0 and not integer
        ):
            raise UsageError(f"capacity precision must be a fraction > 0 (e.g. 0.05 for 5 %), got {precision!r}")
        if not isinstance(max_steps, int) or max_steps < 1:
            raise UsageError(f"capacity max_steps must be an integer >= 1, got {max_steps!r}")
        if not isinstance(confirm, int) or isinstance(confirm, bool) or not 0 <= confirm <= 5:
            raise UsageError(f"capacity confirm (re-tests of a failing step) must be an integer 0..5, got {confirm!r}")
        if not isinstance(busy_retries, int) or isinstance(busy_retries, bool) or not 0 <= busy_retries <= 10:
            raise UsageError(f"capacity busy_retries must be an integer 0..10, got {busy_retries!r}")
        if not isinstance(lost_retries, int) or isinstance(lost_retries, bool) or not 0 <= lost_retries <= 10:
            raise UsageError(f"capacity lost_retries must be an integer 0..10, got {lost_retries!r}")
        if integer:
            start, min_target, max_target = round(start), math.ceil(min_target), math.floor(max_target)
            start = max(start, 1)
            min_target = max(min_target, 1)
        if not min_target <= start <= max_target:
            raise UsageError(
                f"capacity start must lie in [min_target, max_target] = [{min_target:g}, {max_target:g}], got {start:g}"
            )
        self.start = float(start)
        self.growth = float(growth)
        self.precision = float(precision)
        self.max_target = float(max_target)
        self.min_target = float(min_target)
        self.max_steps = max_steps
        self.integer = integer
        self.confirm = confirm
        self.busy_retries = busy_retries
        self.lost_retries = lost_retries

        self.steps: list[StepResult] = []
        self.retests: list[int] = []          # indices in `steps` of the re-tests of a failing step
        self.disagreements: list[float] = []  # targets that failed and then passed a re-test
        self._failures_here = 0               # failures at the pending target while confirming
        self._marginal_here = False           # the pending target passed marginally: its re-test decides
        self._busy_here = 0                   # inconclusive (machine busy) steps at the pending target in a row
        self.inconclusive: list[int] = []     # indices in `steps` of inconclusive steps
        self._lost_here = 0                   # steps with a lost worker at the pending target in a row
        self.lost: list[int] = []             # indices in `steps` of steps with a lost worker
        self.best_pass: float | None = None
        self.first_fail: float | None = None
        self.ceiling: float | None = None     # lowest target whose step was generator-bound
        self.done = False
        self.stop_reason = ""
        self._pending: float | None = float(start)

    # -- state
    @property
    def bracket(self) -> tuple[float | None, float | None]:
        """(best pass, first fail) so far; the capacity lies in between."""
        return (self.best_pass, self.first_fail)

    @property
    def phase(self) -> str:
        if self.done:
            return "done"
        if self._failures_here or self._busy_here or self._lost_here or self._marginal_here:
            return "confirm"
        if self.first_fail is None:
            return "grow"
        if self.best_pass is None:
            return "shrink"
        return "bisect"

    def next_target(self) -> float | None:
        """The target of the next step, or None when the search is over. Idempotent until `record`."""
        return None if self.done else self._pending

    def record(self, result: StepResult) -> None:
        """Feed the result of the step run at `next_target()`."""
        if self.done:
            raise RuntimeError("the capacity search is over; no more steps to record")
        assert self._pending is not None
        if not math.isclose(result.target, self._pending, rel_tol=1e-9, abs_tol=1e-9):
            raise ValueError(f"expected the result of the step at {self._pending:g}, got one at {result.target:g}")
        if self._failures_here or self._busy_here or self._lost_here or self._marginal_here:
            self.retests.append(len(self.steps))
        self.steps.append(result)
        target = self._pending
        if result.lost:   # neither pass nor fail: run it again, or stop
            self.lost.append(len(self.steps) - 1)
            self._lost_here += 1
            if self._lost_here > self.lost_retries:
                return self._finish("worker lost")
            if len(self.steps) >= self.max_steps:
                return self._finish("max_steps")
            return
        self._lost_here = 0
        if result.client_bound:
            self._failures_here = self._busy_here = 0
            self._marginal_here = False
            self.ceiling = target if self.ceiling is None else min(self.ceiling, target)
            if self.best_pass is None:
                return self._finish("generator-bound")
            return self._advance(target, passed=False)
        if result.inconclusive and not result.passed:
            self.inconclusive.append(len(self.steps) - 1)
            self._busy_here += 1
            if self._busy_here > self.busy_retries:
                return self._finish("machine busy")
            if len(self.steps) >= self.max_steps:
                return self._finish("max_steps")
            return  # run it again
        self._busy_here = 0
        if self._marginal_here:   # the re-test of a marginal pass decides the step, either way
            self._marginal_here = False
            if not result.passed:
                self.disagreements.append(target)
            return self._count(target, result.passed)
        if result.passed and result.marginal and not self._failures_here and self.confirm > 0:
            self._marginal_here = True   # not counted yet: run it again
            if len(self.steps) >= self.max_steps:
                return self._finish("max_steps")
            return
        if not result.passed and not result.clear and self._failures_here < self.confirm:
            self._failures_here += 1  # not counted yet: run it again
            if len(self.steps) >= self.max_steps:
                self.first_fail = target if self.first_fail is None else min(self.first_fail, target)
                return self._finish("max_steps")
            return
        if result.passed and self._failures_here:
            self.disagreements.append(target)  # failed, then passed: noise, and the pass stands
        self._failures_here = 0
        self._count(target, result.passed)

    def _count(self, target: float, passed: bool) -> None:
        if passed:
            self.best_pass = target if self.best_pass is None else max(self.best_pass, target)
        else:
            self.first_fail = target if self.first_fail is None else min(self.first_fail, target)
        self._advance(target, passed)

    def _advance(self, target: float, passed: bool) -> None:
        nxt = self._plan_next(target, passed)
        if nxt is None:
            return
        if len(self.steps) >= self.max_steps:
            return self._finish("max_steps")
        self._pending = nxt

    def _finish(self, reason: str) -> None:
        self.done = True
        self.stop_reason = reason
        self._pending = None

    def _converged(self, lo: float, hi: float) -> bool:
        if self.integer and hi - lo <= 1:
            return True
        return (hi - lo) / lo <= self.precision

    def _plan_next(self, target: float, passed: bool) -> float | None:
        """The next target, or None after finishing the search."""
        lo, hi = self.best_pass, self.first_fail
        ceiling = self.ceiling
        if ceiling is not None and lo is not None and (hi is None or ceiling < hi):
            # what lies above the ceiling cannot be measured: bisect up to it, or stop there
            if lo >= ceiling or self._converged(lo, ceiling):
                self._finish("generator-bound")
                return None
            return self._mid(lo, ceiling)
        if hi is None:  # grow
            if target >= self.max_target:
                self._finish("max_target reached")
                return None
            nxt = target * self.growth
            if self.integer:
                nxt = max(target + 1, round(nxt))
            return min(nxt, self.max_target)
        if lo is None:  # shrink
            if target <= self.min_target:
                self._finish("failed at start")
                return None
            nxt = target / self.growth
            if self.integer:
                nxt = min(target - 1, math.floor(nxt))
            return max(nxt, self.min_target)
        if self._converged(lo, hi):
            self._finish("converged")
            return None
        return self._mid(lo, hi)

    def _mid(self, lo: float, hi: float) -> float:
        if self.integer:
            return float((int(lo) + int(hi)) // 2)
        return (lo + hi) / 2.0

    # -- reporting
    @property
    def capacity(self) -> float | None:
        """The highest target that passed (None if none did)."""
        return self.best_pass

    def curve(self, key: str = "p95") -> list[tuple[float, float]]:
        """(target, summary latency_ms[key]) per step, sorted by target, for `find_knee` and plots."""
        pts = []
        for s in self.steps:
            lat = s.summary.get("latency_ms") if isinstance(s.summary, dict) else None
            v = lat.get(key) if isinstance(lat, dict) else None
            if v is not None and not (isinstance(v, float) and math.isnan(v)):
                pts.append((s.target, float(v)))
        return sorted(pts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "done": self.done,
            "stop_reason": self.stop_reason,
            "best_pass": self.best_pass,
            "first_fail": self.first_fail,
            "ceiling": self.ceiling,
            "integer": self.integer,
            "confirm": self.confirm,
            "retests": list(self.retests),
            "disagreements": list(self.disagreements),
            "inconclusive": list(self.inconclusive),
            "lost": list(self.lost),
            "steps": [s.to_dict() for s in self.steps],
        }


def stability(search: CapacitySearch, *, busy_steps: int = 0) -> dict[str, Any]:
    """How far to trust the result: which steps disagreed, and a one-line note.

    `busy_steps` is how many steps ran while the machine was busy (the
    generator's own judgment, passed in by the caller). `level` is "stable"
    (every failure that counted was confirmed, no disagreement), "noisy"
    (a step failed and then passed its re-test), "unconfirmed" (failures were
    believed at once, `confirm=0`), "busy" (stopped: the machine, not the
    endpoint, failed the steps) or "incomplete" (stopped: a load worker was lost
    in a step and again in its re-run).
    """
    lo, hi = search.bracket
    failures = sum(1 for s in search.steps if not s.passed and not s.client_bound and not s.lost)
    confirmed = len(search.retests)
    if search.disagreements:
        level = "noisy"
        where = ", ".join(f"{t:g}" for t in search.disagreements)
        note = (f"steps disagreed at {where} (failed, then passed a re-test): a stall of the endpoint or of this "
                f"machine, not its limit, so the pass stood; near the limit such noise can move a repeat "
                f"elsewhere in the bracket")
    elif search.confirm == 0 and failures:
        level = "unconfirmed"
        note = ("failing steps were not re-tested (confirm 0): one stall can fail a step, so on a busy machine "
                "the result may be low; re-test failures (--confirm 1) for a repeatable answer")
    else:
        level = "stable"
        note = (f"every failure was confirmed by a re-test ({confirmed} re-test{'s' if confirmed != 1 else ''})"
                if confirmed else "no step failed" if not failures else "no failure needed confirming")
    if search.stop_reason == "machine busy":
        level = "busy"
        note = (f"the search stopped: {search.busy_retries + 1} steps in a row failed while this machine was busy "
                f"and the generator's requests left late, which measures the machine, not the endpoint; the best "
                f"pass (if any) is a lower bound; rerun on a quieter machine or with the generator elsewhere")
    elif search.inconclusive:
        n = len(search.inconclusive)
        note += (f"; {n} step{'s' if n != 1 else ''} failed only while this machine was busy (requests left late) "
                 f"and {'were' if n != 1 else 'was'} run again")
    if search.stop_reason == "worker lost":
        level = "incomplete"
        note = (f"the search stopped: a load worker was lost in the step at {search.steps[-1].target:g} and again "
                f"when it was run again ({search.lost_retries + 1} times in a row), so that step sent only part of "
                f"its schedule and judged nothing; the best pass (if any) is a lower bound")
    elif search.lost:
        n = len(search.lost)
        note += f"; {n} step{'s' if n != 1 else ''} lost a load worker and {'were' if n != 1 else 'was'} run again"
    if busy_steps:
        note += f"; the machine was busy during {busy_steps} step{'s' if busy_steps != 1 else ''}"
    width = None if lo is None or hi is None else (hi - lo) / lo
    return {"level": level, "disagreed_at": list(search.disagreements), "retests": confirmed,
            "inconclusive": len(search.inconclusive),
            "busy_steps": busy_steps, "bracket_width": width, "note": note}


def find_knee(curve: Sequence[tuple[float, float]]) -> float | None:
    """The x where a rising latency curve bends upwards most sharply (Kneedle).

    Kneedle (Satopää et al., 2011) without smoothing: sort by x, scale x and y
    to [0, 1], and take the point furthest below the chord from the first to
    the last point (for an increasing convex curve, max of x_n - y_n). On a
    hockey stick (flat, then rising) that is the corner. Returns None with
    fewer than three usable points, a flat curve, or no point below the chord
    (a linear or concave curve has no knee). Points with NaN y are ignored;
    repeated x values are averaged.
    """
    pts = [(float(x), float(y)) for x, y in curve if math.isfinite(x) and math.isfinite(y)]
    if len(pts) < 3:
        return None
    xs_raw = np.array([p[0] for p in pts])
    ys_raw = np.array([p[1] for p in pts])
    xs, inv = np.unique(xs_raw, return_inverse=True)
    ys = np.bincount(inv, weights=ys_raw) / np.bincount(inv)
    if len(xs) < 3:
        return None
    yr = ys[-1] - ys[0]
    if yr <= 0 or np.ptp(ys) == 0:
        return None  # not rising overall: no knee in the sense of "latency takes off"
    xn = (xs - xs[0]) / (xs[-1] - xs[0])
    yn = (ys - ys[0]) / yr
    diff = xn - yn
    k = int(np.argmax(diff))
    if diff[k] <= 1e-9:
        return None
    return float(xs[k])


# which SLO metric, when failed, points at which limit (most telling first)
def limiting_factor(result: StepResult) -> str:
    """What limited a step: 'generator', 'errors', 'saturation', 'goodput' or 'latency'; 'none' for a clean pass.

    Reading order: a generator-bound step says nothing about the endpoint;
    errors are the most severe sign; a failed achieved ratio or throughput
    means the endpoint could not keep up (saturation); a failed goodput share
    means too few requests met their per-request objectives (`core.goodput`);
    otherwise latency (or another objective) was too high. A failed SLO text that cannot be parsed
    counts as latency.
    """
    if result.client_bound:
        return "generator"
    if not result.failed:
        return "none" if result.passed else "latency"
    from stinger.core.slo import parse_slo  # local: capacity needs slo only here

    metrics = set()
    for text in result.failed:
        try:
            metrics.add(parse_slo(text).metric)
        except UsageError:
            metrics.add("?")
    if "error_rate" in metrics:
        return "errors"
    if metrics & {"achieved_ratio", "throughput"}:
        return "saturation"
    if "goodput" in metrics:
        return "goodput"
    return "latency"


def cost_per_million(price_per_hour: float, instances: int, throughput_rps: float) -> float:
    """Dollars per 1e6 inferences when `instances` at `price_per_hour` each sustain `throughput_rps` in all."""
    if not isinstance(price_per_hour, (int, float)) or not math.isfinite(price_per_hour) or price_per_hour < 0:
        raise UsageError(f"price per hour must be a number >= 0, got {price_per_hour!r}")
    if not isinstance(instances, int) or isinstance(instances, bool) or instances < 1:
        raise UsageError(f"instance count must be an integer >= 1, got {instances!r}")
    if not isinstance(throughput_rps, (int, float)) or not math.isfinite(throughput_rps) or throughput_rps <= 0:
        raise UsageError(f"throughput must be > 0 req/s to price it, got {throughput_rps!r}")
    per_hour = price_per_hour * instances
    inferences_per_hour = throughput_rps * 3600.0
    return per_hour / inferences_per_hour * 1e6


@dataclass(frozen=True, slots=True)
class Level:
    """One level of an adaptive ramp: run `target` from the instant it is set, let it settle `settle_s`
    (not judged), then judge the next `window_s` seconds; `hold` marks the final hold at the load found."""

    target: float
    settle_s: float
    window_s: float
    hold: bool = False
    pause_s: float = 0.0   # before the level, the load off this long: the overload's backlog drains first


class AdaptiveRamp:
    """The policy of `stinger capacity --adaptive`: ONE run whose load is raised level by level through
    live load changes, then held at the highest level that passed. Pure, like `CapacitySearch`, which it
    drives: which level comes next is the search's rule (grow geometrically while the windows pass; after
    a counted failure halve the step between the best pass and the first fail; a failing window is
    re-tested at the same level `confirm` times before it counts, a marginal goodput pass once, a `clear`
    failure counts at once), so both modes find the same boundary by the same rules and differ only in
    how a level is run: here as a window of the running load, not as a run of its own.

    What a live ramp adds: a level starts where the last one left the endpoint, so a new level after a
    failed window first turns the load off for `pause_s` (`drain_s`, the caller's estimate of the
    overload's backlog, as the step search's cool-down: at a lower but still busy level a queue drains at
    the spare capacity only, which can take minutes, and its late requests would fail the next window),
    then settles `warmup_s`, as every new level does; a re-test at the same level
    is the next window of the load already running (settle 0: it judges whether the level holds on, not
    whether it passes from idle); and when the search is over, one more level holds the best pass for
    `hold_s` seconds (none when nothing passed or `hold_s` is 0). When the load is already there (the
    last window passed at it) the hold starts at once."""

    def __init__(self, search: CapacitySearch, *, warmup_s: float, window_s: float, hold_s: float = 0.0) -> None:
        for name, v in (("warmup", warmup_s), ("window", window_s), ("hold", hold_s)):
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise UsageError(f"adaptive capacity {name} must be a duration >= 0 s, got {v!r}")
        if window_s <= 0:
            raise UsageError(f"adaptive capacity window must be > 0 s, got {window_s!r}")
        self.search = search
        self.warmup_s = float(warmup_s)
        self.window_s = float(window_s)
        self.hold_s = float(hold_s)
        self.held: StepResult | None = None
        self._last: StepResult | None = None
        self._drain = 0.0
        self._hold_done = False

    def next_level(self) -> Level | None:
        """The next level to run, or None when the ramp (and its hold) is over. Idempotent until `record`."""
        target = self.search.next_target()
        last = self._last
        if target is not None:
            if last is not None and math.isclose(last.target, target, rel_tol=1e-9):
                # a re-test: the load goes on unchanged, so its next window follows at once
                return Level(target=target, settle_s=0.0, window_s=self.window_s)
            return Level(target=target, settle_s=self.warmup_s, window_s=self.window_s, pause_s=self._pause())
        best = self.search.best_pass
        if self._hold_done or best is None or self.hold_s <= 0:
            return None
        if last is not None and last.passed and math.isclose(last.target, best, rel_tol=1e-9):
            return Level(target=best, settle_s=0.0, window_s=self.hold_s, hold=True)
        return Level(target=best, settle_s=self.warmup_s, window_s=self.hold_s, hold=True, pause_s=self._pause())

    def _pause(self) -> float:
        last = self._last
        return self._drain if last is not None and not last.passed else 0.0

    def record(self, result: StepResult, *, drain_s: float = 0.0) -> None:
        """Feed the verdict of the window of `next_level()`; `drain_s`: how long its backlog takes to drain."""
        level = self.next_level()
        if level is None:
            raise RuntimeError("the adaptive ramp is over; no more windows to record")
        if level.hold:
            if not math.isclose(result.target, level.target, rel_tol=1e-9, abs_tol=1e-9):
                raise ValueError(f"expected the hold at {level.target:g}, got a result at {result.target:g}")
            self.held = result
            self._hold_done = True
        else:
            self.search.record(result)
        self._last = result
        self._drain = max(0.0, float(drain_s))

    @property
    def done(self) -> bool:
        return self.next_level() is None
