"""The load generator watching itself: is it the bottleneck?

A load test whose generator ran out of CPU measures the generator, not the
endpoint: requests leave late (schedule lag), latencies include the client's
own queueing, and the "capacity" found is the client's. This module owns the
two halves of catching that:

* `GeneratorMonitor(pids)` samples each load-generator worker process's CPU as
  % of one core (`generator.worker_cpu_pct`, label `worker=<i>` by position in
  `pids`) and the busiest worker (`generator.worker_cpu_max_pct`). Our workers
  run one event loop each, so one worker can never use more than one core
  usefully: ~100 % means it is saturated.
* `judge_generator(...)`, a pure verdict over run-level statistics.

Client-bound when any of (defaults in `GeneratorThresholds`):

1. a worker's CPU p90 >= 90 % of a core: the loop is busy nearly all the time,
   so timers fire late and responses wait to be read;
2. event-loop lag p99 > 10 ms: the loop itself was late to wake up;
3. schedule lag p99 > 10 ms, while the server's own time stays below it
   (server p50 < schedule-lag p99: the lag is not the server's slowness pushing
   back through the in-flight bound) - or, with no server time, while achieved
   throughput stays within 5 % of offered (the endpoint kept up, so the lateness
   was the generator's).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import psutil

from stinger.monitors.base import MonitorError, Point

__all__ = [
    "DEFAULT_THRESHOLDS",
    "GeneratorMonitor",
    "GeneratorThresholds",
    "GeneratorVerdict",
    "judge_generator",
    "worker_cpu_p90",
]


class GeneratorMonitor:
    """CPU % of one core of each load-generator worker process, and the maximum."""

    def __init__(self, pids: Sequence[int], *, name: str = "generator") -> None:
        self.name = name
        self.pids = list(pids)
        self._procs: list[tuple[int, psutil.Process]] = []

    def start(self) -> None:
        self._procs = []
        for i, pid in enumerate(self.pids):
            try:
                proc = psutil.Process(pid)
                proc.cpu_percent(None)  # the first call only sets the baseline
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            self._procs.append((i, proc))
        if not self._procs:
            raise MonitorError(f"no generator worker process found (PIDs {', '.join(map(str, self.pids)) or 'none'})")

    def sample(self, t: float) -> list[Point]:
        points: list[Point] = []
        alive: list[tuple[int, psutil.Process]] = []
        for i, proc in self._procs:
            try:
                pct = proc.cpu_percent(None)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue  # a worker that finished or died is reported by the engine
            alive.append((i, proc))
            points.append(Point(t, f"{self.name}.worker_cpu_pct", pct, "%", (("worker", str(i)),)))
        self._procs = alive
        if points:
            points.append(Point(t, f"{self.name}.worker_cpu_max_pct", max(p.value for p in points), "%"))
        return points

    def stop(self) -> None:
        self._procs = []


def worker_cpu_p90(points: Iterable[Point], name: str = "generator") -> float | None:
    """The highest per-worker p90 of `<name>.worker_cpu_pct`; None without samples."""
    by_worker: dict[tuple[tuple[str, str], ...], list[float]] = {}
    for p in points:
        if p.series == f"{name}.worker_cpu_pct" and math.isfinite(p.value):
            by_worker.setdefault(p.labels, []).append(p.value)
    if not by_worker:
        return None
    return max(_p90(values) for values in by_worker.values())


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    # Nearest rank: the smallest value with at least 90 % of samples at or below it.
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


@dataclass(frozen=True)
class GeneratorThresholds:
    """When the generator counts as the bottleneck; see the module docstring."""

    worker_cpu_pct: float = 90.0  # a worker's CPU p90, % of one core
    schedule_lag_p99_ms: float = 10.0
    loop_lag_p90_ms: float = 10.0
    kept_up_ratio: float = 0.95  # achieved / offered at or above which "the endpoint kept up"


DEFAULT_THRESHOLDS = GeneratorThresholds()


@dataclass(frozen=True)
class GeneratorVerdict:
    client_bound: bool
    reasons: list[str] = field(default_factory=list)

    def message(self) -> str:
        if not self.client_bound:
            return "generator kept up: these results measure the endpoint"
        return (
            "client-bound: these results understate the endpoint; add workers (--workers) or machines ("
            + "; ".join(self.reasons)
            + ")"
        )


def judge_generator(
    *,
    worker_cpu_pct_p90: float | None,
    schedule_lag_p99_ms: float | None,
    loop_lag_p90_ms: float | None,
    offered_rps: float,
    achieved_rps: float,
    server_time_p50_ms: float | None = None,
    thresholds: GeneratorThresholds = DEFAULT_THRESHOLDS,
) -> GeneratorVerdict:
    """Was the load generator the bottleneck of this run? Pure; None = not measured."""
    th = thresholds
    reasons: list[str] = []
    if worker_cpu_pct_p90 is not None and worker_cpu_pct_p90 >= th.worker_cpu_pct:
        reasons.append(
            f"a worker's CPU p90 was {worker_cpu_pct_p90:.0f}% of a core (limit {th.worker_cpu_pct:.0f}%)"
        )
    if loop_lag_p90_ms is not None and loop_lag_p90_ms > th.loop_lag_p90_ms:
        reasons.append(f"event-loop lag p90 was {loop_lag_p90_ms:.1f} ms (limit {th.loop_lag_p90_ms:g} ms)")
    if schedule_lag_p99_ms is not None and schedule_lag_p99_ms > th.schedule_lag_p99_ms:
        lag = f"schedule lag p99 was {schedule_lag_p99_ms:.1f} ms (limit {th.schedule_lag_p99_ms:g} ms)"
        if server_time_p50_ms is not None:
            if server_time_p50_ms < schedule_lag_p99_ms:
                reasons.append(f"{lag} while the server's own time p50 was {server_time_p50_ms:.1f} ms")
        elif offered_rps > 0 and achieved_rps >= th.kept_up_ratio * offered_rps:
            reasons.append(f"{lag} while the endpoint kept up with the offered rate")
    return GeneratorVerdict(bool(reasons), reasons)
