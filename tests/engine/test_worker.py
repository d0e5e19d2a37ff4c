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
