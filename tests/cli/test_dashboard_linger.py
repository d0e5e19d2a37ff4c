"""--dashboard-linger: the page keeps serving the run's final state for the time asked after the run."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

from stinger.testing.procs import free_port
from stinger.testing.servers import RefServer


def _state(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/state.json", timeout=2) as r:
            return json.loads(r.read())
    except OSError:
        return None


def test_the_final_state_is_served_for_the_linger_asked(tmp_path):
    port = free_port()
    with RefServer("delay", delay_ms=1) as srv:
        proc = subprocess.Popen([sys.executable, "-m", "stinger.cli", "run", "--url", srv.url + "/", "--rate", "20",
                                 "--duration", "1s", "-q", "--out", str(tmp_path), "--dashboard", str(port),
                                 "--dashboard-linger", "8s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            final_at = None
            while final_at is None and time.monotonic() < deadline and proc.poll() is None:
                s = _state(port)
                if s is not None and s.get("final"):
                    final_at = time.monotonic()
                time.sleep(0.1)
            assert final_at is not None, f"the page never said final: {proc.poll()} {proc.stderr and ''}"
            # nothing polls now: without the flag the process ends at once; with it, the state stays 5 s later
            # (a lower bound on a sleep: a busy machine can only make it later)
            time.sleep(5.0)
            later = _state(port)
            assert later is not None and later["final"] and later["status"] == "finished"
            assert later["totals"]["default"]["ok"] > 0
        finally:
            _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err


def test_a_linger_without_the_dashboard_or_not_a_duration_is_a_one_line_mistake(tmp_path):
    for extra, says in ((["--dashboard-linger", "30s"], "needs --dashboard"),
                        (["--dashboard", "0", "--dashboard-linger", "soon"], "invalid duration 'soon'")):
        r = subprocess.run([sys.executable, "-m", "stinger.cli", "run", "--url", "http://127.0.0.1:9/", "--rate", "5",
                            "--duration", "1s", "-q", "--out", str(tmp_path), *extra],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
