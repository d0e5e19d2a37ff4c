"""GeneratorMonitor on real processes, and the pure client-bound verdict."""

from __future__ import annotations

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
    judge_generator,
    worker_cpu_p90,
)

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


def test_a_spinning_worker_shows_near_a_full_core(workers) -> None:
    busy, idle = workers
    monitor = GeneratorMonitor([busy.pid, idle.pid])
    monitor.start()
    cpu0, wall0 = _cpu_seconds(busy.pid), time.perf_counter()
    time.sleep(1.0)
    points = monitor.sample(1.0)
    expected = 100.0 * (_cpu_seconds(busy.pid) - cpu0) / (time.perf_counter() - wall0)
    by_worker = {p.labels: p.value for p in points if p.series == "generator.worker_cpu_pct"}
    # On an idle machine the spinner reads ~100 %; other load on the machine lowers
    # it, so compare with the CPU time the process really got in the same window.
    spinning = by_worker[(("worker", "0"),)]
    assert spinning == pytest.approx(expected, abs=10.0)
    assert spinning > 20.0
    assert by_worker[(("worker", "1"),)] < 10.0
    maximum = [p for p in points if p.series == "generator.worker_cpu_max_pct"]
    assert len(maximum) == 1 and maximum[0].value == spinning
    assert worker_cpu_p90(points) == spinning


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
    else:
        assert any(reason_part in r for r in verdict.reasons), verdict.reasons
        assert verdict.message().startswith("client-bound: these results understate the endpoint; add workers")


def test_every_reason_is_reported_and_thresholds_are_configurable() -> None:
    verdict = judge_generator(**{**BASE, "worker_cpu_pct_p90": 99.0, "loop_lag_p90_ms": 50.0})
    assert len(verdict.reasons) == 2
    lenient = GeneratorThresholds(worker_cpu_pct=100.0, loop_lag_p90_ms=100.0)
    assert not judge_generator(**{**BASE, "worker_cpu_pct_p90": 99.0, "loop_lag_p90_ms": 50.0}, thresholds=lenient).client_bound
