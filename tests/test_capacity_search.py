"""The capacity search against servers whose capacity is known by construction.

A slots server (K concurrent slots, each request holds one for S ms, the rest
queue) sustains exactly K/S req/s. The search must land within ±5 % of that,
with a bounded amount of load, for two different K/S. Nothing here depends on
the machine's speed: the bracket is judged against the server's capacity,
which its virtual-time slots keep exact even when timers fire late.
"""

from __future__ import annotations

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
                           slos=SLOS, max_steps=14)
    return run_capacity(spec, spec.model_dump(mode="json", by_alias=True, exclude_none=True), opts,
                        quiet=True, write=False)


@pytest.mark.parametrize(("slots", "service_ms"), [(2, 10.0), (6, 12.0)])
def test_capacity_search_finds_known_capacity(slots: int, service_ms: float) -> None:
    with RefServer("slots", slots=slots, service_ms=service_ms) as server:
        capacity = server.capacity
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
