"""engine/worker.py: the start as a wall-clock instant, and stops that come before or right after it."""

from __future__ import annotations

import asyncio
import time

import pytest

from stinger.engine.worker import Worker, new_event_loop, wall_to_perf
from stinger.orchestrate.planning import build_plans
from stinger.spec import parse_spec


def a_plan(rate=50, requests=5):
    # nothing listens on port 9 of loopback: requests fail fast as connect errors, which is fine here
    spec = parse_spec({"target": {"url": "http://127.0.0.1:9/"}, "load": {"rate": rate, "requests": requests}})
    return build_plans(spec)[0]


def test_wall_to_perf_converts_an_instant_to_this_process_clock():
    wall_now, perf_now = time.time(), time.perf_counter()
    assert wall_to_perf(wall_now + 2.0) == pytest.approx(perf_now + 2.0, abs=0.01)


def run_worker(script):
    loop = new_event_loop()
    records = []

    async def main():
        worker = Worker(a_plan(), emit=records.append)
        script(worker)
        return await worker.run()

    try:
        return loop.run_until_complete(asyncio.wait_for(main(), 20)), records
    finally:
        loop.close()


def test_a_stop_before_the_start_ends_the_worker_without_running():
    ran, records = run_worker(lambda w: w.stop())
    assert ran is False and records == []


def test_a_stop_right_after_the_start_still_sends_a_final_record():
    def script(w):
        w.begin(time.time() + 0.05)
        asyncio.get_running_loop().call_soon(w.stop)   # lands before the engine is running

    ran, records = run_worker(script)
    assert ran is True
    assert records and records[-1].final and records[-1].worker == 0


def test_the_plan_runs_to_its_end_from_a_wall_clock_start():
    ran, records = run_worker(lambda w: w.begin(time.time() + 0.05))
    assert ran is True and records[-1].final
    scheduled = sum(r.counters["default"]["scheduled"] for r in records)
    ended = sum(sum(c.kinds) for r in records for c in r.cells)
    assert scheduled == 5 and ended == 5


def test_one_record_per_interval_even_when_the_timer_fires_early():
    # uvloop's whole-millisecond timers can fire just before an interval boundary;
    # the engine used to flush again and again until the boundary passed (~10
    # records a second, each waking the flush thread while requests were timed)
    spec = parse_spec({"target": {"url": "http://127.0.0.1:9/"}, "load": {"rate": 20, "duration": "2.5s"}})
    plan = build_plans(spec)[0]
    loop = new_event_loop()
    records = []

    async def main():
        worker = Worker(plan, emit=records.append)
        worker.begin(time.time() + 0.05)
        return await worker.run()

    try:
        loop.run_until_complete(asyncio.wait_for(main(), 20))
    finally:
        loop.close()
    regular = [r for r in records if not r.final]
    assert 2 <= len(regular) <= 3, [round(r.t, 4) for r in records]
    assert [r.interval for r in regular] == list(range(len(regular)))
