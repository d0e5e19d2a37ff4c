"""scale/ray.py on a two-node Ray cluster on this machine (`ray.cluster_utils.Cluster`, every node on
127.0.0.1): one aggregator per node merges its own workers, the run's figures are exact, and a node
removed mid-run loses exactly its workers (issue 19 item 3)."""

from __future__ import annotations

import threading

import pytest

ray = pytest.importorskip("ray")

from ray.cluster_utils import Cluster  # noqa: E402

from stinger.orchestrate.planning import build_plans  # noqa: E402
from stinger.scale.coordinator import execute  # noqa: E402
from stinger.scale.ray import RayBackend, loopback_only  # noqa: E402
from stinger.spec import parse_spec  # noqa: E402
from stinger.testing.servers import RefServer  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    with loopback_only():
        c = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
        worker_node = c.add_node(num_cpus=2)
        ray.init(address=c.address, log_to_driver=False, logging_level="ERROR", configure_logging=False)
    try:
        yield c, worker_node
    finally:
        ray.shutdown()
        c.shutdown()


@pytest.fixture(scope="module")
def server():
    with RefServer("delay", delay_ms=5) as s:
        yield s


def plans_for(url: str, **load):
    spec = parse_spec({"target": {"url": url}, "load": {"rate": 80, "workers": 4, **load}})
    return build_plans(spec)


def requests_of(outcome) -> dict:
    m = outcome.metrics
    return m.summary(m.window(0.0, None, outcome.elapsed))["default"]["requests"]


def test_each_node_s_aggregator_merges_its_own_workers_and_nothing_is_lost(cluster, server):
    backend = RayBackend()
    outcome = execute(plans_for(server.url, requests=240), backend=backend)
    assert not outcome.lost_workers and sorted(outcome.metrics.finals) == [0, 1, 2, 3]
    assert sorted(len(ws) for ws in backend.members) == [2, 2]   # SPREAD: two workers on each node
    vm = outcome.metrics.variants["default"]
    assert vm.ok == vm.counters["scheduled"] == 240 and vm.totals["latency"].total_count == 240
    assert sum(int(c.kinds[0]) for c in vm.cells.values()) == 240


def test_a_node_removed_mid_run_loses_exactly_its_workers(cluster, server):
    c, worker_node = cluster
    backend = RayBackend()
    removed = threading.Event()

    def on_progress(metrics, t):
        if t > 1.5 and not removed.is_set():
            removed.set()
            c.remove_node(worker_node)   # its raylet and every process on it end, the aggregator too

    outcome = execute(plans_for(server.url, requests=None, duration="5s"), backend=backend,
                      on_progress=on_progress, progress_every=0.2)
    assert removed.is_set()
    gone = {ws for ws in map(tuple, backend.members) if not set(ws) & outcome.metrics.finals}
    assert len(gone) == 1 and sorted(lw.worker for lw in outcome.lost_workers) == sorted(next(iter(gone)))
    assert all(lw.share == 0.25 for lw in outcome.lost_workers)
    r = requests_of(outcome)
    assert r["unaccounted"] == 0 and r["scheduled"] == r["ok"] + r["failed"] + r["dropped"] + r["in_flight"]
