"""`--backend ray` beside a cluster started with `ray start` on this machine (issue 16 item 10).

The module starts its own `ray start --head` cluster (every port its own, its own temporary
directory, bound to 127.0.0.1 in Ray's single-node mode, token auth off: nothing but this machine
can reach it) in a directory of its own, and stops it by the PIDs of its processes (found by a
marker in their environment), never with `ray stop`, which would stop every cluster of the machine.

- Without RAY_ADDRESS the command line starts a private cluster: it used to join whatever cluster
  `ray start` had last started (Ray's own rule for an address of None).
- With RAY_ADDRESS naming that cluster the run joins it; the actors' working directory is the
  cluster's, not the coordinator's, and a relative --data still works (the dataset ships through
  the object store). Before, Ray rewrote 127.0.0.1 into the machine's interface address, where a
  loopback-bound cluster does not listen, and retried for minutes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psutil
import pytest

pytest.importorskip("ray")

from stinger.testing.servers import RefServer

pytestmark = pytest.mark.slow


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what an earlier ray.init in it may have left (RAY_AUTH_MODE=token
    from a private cluster with token auth, ...), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_") and k != "PYTHONBREAKPOINT"}
    return {**env, **extra}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def marked(tag: str) -> list[psutil.Process]:
    """The cluster's processes: their environment carries the marker (read raw: Ray's process titles
    confuse psutil's parsing of it)."""
    needle = f"STINGER_TEST_CLUSTER={tag}".encode()
    out = []
    for p in psutil.process_iter():
        try:
            with open(f"/proc/{p.pid}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    out.append(p)
        except OSError:
            pass
    return out


@pytest.fixture(scope="module")
def ray_start():
    root = Path(tempfile.mkdtemp(prefix="lvr"))      # short: Ray's socket paths live under it
    (root / "cluster").mkdir()
    tag = uuid.uuid4().hex
    port = free_port()
    env = clean_env(RAY_TMPDIR=str(root), RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_AUTH_MODE="disabled",
                    STINGER_TEST_CLUSTER=tag)
    ports = ["--port", str(port), "--ray-client-server-port", str(free_port()),
             "--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port()),
             "--runtime-env-agent-port", str(free_port()), "--metrics-export-port", str(free_port())]
    try:
        p = subprocess.run(["ray", "start", "--head", *ports, "--node-ip-address", "127.0.0.1", "--num-cpus", "2",
                            "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", str(root / "ray")],
                           cwd=root / "cluster", env=env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr[-2000:]
        yield {"root": root, "port": port}
    finally:
        procs = marked(tag)
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        _, alive = psutil.wait_procs(procs, timeout=10)
        for proc in alive:
            proc.kill()
        psutil.wait_procs(alive, timeout=5)
        assert marked(tag) == [] or all(p.status() == psutil.STATUS_ZOMBIE for p in marked(tag))
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def server():
    with RefServer("delay", delay_ms=5) as s:
        yield s


def sessions(root: Path) -> set[str]:
    return {p.name for p in (root / "ray").glob("session_2*")}


def run_cli(server, cwd: Path, env: dict, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stinger.cli", "run", "--url", server.url + "/", "--rate", "40",
                           "--requests", "40", "--workers", "2", "--backend", "ray", "-q", "--out", str(cwd / "out"),
                           *extra], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def requests_of(cwd: Path) -> dict:
    [summary] = (cwd / "out").glob("*/summary.json")
    return json.loads(summary.read_text())["variants"]["default"]["requests"]


def test_without_ray_address_a_private_cluster_is_started_not_the_running_one(ray_start, server, tmp_path):
    root = ray_start["root"]
    env = clean_env(RAY_TMPDIR=str(root))     # where Ray looks for the cluster `ray start` started
    before = sessions(root)
    p = run_cli(server, tmp_path, env)
    assert p.returncode == 0, p.stderr
    assert requests_of(tmp_path)["ok"] == 40
    assert len(sessions(root) - before) == 1        # a session of its own: a cluster of its own


def test_a_cluster_on_this_machine_is_joined_by_address_and_a_relative_dataset_travels(ray_start, server,
                                                                                      tmp_path):
    (tmp_path / "rows.jsonl").write_text("".join(f'{{"x": {i}}}\n' for i in range(5)))
    env = clean_env(RAY_ADDRESS=f"127.0.0.1:{ray_start['port']}")
    before = sessions(ray_start["root"])
    p = run_cli(server, tmp_path, env, "--data", "rows.jsonl")
    assert p.returncode == 0, p.stderr
    r = requests_of(tmp_path)
    assert r["scheduled"] == r["ok"] == 40 and r["unaccounted"] == 0
    assert sessions(ray_start["root"]) == before       # joined: no cluster of its own


def test_a_private_cluster_leaves_this_process_s_environment_as_it_found_it(monkeypatch):
    """ray.init leaves RAY_AUTH_MODE=token (and Ray's debugger as PYTHONBREAKPOINT) in the environment of an
    API user's process; a later run joining a cluster without token auth then failed to start its actors."""
    from stinger.scale.ray import RayBackend

    for key in [k for k in os.environ if k.startswith("RAY_") or k == "PYTHONBREAKPOINT"]:
        monkeypatch.delenv(key)
    before = dict(os.environ)
    backend = RayBackend()
    assert backend.connect() >= 1
    backend.close()
    assert dict(os.environ) == before
