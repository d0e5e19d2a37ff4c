"""Live load changes and --on-worker-loss rebalance on Ray actors (issue 20 item 2, issue 19 item 6): the
same LoadChange reaches each actor by a method call; a private local cluster on loopback, as in test_ray."""

from __future__ import annotations

import statistics
import threading

import pytest

ray = pytest.importorskip("ray")

from stinger.orchestrate.planning import build_plans  # noqa: E402
from stinger.scale.control import RunControl  # noqa: E402
from stinger.scale.coordinator import execute  # noqa: E402
from stinger.scale.ray import RayBackend, loopback_only  # noqa: E402
from stinger.spec import parse_spec  # noqa: E402
from stinger.testing.servers import RefServer  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    with loopback_only():
        ray.init(address="local", num_cpus=3, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR", configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def server():
    with RefServer("delay", delay_ms=2) as s:
        yield s


def plans(url: str, **load):
    return build_plans(parse_spec({"target": {"url": url}, "load": {"seed": 5, **load}}))


def requests_of(outcome) -> dict:
    m = outcome.metrics
    return m.summary(m.window(0.0, None, outcome.elapsed))["default"]["requests"]


def test_a_rate_change_reaches_every_actor_at_its_instant(cluster, server):
    control = RunControl()
    control.set_rate(120, at=3.0)
    outcome = execute(plans(server.url, rate=40, duration="6s", workers=2), backend=RayBackend(), control=control)
    assert [(e["t"], e["rate"]) for e in outcome.events] == [(3.0, 120.0)]
    r = requests_of(outcome)
    assert r["scheduled"] == 3 * 40 + 3 * 120 and r["unaccounted"] == 0, r


def test_rebalance_keeps_the_offered_rate_after_an_actor_is_killed(cluster, server):
    backend = RayBackend()
    killed = threading.Event()

    def on_progress(metrics, t):
        if t > 3.0 and not killed.is_set():
            killed.set()
            ray.kill(backend.actors[1], no_restart=True)   # from outside, as a process or node loss would

    rate = 90.0
    outcome = execute(plans(server.url, rate=rate, duration="9s", workers=3), backend=backend,
                      on_progress=on_progress, progress_every=0.2, on_worker_loss="rebalance")
    [lw] = outcome.lost_workers
    assert lw.worker == 1 and lw.rebalanced_at is not None and not outcome.incomplete
    [ev] = outcome.events
    assert ev["source"] == "rebalance" and ev["rate"] == rate
    rows = {r["t"]: r["achieved_rps"] for r in outcome.metrics.interval_rows()}
    before = [rows[t] for t in (1.0, 2.0) if t in rows]
    after = [rows[t] for t in rows if lw.rebalanced_at + 1 <= t < 8.0]
    assert after, rows
    tol = max(0.05 * rate, 3 * statistics.pstdev(before)) if len(before) > 1 else 0.05 * rate
    assert abs(statistics.fmean(after) - rate) <= tol, (after, before)
    r = requests_of(outcome)
    assert r["unaccounted"] == 0 and r["scheduled"] == r["ok"] + r["failed"] + r["dropped"] + r["in_flight"], r
