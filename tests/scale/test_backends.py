"""scale/: the same plan through each worker backend gives the same accounting, against a reference server."""

from __future__ import annotations

import pytest

from stinger.core.records import Kind
from stinger.errors import RunError, UsageError
from stinger.orchestrate.planning import build_plans
from stinger.scale.base import REGISTRY, WorkerBackend, backend_named
from stinger.scale.coordinator import execute
from stinger.scale.inprocess import InProcessBackend
from stinger.scale.local import LocalBackend
from stinger.spec import parse_spec
from stinger.testing.servers import RefServer


@pytest.fixture(scope="module")
def server():
    with RefServer("delay", delay_ms=5) as s:
        yield s


def plans_for(url: str, **load):
    spec = parse_spec({"target": {"url": url}, "load": {"rate": 80, "requests": 60, "workers": 2, **load}})
    return build_plans(spec)


def accounting(outcome) -> dict:
    vm = outcome.metrics.variants["default"]
    return {
        "scheduled": vm.counters["scheduled"], "ok": vm.ok, "failed": vm.failed,
        "dropped": vm.counters["dropped"], "in_flight": vm.in_flight_at_stop,
        "latency_count": vm.totals["latency"].total_count,
        "per_interval_ok": sum(int(c.kinds[Kind.OK]) for c in vm.cells.values()),
        "status": dict(vm.status), "finals": sorted(outcome.metrics.finals),
    }


def test_every_registered_backend_implements_the_protocol():
    for name in REGISTRY:
        assert isinstance(backend_named(name), WorkerBackend)
    with pytest.raises(UsageError, match="unknown worker backend 'nope'; expected one of inprocess, local, ray"):
        backend_named("nope")


def test_local_and_inprocess_backends_account_the_same(server):
    results = {}
    for name, backend in (("local", LocalBackend()), ("inprocess", InProcessBackend())):
        outcome = execute(plans_for(server.url), backend=backend)
        assert not outcome.interrupted and not outcome.lost_workers and not outcome.incomplete
        assert len(outcome.worker_pids) == 2
        results[name] = accounting(outcome)
    expected = {"scheduled": 60, "ok": 60, "failed": 0, "dropped": 0, "in_flight": 0, "latency_count": 60,
                "per_interval_ok": 60, "status": {200: 60}, "finals": [0, 1]}
    assert results["local"] == expected
    assert results["inprocess"] == expected


def test_backend_by_name_and_the_latency_of_a_known_server(server):
    outcome = execute(plans_for(server.url, requests=20, workers=1), backend="inprocess")
    lat = outcome.metrics.variants["default"].totals["latency"]
    assert lat.total_count == 20
    assert lat.min >= 5_000       # the server answers 5 ms after the request: no reply sooner


def test_a_worker_that_cannot_start_is_a_run_error():
    # port 1 on loopback: nothing listens, but a worker fails only at run time; a bad
    # dataset path fails at build time, inside the worker, before it reports ready
    spec = parse_spec({"target": {"url": "http://127.0.0.1:1/"}, "load": {"rate": 10, "requests": 2}})
    from dataclasses import replace

    plans = [replace(p, payload=replace(p.payload, path="/nonexistent/data.jsonl", format="jsonl"))
             for p in build_plans(spec)]
    for backend in (LocalBackend(), InProcessBackend()):
        with pytest.raises(RunError, match="could not start"):
            execute(plans, backend=backend)
