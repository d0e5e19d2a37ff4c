"""scale/ray.py: load workers as Ray actors on a local Ray cluster, against a reference server.

The cluster is a real one (`ray.init` on this machine: a head node with its
raylet and object store, actors in their own processes), started once for the
module; the backend joins it as it would join any cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

ray = pytest.importorskip("ray")

from stinger.orchestrate.planning import build_plans  # noqa: E402
from stinger.scale.base import REGISTRY, WorkerBackend, backend_named  # noqa: E402
from stinger.scale.coordinator import execute  # noqa: E402
from stinger.scale.ray import RayBackend  # noqa: E402
from stinger.spec import parse_spec  # noqa: E402
from stinger.testing.servers import RefServer  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def server():
    with RefServer("delay", delay_ms=5, record=True) as s:
        yield s


def plans_for(url: str, **load):
    spec = parse_spec({"target": {"url": url}, "load": {"rate": 80, "requests": 120, "workers": 2, **load}})
    return build_plans(spec)


def test_ray_is_a_registered_backend():
    assert REGISTRY["ray"] == "stinger.scale.ray:RayBackend"
    assert isinstance(backend_named("ray"), WorkerBackend)


def test_two_actors_share_the_schedule_and_every_request_is_accounted(cluster, server):
    outcome = execute(plans_for(server.url), backend=RayBackend())
    assert not outcome.interrupted and not outcome.lost_workers and not outcome.incomplete
    vm = outcome.metrics.variants["default"]
    assert vm.counters["scheduled"] == 120 and vm.ok == 120 and vm.failed == 0
    assert vm.in_flight_at_stop == 0 and sorted(outcome.metrics.finals) == [0, 1]
    assert len(set(outcome.worker_pids)) == 2 and os.getpid() not in outcome.worker_pids
    # the latency of a server that answers after 5 ms, measured inside the actors
    lat = vm.totals["latency"]
    assert 5_000 <= lat.value_at_percentile(50) < 50_000


def test_a_killed_actor_is_a_lost_worker_and_the_run_is_incomplete(cluster, server):
    backend = RayBackend()
    killed = threading.Event()

    def on_progress(metrics, t):
        if t > 0.6 and not killed.is_set():
            killed.set()
            ray.kill(backend.actors[1], no_restart=True)   # from outside, as a node or process loss would

    outcome = execute(plans_for(server.url, requests=None, duration="3s", rate=40), backend=backend,
                      on_progress=on_progress, progress_every=0.2)
    assert killed.is_set()
    assert [lw.worker for lw in outcome.lost_workers] == [1] and outcome.incomplete
    assert "Ray actor died" in outcome.lost_workers[0].reason
    assert 0 in outcome.metrics.finals


def test_the_command_line_runs_on_a_private_ray_cluster(tmp_path, server):
    # no RAY_ADDRESS and no cluster in that process: the backend starts a private one and stops it
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    p = subprocess.run([sys.executable, "-m", "stinger.cli", "run", "--url", server.url + "/", "--rate", "40",
                        "--requests", "60", "--workers", "2", "--backend", "ray", "-q", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=240, env=env)
    assert p.returncode == 0, p.stderr
    v = json.loads(next(tmp_path.glob("*/summary.json")).read_text())["variants"]["default"]
    assert v["requests"]["scheduled"] == v["requests"]["ok"] == 60 and v["requests"]["unaccounted"] == 0


def test_an_unknown_backend_is_a_one_line_error():
    p = subprocess.run([sys.executable, "-m", "stinger.cli", "run", "--url", "http://127.0.0.1:9/", "--rate", "1",
                        "--requests", "1", "--backend", "pigeon", "-q"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "unknown worker backend 'pigeon'; expected one of inprocess, local, ray" in p.stderr
