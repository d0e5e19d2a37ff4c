"""scale/ray.py: load workers as Ray actors on a local Ray cluster, against a reference server.

The cluster is a real one (`ray.init` on this machine: a head node with its
raylet and object store, actors in their own processes), started once for the
module and bound to 127.0.0.1 alone (`loopback_only`: no test traffic leaves
loopback); the backend joins it as it would join any cluster. The command-line
tests start their own private cluster, as a user's run does.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace

import psutil
import pytest

ray = pytest.importorskip("ray")

from stinger.errors import UsageError  # noqa: E402
from stinger.orchestrate.planning import build_plans  # noqa: E402
from stinger.scale.base import REGISTRY, WorkerBackend, backend_named  # noqa: E402
from stinger.scale.coordinator import execute, silent_deadline  # noqa: E402
from stinger.scale.ray import RayBackend, loopback_only  # noqa: E402
from stinger.spec import parse_spec  # noqa: E402
from stinger.testing.servers import RefServer  # noqa: E402

CPUS = 3       # the module cluster's CPUs: not this machine's count, so `--workers auto` shows whose it counts


@pytest.fixture(scope="module")
def cluster():
    with loopback_only():
        ray.init(address="local", num_cpus=CPUS, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR", configure_logging=False)
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
    assert_identity(outcome)


def assert_identity(outcome) -> None:
    """Issue 16 item 3: the requests in flight on a lost actor are counted (`lost`): nothing unaccounted."""
    m = outcome.metrics
    s = m.summary(m.window(0.0, None, outcome.elapsed))["default"]
    r = s["requests"]
    assert r["unaccounted"] == 0 and r["scheduled"] == r["ok"] + r["failed"] + r["dropped"] + r["in_flight"], r
    assert s["errors"]["lost"] == sum(lw.lost_requests for lw in outcome.lost_workers)


def test_the_coordinator_makes_well_under_one_ray_call_a_worker_second(cluster, server, monkeypatch):
    """Issue 19 item 3: one outstanding `take` per actor made ~5 calls a worker-second (4 of them empty);
    a node's aggregator now gathers its workers' events, and the coordinator asks it once a second."""
    counted = {"on": False, "calls": 0}
    real_remote = ray.actor.ActorMethod._remote

    def remote(self, *a, **k):
        counted["calls"] += counted["on"]
        return real_remote(self, *a, **k)

    monkeypatch.setattr(ray.actor.ActorMethod, "_remote", remote)
    backend = RayBackend()
    begin = backend.begin

    def begin_counting(start_wall: float) -> None:
        begin(start_wall)
        counted["on"] = True

    backend.begin = begin_counting
    outcome = execute(plans_for(server.url, requests=None, duration="4s", rate=40, workers=CPUS), backend=backend)
    counted["on"] = False
    assert not outcome.lost_workers
    worker_seconds = CPUS * outcome.elapsed
    assert counted["calls"] / worker_seconds < 1.0, (counted["calls"], worker_seconds)
    assert counted["calls"] == backend.calls   # the backend's own count, which bench/coordinator.py reads
    assert_identity(outcome)
    vm = outcome.metrics.variants["default"]
    assert vm.ok == vm.counters["scheduled"] == 160 and vm.totals["latency"].total_count == 160


def test_a_lost_node_is_every_worker_of_it_lost_with_its_share(cluster, server):
    """The aggregator lives on its node: when it dies (its node lost), each of that node's workers not
    ended is reported lost with its share, and what they had in flight is booked (`lost`)."""
    backend = RayBackend()
    gone = threading.Event()

    def on_progress(metrics, t):
        if t > 1.5 and not gone.is_set():
            gone.set()
            ray.kill(backend.aggregators[0], no_restart=True)

    outcome = execute(plans_for(server.url, requests=None, duration="4s", rate=40), backend=backend,
                      on_progress=on_progress, progress_every=0.2)
    assert gone.is_set() and sorted(lw.worker for lw in outcome.lost_workers) == [0, 1]
    assert all(lw.reason.startswith("Ray node lost") and lw.share == 0.5 for lw in outcome.lost_workers)
    assert outcome.elapsed < 4.0   # nothing waits for the deadline: the loss is known at once
    assert_identity(outcome)


def test_an_actor_dead_before_the_start_is_a_lost_worker_not_a_crash(cluster, server):
    """An actor killed between `ready` and `begin` (the SIGTERM test's kill landed there on a busy machine)
    made `begin` raise ActorDiedError out of the run; it is a lost worker like any other."""
    backend = RayBackend()
    begin = backend.begin

    def begin_after_a_loss(start_wall: float) -> None:
        ray.kill(backend.actors[1], no_restart=True)
        with pytest.raises(ray.exceptions.RayActorError):
            ray.get(backend.actors[1].ready.remote(), timeout=30)
        begin(start_wall)

    backend.begin = begin_after_a_loss
    outcome = execute(plans_for(server.url, requests=None, duration="2s", rate=40), backend=backend)
    [lw] = outcome.lost_workers
    assert lw.worker == 1 and "Ray actor died" in lw.reason and lw.share == 0.5
    assert outcome.metrics.variants["default"].ok > 0 and 0 in outcome.metrics.finals
    assert_identity(outcome)


def test_a_stopped_actor_is_lost_past_its_deadline_and_the_run_ends(cluster, server):
    """Issue 16 item 2 on Ray: an actor stopped (SIGSTOP, our own cluster's process, by the PID the run
    reports) for the rest of a 10 s run hung it with no bound; it is lost past the deadline and killed."""
    backend = RayBackend()
    pids: list[int] = []
    seen: dict[str, float] = {}

    def on_progress(metrics, t):
        if t >= 2.0 and "stopped" not in seen:
            os.kill(pids[1], signal.SIGSTOP)
            seen["stopped"] = t
        if 0 in metrics.finals and "final0" not in seen:
            seen["final0"] = t

    try:
        outcome = execute(plans_for(server.url, requests=None, duration="10s", rate=40), backend=backend,
                          on_start=lambda t0, p: pids.extend(p), on_progress=on_progress, progress_every=0.05)
    finally:
        if pids and psutil.pid_exists(pids[1]):
            os.kill(pids[1], signal.SIGCONT)
            os.kill(pids[1], signal.SIGKILL)   # its CPU goes back to the cluster for the next test
    [lw] = outcome.lost_workers
    deadline = silent_deadline(1.0, RayBackend.traits.start_delay)
    assert lw.worker == 1 and lw.reason.startswith("silent for ") and lw.since <= seen["stopped"] + 0.1
    assert outcome.elapsed <= max(seen.get("final0", outcome.elapsed), seen["stopped"] + deadline) + 0.5
    assert_identity(outcome)


def test_a_relative_dataset_travels_with_the_run_whatever_the_actors_directory(cluster, server, tmp_path,
                                                                              monkeypatch):
    """Issue 16 item 10: the actors were started in the directory the cluster started in; a relative
    --data named a file there (or nowhere). The coordinator resolves it and ships it through the object
    store, so it works whatever an actor's working directory (and on nodes without the file)."""
    (tmp_path / "rows.jsonl").write_text("".join(f'{{"x": {i}}}\n' for i in range(7)))
    monkeypatch.chdir(tmp_path)   # the coordinator's directory, not the actors'
    plans = [replace(p, payload=replace(p.payload, path="rows.jsonl", format="jsonl"))
             for p in plans_for(server.url, requests=40)]
    outcome = execute(plans, backend=RayBackend())
    vm = outcome.metrics.variants["default"]
    assert vm.counters["scheduled"] == 40 and vm.ok == 40 and not outcome.lost_workers


def test_more_workers_than_the_cluster_has_cpus_is_one_line_at_once(cluster, server):
    """Issue 16 item 10: Ray waited 120 s to place actors it never could."""
    with pytest.raises(UsageError, match=f"4 workers on Ray, but the cluster has {CPUS} CPUs"):
        execute(plans_for(server.url, workers=4), backend=RayBackend())


def test_workers_auto_counts_the_cluster_s_cpus(cluster):
    """Issue 16 item 10: `--workers auto` counted the coordinator's cores (2 here), not the cluster's."""
    from stinger.orchestrate.run import connect_backend
    from stinger.spec import parse_spec

    # a rate that wants 4 workers, to a (never contacted) non-loopback endpoint: as many as the cluster has
    spec = parse_spec({"target": {"url": "http://10.0.0.1/"},
                       "load": {"rate": 70_000, "requests": 1, "workers": "auto", "backend": "ray", "confirm": True}})
    cpus = connect_backend(RayBackend(), spec, None)
    assert cpus == CPUS != os.cpu_count()
    assert len(build_plans(spec, cores=cpus)) == CPUS


def listening(pids) -> set[str]:
    """The addresses our processes listen on (TCP)."""
    out = set()
    for pid in pids:
        try:
            for c in psutil.Process(pid).net_connections(kind="inet"):
                if c.status == psutil.CONN_LISTEN:
                    out.add(c.laddr.ip)
        except psutil.Error:
            pass
    return out


def is_loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    return addr.is_loopback or (addr.version == 6 and addr.ipv4_mapped is not None and addr.ipv4_mapped.is_loopback)


def test_the_cluster_of_these_tests_listens_on_loopback_only(cluster):
    """Issue 19 item 5: the module cluster (children of this process) bound every node to 127.0.0.1."""
    ours = [p.pid for p in psutil.Process().children(recursive=True)]
    addrs = listening(ours)
    assert addrs and all(is_loopback(a) for a in addrs), addrs


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


def test_sigterm_during_a_ray_run_exits_143_and_keeps_a_complete_run_directory(tmp_path, server):
    """Issue 16 items 1, 3 and 10 and issue 19 item 5, on one private cluster started by the command line
    (as a user's run does): SIGTERM 8 s into a 20 s Ray run gave exit 1 and an empty run directory (Ray's
    handler over ours); an actor killed on the way printed Ray's crash note (node IP and port) into the
    terminal and left its in-flight requests unaccounted; the private cluster listened on the machine's
    interface address."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.Popen([sys.executable, "-m", "stinger.cli", "run", "--url", server.url + "/", "--rate", "40",
                             "--duration", "20s", "--workers", "2", "--backend", "ray", "-q", "--out", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    addrs: set[str] = set()
    killed = None
    try:
        me = psutil.Process(proc.pid)
        actors: list[int] = []
        deadline = time.monotonic() + 120
        while len(actors) < 2 and proc.poll() is None and time.monotonic() < deadline:
            kids = me.children(recursive=True)
            actors = [k.pid for k in kids if _cmdline(k).startswith("ray::_ActorWorker")]
            time.sleep(0.1)
        assert len(actors) == 2, proc.communicate(timeout=30)
        # the run has begun once its requests reach the server (an actor killed before it was ready is a
        # worker that could not start, exit 3: beside two CPU hogs that took longer than the 3 s below)
        srv = psutil.Process(server.pid)
        while proc.poll() is None and time.monotonic() < deadline and not any(
                c.status == psutil.CONN_ESTABLISHED for c in srv.net_connections(kind="tcp")):
            time.sleep(0.1)
        up = time.monotonic()
        while time.monotonic() < up + 8:
            addrs |= listening(k.pid for k in me.children(recursive=True))
            if killed is None and time.monotonic() > up + 3:
                killed = actors[1]
                os.kill(killed, signal.SIGKILL)        # a process of our own private cluster
            time.sleep(0.25)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    [run_dir] = list(tmp_path.iterdir())
    assert {"summary.json", "report.html", "intervals.csv", "spec.yaml"} <= {f.name for f in run_dir.iterdir()}
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["interrupted"] and summary["terminated"]
    [lw] = summary["lost_workers"]
    assert lw["pid"] == killed and lw["share"] == 0.5 and "Ray actor died" in lw["reason"]
    v = summary["variants"]["default"]
    r = v["requests"]
    assert r["ok"] > 0 and r["unaccounted"] == 0
    assert r["scheduled"] == r["ok"] + r["failed"] + r["dropped"] + r["in_flight"]
    assert v["errors"]["lost"] == lw["lost_requests"]
    # Ray's crash note never reached the terminal
    assert "Worker IP address" not in out + err and "A worker died" not in out + err, out + err
    # the private cluster listened on loopback alone
    assert addrs and all(is_loopback(a) for a in addrs), addrs


def _cmdline(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""


def test_an_unreachable_ray_address_is_one_line_at_once(tmp_path, server):
    """Issue 16 item 10: Ray retried an address where nothing listens for over 400 s."""
    with socket.socket() as sock:      # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "RAY_ADDRESS": f"127.0.0.1:{port}"}
    p = subprocess.run([sys.executable, "-m", "stinger.cli", "run", "--url", server.url + "/", "--rate", "10",
                        "--requests", "5", "--backend", "ray", "-q", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip().count("\n") == 0
    assert f"RAY_ADDRESS=127.0.0.1:{port}: nothing answers at 127.0.0.1:{port}" in p.stderr
    assert list(tmp_path.iterdir()) == []     # found before any run directory


def test_sigterm_while_the_private_cluster_starts_exits_143_in_one_line(tmp_path, server):
    """Ray's own SIGTERM handler is in place while `ray.init` runs (it exited 15 then); the run says so
    in one line and exits 143 as any SIGTERM does."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.Popen([sys.executable, "-m", "stinger.cli", "run", "--url", server.url + "/", "--rate", "40",
                             "--duration", "20s", "--workers", "2", "--backend", "ray", "-q", "--out", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        me = psutil.Process(proc.pid)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if any("gcs_server" in _cmdline(k) for k in me.children(recursive=True)):
                break                               # ray.init has begun: its cluster's first process is up
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1].startswith("stinger: error: stopped by SIGTERM"), err
