"""The capacity search against servers whose capacity is known by construction.

A slots server (K concurrent slots, each request holds one for S ms, the rest
queue) sustains exactly K/S req/s. The search must land within ±5 % of that,
with a bounded amount of load, for two different K/S. Nothing here depends on
the machine's speed: the bracket is judged against the server's capacity,
which its virtual-time slots keep exact even when timers fire late.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from stinger.orchestrate.capacity import CapacityOptions, run_capacity
from stinger.spec import parse_spec
from stinger.testing.servers import RefServer

pytestmark = pytest.mark.slow

SLOS = ["p95<150ms", "error_rate<1%", "achieved_ratio>=0.98"]


def _search(url: str, start: float, precision: float = 0.04) -> dict:
    data = {"target": {"url": url}, "load": {"rate": 1, "duration": 1, "max_in_flight": 2000}, "server_time": None}
    spec = parse_spec(data)
    opts = CapacityOptions(start=start, growth=2.0, precision=precision, step_duration=2.5, step_warmup=0.75,
                           slos=SLOS, max_steps=24)  # re-tests of failures count as steps (CI once needed 15)
    return run_capacity(spec, opts,
                        quiet=True, write=False)


@pytest.mark.parametrize(("slots", "service_ms"), [(2, 10.0), (6, 12.0)])
def test_capacity_search_finds_known_capacity(slots: int, service_ms: float) -> None:
    with RefServer("slots", slots=slots, service_ms=service_ms) as server:
        capacity = server.capacity
        out = _search(server.url + "/", start=capacity / 5)
        for _ in range(2):   # the search said the generator, not the endpoint, was the limit: a busy machine
            if out["stop_reason"] != "generator-bound":   # (load 8 here once); it says so, and is run again
                break
            assert out["first_limit"] == "generator" and "generator" in out["note"], out
            out = _search(server.url + "/", start=capacity / 5)
    load_seconds = sum(1 for _ in out["steps"]) * 3.25
    assert load_seconds <= 90, out["steps"]
    assert out["stop_reason"] == "converged", out
    found = out["max_sustainable"]
    assert found is not None
    assert abs(found - capacity) / capacity <= 0.05, (found, capacity, out["steps"])
    lo, hi = out["bracket"]
    assert lo <= capacity * 1.05 and hi >= capacity * 0.95
    # every step is on the capacity curve with its own measurements
    assert all(r["achieved_rps"] > 0 for r in out["steps"])
    assert out["first_limit"] in ("latency", "saturation", "errors")


class _StallOnce:
    """An output that freezes the server (SIGSTOP, then SIGCONT) for `length` s inside the step after step 1:
    the stall of a busy machine, once, at a load the server holds twice over."""

    def __init__(self, pid: int, *, at: float = 0.9, length: float = 0.9) -> None:
        self.pid, self.at, self.length = pid, at, length
        self.timer: threading.Timer | None = None

    def _stall(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)
        try:
            time.sleep(self.length)
        finally:
            os.kill(self.pid, signal.SIGCONT)

    def capacity_step(self, row: dict) -> None:
        if row["step"] == 1:
            self.timer = threading.Timer(self.at, self._stall)
            self.timer.start()


def test_one_stall_does_not_move_the_capacity_found() -> None:
    """Issue 9, item 7: a step at 60 % of the capacity stalls once (the server frozen ~0.9 s of its 2 s
    window). Believed at once, that failure puts the capacity below 60 %; re-tested, the step passes, the
    search finds the capacity, and the report says where steps disagreed."""
    with RefServer("slots", slots=2, service_ms=10.0) as server:
        capacity = server.capacity
        stall = _StallOnce(server.pid)
        data = {"target": {"url": server.url + "/"}, "load": {"rate": 1, "duration": 1, "max_in_flight": 2000},
                "server_time": None}
        spec = parse_spec(data)
        opts = CapacityOptions(start=capacity * 0.3, growth=2.0, precision=0.1, step_duration=2.0,
                               step_warmup=0.5, slos=SLOS, max_steps=14)
        try:
            out = run_capacity(spec, opts,
                               write=False, outputs=[stall])
        finally:
            if stall.timer is not None:
                stall.timer.join()
    steps = [(r["target"], r["passed"], r["retest"]) for r in out["steps"]]
    assert steps[:3] == [(capacity * 0.3, True, False), (capacity * 0.6, False, False),
                         (capacity * 0.6, True, True)], steps
    found = out["max_sustainable"]
    assert found is not None and abs(found - capacity) / capacity <= 0.1, (found, steps)
    assert out["stability"]["level"] == "noisy" and out["stability"]["disagreed_at"] == [capacity * 0.6]
    assert out["steps"][1]["intervals_ok_share"] is not None and out["steps"][1]["intervals_ok_share"] < 1
    assert sum(2.5 for _ in steps) <= 40, steps  # bounded load
