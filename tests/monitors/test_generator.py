"""GeneratorMonitor on real processes, and the pure client-bound verdict."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from stinger.monitors.base import MonitorError, Point
from stinger.monitors.generator import (
    GeneratorMonitor,
    GeneratorThresholds,
    MachineLoad,
    judge_generator,
    machine_load,
    read_schedstat,
    worker_cpu_p90,
    worker_p90,
)

HAS_SCHEDSTAT = read_schedstat(os.getpid()) is not None

# A starved "worker": spins until its stdin closes (checked between 50 ms bursts).
SPIN = """
import select, sys, time
while not select.select([sys.stdin], [], [], 0)[0]:
    end = time.perf_counter() + 0.05
    while time.perf_counter() < end:
        pass
"""
IDLE = "import sys; sys.stdin.read()"


def _spawn(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)


@pytest.fixture
def workers() -> Iterator[tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]]:
    busy, idle = _spawn(SPIN), _spawn(IDLE)
    yield busy, idle
    for proc in (busy, idle):
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def test_a_spinning_worker_shows_the_cpu_it_got(workers) -> None:
    busy, idle = workers

    def stamp() -> tuple[float, list[float]]:
        return time.perf_counter(), [_cpu_seconds(p.pid) for p in workers]

    before_start = stamp()
    monitor = GeneratorMonitor([busy.pid, idle.pid])
    monitor.start()
    after_start = stamp()
    time.sleep(1.0)
    before_sample = stamp()
    points = monitor.sample(1.0)
    after_sample = stamp()
    by_worker = {p.labels: p.value for p in points if p.series == "generator.worker_cpu_pct"}
    # On an idle machine the spinner reads ~100 %; other load on the machine lowers it (beside two CPU
    # hogs and a test suite it got 17.8 %), so each reading is compared with the CPU time the process
    # really got in the monitor's own window, which lies between the stamps taken around its start and
    # around its sample: the reading is bounded by the inner window's CPU over the outer wall time and
    # the outer window's CPU over the inner wall time (a busy machine widens the bounds by its own
    # delays, measured here), plus one clock tick of CPU accounting. What the spinner would use, whatever
    # else runs, is its demand (the next test).
    tick = 1.0 / os.sysconf("SC_CLK_TCK")
    outer_wall, inner_wall = after_sample[0] - before_start[0], before_sample[0] - after_start[0]

    def bounds(i: int) -> tuple[float, float]:
        inner = max(0.0, before_sample[1][i] - after_start[1][i] - tick)
        outer = after_sample[1][i] - before_start[1][i] + tick
        return 100.0 * inner / outer_wall - 1.0, 100.0 * outer / inner_wall + 1.0

    spinning, idling = by_worker[(("worker", "0"),)], by_worker[(("worker", "1"),)]
    (lo0, hi0), (lo1, hi1) = bounds(0), bounds(1)
    assert lo0 <= spinning <= hi0, (spinning, lo0, hi0)
    assert lo1 <= idling <= hi1 and idling < 10.0, (idling, lo1, hi1)
    assert spinning > idling
    maximum = [p for p in points if p.series == "generator.worker_cpu_max_pct"]
    assert len(maximum) == 1 and maximum[0].value == spinning
    assert worker_cpu_p90(points) == spinning


@pytest.mark.skipif(not HAS_SCHEDSTAT, reason="no /proc/<pid>/task/*/schedstat on this system")
def test_demand_is_a_full_core_for_a_spinner_whatever_else_runs(workers) -> None:
    # Demand = running + waiting for a CPU. A spinner is always runnable, so its
    # demand is ~100 % of the wall time however busy the machine is (what it does
    # not get to run, it waits): the measure the self-check judges by.
    busy, idle = workers
    monitor = GeneratorMonitor([busy.pid, idle.pid])
    monitor.start()
    time.sleep(0.5)
    monitor.sample(0.5)  # past the interpreters' start-up
    time.sleep(1.0)
    points = monitor.sample(1.5)
    demand = {p.labels: p.value for p in points if p.series == "generator.worker_demand_pct"}
    wait = {p.labels: p.value for p in points if p.series == "generator.worker_wait_pct"}
    cpu = {p.labels: p.value for p in points if p.series == "generator.worker_cpu_pct"}
    w0, w1 = (("worker", "0"),), (("worker", "1"),)
    assert demand[w0] > 90.0
    assert demand[w1] < 10.0
    # what the spinner did not run, it waited for (within the sampling slack)
    assert cpu[w0] + wait[w0] == pytest.approx(demand[w0], abs=15.0)
    assert worker_p90(points, "generator.worker_demand_pct") == demand[w0]


def test_schedstat_of_a_gone_process_is_none() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=10)
    assert read_schedstat(gone.pid) is None


def test_a_finished_worker_is_dropped_not_an_error(workers) -> None:
    busy, idle = workers
    monitor = GeneratorMonitor([busy.pid, idle.pid])
    monitor.start()
    assert idle.stdin is not None
    idle.stdin.close()
    idle.wait(timeout=10)
    points = monitor.sample(1.0)
    assert {p.labels for p in points if p.series == "generator.worker_cpu_pct"} == {(("worker", "0"),)}


def test_no_worker_found_is_a_monitor_error() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=10)
    with pytest.raises(MonitorError, match="no generator worker process found"):
        GeneratorMonitor([gone.pid]).start()


def test_worker_cpu_p90_is_the_worst_worker() -> None:
    w0, w1 = (("worker", "0"),), (("worker", "1"),)
    points = [Point(float(i), "generator.worker_cpu_pct", float(i * 10), "%", w0) for i in range(1, 11)]
    points += [Point(float(i), "generator.worker_cpu_pct", 5.0, "%", w1) for i in range(1, 11)]
    points.append(Point(1.0, "other", 1000.0))
    assert worker_cpu_p90(points) == 90.0
    assert worker_cpu_p90([]) is None


BASE = {
    "worker_cpu_pct_p90": 40.0,
    "schedule_lag_p99_ms": 1.0,
    "loop_lag_p90_ms": 1.0,
    "offered_rps": 1000.0,
    "achieved_rps": 1000.0,
    "server_time_p50_ms": 20.0,
}


@pytest.mark.parametrize(
    ("changes", "client_bound", "reason_part"),
    [
        ({}, False, None),
        ({"worker_cpu_pct_p90": 97.0}, True, "CPU p90 was 97%"),
        ({"worker_cpu_pct_p90": 90.0}, True, "CPU p90"),  # the limit itself counts
        ({"worker_cpu_pct_p90": 89.9}, False, None),
        ({"loop_lag_p90_ms": 25.0}, True, "event-loop lag p90 was 25.0 ms"),
        ({"loop_lag_p90_ms": 10.0}, False, None),
        # Late sends while the server works fast: the generator's fault.
        ({"schedule_lag_p99_ms": 40.0, "server_time_p50_ms": 3.0}, True, "server's own time p50 was 3.0 ms"),
        # Late sends because a slow server fills the in-flight bound: not the generator's.
        ({"schedule_lag_p99_ms": 40.0, "server_time_p50_ms": 800.0, "achieved_rps": 300.0}, False, None),
        # No server time: judge by whether the endpoint kept up with the offered rate.
        ({"schedule_lag_p99_ms": 40.0, "server_time_p50_ms": None}, True, "kept up with the offered rate"),
        ({"schedule_lag_p99_ms": 40.0, "server_time_p50_ms": None, "achieved_rps": 500.0}, False, None),
        ({"worker_cpu_pct_p90": None, "schedule_lag_p99_ms": None, "loop_lag_p90_ms": None}, False, None),
    ],
)
def test_judge_generator(changes: dict, client_bound: bool, reason_part: str | None) -> None:
    verdict = judge_generator(**{**BASE, **changes})
    assert verdict.client_bound is client_bound
    if reason_part is None:
        assert verdict.reasons == []
        assert verdict.message().startswith("generator kept up")
    elif (changes.get("worker_cpu_pct_p90") or 0) >= 90:   # a saturated worker: more of them would help
        assert any(reason_part in r for r in verdict.reasons), verdict.reasons
        assert verdict.message().startswith("client-bound: these results understate the endpoint; add workers")
    else:   # late, but no worker was busy: advising workers would be wrong
        assert any(reason_part in r for r in verdict.reasons), verdict.reasons
        assert verdict.message().startswith("client-bound: requests left late though no worker was busy, so more "
                                            "workers would not help"), verdict.message()


def test_every_reason_is_reported_and_thresholds_are_configurable() -> None:
    verdict = judge_generator(**{**BASE, "worker_cpu_pct_p90": 99.0, "loop_lag_p90_ms": 50.0})
    assert len(verdict.reasons) == 2
    lenient = GeneratorThresholds(worker_cpu_pct=100.0, loop_lag_p90_ms=100.0)
    assert not judge_generator(**{**BASE, "worker_cpu_pct_p90": 99.0, "loop_lag_p90_ms": 50.0}, thresholds=lenient).client_bound


@pytest.mark.parametrize(
    ("changes", "client_bound", "machine_busy", "start"),
    [
        # Saturated on a shared core: ran 60 %, waited the rest: still the generator's limit.
        ({"worker_cpu_pct_p90": 60.0, "worker_demand_pct_p90": 99.0, "worker_wait_pct_p90": 39.0},
         True, True, "client-bound: these results understate the endpoint; add workers"),
        ({"worker_cpu_pct_p90": 60.0, "worker_demand_pct_p90": 89.0, "worker_wait_pct_p90": 5.0},
         False, False, "generator kept up: these results measure the endpoint"),
        # Lightly loaded worker, late only because others held the CPUs: the machine, not the generator.
        ({"worker_cpu_pct_p90": 7.0, "worker_demand_pct_p90": 30.0, "worker_wait_pct_p90": 23.0,
          "schedule_lag_p99_ms": 40.0, "server_time_p50_ms": None},
         False, True, "the machine is busy: other processes held the CPUs"),
        ({"worker_cpu_pct_p90": 7.0, "worker_demand_pct_p90": 30.0, "worker_wait_pct_p90": 23.0,
          "loop_lag_p90_ms": 30.0},
         False, True, "the machine is busy: other processes held the CPUs"),
        # Busy machine, yet nothing left late: say both.
        ({"worker_cpu_pct_p90": 7.0, "worker_demand_pct_p90": 30.0, "worker_wait_pct_p90": 23.0},
         False, True, "generator kept up, though the machine is busy"),
        # Late with a quiet machine: the client's lateness, but no advice that could not help.
        ({"worker_cpu_pct_p90": 7.0, "worker_demand_pct_p90": 8.0, "worker_wait_pct_p90": 1.0,
          "loop_lag_p90_ms": 30.0},
         True, False, "client-bound: requests left late though no worker was busy"),
    ],
)
def test_judge_generator_tells_a_busy_machine_from_a_saturated_generator(
    changes: dict, client_bound: bool, machine_busy: bool, start: str
) -> None:
    verdict = judge_generator(**{**BASE, **changes})
    assert verdict.client_bound is client_bound
    assert verdict.machine_busy is machine_busy
    assert verdict.message().startswith(start), verdict.message()
    if machine_busy:
        assert any("waited for a CPU 23%" in r or "waited for a CPU 39%" in r for r in verdict.busy_reasons)


# ------------------------------------------------------------------ issue 15, item 8: advice that can help
LATE_AT_20 = {**BASE, "worker_cpu_pct_p90": 1.7, "worker_demand_pct_p90": 3.0, "worker_wait_pct_p90": 2.0,
              "schedule_lag_p99_ms": 35.0, "server_time_p50_ms": None, "offered_rps": 20.0, "achieved_rps": 20.0}


def test_late_requests_from_an_idle_worker_on_a_busy_machine_say_the_machine_is_busy() -> None:
    """The reported case: 20 req/s, worker CPU 1.7 %, requests late. Before: "client-bound: ... add workers".
    With the machine's load measured, it is the machine: no advice to add workers, the load said."""
    busy = MachineLoad(cores=2, runnable=3.4, cpu_pct_p90=97.0, steal_pct_p90=0.0, others_cpu_pct_p90=188.0,
                       others_runnable=3.4)
    verdict = judge_generator(**LATE_AT_20, machine=busy, workers=1)
    assert not verdict.client_bound and verdict.machine_busy and verdict.lagged
    message = verdict.message()
    assert message.startswith("the machine is busy") and "load 3.4 on 2 cores" in message
    assert "add workers" not in message


def test_late_requests_from_an_idle_worker_on_a_quiet_machine_get_no_worker_advice() -> None:
    quiet = MachineLoad(cores=2, runnable=0.3, cpu_pct_p90=20.0, steal_pct_p90=0.0, others_cpu_pct_p90=30.0,
                        others_runnable=0.3)
    verdict = judge_generator(**LATE_AT_20, machine=quiet, workers=1)
    assert verdict.client_bound and not verdict.machine_busy
    assert "more workers would not help" in verdict.message() and "add workers" not in verdict.message()
    assert "load 0.3 on 2 cores" in verdict.message()
    # the machine not measured at all: still no advice that an idle worker's lateness would be cured by more
    assert "add workers" not in judge_generator(**LATE_AT_20).message()


@pytest.mark.parametrize(("machine", "workers", "advice"), [
    (MachineLoad(cores=4, runnable=1.1, others_runnable=0.1), 1, "add workers (--workers) or machines"),
    (MachineLoad(cores=2, runnable=2.2, others_runnable=0.2), 2, "add machines: this one has no core to spare"),
    (None, None, "add workers (--workers) or machines"),   # the machine not measured: as before
])
def test_a_saturated_worker_is_advised_workers_only_when_a_core_is_free(machine, workers, advice) -> None:
    verdict = judge_generator(**{**BASE, "worker_cpu_pct_p90": 99.0}, machine=machine, workers=workers)
    assert verdict.client_bound and advice in verdict.message(), verdict.message()
    assert not verdict.machine_busy   # its own workers filling the cores is saturation, not a busy machine


def test_the_monitor_measures_the_machine_around_the_workers() -> None:
    """Real processes: one idle worker, and as many CPU hogs as this process has cores (bounded: they stop when
    their stdin closes). The monitor's machine points say the machine is busy with others' work."""
    from stinger.monitors.generator import cores

    idle = _spawn(IDLE)
    hogs = [_spawn(SPIN) for _ in range(cores())]
    try:
        mon = GeneratorMonitor([idle.pid])
        mon.start()
        points = []
        for i in range(1, 5):
            time.sleep(0.5)
            points.extend(mon.sample(float(i)))
        mon.stop()
    finally:
        for proc in [idle, *hogs]:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=10)
    load = machine_load(points)
    assert load.cores == cores()
    assert load.cpu_pct_p90 is not None and load.cpu_pct_p90 >= 90
    assert load.others_cpu_pct_p90 is not None and load.others_cpu_pct_p90 >= 90 * cores()
    if load.runnable is not None:   # /proc/stat procs_running (Linux)
        assert load.runnable >= cores() - 0.5 and load.others_runnable is not None
    verdict = judge_generator(**LATE_AT_20, machine=load, workers=1)
    assert verdict.machine_busy and not verdict.client_bound, verdict
    assert "add workers" not in verdict.message()
