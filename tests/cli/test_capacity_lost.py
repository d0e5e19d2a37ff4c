"""`stinger capacity` when a load worker is lost mid-step, and when SIGTERM stops it (issue 16 item 4).

The real CLI in a subprocess against a reference server, one step at 20 req/s (`--start 20 --max 20`)
with two forked workers; the test SIGKILLs one of the CLI's own workers (a child of the CLI, found by
PID) during a step. Before: the step was judged a pass at 12-13 of 20 req/s, exit 0, no trace of the
loss; SIGTERM exited 130.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from stinger.testing.servers import RefServer

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-c", "import sys; from stinger.cli import main; main(sys.argv[1:])"]


@pytest.fixture(scope="module")
def server():
    with RefServer("delay", delay_ms=5) as s:
        yield s


def start(server, out: Path) -> subprocess.Popen:
    return subprocess.Popen([*CLI, "capacity", "--url", server.url + "/", "--workers", "2", "--start", "20",
                             "--max", "20", "--step-duration", "3s", "--step-warmup", "0.5s", "--slo", "error_rate<5%",
                             "--quiet", "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL)


def workers_of(proc: subprocess.Popen, skip: set[int], timeout: float = 60.0) -> list[int]:
    """The PIDs of a step's two forked workers (children of the CLI running its own code), once both are up."""
    me = psutil.Process(proc.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            kids = [c.pid for c in me.children() if c.pid not in skip and c.cmdline() == me.cmdline()]
        except psutil.Error:
            kids = []
        if len(kids) == 2:
            return kids
        time.sleep(0.05)
    raise AssertionError("the step's workers did not start")


def kill_one_worker_per_step(proc: subprocess.Popen, steps: int) -> list[int]:
    killed: list[int] = []
    seen: set[int] = set()
    for _ in range(steps):
        pids = workers_of(proc, seen)
        seen.update(pids)
        time.sleep(1.2)                      # inside the step's measured window
        os.kill(pids[1], signal.SIGKILL)     # our own child's child: the CLI's worker, by its PID
        killed.append(pids[1])
    return killed


def finish(proc: subprocess.Popen, out: Path) -> tuple[int, str, dict]:
    _, err = proc.communicate(timeout=120)
    [report] = [json.loads(p.read_text()) for p in out.glob("*/capacity.json")]
    return proc.returncode, err, report


def test_a_step_that_lost_a_worker_is_run_again_and_the_rerun_counts(server, tmp_path):
    proc = start(server, tmp_path)
    try:
        [killed] = kill_one_worker_per_step(proc, 1)
        code, err, report = finish(proc, tmp_path)
    finally:
        proc.kill()
    assert code == 0, err
    first, rerun = report["steps"]
    [lw] = first["lost_workers"]
    assert lw["pid"] == killed and "SIGKILL" in lw["reason"] and lw["share"] == 0.5
    assert not rerun.get("lost_workers") and rerun["retest"] and rerun["passed"]
    assert report["max_sustainable"] == 20 and report["stop_reason"] == "max_target reached"
    assert "1 step lost a load worker and was run again" in report["stability"]["note"]
    [page] = tmp_path.glob("*/report.html")
    assert page.read_text().count("worker lost (not counted)") == 1


def test_a_worker_lost_again_in_the_rerun_stops_the_search_with_exit_3(server, tmp_path):
    proc = start(server, tmp_path)
    try:
        killed = kill_one_worker_per_step(proc, 2)
        code, err, report = finish(proc, tmp_path)
    finally:
        proc.kill()
    assert code == 3, err
    assert report["stop_reason"] == "worker lost" and report["max_sustainable"] is None
    assert [s["lost_workers"][0]["pid"] for s in report["steps"]] == killed
    assert "a load worker was lost in the step at 20 and again" in report["note"]
    assert report["stability"]["level"] == "incomplete"


def test_sigterm_stops_the_search_with_143_and_keeps_what_was_measured(server, tmp_path):
    proc = start(server, tmp_path)
    try:
        workers_of(proc, set())
        time.sleep(1.5)
        proc.send_signal(signal.SIGTERM)
        code, err, report = finish(proc, tmp_path)
    finally:
        proc.kill()
    assert code == 143, err
    assert report["interrupted"] and report["terminated"]
    [step] = report["steps"]
    assert step["interrupted"] and not step["passed"]    # cut short: judged nothing
    [page] = tmp_path.glob("*/report.html")
    assert "interrupted (not counted)" in page.read_text()
    assert report["max_sustainable"] is None
