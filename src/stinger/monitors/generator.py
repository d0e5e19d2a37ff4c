"""The load generator watching itself: is it the bottleneck, or is the machine busy?

A load test whose generator ran out of CPU measures the generator, not the
endpoint: requests leave late (schedule lag), latencies include the client's
own queueing, and the "capacity" found is the client's. On a shared machine a
second cause looks the same from outside: the generator is not busy, but other
processes hold the cores, so its timers fire late. This module owns telling
these apart, from what the generator can observe about itself:

* `GeneratorMonitor(pids)` samples each load-generator worker process:
  its CPU as % of one core (`generator.worker_cpu_pct`, label `worker=<i>` by
  position in `pids`; the busiest in `generator.worker_cpu_max_pct`), and from
  the kernel's scheduler statistics of its threads
  (`/proc/<pid>/task/*/schedstat`: time on a CPU, time runnable but waiting for one)
  how long it waited for a CPU (`generator.worker_wait_pct`) and how much of
  a core it *wanted* (`generator.worker_demand_pct` = running + waiting).
  Our workers run one event loop each, so one worker can never use more than
  one core usefully: a demand near 100 % means it is saturated, whether or not
  the machine let it run. Where schedstat is missing (not Linux, or a kernel
  without it) only the CPU series exist and the verdict falls back to them.
* `judge_generator(...)`, a pure verdict over run-level statistics.

Client-bound (the generator limited the run; defaults in `GeneratorThresholds`)
when any of:

1. a worker's demand p90 (or, without schedstat, its CPU p90) >= 90 % of a
   core: the loop had work nearly all the time, so timers fire late and
   responses wait to be read;
2. event-loop lag p90 > 10 ms: the loop itself was late to wake up;
3. schedule lag p99 > 10 ms, while the server's own time stays below it
   (server p50 < schedule-lag p99: the lag is not the server's slowness pushing
   back through the in-flight bound) - or, with no server time, while achieved
   throughput stays within 5 % of offered (the endpoint kept up, so the lateness
   was the generator's).

The machine is busy when a worker's run-queue wait p90 >= 10 % of the time:
other processes held the cores it was ready to use; or, from the machine as a
whole (`MachineLoad`, sampled each second by the same monitor: the runnable
threads of `/proc/stat` procs_running, the busy and steal shares of the CPU
time, and the CPU other processes than the workers used), when the load is at
least the core count, the hypervisor stole >= 10 % of the CPU, or the cores
were >= 90 % busy. A run where rules 2 or 3 fire only because of that (its
demand stayed below the limit) is not client-bound - more workers would not
help - and the verdict says the machine was busy instead, with its load ("load
3.1 on 2 cores"); a saturated worker on a busy machine is both.

The advice follows the cause. Only a saturated worker is helped by more
workers, and only when the machine has a core to spare (its load leaves one and
there are fewer workers than cores); otherwise more machines. Late requests
from workers that were not busy, on a machine that was not either, are still
the client's lateness (client-bound), but the verdict says more workers would
not help instead of advising them: "client-bound: add workers" at 20 req/s
with 1.7 % worker CPU was advice that could not help.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil

from stinger.monitors.base import MonitorError, Point

__all__ = [
    "DEFAULT_THRESHOLDS",
    "GeneratorMonitor",
    "GeneratorThresholds",
    "GeneratorVerdict",
    "MachineLoad",
    "judge_generator",
    "machine_load",
    "read_schedstat",
    "worker_cpu_p90",
    "worker_p90",
]


def read_schedstat(pid: int) -> tuple[int, int] | None:
    """(ns on a CPU, ns runnable but waiting for one), summed over a process's threads; None if unavailable.

    All threads, not just the event loop's: a worker is one GIL-bound Python
    process, and while its flush thread holds the GIL the loop thread sleeps on
    it, not counted as waiting; the flush thread's own running and waiting is
    the process's demand for that time.
    """
    ran = waited = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as f:
                fields = f.read().split()
            ran += int(fields[0])
            waited += int(fields[1])
        except FileNotFoundError:
            continue  # a thread that ended between the listing and the read
        except (OSError, ValueError, IndexError):
            return None
    return ran, waited


def cores() -> int:
    """The cores this process may run on (its affinity), which is what its workers share."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def read_runnable() -> int | None:
    """Threads running or ready to run on the whole machine now (`procs_running` of /proc/stat), less the reader."""
    try:
        with open("/proc/stat", "rb") as f:
            for line in f:
                if line.startswith(b"procs_running "):
                    return max(0, int(line.split()[1]) - 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


class GeneratorMonitor:
    """Per load-generator worker: CPU % of one core, and its run-queue wait and demand from schedstat.

    And the machine around them, each second: `generator.machine_cpu_pct` (busy share of all the cores'
    time), `generator.machine_steal_pct`, `generator.machine_runnable` (threads running or waiting for a
    CPU) and `generator.others_cpu_pct` (CPU, in % of one core, used by anything but the workers).
    """

    def __init__(self, pids: Sequence[int], *, name: str = "generator") -> None:
        self.name = name
        self.pids = list(pids)
        self._procs: list[tuple[int, psutil.Process]] = []
        # worker -> (perf_counter ns, run ns, wait ns) at the previous sample
        self._sched: dict[int, tuple[int, int, int]] = {}
        self._cpu_times: Any = None   # the machine's CPU times at the previous sample
        self.cores = cores()

    def start(self) -> None:
        self._procs = []
        for i, pid in enumerate(self.pids):
            try:
                proc = psutil.Process(pid)
                proc.cpu_percent(None)  # the first call only sets the baseline
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            self._procs.append((i, proc))
            self._sched_delta(i, pid)  # baseline
        if not self._procs:
            raise MonitorError(f"no generator worker process found (PIDs {', '.join(map(str, self.pids)) or 'none'})")
        self._cpu_times = psutil.cpu_times()

    def sample(self, t: float) -> list[Point]:
        points: list[Point] = []
        alive: list[tuple[int, psutil.Process]] = []
        for i, proc in self._procs:
            try:
                pct = proc.cpu_percent(None)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue  # a worker that finished or died is reported by the engine
            alive.append((i, proc))
            label = (("worker", str(i)),)
            points.append(Point(t, f"{self.name}.worker_cpu_pct", pct, "%", label))
            sched = self._sched_delta(i, proc.pid)
            if sched is not None:
                wait_pct, demand_pct = sched
                points.append(Point(t, f"{self.name}.worker_wait_pct", wait_pct, "%", label))
                points.append(Point(t, f"{self.name}.worker_demand_pct", demand_pct, "%", label))
        self._procs = alive
        cpu = [p.value for p in points if p.series == f"{self.name}.worker_cpu_pct"]
        if cpu:
            points.append(Point(t, f"{self.name}.worker_cpu_max_pct", max(cpu), "%"))
        points.extend(self._machine(t, sum(cpu)))
        return points

    def _machine(self, t: float, workers_pct: float) -> list[Point]:
        """The machine since the previous sample: busy and stolen shares of all cores, runnable threads, and the
        CPU (% of one core) used by anything but the workers."""
        now = psutil.cpu_times()
        prev, self._cpu_times = self._cpu_times, now
        out = []
        runnable = read_runnable()
        if runnable is not None:
            out.append(Point(t, f"{self.name}.machine_runnable", float(runnable), "threads"))
            # the load that is not the workers' own (a busy worker is one runnable thread a core)
            out.append(Point(t, f"{self.name}.others_runnable", max(0.0, runnable - workers_pct / 100), "threads"))
        if prev is None:
            return out
        total = sum(now) - sum(prev)
        if total <= 0:
            return out
        idle = (now.idle - prev.idle) + (getattr(now, "iowait", 0.0) - getattr(prev, "iowait", 0.0))
        busy = max(0.0, min(100.0, 100.0 * (total - idle) / total))
        steal = max(0.0, 100.0 * (getattr(now, "steal", 0.0) - getattr(prev, "steal", 0.0)) / total)
        out.append(Point(t, f"{self.name}.machine_cpu_pct", busy, "%"))
        out.append(Point(t, f"{self.name}.machine_steal_pct", steal, "%"))
        out.append(Point(t, f"{self.name}.others_cpu_pct", max(0.0, busy * self.cores - workers_pct), "%"))
        return out

    def _sched_delta(self, worker: int, pid: int) -> tuple[float, float] | None:
        """(wait %, demand %) of wall time since the previous call for this worker; None on the first."""
        now = time.perf_counter_ns()
        stat = read_schedstat(pid)
        if stat is None:
            return None
        prev = self._sched.get(worker)
        self._sched[worker] = (now, *stat)
        if prev is None or now <= prev[0]:
            return None
        wall = now - prev[0]
        ran, waited = stat[0] - prev[1], stat[1] - prev[2]
        # A thread cannot run and wait for more than the wall time; clamp rounding at the edges.
        return min(100.0, 100.0 * waited / wall), min(100.0, 100.0 * (ran + waited) / wall)

    def stop(self) -> None:
        self._procs = []
        self._sched = {}


def worker_p90(points: Iterable[Point], series: str) -> float | None:
    """The highest per-worker p90 of one per-worker series (e.g. `generator.worker_demand_pct`); None without samples."""
    by_worker: dict[tuple[tuple[str, str], ...], list[float]] = {}
    for p in points:
        if p.series == series and math.isfinite(p.value):
            by_worker.setdefault(p.labels, []).append(p.value)
    if not by_worker:
        return None
    return max(_p90(values) for values in by_worker.values())


@dataclass(frozen=True)
class MachineLoad:
    """The machine the workers ran on, over the run: what tells "the machine is busy" apart."""

    cores: int
    runnable: float | None = None          # mean threads running or waiting for a CPU (the load)
    cpu_pct_p90: float | None = None       # busy share of all cores' time, p90 of the seconds
    steal_pct_p90: float | None = None     # time the hypervisor gave to others, p90
    others_cpu_pct_p90: float | None = None  # CPU used by anything but the workers, % of one core, p90
    others_runnable: float | None = None   # mean runnable threads that are not the workers' own

    def text(self) -> str:
        parts = [f"load {self.runnable:.1f} on {self.cores} core{'s' if self.cores != 1 else ''}"
                 if self.runnable is not None else f"{self.cores} cores"]
        if self.cpu_pct_p90 is not None:
            parts.append(f"CPUs {self.cpu_pct_p90:.0f}% busy")
        if self.others_cpu_pct_p90 is not None:
            parts.append(f"{self.others_cpu_pct_p90 / 100:.1f} cores used by the rest of the machine")
        if self.steal_pct_p90:
            parts.append(f"steal {self.steal_pct_p90:.0f}%")
        return ", ".join(parts)

    def to_dict(self) -> dict:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 2)

        return {"cores": self.cores, "load": r(self.runnable), "others_load": r(self.others_runnable),
                "cpu_pct_p90": r(self.cpu_pct_p90), "steal_pct_p90": r(self.steal_pct_p90),
                "others_cpu_pct_p90": r(self.others_cpu_pct_p90)}


def machine_load(points: Iterable[Point], name: str = "generator") -> MachineLoad:
    """The machine's load over a run, from a `GeneratorMonitor`'s points."""
    by: dict[str, list[float]] = {}
    for p in points:
        if p.series.startswith((f"{name}.machine_", f"{name}.others_")):
            if math.isfinite(p.value):
                by.setdefault(p.series[len(name) + 1:], []).append(p.value)

    def p90(key: str) -> float | None:
        return _p90(by[key]) if by.get(key) else None

    def mean(key: str) -> float | None:
        return sum(by[key]) / len(by[key]) if by.get(key) else None

    return MachineLoad(cores(), mean("machine_runnable"), p90("machine_cpu_pct"), p90("machine_steal_pct"),
                       p90("others_cpu_pct"), mean("others_runnable"))


def worker_cpu_p90(points: Iterable[Point], name: str = "generator") -> float | None:
    """The highest per-worker p90 of `<name>.worker_cpu_pct`; None without samples."""
    return worker_p90(points, f"{name}.worker_cpu_pct")


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    # Nearest rank: the smallest value with at least 90 % of samples at or below it.
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


@dataclass(frozen=True)
class GeneratorThresholds:
    """When the generator counts as the bottleneck; see the module docstring."""

    worker_cpu_pct: float = 90.0  # a worker's CPU (or demand: running + waiting) p90, % of one core
    machine_wait_pct: float = 10.0  # a worker's run-queue wait p90, % of the time: the machine is busy
    machine_cpu_pct: float = 90.0   # the machine's cores this busy (p90 of the seconds): busy
    steal_pct: float = 10.0         # the hypervisor took this share of the CPU (p90): busy
    schedule_lag_p99_ms: float = 10.0
    loop_lag_p90_ms: float = 10.0
    kept_up_ratio: float = 0.95  # achieved / offered at or above which "the endpoint kept up"


DEFAULT_THRESHOLDS = GeneratorThresholds()


@dataclass(frozen=True)
class GeneratorVerdict:
    client_bound: bool
    reasons: list[str] = field(default_factory=list)
    machine_busy: bool = False
    busy_reasons: list[str] = field(default_factory=list)
    lagged: bool = False  # requests left late or the loop woke late (schedule / loop lag over the limits)
    # what would help a client-bound run: "add workers (--workers) or machines", "add machines (...)", or
    # "" when more workers would not (no worker was busy)
    advice: str = "add workers (--workers) or machines"
    machine: MachineLoad | None = None

    def message(self) -> str:
        said = any(r.startswith("load ") for r in self.busy_reasons)   # the load is already among the reasons
        load = f"; {self.machine.text()}" if self.machine is not None and not said else ""
        if self.machine_busy and (self.client_bound or self.lagged):
            busy = ("the machine is busy: other processes held the CPUs the generator needed, so requests "
                    "left late and these results include that wait; rerun on a quieter machine ("
                    + "; ".join(self.busy_reasons) + load + ")")
        elif self.machine_busy:
            busy = ("generator kept up, though the machine is busy (" + "; ".join(self.busy_reasons) + load
                    + "); requests still left on time")
        if not self.client_bound:
            return busy if self.machine_busy else "generator kept up: these results measure the endpoint"
        if self.advice:
            bound = (f"client-bound: these results understate the endpoint; {self.advice} ("
                     + "; ".join(self.reasons) + ")")
        else:
            bound = ("client-bound: requests left late though no worker was busy, so more workers would not help ("
                     + "; ".join(self.reasons) + load + ")")
        return f"{bound}; {busy}" if self.machine_busy else bound


def judge_generator(
    *,
    worker_cpu_pct_p90: float | None,
    schedule_lag_p99_ms: float | None,
    loop_lag_p90_ms: float | None,
    offered_rps: float,
    achieved_rps: float,
    server_time_p50_ms: float | None = None,
    worker_demand_pct_p90: float | None = None,
    worker_wait_pct_p90: float | None = None,
    machine: MachineLoad | None = None,
    workers: int | None = None,
    thresholds: GeneratorThresholds = DEFAULT_THRESHOLDS,
) -> GeneratorVerdict:
    """Was the load generator the bottleneck of this run, or the machine busy? Pure; None = not measured.

    `worker_demand_pct_p90`/`worker_wait_pct_p90`: the worst worker's p90 of
    running + waiting for a CPU, and of waiting alone, in % of wall time
    (from schedstat); without them only CPU use and lags are judged.
    `machine`: the machine's load over the run; `workers`: how many ran on it.
    """
    th = thresholds
    saturated: list[str] = []
    if worker_cpu_pct_p90 is not None and worker_cpu_pct_p90 >= th.worker_cpu_pct:
        saturated.append(
            f"a worker's CPU p90 was {worker_cpu_pct_p90:.0f}% of a core (limit {th.worker_cpu_pct:.0f}%)"
        )
    elif worker_demand_pct_p90 is not None and worker_demand_pct_p90 >= th.worker_cpu_pct:
        # Busy on a shared core: it ran less than a core only because it had to wait for one.
        saturated.append(
            f"a worker needed {worker_demand_pct_p90:.0f}% of a core (p90 of running + waiting for a CPU; "
            f"limit {th.worker_cpu_pct:.0f}%)"
        )
    busy_reasons: list[str] = []
    if worker_wait_pct_p90 is not None and worker_wait_pct_p90 >= th.machine_wait_pct:
        busy_reasons.append(
            f"a worker waited for a CPU {worker_wait_pct_p90:.0f}% of the time, p90 (limit {th.machine_wait_pct:.0f}%)"
        )
    if machine is not None:
        # busy with others' work: the workers' own load filling the cores is saturation, judged above
        others_load = machine.others_runnable if machine.others_runnable is not None else machine.runnable
        if machine.runnable is not None and machine.runnable >= machine.cores and (others_load or 0) >= 1:
            busy_reasons.append(f"load {machine.runnable:.1f} on {machine.cores} cores, {others_load:.1f} of it not "
                                f"the workers' (threads running or waiting for a CPU, on average)")
        if (machine.cpu_pct_p90 is not None and machine.cpu_pct_p90 >= th.machine_cpu_pct
                and (machine.others_cpu_pct_p90 is None or machine.others_cpu_pct_p90 >= 100)):
            busy_reasons.append(f"the {machine.cores} cores were {machine.cpu_pct_p90:.0f}% busy, p90 (limit "
                                f"{th.machine_cpu_pct:.0f}%)")
        if machine.steal_pct_p90 is not None and machine.steal_pct_p90 >= th.steal_pct:
            busy_reasons.append(f"the hypervisor took {machine.steal_pct_p90:.0f}% of the CPU (steal, p90)")
    reasons: list[str] = []
    if loop_lag_p90_ms is not None and loop_lag_p90_ms > th.loop_lag_p90_ms:
        reasons.append(f"event-loop lag p90 was {loop_lag_p90_ms:.1f} ms (limit {th.loop_lag_p90_ms:g} ms)")
    if schedule_lag_p99_ms is not None and schedule_lag_p99_ms > th.schedule_lag_p99_ms:
        lag = f"schedule lag p99 was {schedule_lag_p99_ms:.1f} ms (limit {th.schedule_lag_p99_ms:g} ms)"
        if server_time_p50_ms is not None:
            if server_time_p50_ms < schedule_lag_p99_ms:
                reasons.append(f"{lag} while the server's own time p50 was {server_time_p50_ms:.1f} ms")
        elif offered_rps > 0 and achieved_rps >= th.kept_up_ratio * offered_rps:
            reasons.append(f"{lag} while the endpoint kept up with the offered rate")
    lagged = bool(reasons)
    if busy_reasons and not saturated:
        # Any lag came from waiting for a CPU other processes held, not from the
        # generator's own work: more workers would not help. Say so instead.
        return GeneratorVerdict(False, [], True, busy_reasons + reasons, lagged, "", machine)
    advice = ""   # late, but no worker busy: more of them would not help
    if saturated:
        spare = machine is None or (
            (machine.runnable is None or machine.runnable <= machine.cores - 1)
            and (workers is None or workers < machine.cores))
        advice = ("add workers (--workers) or machines" if spare else
                  f"add machines: this one has no core to spare ({machine.text() if machine else ''})")
    reasons = saturated + reasons
    return GeneratorVerdict(bool(reasons), reasons, bool(busy_reasons), busy_reasons, lagged, advice, machine)
