"""Signals and deaths with real processes (issue 10, items 2 and 9).

A coordinator runs in a subprocess (the script below) against a reference
server; the test signals it, or kills one of its workers, and reads what it
reports. SIGTERM must stop a run as SIGINT does, keeping what was measured; a
double Ctrl-C a few ms apart must lose nothing; workers must not outlive a
coordinator killed outright; a worker killed mid-run is reported, with its
share of the schedule and from when.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from stinger.testing.servers import RefServer

pytestmark = pytest.mark.slow

SCRIPT = r'''
import json, os, signal, sys
from stinger.orchestrate.planning import build_plans
from stinger.scale.coordinator import execute, silent_deadline
from stinger.spec import parse_spec

url, workers, duration = sys.argv[1], int(sys.argv[2]), sys.argv[3]
stop_at = float(sys.argv[4]) if len(sys.argv) > 4 else None   # SIGSTOP our own worker 1 at this run-clock s
spec = parse_spec({"target": {"url": url}, "load": {"rate": 200, "duration": duration, "workers": workers}})
plans = build_plans(spec)
pids, seen = [], {}

def on_start(t0, p):
    pids.extend(p)
    print(json.dumps({"pids": p}), flush=True)

def on_progress(m, t):
    if stop_at is not None and t >= stop_at and "stopped" not in seen:
        os.kill(pids[1], signal.SIGSTOP)
        seen["stopped"] = t
    if 0 in m.finals and "final0" not in seen:
        seen["final0"] = t    # when the healthy worker's final record was in: the run's own lateness

out = execute(plans, on_start=on_start, on_progress=on_progress, progress_every=0.05)
seen.setdefault("final0", out.elapsed)   # worker 0's final record was the run's last event
vm = out.metrics.variants["default"]
s = out.metrics.summary(out.metrics.window(0.0, None, out.elapsed))["default"]
print(json.dumps({
    "interrupted_by": out.interrupted_by, "elapsed": out.elapsed, "finals": sorted(out.metrics.finals),
    "scheduled": vm.counters["scheduled"], "ok": vm.ok, "failed": vm.failed,
    "dropped": vm.counters["dropped"], "in_flight": vm.in_flight_at_stop,
    "errors_lost": s["errors"]["lost"], "unaccounted": s["requests"]["unaccounted"],
    "lost": [[w.worker, w.share, w.since, w.reason, w.lost_requests] for w in out.lost_workers],
    "warnings": out.warnings, "seen": seen, "deadline": silent_deadline(plans[0].interval, 0.1),
}), flush=True)
'''


@pytest.fixture(scope="module")
def server():
    with RefServer("delay", delay_ms=2) as s:
        yield s


class Coordinator:
    def __init__(self, url: str, workers: int, duration: str, *extra: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", SCRIPT, url, str(workers), duration, *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line, self.proc.stderr.read()
        self.pids: list[int] = json.loads(line)["pids"]

    def result(self, timeout: float = 30.0) -> dict:
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, err
        return json.loads(out.strip().splitlines()[-1])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pids: list[int], timeout: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def assert_accounted(r: dict) -> None:
    assert r["scheduled"] == r["ok"] + r["failed"] + r["dropped"] + r["in_flight"], r
    assert r["ok"] > 0, r


@pytest.mark.parametrize("signals", [("SIGTERM",), ("SIGINT",), ("SIGINT", "SIGINT")],
                         ids=["sigterm", "sigint", "double-sigint"])
def test_a_stop_signal_ends_the_run_soon_and_keeps_everything(server, signals):
    c = Coordinator(server.url, 2, "60s")
    try:
        time.sleep(1.2)
        sent = time.monotonic()
        for i, name in enumerate(signals):
            if i:
                time.sleep(0.005)     # a double Ctrl-C, 5 ms apart
            c.proc.send_signal(getattr(signal, name))
        r = c.result()
        took = time.monotonic() - sent
    finally:
        c.kill()
    assert r["interrupted_by"] == signals[0]
    assert r["finals"] == [0, 1] and r["lost"] == []     # every worker's last record arrived, whole
    assert_accounted(r)
    assert r["elapsed"] < 10            # a 60 s run, stopped at about 1.2 s
    assert took < 5, took               # the stop takes well under the 2 s asked, plus interpreter exit
    assert wait_gone(c.pids) == []


def test_workers_die_with_a_coordinator_killed_outright(server):
    c = Coordinator(server.url, 2, "60s")
    try:
        time.sleep(0.8)
        assert all(alive(p) for p in c.pids)
        c.proc.kill()                   # SIGKILL: no handler runs, no clean-up
        c.proc.wait()
        assert wait_gone(c.pids) == []  # PDEATHSIG / EOF on their control pipe
    finally:
        c.kill()
        for pid in c.pids:              # never leave load running, even when the test fails
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_worker_killed_mid_run_is_reported_with_its_share_and_from_when(server):
    c = Coordinator(server.url, 2, "3s")
    try:
        time.sleep(1.5)
        os.kill(c.pids[1], signal.SIGKILL)
        r = c.result()
    finally:
        c.kill()
    assert r["interrupted_by"] is None
    assert r["finals"] == [0]
    [(worker, share, since, reason, _)] = r["lost"]
    assert worker == 1 and share == pytest.approx(0.5) and "SIGKILL" in reason
    assert 0.0 <= since <= 3.0
    assert any("worker 1" in w and "50%" in w and "incomplete" in w for w in r["warnings"])
    assert r["ok"] > 0


def assert_identity(r: dict) -> None:
    """Issue 16 item 3: what was in flight on the lost worker is counted, as `lost`: nothing unaccounted."""
    assert r["unaccounted"] == 0, r
    assert r["scheduled"] == r["ok"] + r["failed"] + r["dropped"] + r["in_flight"], r
    assert r["errors_lost"] == sum(w[4] for w in r["lost"]), r


def test_a_stopped_worker_is_lost_past_its_deadline_and_the_run_ends(server):
    """Issue 16 item 2: a worker that stops reporting without dying (SIGSTOP, for the rest of a 10 s run)
    hung the run with no bound (still running at 90 s). It is lost once silent past the deadline, killed
    (our own child, by its PID), and the run ends by its duration + the deadline."""
    c = Coordinator(server.url, 2, "10s", "2.0")
    pid = c.pids[1]
    try:
        r = c.result(timeout=60)
    finally:
        c.kill()
        if alive(pid):               # never leave our stopped worker behind
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)
    assert r["interrupted_by"] is None and r["finals"] == [0]
    [(worker, share, since, reason, _)] = r["lost"]
    stopped, deadline = r["seen"]["stopped"], r["deadline"]
    assert worker == 1 and share == pytest.approx(0.5) and reason.startswith("silent for ")
    assert float(reason.split()[2]) >= deadline - 0.5     # "silent for N s", rounded
    assert since <= stopped + 0.1                         # its last record came before the stop
    assert any("worker 1" in w and "incomplete" in w for w in r["warnings"])
    assert_identity(r)
    # the bound: the later of the healthy worker's end (its own lateness included) and stop + deadline,
    # plus the coordinator's poll period
    assert r["elapsed"] <= max(r["seen"]["final0"], stopped + deadline) + 0.5, r
    assert wait_gone([pid]) == []   # the coordinator killed it


def test_after_ctrl_c_a_stopped_worker_is_reported_lost_once_its_deadline_passes(server):
    """Issue 16 item 2: after Ctrl-C a silent worker was never reported lost (the run waited out its 15 s
    grace and warned); now it is lost past its deadline, inside the grace, and counted."""
    c = Coordinator(server.url, 2, "60s", "1.0")
    pid = c.pids[1]
    try:
        time.sleep(2.5)
        c.proc.send_signal(signal.SIGINT)
        r = c.result(timeout=60)
    finally:
        c.kill()
        if alive(pid):
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)
    assert r["interrupted_by"] == "SIGINT" and r["finals"] == [0]
    [(worker, _, _, reason, _)] = r["lost"]
    assert worker == 1 and reason.startswith("silent for ")
    assert r["elapsed"] <= r["seen"]["stopped"] + r["deadline"] + 0.5, r
    assert_identity(r)


def test_a_run_stopped_whole_and_resumed_loses_no_worker(server, tmp_path):
    """Ctrl-Z then fg stops the coordinator and its workers together: none was silent while the coordinator
    watched, so none is lost (the liveness deadline counts only time the coordinator was looking)."""
    proc = subprocess.Popen([sys.executable, "-m", "stinger.cli", "run", "--url", server.url + "/", "--rate", "40",
                             "--duration", "6s", "--workers", "2", "-q", "--out", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        time.sleep(2.5)
        os.killpg(proc.pid, signal.SIGSTOP)      # our own process group: the command and its workers
        time.sleep(8)                            # longer than the deadline
        os.killpg(proc.pid, signal.SIGCONT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err
    [summary] = tmp_path.glob("*/summary.json")
    s = json.loads(summary.read_text())
    assert s["lost_workers"] == [] and s["variants"]["default"]["requests"]["unaccounted"] == 0
